"""Any front end → a ModelOpt ``quant_cfg`` list (``qrt convert --to quant-cfg``).

Three routes, each exact or refused:

* **a wildcard list** is written in list form (a legacy dict becomes the list, ``default``
  where it stood), ``algorithm`` kept;
* **with a model**, the source's plan is written: ``{"*": enable: false}`` first, then one
  entry per group of sites with the same decision, under globs chosen so each matches only
  its group (:mod:`qrt.tools.compaction`); every decision must map to ModelOpt attributes
  (:mod:`qrt.frontends.wildcard.spec_map`), or the sites that cannot are named with why;
* **without a model**, rules are translated one by one, in fold order, after the same
  ``"*"`` switch-off: a rule selecting by quantizer path (and ``parent`` class) with a set,
  ``off`` or ``disable`` effect has an entry; any other rule is named with the reason it has
  none (a module regex, an op type, a role … need a model to become names).

The caller verifies the result by resolving it beside the source.
"""

from __future__ import annotations

from typing import Any

from qrt.errors import QrtError
from qrt.frontends.wildcard.attributes import attribute_defaults
from qrt.frontends.wildcard.spec_map import NoModelOptEquivalent, attributes_from_spec
from qrt.ir.effect import Patch, Set
from qrt.ir.rule import Rule, RuleSet
from qrt.ir.selector import Selector
from qrt.ir.spec import QuantizationSpec
from qrt.resolver.plan import Plan
from qrt.tools.compaction import glob_groups

__all__ = ["cfg_of_spec", "entries_from_plan", "entries_from_rules", "yaml_form", "SWITCH_OFF"]

SWITCH_OFF: dict[str, Any] = {"quantizer_name": "*", "enable": False}
"""The first entry of a converted list: every site off, as a rule set starts."""


def _compact(attributes: dict[str, Any]) -> dict[str, Any]:
    """Only the attributes that differ from the 0.47 defaults (``cfg`` fills the rest), but
    never empty: an empty ``cfg`` means something else."""
    defaults = attribute_defaults()
    out = {k: v for k, v in attributes.items() if defaults.get(k) != v}
    return out or {"num_bits": attributes["num_bits"]}


def cfg_of_spec(spec: QuantizationSpec) -> Any:
    """The ``cfg`` of a spec in written form (JSON-safe except integer block keys); raises
    :class:`~qrt.frontends.wildcard.spec_map.NoModelOptEquivalent`."""
    attributes = attributes_from_spec(spec)
    if isinstance(attributes, list):
        return [_compact(a) for a in attributes]
    return _compact(attributes)


def yaml_form(cfg: Any) -> Any:
    """Tuples as lists; integer keys stay (YAML writes them; JSON output stringifies them)."""
    if isinstance(cfg, dict):
        return {k: yaml_form(v) for k, v in cfg.items()}
    if isinstance(cfg, (list, tuple)):
        return [yaml_form(v) for v in cfg]
    return cfg


def _set_entry(name: str, effect: Set, parent: str | None = None) -> dict[str, Any]:
    entry: dict[str, Any] = {"quantizer_name": name}
    if parent is not None:
        entry["parent_class"] = parent
    entry["cfg"] = yaml_form(cfg_of_spec(effect.spec))
    if not effect.enable:
        entry["enable"] = False
    return entry


def entries_from_plan(plan: Plan) -> list[dict[str, Any]]:
    """Entries whose plan equals ``plan`` on its model. Raises :class:`QrtError` naming the
    sites whose decisions ModelOpt cannot express."""
    group_of: dict[str, QuantizationSpec] = {}
    names: dict[str, tuple[str, ...]] = {}
    problems: dict[QuantizationSpec, tuple[list[str], NoModelOptEquivalent]] = {}
    cfgs: dict[QuantizationSpec, Any] = {}
    for decision in plan.decisions:
        site = decision.site
        names[site.quantizer_path] = (site.quantizer_path, *site.aliases)
        spec = plan.spec(decision)
        if spec is None:
            continue
        group_of[site.quantizer_path] = spec
        if spec in cfgs or spec in problems:
            if spec in problems:
                problems[spec][0].append(site.quantizer_path)
            continue
        try:
            cfgs[spec] = yaml_form(cfg_of_spec(spec))
        except NoModelOptEquivalent as exc:
            problems[spec] = ([site.quantizer_path], exc)
    if problems:
        lines = []
        for spec, (paths, exc) in problems.items():
            shown = ", ".join(paths[:3]) + (f" and {len(paths) - 3} more" if len(paths) > 3 else "")
            lines.append(f"{len(paths)} site(s) ({shown}): {'; '.join(exc.reasons)}")
        raise QrtError(
            "ModelOpt cannot express the decisions of " + " | ".join(lines),
            hint="change those specs to ones ModelOpt has (e.g. qparam_calculator=minmax "
            "range_calculator=minmax for its max calibration), or convert to the DSL, which "
            "holds every decision",
        )
    entries: list[dict[str, Any]] = [dict(SWITCH_OFF)]
    for spec, globs in glob_groups(names, group_of).items():
        for glob in globs:
            entries.append({"quantizer_name": glob, "cfg": cfgs[spec]})
    return entries


def _selector_problem(selector: Selector) -> str | None:
    used = [
        name
        for name in ("module_name", "module_type", "scope", "op_type", "op_name", "role", "tensor")
        if getattr(selector, name) is not None
    ]
    if selector.key is not None and selector.key != "*":
        used.append("key")
    if used:
        return (
            f"it selects by {', '.join(used)}; a quant_cfg entry selects by quantizer name and "
            f"parent_class only (convert with --model to write the sites it selects by name)"
        )
    parent = selector.parent_class
    if parent is not None and "." not in parent:
        return (
            f"parent {parent!r} is a bare class name; ModelOpt needs 'nn.{parent}' or a "
            f"fully-qualified name"
        )
    return None


def _rule_label(rule: Rule) -> str:
    return f"rule {rule.order} ({rule.origin})"


def entries_from_rules(rules: RuleSet) -> list[dict[str, Any]]:
    """Entries equal to ``rules`` on every model, or a :class:`QrtError` naming each rule that
    has no equivalent and why."""
    entries: list[dict[str, Any]] = [dict(SWITCH_OFF)]
    refused: list[str] = []
    for rule in sorted(rules, key=lambda r: r.sort_key):
        problem = _selector_problem(rule.selector)
        effect = rule.effect
        if problem is None and isinstance(effect, Patch):
            if effect.fields:
                problem = "a patch of spec fields has no ModelOpt form (a cfg replaces every attribute)"
            elif effect.enable:
                problem = (
                    "`enable` on a site no earlier rule set gives qrt's role default spec, which "
                    "ModelOpt cannot express; write the spec instead"
                )
        entry: dict[str, Any] = {}
        if problem is None:
            name = rule.selector.quantizer_path or "*"
            parent = rule.selector.parent_class
            if isinstance(effect, Set):
                try:
                    entry = _set_entry(name, effect, parent)
                except NoModelOptEquivalent as exc:
                    problem = "its spec has no ModelOpt form: " + "; ".join(exc.reasons)
            else:  # Off, or Patch(enable=False)
                entry = {"quantizer_name": name, **({"parent_class": parent} if parent else {}), "enable": False}
        if problem is not None:
            refused.append(f"{_rule_label(rule)}: {problem}")
        else:
            entries.append(entry)
    if refused:
        raise QrtError(
            f"{len(refused)} rule(s) have no quant_cfg equivalent:\n  " + "\n  ".join(refused),
            hint="pass --model SPEC to convert the decisions for one model instead",
        )
    return entries
