"""``qrt explain`` decides only the sites its queries name (qrt/tools/explain_query.py) and finds
them by string compares (Inventory.find): the same explanations, checks and errors as resolving
every site first."""

from __future__ import annotations

from typing import Any

import pytest

from qrt.api import explain, parse_rules
from qrt.errors import QueryError
from qrt.frontends.source import DslSource, load_rule_source
from qrt.inventory.model import Inventory, _site_matches
from qrt.model_inventory import load_model_inventory
from qrt.resolver.plan import Plan, resolve_inventory
from qrt.tools.explain_query import resolve_for_queries
from tests.conftest import ROOT

QUERIES = ["model.layers.0.mlp.down_proj.weight_quantizer", "lm_head", "model.layers.1.self_attn.*",
           "model.layers.0.mlp.si*:input[0]", "model.layers.0.mlp.down_proj.linear:state[weight]", "*q_bmm_quantizer"]


@pytest.fixture(scope="module")
def inv() -> Inventory:
    return load_model_inventory("tiny_llama")


def _full(source: Any, inv: Inventory) -> Plan:
    plan = resolve_inventory(source.rules_for(inv), inv, source=source)
    source.check(plan)
    return plan


@pytest.mark.parametrize("rules", ["modelopt:NVFP4_DEFAULT_CFG", str(ROOT / "rules" / "w8a8.qrt")])
def test_explaining_a_few_sites_gives_what_resolving_all_gives(inv: Inventory, rules: str) -> None:
    source = load_rule_source(rules)
    plan, full = resolve_for_queries(source, inv), _full(source, inv)
    for query in QUERIES:
        assert [e.to_json() for e in explain(plan, queries=query)] == [e.to_json() for e in explain(full, queries=query)]
    assert "decisions" not in vars(plan)  # nothing read them: the other sites were never decided
    assert plan.decisions == full.decisions and len(plan) == len(inv.sites)


class _CheckingSource(DslSource):
    """A front end whose check reads every decision (as a hierarchical config's does)."""

    def check(self, plan: Plan) -> None:
        quantized = [d for d in plan if d.spec is not None]
        if quantized:
            raise QueryError(f"{len(quantized)} of {len(plan)} sites quantized")


def test_a_check_that_reads_the_plan_sees_every_site(inv: Inventory) -> None:
    source = _CheckingSource(parse_rules("op linear weight -> int8 symmetric per_channel\n"))
    with pytest.raises(QueryError) as full:
        _full(source, inv)
    with pytest.raises(QueryError) as queried:
        resolve_for_queries(source, inv)
    assert str(queried.value) == str(full.value)


def test_a_fold_that_fails_on_another_site_fails_as_before(inv: Inventory) -> None:
    """A patch that makes an invalid spec on lm_head only: explaining layer 0 still fails."""
    text = "op linear weight -> float8_e4m3fn symmetric per_channel\nmodule \"lm_head\" -> patch qscheme=asymmetric\n"
    source = DslSource(parse_rules(text))
    with pytest.raises(Exception) as full:
        _full(source, inv)
    with pytest.raises(type(full.value)) as queried:
        explain(resolve_for_queries(source, inv), queries=QUERIES[0])
    assert str(queried.value) == str(full.value)


def test_find_by_string_compares_matches_fnmatch_over_every_site(inv: Inventory) -> None:
    names = sorted({s.quantizer_path for s in inv.sites} | {a for s in inv.sites for a in s.aliases}
                   | set(inv.op_names) | {s.module for s in inv.sites})
    queries = [*names[::7], "lm_head:state[weight]", "model.layers.0.mlp.down_proj:module_input[0]"]
    queries += [n + suffix for n in names[::40] for suffix in (":input[0]", ":state[weight]", ":*", ":output")]
    for query in queries:
        want = [s for s in inv.sites if _site_matches(s, query)]
        assert (inv.find(query) if want else []) == want, query
    with pytest.raises(QueryError, match="no site matches"):
        inv.find("no.such.site")

