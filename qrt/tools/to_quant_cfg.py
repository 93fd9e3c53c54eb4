"""Any front end → a ModelOpt ``quant_cfg`` list (``qrt convert --to quant-cfg``).

Three routes, each exact or refused:

* **a wildcard list** is written in list form (a legacy dict becomes the list, ``default``
  where it stood), ``algorithm`` kept;
* **with a model**, the source's plan is written: ``{"*": enable: false}`` first, then one
  entry per group of sites with the same decision, under globs of ModelOpt's names chosen so
  each matches only its group (:mod:`qrt.tools.compaction`); every quantized site must be a
  quantizer ModelOpt would create (a list reaches nothing else, docs/semantics.md §4) and its decision
  must map to ModelOpt attributes (:mod:`qrt.frontends.wildcard.spec_map`), or the sites that
  cannot are named with why;
* **without a model**, rules are translated one by one, in fold order, after the same
  ``"*"`` switch-off: a rule selecting by quantizer name (and ``parent`` class) with a set,
  ``off`` or ``disable`` effect has an entry — a rule that switches sites on must select them
  by ModelOpt's names (``modelopt_name "…"``), since a glob over qrt's paths also reaches sites no
  entry can (norm weights, activation-function inputs); any other rule is named with the
  reason it has none (a module regex, an op type, a role … need a model to become names).

The caller verifies the result by resolving it beside the source.
"""

from __future__ import annotations

from typing import Any

from qrt.errors import QrtError
from qrt.frontends.wildcard.attributes import attribute_defaults
from qrt.frontends.wildcard.spec_map import NoModelOptEquivalent, attributes_from_spec
from qrt.frontends.wildcard.compile import is_frame_of
from qrt.inventory.modelopt import weight_transposed
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


def cfg_of_spec(spec: QuantizationSpec, *, transposed: bool = False) -> Any:
    """The ``cfg`` of a spec in written form (JSON-safe except integer block keys); raises
    :class:`~qrt.frontends.wildcard.spec_map.NoModelOptEquivalent`. ``transposed``: the spec is
    on a weight ModelOpt sees transposed (``Conv1D``), so its axes are written in that frame."""
    attributes = attributes_from_spec(spec, transposed=transposed)
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
    # a group is one written cfg: the spec in ModelOpt's frame, so a Conv1D weight (stored
    # (in, out), seen transposed by ModelOpt) and a Linear weight with the same cfg share it
    group_of: dict[str, str] = {}
    names: dict[str, tuple[str, ...]] = {}
    problems: dict[tuple[QuantizationSpec, bool], tuple[list[str], NoModelOptEquivalent]] = {}
    written: dict[tuple[QuantizationSpec, bool], str] = {}
    cfgs: dict[str, Any] = {}
    unreachable: list[str] = []
    for decision in plan.decisions:
        site = decision.site
        spec = plan.spec(decision)
        if spec is not None and site.modelopt_name is None:  # no entry can match it
            unreachable.append(site.quantizer_path)
        if site.modelopt_name is not None:
            names[site.modelopt_name] = (site.modelopt_name,)
        if spec is None:
            continue
        key = (spec, weight_transposed(site))
        if key in problems:
            problems[key][0].append(site.quantizer_path)
            continue
        if key not in written:
            try:
                cfg = yaml_form(cfg_of_spec(spec, transposed=key[1]))
            except NoModelOptEquivalent as exc:
                problems[key] = ([site.quantizer_path], exc)
                continue
            written[key] = repr(cfg)
            cfgs[written[key]] = cfg
        if site.modelopt_name is not None:
            group_of[site.modelopt_name] = written[key]
    if problems or unreachable:
        # grouped by reason, whatever spec it came from: a preset's 150 activation sites and
        # 20 weight sites share two reasons, and a reader needs each reason once
        # a spec ModelOpt cannot say is reported first: fixing it changes the specs, not the
        # sites; then the sites no entry can reach
        groups: dict[tuple[str, str], list[str]] = {}
        for paths, exc in problems.values():
            for reason in exc.reasons:
                groups.setdefault(_what_why(reason), []).extend(paths)
        if not problems:
            groups[("quantized where ModelOpt creates no quantizer", "a quant_cfg entry reaches "
                    "only ModelOpt's quantizers (no norm weights, no activation-function inputs)")] = unreachable
        total = sum(len(paths) for paths, _ in problems.values()) if problems else len(unreachable)
        raise QrtError(
            f"{total} quantized site(s) have no ModelOpt form; nothing was written:"
            + _render(groups, "site"),
            hint="write those specs as ModelOpt has them (see why), or convert --to dsl, which "
            "holds every decision",
        )
    entries: list[dict[str, Any]] = [dict(SWITCH_OFF)]
    for group, globs in glob_groups(names, group_of).items():
        for glob in globs:
            entries.append({"quantizer_name": glob, "cfg": cfgs[group]})
    return entries


def _switches_on(rule: Rule) -> bool:
    """Whether the rule sets an enabled spec (sites outside ModelOpt's reach stay off under
    any list, so a rule that only switches off means the same on them; a patch that enables
    is refused for its own reason)."""
    return isinstance(rule.effect, Set) and rule.effect.enable


def _selector_problem(selector: Selector) -> tuple[str, str] | None:
    used = [
        name
        for name in ("module_name", "module_type", "scope", "op_type", "op_name", "role", "tensor")
        if getattr(selector, name) is not None
    ]
    if selector.key is not None and selector.key != "*":
        used.append("key")
    if used:
        return f"it selects by {', '.join(used)}", "a quant_cfg entry selects by quantizer name and parent_class only"
    parent = selector.parent_class
    if parent is not None and "." not in parent:
        return f"parent {parent!r} is a bare class name", f"ModelOpt needs 'nn.{parent}' or a fully-qualified name"
    return None


_WIDTH = 100
"""Error lines are wrapped here: a refusal is read in a terminal, not scrolled sideways."""


def _few(items: list[str], noun: str, shown: int = 3) -> str:
    """``"153 sites: a, b, c and 150 more"`` — a count and the first few, never all."""
    head = ", ".join(items[:shown]) + (f" and {len(items) - shown} more" if len(items) > shown else "")
    return f"{len(items)} {noun}{'s' if len(items) != 1 else ''}: {head}"


def _what_why(reason: str) -> tuple[str, str]:
    """A spec-map reason (``"qscheme asymmetric: ModelOpt quantizers have no zero point"``)
    as what is refused and why."""
    what, _, why = reason.partition(": ")
    return (what, why) if why else (reason, "")


def _render(groups: dict[tuple[str, str], list[str]], noun: str) -> str:
    """One bullet per refused thing with a count and a few names; each reason once, under the
    bullets it explains."""
    import textwrap

    by_why: dict[str, list[tuple[str, list[str]]]] = {}
    for (what, why), items in groups.items():
        by_why.setdefault(why, []).append((what, items))
    lines: list[str] = []
    for why, whats in by_why.items():
        lines += [
            textwrap.fill(f"{what} — {_few(items, noun)}", _WIDTH, initial_indent="  - ", subsequent_indent="    ",
                          break_on_hyphens=False)
            for what, items in whats
        ]
        if why:
            lines.append(textwrap.fill(f"why: {why}", _WIDTH, initial_indent="    ", subsequent_indent="    ",
                                       break_on_hyphens=False))
    return "".join("\n" + line for line in lines)


def _rule_label(rule: Rule) -> str:
    return str(rule.origin)


def entries_from_rules(rules: RuleSet) -> list[dict[str, Any]]:
    """Entries equal to ``rules`` on every model, or a :class:`QrtError` naming each rule that
    has no equivalent and why."""
    entries: list[dict[str, Any]] = [dict(SWITCH_OFF)]
    refused: dict[tuple[str, str], list[str]] = {}  # (what, why) → the rules it refuses
    previous: Rule | None = None
    for rule in sorted(rules, key=lambda r: r.sort_key):
        # the translation the wildcard compiler puts after a set for Conv1D weights (a list
        # converted to DSL has it): the entry written for the set brings it back by itself
        if previous is not None and is_frame_of(rule, previous):
            continue
        previous = rule
        problems: list[tuple[str, str]] = []
        problem = _selector_problem(rule.selector)
        effect = rule.effect
        if problem is None and _switches_on(rule) and rule.selector.quantizer_names != "modelopt":
            problem = (
                "sites switched on by qrt's quantizer paths",
                "an entry reaches only ModelOpt's quantizers, by ModelOpt's names; select them "
                'with modelopt_name "…" instead of quantizer "…"',
            )
        if problem is None and isinstance(effect, Patch):
            if effect.fields:
                problem = ("a patch of spec fields", "a cfg replaces every attribute, so ModelOpt has no patch")
            elif effect.enable:
                problem = (
                    "`enable` on a site no earlier rule set",
                    "it gives qrt's role default spec, which ModelOpt cannot express; write the spec instead",
                )
        entry: dict[str, Any] = {}
        if problem is None:
            name = rule.selector.quantizer_path or "*"
            parent = rule.selector.parent_class
            if isinstance(effect, Set):
                try:
                    entry = _set_entry(name, effect, parent)
                except NoModelOptEquivalent as exc:
                    problems = [_what_why(r) for r in exc.reasons]
            else:  # Off, or Patch(enable=False)
                entry = {"quantizer_name": name, **({"parent_class": parent} if parent else {}), "enable": False}
        else:
            problems = [problem]
        for p in problems:
            refused.setdefault(p, []).append(_rule_label(rule))
        if not problems:
            entries.append(entry)
    if refused:
        count = len({label for labels in refused.values() for label in labels})
        raise QrtError(
            f"{count} rule(s) have no quant_cfg equivalent; nothing was written:" + _render(refused, "rule"),
            hint="pass --model SPEC to write the decisions on that model, or --to dsl (exact "
            "for every model)",
        )
    return entries
