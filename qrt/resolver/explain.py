"""Why a site got its decision: the whole cascade, who won, and why every other rule lost.

An explanation replays the fold (docs/semantics.md §2) over the site's matching rules in fold order
and classifies each step:

* ``decided`` — the last ``set``/``off`` (the state the final result starts from);
* ``replaced`` — a ``set``/``off`` replaced by a later one; the reason says whether the winner
  had a higher priority or the same priority and a later position;
* ``patched`` — the deciding ``set`` whose spec or toggle later patches changed in part;
* ``applied`` — a patch after the deciding rule whose change shows in the result;
* ``overridden`` — a patch whose every change a later rule undid or replaced.

It also says which spec fields the user wrote and which came from defaults (class defaults
of the spec, or the role's default spec when a patch enabled a site nobody set), and what
default axis the resolver filled in. docs/semantics.md §5 property 7: the listed rules are exactly
the matching ones in fold order, and the final state equals the resolver's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from qrt.inventory.model import Inventory
from qrt.ir.effect import FoldState, Off, Patch, Set, apply_effect, NOT_QUANTIZED
from qrt.ir.rule import Rule
from qrt.ir.site import Site
from qrt.ir.spec import QuantizationSpec
from qrt.resolver.axes import resolve_axes
from qrt.resolver.decision import Decision
from qrt.resolver.plan import owner_type, plan_spec_json, site_json

__all__ = ["Step", "Explanation", "explain_decision", "describe_effect", "module_query_sites"]

Status = Literal["decided", "replaced", "patched", "applied", "overridden"]


def describe_effect(rule: Rule) -> str:
    e = rule.effect
    if isinstance(e, Off):
        return "off"
    if isinstance(e, Set):
        name = e.spec_name or _spec_text(e.spec)
        return f"set {name}" + ("" if e.enable else " (disabled)")
    parts = []
    if e.enable is not None:
        parts.append("enable" if e.enable else "disable")
    parts += [f"{k}={_value_text(v)}" for k, v in sorted(e.fields.items())]
    return "patch " + " ".join(parts)


def _value_text(value: Any) -> str:
    if isinstance(value, dict):
        return ",".join(f"{k}={v}" for k, v in value.items())
    return str(getattr(value, "type", value)) if hasattr(value, "type") else str(value)


def _spec_text(spec: QuantizationSpec) -> str:
    g = spec.granularity
    gran: str = g.type
    extras = []
    if getattr(g, "block_size", None) is not None:
        extras.append(str(g.block_size))  # type: ignore[union-attr]
    if getattr(g, "axis", None) is not None:
        extras.append(f"axis={g.axis}")  # type: ignore[union-attr]
    if extras:
        gran += "(" + ", ".join(extras) + ")"
    text = f"{spec.dtype} {spec.qscheme} {gran}"
    for name, value in spec.extras:
        text += f" extra.{name}={value}"
    for stage in spec.then:
        text += f" then {_spec_text(stage)}"
    return text


@dataclass(frozen=True)
class Step:
    rule: Rule
    status: Status
    reason: str
    state_after: FoldState


@dataclass(frozen=True)
class Explanation:
    site: Site
    steps: tuple[Step, ...]
    final: QuantizationSpec | None
    """the decided spec with default axes filled in, or ``None``"""
    explicit_fields: frozenset[str]
    default_fields: tuple[str, ...]
    axis_note: str | None
    notes: tuple[str, ...] = ()
    """what the rules' front end adds (the governing module configuration, …)"""

    @property
    def decided_by(self) -> Rule | None:
        for step in reversed(self.steps):
            if step.status == "decided":
                return step.rule
        return None

    def to_json(self) -> dict[str, Any]:
        return {
            **site_json(self.site),
            "aliases": list(self.site.aliases),
            "cascade": [
                {
                    "origin": str(step.rule.origin),
                    "position": step.rule.origin.position,
                    "order": step.rule.order,
                    "priority": list(step.rule.priority),
                    "effect": describe_effect(step.rule),
                    "status": step.status,
                    "reason": step.reason,
                }
                for step in self.steps
            ],
            "decision": plan_spec_json(self.final) if self.final is not None else None,
            "explicit_fields": sorted(self.explicit_fields),
            "default_fields": list(self.default_fields),
            "axis": self.axis_note,
            "notes": list(self.notes),
        }


def _changed(before: FoldState, after: FoldState) -> set[str]:
    out = set()
    if before.enabled != after.enabled:
        out.add("enable")
    b, a = before.spec, after.spec
    if (b is None) != (a is None):
        out.add("spec")
    elif a is not None and b is not None:
        for field in type(a).model_fields:
            if getattr(a, field) != getattr(b, field):
                out.add(field)
    return out


def explain_decision(decision: Decision, inv: Inventory | None = None, notes: tuple[str, ...] = ()) -> Explanation:
    site = decision.site
    rules = decision.matched
    states = []
    state = NOT_QUANTIZED
    for rule in rules:
        state = apply_effect(state, rule.effect, site.role)
        states.append(state)
    assert state == decision.state, "explain replay diverged from the resolver"

    replacing = [i for i, r in enumerate(rules) if isinstance(r.effect, (Set, Off))]
    last_replace = replacing[-1] if replacing else None
    steps: list[Step] = []
    for i, rule in enumerate(rules):
        before = states[i - 1] if i else NOT_QUANTIZED
        later_replace = next((j for j in replacing if j > i), None)
        if later_replace is not None:
            winner = rules[later_replace]
            why = (
                "lower priority" if winner.priority > rule.priority else "same priority, earlier in the rule set"
            )
            steps.append(
                Step(rule, "replaced", f"{why}: replaced by `{describe_effect(winner)}` at {winner.origin}", states[i])
            )
            continue
        if i == last_replace:
            later = rules[i + 1 :]
            touched = set().union(*(_changed(states[j - 1], states[j]) for j in range(i + 1, len(rules)))) if later else set()
            if touched:
                steps.append(Step(rule, "decided", f"then patched: {', '.join(sorted(touched))}", states[i]))
            else:
                steps.append(Step(rule, "decided", "the last set/off that matches", states[i]))
            continue
        # a patch after the last set/off (or with none before it)
        mine = _changed(before, states[i])
        later_touched = set().union(*(_changed(states[j - 1], states[j]) for j in range(i + 1, len(rules)))) if i + 1 < len(rules) else set()
        survives = mine - later_touched
        if not mine:
            steps.append(Step(rule, "overridden", "changed nothing: the state already had these values", states[i]))
        elif survives:
            steps.append(Step(rule, "applied", f"sets {', '.join(sorted(survives))}", states[i]))
        else:
            steps.append(Step(rule, "overridden", f"later patches changed {', '.join(sorted(mine))} again", states[i]))

    final_spec = decision.state.decision
    explicit: frozenset[str] = frozenset()
    defaults: tuple[str, ...] = ()
    axis_note = None
    if final_spec is not None:
        explicit = final_spec.explicit_fields()
        if last_replace is None:
            explicit = frozenset(
                k for r in rules if isinstance(r.effect, Patch) for k in r.effect.fields
            )
        defaults = tuple(
            f for f in type(final_spec).model_fields if f not in explicit and f not in ("extras", "then")
        )
        owner = owner_type(site, inv) if inv is not None else None
        resolved = resolve_axes(final_spec, site, owner)
        if resolved != final_spec:
            axis_note = f"axis {resolved.granularity.axis} from the default-axis table for {site.op_type or owner}"  # type: ignore[union-attr]
        elif final_spec.granularity.type != "per_tensor" and getattr(final_spec.granularity, "axis", None) is None:
            axis_note = "axis left open: no default-axis table applies to this tensor"
        final_spec = resolved
    return Explanation(site, tuple(steps), final_spec, explicit, defaults, axis_note, notes)


def module_query_sites(inv: Inventory, query: str) -> list[Site] | None:
    """The sites a query means when it names a module (``model.layers.0.self_attn.q_proj``),
    or ``None`` when it names none.

    Read as a site query, a module's name matches only its module-boundary sites, which most
    configs leave off, so a user asking about a Linear whose weight is int8 was told "not
    quantized" three times. A module name means what the module runs: the sites of the ops
    its own forward calls (a Linear's input, weight and output), then its boundary sites.
    Submodules' sites are not included; a glob (``name.*``) reaches them."""
    if query not in {m.name for m in inv.modules}:
        return None
    own = [s for s in inv.sites if s.module == query]
    return [s for s in own if s.op_name is not None] + [s for s in own if s.op_name is None]

