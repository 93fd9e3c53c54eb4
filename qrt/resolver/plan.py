"""The plan: every site of a model with its decision — what ``qrt resolve`` writes.

The JSON shape is a public interface (scripts and CI read it); its schema is
``schemas/plan.schema.json``. Names kept stable: ``qrt_plan``, ``sites`` and per site
``quantizer_path, module, module_type, op_name, op_type, role, key, decision, origin``;
``decision`` is ``null`` (not quantized) or the spec's fields with default axes resolved.
Extra fields (``tensor``, ``aliases``) only add information.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from qrt.errors import ResolveError, did_you_mean
from qrt.inventory.model import Inventory
from qrt.ir.rule import RuleSet
from qrt.ir.selector import type_matches
from qrt.ir.site import Site
from qrt.ir.spec import QuantizationSpec
from qrt.ir.tensor_id import param_name
from qrt.resolver.axes import AxisFiller
from qrt.resolver.decision import Decision
from qrt.resolver.fast import FastResolver

__all__ = ["Plan", "PLAN_VERSION", "plan_spec_json", "site_json", "resolve_inventory", "resolve_source", "owner_type", "check_type_names"]

PLAN_VERSION = 1


def owner_type(site: Site, inv: Inventory) -> str | None:
    """Class of the module owning a state tensor (``param:<fqn>``), for default axes."""
    name = param_name(site.tensor)
    if name is None:
        return None
    return inv.module_types.get(name.rpartition(".")[0])


def check_type_names(rules: RuleSet, inv: Inventory) -> None:
    """A bare class name (``Linear``) is accepted only where it names one class in the model."""
    types = sorted(set(inv.module_types.values()))
    for rule in rules:
        sel = rule.selector
        names = [sel.module_type, sel.parent_class, sel.scope.type if sel.scope else None]
        for name in names:
            if name is None or "." in name:
                continue
            hits = [t for t in types if type_matches(name, t)]
            if len(hits) > 1:
                raise ResolveError(
                    f"class name {name!r} is ambiguous in this model: {', '.join(hits)}",
                    location=rule.origin.position,
                    hint="write the fully-qualified class name",
                )


@dataclass(frozen=True)
class Plan:
    """Decisions for every site of an inventory under one rule set."""

    inventory: Inventory
    rules: RuleSet
    decisions: tuple[Decision, ...]
    source: Any = field(default=None, compare=False)
    """the front end the rules came from (``qrt.frontends.source.RuleSource``), for explain"""

    def __iter__(self) -> Iterator[Decision]:
        return iter(self.decisions)

    def __len__(self) -> int:
        return len(self.decisions)

    @cached_property
    def _by_path(self) -> dict[str, Decision]:
        return {d.site.quantizer_path: d for d in self.decisions}

    def decision(self, quantizer_path: str) -> Decision:
        try:
            return self._by_path[quantizer_path]
        except KeyError:
            from qrt.errors import QueryError

            raise QueryError(
                f"no site has the quantizer path {quantizer_path!r}",
                hint=did_you_mean(quantizer_path, self._by_path) or "see `qrt inspect`",
            ) from None

    @cached_property
    def _fill_axes(self) -> AxisFiller:
        return AxisFiller()

    def spec(self, decision: Decision) -> QuantizationSpec | None:
        """The decided spec with default axes filled in (once per distinct spec and axis-table
        row: :class:`~qrt.resolver.axes.AxisFiller`)."""
        spec = decision.spec
        if spec is None:
            return None
        return self._fill_axes(spec, decision.site, owner_type(decision.site, self.inventory))

    def quantized(self) -> list[Decision]:
        return [d for d in self.decisions if d.spec is not None]

    def to_json(self) -> dict[str, Any]:
        sites = []
        for d in self.decisions:
            s = d.site
            spec = self.spec(d)
            rule = d.decided_by
            sites.append(
                {
                    **site_json(s),
                    "decision": plan_spec_json(spec) if spec is not None else None,
                    "origin": (rule.origin.position or str(rule.origin)) if rule is not None else None,
                    "tensor": s.tensor,
                    "aliases": list(s.aliases),
                    **({"fused": s.fused, "expert": s.expert} if s.fused is not None else {}),
                }
            )
        return {
            "qrt_plan": PLAN_VERSION,
            "model": dict(self.inventory.model),
            "inventory_sha256": self.inventory.sha256,
            "summary": {"sites": len(sites), "quantized": sum(1 for x in sites if x["decision"])},
            "sites": sites,
        }


def site_json(site: Site) -> dict[str, Any]:
    """The fields that name a site in the plan and in explanations, in the plan's order."""
    return {
        "quantizer_path": site.quantizer_path,
        "module": site.module,
        "module_type": site.module_type,
        "op_name": site.op_name,
        "op_type": site.op_type,
        "role": site.role,
        "key": site.key,
    }


def plan_spec_json(spec: QuantizationSpec) -> dict[str, Any]:
    """A spec as the plan writes it: every field, granularity always with axis and block_size;
    ``extras`` and ``then`` (the stages of a sequential quantizer) only when a spec has them."""
    data = spec.to_json()
    g = data["granularity"]
    data["granularity"] = {"type": g["type"], "axis": g.get("axis"), "block_size": g.get("block_size")}
    if spec.then:
        data["then"] = [plan_spec_json(stage) for stage in spec.then]
    return data


def resolve_inventory(rules: RuleSet, inv: Inventory, *, source: Any = None) -> Plan:
    check_type_names(rules, inv)
    decisions = FastResolver(rules).resolve(inv.sites)
    return Plan(inv, rules, tuple(decisions), source)


def resolve_source(source: Any, inv: Inventory, *, check_tensors: bool = True) -> Plan:
    """Resolve a rule source of any front end (an object with ``rules_for`` and ``check``, as
    :func:`qrt.frontends.source.load_rule_source` returns) on ``inv``: its rules for this
    model, the fold, the front end's own check of the plan, and — with ``check_tensors`` — the
    refusal of a spec its tensor cannot take (:mod:`qrt.resolver.tensor_check`). The one
    sequence ``qrt.resolve`` and the runtime both run; it lives here, below both, so the
    runtime never imports the API face above it."""
    plan = resolve_inventory(source.rules_for(inv), inv, source=source)
    source.check(plan)
    if check_tensors:
        from qrt.resolver.tensor_check import check_plan

        check_plan(plan)
    return plan
