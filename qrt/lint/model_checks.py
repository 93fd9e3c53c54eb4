"""Checks against a model's inventory: what the rules actually select and decide there.

One resolve gives every site's matching rules in fold order; from it, per rule: how many
sites it selects, how many it decides, and whether a later replacing rule takes every one of
them. Then:

* rules (and hierarchical keys) that select nothing, with the closest real names (QRT020), or
  a module input/output key the module does not have (QRT025);
* rules whose every selected site a later rule replaces, naming that rule (QRT021);
* decided specs that cannot run on their tensor: an axis beyond the rank (QRT022), a block
  size that does not divide the dimension (QRT023), no axis and no default (QRT024);
* ModelOpt entries that switch on sites ModelOpt has no quantizer for (QRT026).

Shadowing is checked for the rules a user wrote (DSL rules, ModelOpt entries); a hierarchical
config compiles to several rules per setting, so its keys are checked for matching nothing.
"""

from __future__ import annotations

import difflib
import re
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from fnmatch import translate
from typing import Any

from qrt.inventory.model import Inventory
from qrt.ir.effect import Off, Set
from qrt.ir.rule import Rule
from qrt.ir.selector import Selector, type_matches
from qrt.ir.site import Site
from qrt.lint.codes import CODES
from qrt.lint.diagnostics import Diagnostic
from qrt.lint.inputs import LintInput
from qrt.lint.locate import span_of
from qrt.lint.static import is_synthetic, user_rules

__all__ = ["RuleUse", "model_findings"]

_MODULE_ROLES = ("module_input", "module_output")


@dataclass
class RuleUse:
    """What one rule does on the model."""

    rule: Rule
    selected: int = 0
    decided: int = 0
    replaced: int = 0
    """selected sites where a later matching rule replaces its decision"""
    replacers: Counter[int] = field(default_factory=Counter)

    def to_json(self) -> dict[str, Any]:
        origin = self.rule.origin
        return {
            "rule": self.rule.order,
            "origin": origin.position,
            "config_path": origin.config_path,
            "selected": self.selected,
            "decided": self.decided,
        }


def _finding(code: str, item: LintInput, span: tuple[Any, Any, Any], message: str, **kw: Any) -> Diagnostic:
    line, column, end = span
    data = kw.pop("data", {})
    return Diagnostic(code=code, severity=CODES[code].severity, message=message, file=item.path,
                      line=line, column=column, end_column=end, data=data, **kw)


def _rule_span(rule: Rule) -> tuple[Any, Any, Any]:
    return rule.origin.line, rule.origin.column, None


def _examples(sites: list[str], n: int = 3) -> str:
    shown = ", ".join(sites[:n])
    return shown + (f" and {len(sites) - n} more" if len(sites) > n else "")


# ---------------------------------------------------------------------------------------------
# Why a rule selects nothing


_NUMBERS = re.compile(r"\d+")


_SHAPES: dict[int, dict[str, str]] = {}


def _shapes(names: frozenset[str]) -> dict[str, str]:
    """Each name shape (numbers folded) with one real name of that shape, per name set."""
    found = _SHAPES.get(id(names))
    if found is None:
        found = {}
        for name in sorted(names):
            found.setdefault(_NUMBERS.sub("0", name), name)
        _SHAPES.clear()  # one inventory at a time
        _SHAPES[id(names)] = found
    return found


def _closest(word: str, names: frozenset[str]) -> str:
    """The closest names, compared by shape (numbers folded: a 70B model's 11,000 module names
    have a few dozen shapes), then shown as a real name of that shape."""
    example = _shapes(names)
    close = difflib.get_close_matches(_NUMBERS.sub("0", word), list(example), n=3, cutoff=0.6)
    if not close:
        return ""
    return " (did you mean " + " or ".join(repr(example[c]) for c in close) + "?)"


def _unescape(regex: str) -> str:
    return re.sub(r"\\(.)", r"\1", regex).replace(".*", "").replace("\\d+", "0")


@dataclass
class _Names:
    """The model's names, collected once per lint run."""

    modules: frozenset[str]
    types: frozenset[str]
    op_types: frozenset[str]
    op_names: frozenset[str]
    quantizers: frozenset[str]

    @classmethod
    def of(cls, inv: Inventory) -> _Names:
        return cls(
            modules=frozenset(m.name for m in inv.modules),
            types=frozenset(m.type for m in inv.modules),
            op_types=frozenset(o.op_type for o in inv.ops),
            op_names=frozenset(o.name for o in inv.ops),
            quantizers=frozenset(n for s in inv.sites for n in (s.quantizer_path, *s.aliases)),
        )


def _nothing_reason(sel: Selector, names: _Names) -> str:
    modules, types = names.modules, names.types
    if sel.module_name is not None and not any(re.fullmatch(sel.module_name, m) for m in modules):  # noqa: SIM102
        return f"module /{sel.module_name}/ matches no module{_closest(_unescape(sel.module_name), modules)}"
    if sel.scope is not None and sel.scope.name is not None and not any(re.fullmatch(sel.scope.name, m) for m in modules):
        return f"scope /{sel.scope.name}/ matches no module{_closest(_unescape(sel.scope.name), modules)}"
    for name in (sel.module_type, sel.parent_class, sel.scope.type if sel.scope else None):
        if name is not None and not any(type_matches(name, t) for t in types):
            return f"no module of class {name!r}{_closest(name, types)}"
    op_types = names.op_types
    if sel.op_type is not None and sel.op_type not in op_types:
        return f"no op of type {sel.op_type!r} runs in the model{_closest(sel.op_type, op_types)}"
    if sel.op_name is not None and not sel.op_name_relative:
        rx = re.compile(sel.op_name)
        if not any(rx.fullmatch(o) for o in names.op_names):
            return f"op name /{sel.op_name}/ matches no op{_closest(_unescape(sel.op_name), names.op_names)}"
    if sel.quantizer_path is not None:
        rx = re.compile(translate(sel.quantizer_path))
        if not any(rx.match(n) for n in names.quantizers):
            return (
                f"quantizer {sel.quantizer_path!r} matches no quantizer path"
                f"{_closest(sel.quantizer_path.strip('*'), names.quantizers)}"
            )
    return "no site satisfies all of its predicates together"


def _module_io_reason(rule: Rule, inv: Inventory, sites: tuple[Site, ...]) -> str | None:
    """For a module_input/output[k] rule: the modules that match without the key."""
    sel = rule.selector
    if sel.role not in _MODULE_ROLES or not isinstance(sel.key, int):
        return None
    loose = Selector(**{**{f: getattr(sel, f) for f in sel.__dataclass_fields__}, "key": None})
    hits = [s for s in sites if loose.matches(s)]
    if not hits:
        return None
    module = hits[0].module
    info = next((m for m in inv.modules if m.name == module), None)
    keys = sorted({str(s.key) for s in hits if s.module == module})
    if sel.role == "module_input" and info is not None:
        args = ", ".join(info.forward_args) or "no arguments"
        return f"{module!r} ({hits[0].module_type}) takes {len(info.forward_args)} input(s) ({args}); it has {sel.role} keys {', '.join(keys)}"
    return f"{module!r} ({hits[0].module_type}) has {sel.role} keys {', '.join(keys)}"


# ---------------------------------------------------------------------------------------------


def _rule_uses(rules: Any, inv: Inventory) -> tuple[dict[int, RuleUse], list[Any]]:
    from qrt.resolver.fast import FastResolver

    uses = {r.order: RuleUse(r) for r in rules}
    decisions = FastResolver(rules).resolve(inv.sites)
    for d in decisions:
        matched = d.matched
        last_replacer: Rule | None = None
        # walk backwards: a rule is replaced if a later replacing rule matched too
        for rule in reversed(matched):
            use = uses[rule.order]
            use.selected += 1
            if last_replacer is not None:
                use.replaced += 1
                use.replacers[last_replacer.order] += 1
            if isinstance(rule.effect, (Set, Off)):
                last_replacer = rule
        if d.decided_by is not None:
            uses[d.decided_by.order].decided += 1
    return uses, decisions


def _spec_findings(item: LintInput, plan: Any) -> Iterator[Diagnostic]:
    from qrt.ir.spec import PerBlock, PerTensor

    problems: dict[tuple[str, int], list[str]] = defaultdict(list)
    messages: dict[tuple[str, int], str] = {}
    rules: dict[int, Rule] = {}
    for d in plan.decisions:
        spec = plan.spec(d)
        if spec is None or d.decided_by is None:
            continue
        site, rule = d.site, d.decided_by
        for stage in spec.stages:
            g = stage.granularity
            if isinstance(g, PerTensor):
                continue
            axis = getattr(g, "axis", None)
            key: tuple[str, int]
            if axis is None:
                key = ("QRT024", rule.order)
                messages[key] = (
                    f"{g.type} without an axis, and {site.op_type or site.module_type} has no "
                    f"default axis for {site.role}[{site.key}]"
                )
            elif site.shape is not None and not -len(site.shape) <= axis < len(site.shape):
                key = ("QRT022", rule.order)
                messages[key] = f"axis {axis} is beyond the rank of {site.role}[{site.key}] (shape {list(site.shape)})"
            elif site.shape is not None and isinstance(g, PerBlock) and site.shape[axis] % g.block_size:
                key = ("QRT023", rule.order)
                messages[key] = (
                    f"block size {g.block_size} does not divide dimension {axis} "
                    f"({site.shape[axis]}) of {site.role}[{site.key}]"
                )
            else:
                continue
            problems[key].append(site.quantizer_path)
            rules[rule.order] = rule
    for (code, order), paths in problems.items():
        rule = rules[order]
        yield _finding(
            code, item, _rule_span(rule),
            f"{messages[(code, order)]}: {len(paths)} site(s) decided by this rule ({_examples(paths)})",
            config_path=rule.origin.config_path, data={"sites": len(paths)},
        )


def _hierarchical_keys(item: LintInput, names: _Names) -> Iterator[Diagnostic]:
    cfg = item.config
    modules, types, op_types = names.modules, names.types, names.op_types
    for key in cfg.module_name_configs:
        if not any(re.fullmatch(key, m) for m in modules):
            path = f"module_name_configs[{key!r}]"
            origin = cfg.origin_of(path)
            span = span_of(item.lines, origin, key) if origin else (None, None, None)
            yield _finding("QRT020", item, span, f"module name regex /{key}/ matches no module of the model{_closest(_unescape(key), modules)}", config_path=path)
    for key in cfg.module_type_configs:
        if key not in types:
            path = f"module_type_configs[{key!r}]"
            origin = cfg.origin_of(path)
            span = span_of(item.lines, origin, key) if origin else (None, None, None)
            yield _finding("QRT020", item, span, f"no module of class {key!r} in the model{_closest(key, types)}", config_path=path)
    scopes = [("global_config", cfg.global_config)]
    scopes += [(f"module_type_configs[{k!r}]", v) for k, v in cfg.module_type_configs.items()]
    scopes += [(f"module_name_configs[{k!r}]", v) for k, v in cfg.module_name_configs.items()]
    for path, sub in scopes:
        if sub is None:
            continue
        for key in sub.op_type_config:
            if key not in op_types:
                key_path = f"{path}.op_type_config[{key!r}]"
                origin = cfg.origin_of(key_path)
                span = span_of(item.lines, origin, sub.written_op_type(key)) if origin else (None, None, None)
                yield _finding("QRT020", item, span, f"no op of type {key!r} runs in the model{_closest(key, op_types)}", config_path=key_path)


def model_findings(item: LintInput, inv: Inventory) -> tuple[list[Diagnostic], list[RuleUse]]:
    """Every model-aware finding, and what each rule the user wrote does on the model."""
    from qrt.resolver.plan import Plan, check_type_names

    source = item.rule_source()
    rules = source.rules_for(inv)
    uses, decisions = _rule_uses(rules, inv)
    out: list[Diagnostic] = []
    written = user_rules(item)
    names = _Names.of(inv)
    if written is not None:
        for rule in written:
            if is_synthetic(rule) or _shipped(rule):
                continue
            use = uses[rule.order]
            if use.selected == 0:
                reason = _module_io_reason(rule, inv, inv.sites)
                if reason is not None:
                    out.append(_finding("QRT025", item, _rule_span(rule), f"this rule selects no site: {reason}", config_path=rule.origin.config_path))
                else:
                    out.append(_finding("QRT020", item, _rule_span(rule), f"this rule selects no site of the model: {_nothing_reason(rule.selector, names)}", config_path=rule.origin.config_path))
            elif use.replaced == use.selected and use.decided == 0:
                order, _ = use.replacers.most_common(1)[0]
                by = uses[order].rule
                where = (
                    f"line {by.origin.line}"
                    if by.origin.file == rule.origin.file and by.origin.line is not None
                    else by.origin.position or by.origin.config_path or f"rule {order}"
                )
                out.append(
                    _finding(
                        "QRT021", item, _rule_span(rule),
                        f"every one of the {use.selected} site(s) this rule selects is decided by a "
                        f"later rule, mostly the one at {where}",
                        config_path=rule.origin.config_path,
                        fix="delete the rule, or move it below the rule that replaces it",
                        data={"selected": use.selected, "shadowed_by": where},
                    )
                )
    else:
        out.extend(_hierarchical_keys(item, names))
    try:
        check_type_names(rules, inv)
    except Exception:  # noqa: BLE001 - reported as matches-nothing above
        pass
    plan = Plan(inv, rules, tuple(decisions), source)
    out.extend(_spec_findings(item, plan))
    if item.kind == "wildcard":
        out.extend(_uninstrumented(item, plan))
    shown = [uses[r.order] for r in (written or ()) if not is_synthetic(r)]
    return out, shown


def _shipped(rule: Rule) -> bool:
    """A rule from a preset shipped with qrt (its findings are not the user's to act on:
    ModelOpt presets guard architectures this model may not have)."""
    from qrt.resources import data_dir

    file = rule.origin.file
    if not file:
        return False
    root = str(data_dir("rules"))
    return file.startswith(root)


def _uninstrumented(item: LintInput, plan: Any) -> Iterator[Diagnostic]:
    from qrt.frontends.wildcard.instrumented import role_default_state

    by_rule: dict[int, list[str]] = defaultdict(list)
    rules: dict[int, Rule] = {}
    for d in plan.decisions:
        rule = d.decided_by
        if d.spec is None or rule is None or is_synthetic(rule) or not isinstance(rule.effect, Set):
            continue
        if role_default_state(d.site) is None:
            by_rule[rule.order].append(d.site.quantizer_path)
            rules[rule.order] = rule
    for order, paths in by_rule.items():
        rule = rules[order]
        span = span_of(item.lines, rule.origin, rule.selector.quantizer_path or "")
        yield _finding(
            "QRT026", item, span,
            f"this entry switches on {len(paths)} site(s) ModelOpt has no quantizer for "
            f"({_examples(paths)})",
            config_path=rule.origin.config_path,
            fix="narrow the glob (e.g. '*proj.weight_quantizer') or add parent_class: nn.Linear",
            data={"sites": len(paths)},
        )
