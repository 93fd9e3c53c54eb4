"""QRT006 (a rule that never wins) at scale and on index predicates: the indexed search finds
exactly what the pairwise scan of every later rule finds, and experts/layers ranges cover only
what they contain."""

from __future__ import annotations

from collections.abc import Iterator

from hypothesis import given

from qrt.ir.effect import Off, Set
from qrt.ir.rule import Rule, RuleSet
from qrt.ir.selector import Selector
from qrt.ir.spec import QuantizationSpec
from qrt.lint.inputs import LintInput
from qrt.lint.static import _never_wins, covers, is_synthetic, is_users, overridden_include
from tests.strategies import rule_sets


def _pairwise(item: LintInput, rules: RuleSet) -> Iterator[tuple[int, int]]:
    """The definition: each user rule and the first later set/off rule that covers it."""
    ordered = sorted(rules, key=lambda r: r.sort_key)
    for i, rule in enumerate(ordered):
        if not is_users(rule, item):
            continue
        later = next((other for other in ordered[i + 1:]
                      if isinstance(other.effect, (Set, Off)) and not is_synthetic(other)
                      and not overridden_include(rule, other, item) and covers(other.selector, rule.selector)), None)
        if later is not None:
            yield rule.origin.line or 0, later.origin.line or 0


def _item(rules: RuleSet) -> LintInput:
    return LintInput(label="rules.qrt", path="rules.qrt", kind="dsl", rules=rules)


def _lines(rules: RuleSet) -> RuleSet:
    """The same rules, written one per line of ``rules.qrt`` (findings are located by line)."""
    from dataclasses import replace

    from qrt.ir.origin import Origin

    return RuleSet(tuple(replace(r, origin=Origin(file="rules.qrt", line=i + 1, column=1))
                         for i, r in enumerate(rules.rules)))


@given(rule_sets())
def test_the_indexed_search_finds_what_the_pairwise_scan_finds(rules: RuleSet) -> None:
    rules = _lines(rules)
    item = _item(rules)
    found = {(f.line, int(str(f.data.get("shadowed_by", "line 0")).rpartition(" ")[2]))
             for f in _never_wins(item, rules)}
    assert found == set(_pairwise(item, rules))


def test_ranges_cover_only_what_they_contain() -> None:
    wide, narrow = Selector(op_type="grouped_mm", experts=(0, 7)), Selector(op_type="grouped_mm", experts=(2, 3))
    assert covers(wide, narrow) and not covers(narrow, wide)
    assert covers(Selector(op_type="grouped_mm"), narrow) and not covers(narrow, Selector(op_type="grouped_mm"))
    assert not covers(Selector(layers=(0, 1)), Selector(layers=(1, 2)))


def test_many_distinct_module_rules_lint_in_linear_time() -> None:
    """3,000 module rules (the shape a large hierarchical config compiles to) and one later
    rule that replaces one of them: one finding, found by lookup, not by 4.5 million
    comparisons (the pairwise scan took 45 s here)."""
    spec = Set(QuantizationSpec(dtype="int8"))
    rules = [Rule(Selector(module_name=rf"layers\.{i}\.fc", role="state", key="weight"), spec, (0,), order=i)
             for i in range(3000)]
    rules.append(Rule(Selector(module_name=r"layers\.7\.fc"), Off(), (0,), order=3000))
    ruleset = _lines(RuleSet(tuple(rules)))
    findings = list(_never_wins(_item(ruleset), ruleset))
    assert [(f.code, f.line) for f in findings] == [("QRT006", 8)]
