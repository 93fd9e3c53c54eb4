"""``qrt lint --model`` resolves the model once and groups its sites by outcome (issue 24): what
it reports must be what the per-site reading of the resolved plan gives. Each test holds one
grouped check equal to that reading, written out here as the checks did before they were
grouped: the rule counts behind QRT020/QRT021 and the table, the tensor checks QRT022-QRT024,
the coverage behind QRT029; and a lint of an inventory read back from the cache (its sites
still rows) equal to one of the same inventory with its sites built."""

from __future__ import annotations

from collections import Counter, defaultdict
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from qrt.frontends.source import load_rule_source
from qrt.inventory.model import Inventory
from qrt.ir.effect import Off, Set
from qrt.ir.spec import PerTensor
from qrt.lint import lint
from qrt.lint.coverage_check import _coverage
from qrt.lint.inputs import read_input
from qrt.lint.model_checks import _rule_uses, _spec_findings
from qrt.lint.report import render
from qrt.resolver.axes import AxisFiller, resolve_axes
from qrt.inventory.canonical import site_row
from qrt.resolver.fast import FastResolver
from qrt.resolver.plan import owner_type, resolve_inventory
from qrt.resolver.tensor_check import tensor_problem
from qrt.resources import data_dir
from qrt.tools.coverage import coverage_of_plan

RULES = data_dir("rules")

# module_state rules (coverage reads those first), per-block sizes that do not divide, axes
# beyond the rank, open axes with no default, a later rule replacing an earlier one
MIXED = """\
op linear weight -> int4 per_block(48, axis=1)
op linear weight -> int8 per_channel(axis=3) priority (2)
type Linear module_state[weight] -> int8 per_channel
module /model\\.layers\\.0\\..*/ -> off
op embedding weight -> int4 per_block(100)
op linear input[0] -> int8 per_channel(axis=-1)
op linear output[0] -> int8 per_block(16)
type LlamaMLP module_state[down_proj.weight] -> int4 per_block(32)
module /lm_head/ weight -> float8_e4m3fn per_channel
"""


@cache
def builtin(name: str) -> Inventory:
    from qrt.model_inventory import load_model_inventory

    return load_model_inventory(name)


def inputs(tmp_path: Path) -> list[str]:
    mixed = tmp_path / "mixed.qrt"
    mixed.write_text(MIXED)
    return [str(RULES / "w8a8.qrt"), str(RULES / "w4a16.qrt"), str(RULES / "presets" / "w4.yaml"),
            str(RULES / "modelopt" / "NVFP4_DEFAULT_CFG.yaml"), str(mixed)]


def resolved(path: str, inv: Inventory) -> tuple[Any, Any, list[Any]]:
    source = load_rule_source(path)
    rules = source.rules_for(inv)
    rows = inv.site_rows()
    return rules, rows, FastResolver(rules).row_outcomes(rows)


@pytest.mark.parametrize("model", ["tiny_llama", "cnn"])
def test_grouped_checks_equal_the_per_site_reading_of_the_plan(tmp_path: Path, model: str) -> None:
    inv = builtin(model)
    for path in inputs(tmp_path):
        rules, rows, outcomes = resolved(path, inv)
        plan = resolve_inventory(rules, inv)

        # the rule counts, site by site
        uses: dict[int, list[Any]] = {r.order: [0, 0, 0, Counter()] for r in rules}
        for d in plan.decisions:
            last = None
            for rule in reversed(d.matched):
                use = uses[rule.order]
                use[0] += 1
                if last is not None:
                    use[2] += 1
                    use[3][last.order] += 1
                if isinstance(rule.effect, (Set, Off)):
                    last = rule
            if d.decided_by is not None:
                uses[d.decided_by.order][1] += 1
        grouped = _rule_uses(rules, outcomes)
        assert {o: [u.selected, u.decided, u.replaced, u.replacers] for o, u in grouped.items()} == uses
        assert {o: list(u.replacers) for o, u in grouped.items()} == {o: list(u[3]) for o, u in uses.items()}

        # the tensor checks, site by site (the last site's message of each rule and code)
        problems: dict[tuple[str, int], list[str]] = defaultdict(list)
        messages: dict[tuple[str, int], str] = {}
        for d in plan.decisions:
            spec = resolve_axes(d.spec, d.site, owner_type(d.site, inv)) if d.spec is not None else None
            if spec is None or d.decided_by is None:
                continue
            for stage in spec.stages:
                if isinstance(stage.granularity, PerTensor):
                    continue
                g, site = stage.granularity, d.site
                if getattr(g, "axis", None) is None:
                    key = ("QRT024", d.decided_by.order)
                    message = (f"{g.type} without an axis, and {site.op_type or site.module_type} has no "
                               f"default axis for {site.role}[{site.key}]")
                else:
                    found = tensor_problem(stage, d.site)
                    if found is None:
                        continue
                    key, message = (found[0], d.decided_by.order), found[1]
                messages[key] = message
                problems[key].append(d.site.quantizer_path)
        item = read_input(path)
        findings = list(_spec_findings(item, inv, rows, outcomes, AxisFiller()))
        assert [(f.code, f.data["sites"]) for f in findings] == [(k[0], len(v)) for k, v in problems.items()]
        for f, (key, paths) in zip(findings, problems.items()):
            assert f.message.startswith(f"{messages[key]}: {len(paths)} site(s)"), (f.message, messages[key])
            assert ", ".join(paths[:3]) in f.message

        # coverage from the weight sites alone
        cov, whole = _coverage(inv, rows, outcomes, AxisFiller()), coverage_of_plan(plan)
        assert cov.to_json() == whole.to_json() and cov.weights == whole.weights


def test_lint_of_cached_rows_equals_lint_of_built_sites(tmp_path: Path) -> None:
    """The inventory cache hands lint its sites as rows (``Site`` objects are never built on
    the common path); the findings and the table, text and JSON, are those of built sites."""
    from qrt.inventory.cache import load_cached, store_cached

    built = builtin("tiny_llama")
    assert store_cached("lint-one-pass", built, spec="tiny_llama")
    rows = load_cached("lint-one-pass")
    assert rows is not None and "sites" not in rows.__dict__  # still rows
    paths = [p for p in inputs(tmp_path) if p.endswith(".qrt")]  # a YAML config's compile reads sites
    from_rows = lint(paths, rows)
    assert "sites" not in rows.__dict__  # lint read the rows only
    from_sites = lint(paths, built)
    for fmt in ("text", "json"):
        assert render(from_rows, fmt, color=False) == render(from_sites, fmt, color=False)
    assert {"QRT021", "QRT022", "QRT023"} <= {f.code for f in from_rows.findings}  # the checks found things


@pytest.mark.parametrize("model", ["tiny_llama", "cnn"])
def test_axis_filler_equals_resolve_axes_site_by_site(model: str) -> None:
    """The filler answers once per distinct spec and axis-table row what ``resolve_axes`` answers
    for each site (``Plan.spec`` and lint read it)."""
    from qrt.frontends.dsl import parse_rules

    rules = parse_rules(
        "op linear weight -> int8 per_channel\n"
        "op embedding weight -> int4 per_block(8)\n"
        "module_state -> int8 per_channel\n"
        "op linear input[0] -> int8 per_block(4)\n"
        "op mul state -> int8 per_channel\n"
        "op conv2d weight -> int4 per_block(3)\n"
    )
    inv = builtin(model)
    assert [site_row(s) for s in inv.sites] == list(inv.site_rows())
    plan = resolve_inventory(rules, inv)
    fill = AxisFiller()
    filled = 0
    for d in plan.decisions:
        if d.spec is None:
            continue
        owner = owner_type(d.site, inv)
        expected = resolve_axes(d.spec, d.site, owner)
        assert fill(d.spec, d.site, owner) == expected == plan.spec(d)
        filled += expected is not d.spec
    assert filled  # some axes were open and filled


_FRAGMENTS = ["a", "b", ".", "\\.", ".*", "^", "$", "(a|b)", "[^a]", "\\d+", "(?s:.)", "a?", "\\b", "\\B", "\\A",
              "\\z", "(", ")", "0", "\\n"]


@settings(max_examples=200)
@given(st.lists(st.sampled_from(_FRAGMENTS), max_size=5).map("".join),
       st.lists(st.text(alphabet="ab.0\n", max_size=5), max_size=6))
def test_one_pass_over_the_names_says_none_only_where_none_matches(regex: str, names: list[str]) -> None:
    """Why a rule selects nothing reads every module name against its regex in one RE2 pass
    over the names joined (``_none_match``): it must say "none" exactly where trying each name
    does, whatever the regex's anchors, classes and flags, and names with newlines in them."""
    from qrt.ir.patterns import check_regex, regex_fullmatch
    from qrt.lint.model_checks import _none_match

    assume(check_regex(regex) is None)
    try:
        expected = not any(regex_fullmatch(regex, n) for n in names)
    except Exception:  # noqa: BLE001 - RE2 refuses it: lint never sees such a rule
        assume(False)
    assert _none_match(regex, tuple(names)) == expected
