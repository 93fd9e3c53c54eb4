"""The Python API behind the CLI: load rules, resolve them against a model, explain a site.

``rules`` may be a path to a rule file of any front end (DSL, hierarchical YAML), a
:class:`RuleSet`, or a hierarchical ``QuantizerConfig``. ``model`` may be an
:class:`Inventory`, a ``--model`` spec string (a saved inventory needs no torch), or a
``torch.nn.Module`` with example inputs (traced once).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Union

from qrt.frontends.source import RuleSource, load_rule_source
from qrt.inventory.model import Inventory
from qrt.ir.rule import RuleSet
from qrt.resolver.explain import Explanation, explain_decision, module_query_sites
from qrt.resolver.plan import Plan, resolve_source

if TYPE_CHECKING:
    import torch

__all__ = ["load_rules", "parse_rules", "resolve", "explain", "as_inventory", "ModelLike", "RulesLike"]

ModelLike = Union[Inventory, str, "torch.nn.Module"]
RulesLike = Union[str, Path, RuleSet, RuleSource, Any]


def load_rules(source: str | Path | RuleSet) -> RuleSet:
    """A rule set from a DSL file path (or a :class:`RuleSet`, returned as is)."""
    if isinstance(source, RuleSet):
        return source
    if not isinstance(source, (str, Path)):
        from qrt.errors import wrong_type

        raise wrong_type("qrt.load_rules", "source", source, "a DSL file's path (str or Path) or a RuleSet")
    from qrt.frontends.dsl import load_rules as _load

    return _load(source)


def parse_rules(text: str, *, file: str = "<string>") -> RuleSet:
    """A rule set from DSL text."""
    if not isinstance(text, str):
        from qrt.errors import wrong_type

        raise wrong_type("qrt.parse_rules", "text", text, "the DSL text (a str); qrt.load_rules reads a file")
    from qrt.frontends.dsl import parse_rules as _parse

    return _parse(text, file=file)


def as_inventory(model: ModelLike, *args: Any, **kwargs: Any) -> Inventory:
    if isinstance(model, Inventory):
        return model
    if isinstance(model, str):
        from qrt.model_inventory import load_model_inventory

        return load_model_inventory(model)
    import torch

    if not isinstance(model, torch.nn.Module):
        from qrt.errors import wrong_type

        raise wrong_type("qrt.resolve", "model", model, "an Inventory, a --model spec string, or a torch.nn.Module")
    from qrt.runtime.trace import trace_model

    return trace_model(model, args, kwargs)


def _source(rules: RulesLike, door: str = "qrt.resolve") -> RuleSource:
    if hasattr(rules, "rules_for"):
        return rules  # type: ignore[no-any-return]
    return load_rule_source(rules, door=door, argument="rules")


def resolve(rules: RulesLike, model: ModelLike, *args: Any, check_tensors: bool = True, **kwargs: Any) -> Plan:
    """Decide every site of ``model`` under ``rules`` (any front end).

    ``check_tensors``: refuse a plan with a spec its tensor cannot take (an axis beyond the
    rank, an absurd block size: :mod:`qrt.resolver.tensor_check`), at the rule's file and
    line. ``False`` keeps such decisions, for tools that show them (explain, the report) and
    the runtime, which refuses them itself."""
    source = _source(rules)
    return resolve_source(source, as_inventory(model, *args, **kwargs), check_tensors=check_tensors)


def _tensor_note(plan: Plan, decision: Any) -> str | None:
    from qrt.resolver.tensor_check import tensor_problem

    spec = plan.spec(decision)
    found = tensor_problem(spec, decision.site) if spec is not None else None
    if found is None:
        return None
    if found[0] == "QRT022":
        return f"error: {found[1]}: no runtime can prepare this spec here (lint QRT022; qrt resolve refuses it)"
    return f"error: {found[1]}: qrt's eager runtime cannot prepare this spec here (lint {found[0]})"


def explain(
    rules: RulesLike | Plan,
    model: ModelLike | None = None,
    queries: Sequence[str] | str = (),
) -> list[Explanation]:
    """Explain the sites named by ``queries`` (quantizer paths, ``op_name[:role[key]]``, globs,
    or a module's name: the sites of the ops it runs, then its boundary)."""
    if isinstance(queries, str):
        queries = [queries]
    bad = [q for q in queries if not isinstance(q, str)] if isinstance(queries, (list, tuple)) else [queries]
    if bad:
        from qrt.errors import wrong_type

        raise wrong_type("qrt.explain", "queries", bad[0], "a query string or a list of them "
                         "(quantizer paths, op_name[:role[key]], globs, module names)")
    plan = rules if isinstance(rules, Plan) else resolve(rules, model, check_tensors=False)  # type: ignore[arg-type]
    inv = plan.inventory
    wanted: dict[str, None] = {}
    for q in queries:
        module_sites = module_query_sites(inv, q)  # a module's name means the sites it runs
        for site in module_sites if module_sites is not None else inv.find(q):
            wanted[site.quantizer_path] = None
    out = []
    for path in wanted:
        decision = plan.decision(path)
        notes = tuple(plan.source.notes(decision.site, inv)) if plan.source is not None else ()
        problem = _tensor_note(plan, decision)
        if problem is not None:  # shown, not refused: explain is how a user sees what went wrong
            notes += (problem,)
        out.append(explain_decision(decision, inv, notes))
    return out
