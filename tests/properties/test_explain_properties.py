"""docs/semantics.md §5 property 7: explain lists exactly the matching rules in fold order, marks the
ones that lost and why, and its final decision equals the resolver's."""

from __future__ import annotations

from hypothesis import given

from qrt.ir.effect import Off, Set
from qrt.resolver.explain import explain_decision
from qrt.resolver.fast import resolve
from qrt.resolver.axes import resolve_axes
from tests.strategies import rule_sets, site_lists


@given(rule_sets(), site_lists())
def test_7_explanation(rules, sites) -> None:  # type: ignore[no-untyped-def]
    for d in resolve(rules, sites):
        ex = explain_decision(d)
        matching = sorted((r for r in rules if r.selector.matches(d.site)), key=lambda r: r.sort_key)
        assert [s.rule for s in ex.steps] == matching
        final = d.spec
        assert ex.final == (resolve_axes(final, d.site) if final is not None else None)
        replacing = [i for i, r in enumerate(matching) if isinstance(r.effect, (Set, Off))]
        for i, step in enumerate(ex.steps):
            if replacing and i < replacing[-1]:
                assert step.status == "replaced" and step.reason
            elif replacing and i == replacing[-1]:
                assert step.status == "decided"
            else:
                assert step.status in ("applied", "overridden")
        # the state after the last step is the resolver's state
        if ex.steps:
            assert ex.steps[-1].state_after == d.state
