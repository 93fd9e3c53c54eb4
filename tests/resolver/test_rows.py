"""The resolver on sites given as rows (what the inventory cache holds until the sites table is
read, issue 24) decides exactly as on the sites themselves and as the literal fold. (The axis
filler against ``resolve_axes``: ``tests/lint/test_one_pass.py``, beside the model it reads.)"""

from __future__ import annotations

from hypothesis import given, settings

from qrt.ir.rule import RuleSet
from qrt.ir.site import Site
from qrt.inventory.canonical import site_row
from qrt.resolver.fast import FastResolver
from qrt.resolver.reference import resolve_reference
from tests.strategies import rule_sets, site_lists


@settings(max_examples=40)
@given(rule_sets(), site_lists())
def test_rows_resolve_as_the_sites_and_the_literal_fold(rules: RuleSet, sites: list[Site]) -> None:
    rows = [site_row(s) for s in sites]
    assert [Site(*row) for row in rows] == sites
    outcomes = FastResolver(rules).row_outcomes(rows)
    expected = [(d.matched, d.state) for d in resolve_reference(rules, sites)]
    assert [(tuple(r.order for r in m), s) for m, s in outcomes] == [
        (tuple(r.order for r in m), s) for m, s in expected
    ]
    # a resolver that decided the sites first gives the rows the same outcomes, shared
    warm = FastResolver(rules)
    by_site = [warm.outcome(s) for s in sites]
    assert warm.row_outcomes(rows) == by_site
