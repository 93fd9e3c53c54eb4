"""docs/semantics.md §5 properties 1–5 of the resolver, on generated sites and rule sets."""

from __future__ import annotations


from hypothesis import assume, given, settings
from hypothesis import strategies as st

from qrt.ir.effect import Off, Set
from qrt.ir.rule import Rule, RuleSet
from qrt.resolver.decision import fold
from qrt.resolver.fast import FastResolver, resolve
from qrt.resolver.reference import resolve_reference
from tests.strategies import SPECS, rule_sets, selectors, site_lists


def outcome(decisions):  # type: ignore[no-untyped-def]
    return {d.site.quantizer_path: (d.state, tuple(r.order for r in d.matched)) for d in decisions}


@settings(max_examples=300)
@given(rule_sets(), site_lists())
def test_5_fast_equals_literal_fold(rules: RuleSet, sites) -> None:  # type: ignore[no-untyped-def]
    assert outcome(resolve(rules, sites)) == outcome(resolve_reference(rules, sites))


@given(rule_sets(), site_lists(), st.randoms())
def test_1_determinism_whatever_the_order_of_sites(rules, sites, rnd) -> None:  # type: ignore[no-untyped-def]
    shuffled = list(sites)
    rnd.shuffle(shuffled)
    assert outcome(resolve(rules, shuffled)) == outcome(resolve(rules, sites))
    warm = FastResolver(rules)
    warm.resolve(shuffled)
    assert outcome(warm.resolve(sites)) == outcome(resolve(rules, sites))


@given(rule_sets(), site_lists())
def test_2_dominance(rules, sites) -> None:  # type: ignore[no-untyped-def]
    for d in resolve(rules, sites):
        last_replace = max(
            (i for i, r in enumerate(d.matched) if isinstance(r.effect, (Set, Off))), default=None
        )
        if last_replace is not None:
            assert d.state == fold(d.matched[last_replace:], d.site.role)


@given(selectors(), selectors(), site_lists(), st.lists(st.integers(0, 2), min_size=1, max_size=2).map(tuple))
def test_3_order_breaks_ties(a, b, sites, priority) -> None:  # type: ignore[no-untyped-def]
    first = Rule(a, Set(SPECS[0]), priority)
    second = Rule(b, Set(SPECS[1]), priority)
    forward = {d.site.quantizer_path: d.spec for d in resolve(RuleSet.of([first, second]), sites)}
    backward = {d.site.quantizer_path: d.spec for d in resolve(RuleSet.of([second, first]), sites)}
    for s in sites:
        if a.matches(s) and b.matches(s):
            assert forward[s.quantizer_path] == SPECS[1]
            assert backward[s.quantizer_path] == SPECS[0]


@given(rule_sets(), site_lists(), st.data())
def test_4_locality(rules, sites, data) -> None:  # type: ignore[no-untyped-def]
    extra = data.draw(rule_sets(max_size=1))
    assume(len(extra) == 1)
    new_rule = extra.rules[0]
    position = data.draw(st.integers(0, len(rules)))
    grown = RuleSet.of([*rules.rules[:position], new_rule, *rules.rules[position:]])
    before = {d.site.quantizer_path: d.state for d in resolve(rules, sites)}
    after = {d.site.quantizer_path: d.state for d in resolve(grown, sites)}
    for s in sites:
        if not new_rule.selector.matches(s):
            assert after[s.quantizer_path] == before[s.quantizer_path]
