"""Checks against a model's inventory: what the rules actually select and decide there.

One resolve gives every site's matching rules in fold order; from it, per rule: how many
sites it selects, how many it decides, and whether a later replacing rule takes every one of
them. Then:

* rules (and hierarchical keys) that select nothing, with the closest real names (QRT020:
  info where the rule only turns sites off, a guard for another architecture), a module
  input/output key the module does not have (QRT025), or a module that never runs its own
  forward, naming the modules that do (QRT028);
* a bare class name that names several classes of the model (QRT001, an error);
* rules whose every selected site a later rule replaces, naming that rule (QRT021);
* decided specs that cannot run on their tensor: an axis beyond the rank (QRT022), a block
  size that does not divide the dimension (QRT023), no axis and no default (QRT024);
* ModelOpt entries that switch on sites ModelOpt has no quantizer for (QRT026);
* a config meant to quantize weights that reaches less than half of the weight bytes
  (QRT029, :mod:`qrt.lint.coverage_check`).

Shadowing is checked for the rules a user wrote (DSL rules, ModelOpt entries); a hierarchical
config compiles to several rules per setting, so its keys are checked for matching nothing.
A rule of a shipped preset the input includes is not the user's (:func:`~qrt.lint.static.
is_users`): what it selects is not reported, but a spec it decides that cannot run on this
model is (at the preset's own file and line). Every finding names the file its rule was
written in.
"""

from __future__ import annotations

import difflib
import functools
from functools import cached_property
import re
from collections import Counter, defaultdict
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass, field
from fnmatch import translate
from itertools import compress
from typing import Any

from qrt.inventory.model import Inventory
from qrt.ir.effect import Off, Set
from qrt.ir.rule import Rule
from qrt.ir.patterns import regex_fullmatch
from qrt.ir.selector import Selector, type_matches
from qrt.ir.site import Site
from qrt.ir.tensor_id import param_name
from qrt.lint.codes import CODES
from qrt.lint.diagnostics import Diagnostic, Severity
from qrt.lint.inputs import LintInput
from qrt.lint.locate import origin_file, span_of
from qrt.lint.static import is_synthetic, is_users, overridden_include, user_rules
from qrt.lint.outcomes import outcomes_of, sites_where
from qrt.resolver.axes import AxisFiller
from qrt.resolver.fast import FastResolver, Outcome, SiteRow, row_index

__all__ = ["RuleUse", "model_findings", "never_run", "turns_off"]

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


def _finding(code: str, item: LintInput, span: tuple[Any, Any, Any], message: str, *,
             file: str | None = None, severity: Severity | None = None, **kw: Any) -> Diagnostic:
    """A finding at ``span`` of ``file`` (default: the linted input)."""
    line, column, end = span
    data = kw.pop("data", {})
    return Diagnostic(code=code, severity=severity if severity is not None else CODES[code].severity,
                      message=message, file=file or item.path,
                      line=line, column=column, end_column=end, data=data, **kw)


def _rule_span(rule: Rule) -> tuple[Any, Any, Any]:
    return rule.origin.line, rule.origin.column, None


def _rule_file(item: LintInput, rule: Rule) -> str | None:
    """The file ``rule`` was written in (an included file's own path, not the includer's)."""
    return origin_file(rule.origin, item.path)


def turns_off(effect: Any) -> bool:
    """Whether an effect only switches sites off (``off``, ``enable: false``, a ``null``
    config). Such a rule that selects nothing changes nothing: the sites it names are absent
    here, and the rest of the model is as it would be without it. Configs carry these as
    guards for architectures a model may lack (ModelOpt's presets turn off routers, vision
    towers and BatchNorm for every model), so QRT020 on them is info; a rule that switches
    sites *on* and selects nothing is a warning (a spec that will never be applied)."""
    if isinstance(effect, Off):
        return True
    return getattr(effect, "enable", None) is False


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
    return _closest_shape(_NUMBERS.sub("0", word), names)


@functools.lru_cache(maxsize=1024)
def _closest_shape(folded: str, names: frozenset[str]) -> str:
    """:func:`_closest` of a word whose numbers are folded: 20,000 per-layer rules that select
    nothing have one shape, so difflib runs once, not 20,000 times (0.1 s each)."""
    example = _shapes(names)
    close = difflib.get_close_matches(folded, list(example), n=3, cutoff=0.6)
    if not close:
        return ""
    return " (did you mean " + " or ".join(repr(example[c]) for c in close) + "?)"


def _closest_class(name: str, types: frozenset[str]) -> str:
    """The model's classes whose own name is close to ``name``'s: compared without their
    modules, which all start ``torch.nn.modules.`` and would make ``BatchNorm1d`` look like
    ``Embedding``."""
    by_bare: dict[str, list[str]] = {}
    for t in sorted(types):
        by_bare.setdefault(t.rpartition(".")[2], []).append(t)
    close = difflib.get_close_matches(name.rpartition(".")[2], list(by_bare), n=3, cutoff=0.6)
    if not close:
        return ""
    return " (did you mean " + " or ".join(repr(t) for c in close for t in by_bare[c]) + "?)"


def _unescape(regex: str) -> str:
    return re.sub(r"\\(.)", r"\1", regex).replace(".*", "").replace("\\d+", "0")


@dataclass
class _Names:
    """The model's names, collected once per lint run."""

    modules: frozenset[str]
    types: frozenset[str]
    op_types: frozenset[str]
    op_names: frozenset[str]
    rows: Sequence[SiteRow]

    @cached_property
    def quantizers(self) -> frozenset[str]:
        """Every quantizer path and alias: read only for a quantizer glob that selects nothing."""
        return frozenset(n for row in self.rows for n in (row[_PATH], *row[_ALIASES]))

    @classmethod
    def of(cls, inv: Inventory, rows: Sequence[SiteRow]) -> _Names:
        return cls(
            modules=frozenset(m.name for m in inv.modules),
            types=frozenset(m.type for m in inv.modules),
            op_types=frozenset(inv.op_types),  # read from the rows: the ops table is not built
            op_names=frozenset(inv.op_names),
            rows=rows,
        )


_TEXT_ANCHORS = re.compile(r"\\[AzZ]")
_JOINED: dict[int, tuple[Any, str]] = {}


def _joined(names: Collection[str]) -> str:
    """``names`` one per line, per name collection (kept while a lint run asks)."""
    found = _JOINED.get(id(names))
    if found is None or found[0] is not names:
        if len(_JOINED) > 8:
            _JOINED.clear()
        found = _JOINED[id(names)] = (names, "\n".join(names))
    return found[1]


def _none_match(regex: str, names: Collection[str]) -> bool:
    """Whether no name of ``names`` fully matches ``regex`` (:func:`regex_fullmatch`). One RE2
    pass over the names one per line answers "none" for all of them: a name the regex fully
    matches is a line that ``(?m)(?:.*\\n)*(?:regex)(?:\\n.*)*`` reaches (its ``^``/``$`` at
    line ends). Where that pass matches (maybe across lines) each name is tried, as is every
    name for a regex with text anchors (``\\A``, ``\\z``), which only the whole text has. A
    70B-shaped Llama's 1,048 module names tried one by one took 7 ms per regex."""
    if not _TEXT_ANCHORS.search(regex):
        try:
            if not regex_fullmatch(f"(?m)(?:.*\n)*(?:{regex})(?:\n.*)*", _joined(names)):
                return True
        except Exception:  # noqa: BLE001 - the wrapped regex did not compile: ask each name
            pass
    return not any(regex_fullmatch(regex, n) for n in names)


def _nothing_reason(sel: Selector, names: _Names) -> str:
    modules, types = names.modules, names.types
    if sel.module_name is not None and _none_match(sel.module_name, modules):
        return f"module /{sel.module_name}/ matches no module{_closest(_unescape(sel.module_name), modules)}"
    if sel.scope is not None and sel.scope.name is not None and _none_match(sel.scope.name, modules):
        return f"scope /{sel.scope.name}/ matches no module{_closest(_unescape(sel.scope.name), modules)}"
    for name in (sel.module_type, sel.parent_class, sel.scope.type if sel.scope else None):
        if name is not None and not any(type_matches(name, t) for t in types):
            return f"no module of class {name!r}{_closest_class(name, types)}"
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


def _module_io_reason(rule: Rule, inv: Inventory) -> str | None:
    """For a module_input/output[k] rule: the modules that match without the key."""
    sel = rule.selector
    if sel.role not in _MODULE_ROLES or not isinstance(sel.key, int):
        return None
    loose = Selector(**{**{f: getattr(sel, f) for f in sel.__dataclass_fields__}, "key": None})
    hits = [s for s in inv.sites if loose.matches(s)]
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


def _decides(outcome: Outcome) -> bool:
    return bool(outcome[0]) and outcome[1].decision is not None


def _rule_uses(rules: Any, outcomes: list[Outcome]) -> dict[int, RuleUse]:
    uses = {r.order: RuleUse(r) for r in rules}
    counts = Counter(map(id, outcomes))
    # in order of each outcome's first site: ``replacers`` keeps the order a walk over the
    # sites would give it (QRT021 names the most frequent replacer, the first of equals)
    for outcome in outcomes_of(outcomes):
        matched, n = outcome[0], counts[id(outcome)]
        last_replacer: Rule | None = None
        # walk backwards: a rule is replaced if a later replacing rule matched too
        for rule in reversed(matched):
            use = uses[rule.order]
            use.selected += n
            if last_replacer is not None:
                use.replaced += n
                use.replacers[last_replacer.order] += n
            if isinstance(rule.effect, (Set, Off)):
                last_replacer = rule
        if matched:
            uses[matched[-1].order].decided += n
    return uses


_PATH, _SCOPE, _ROLE, _KEY, _OP_TYPE, _TENSOR, _SHAPE, _EXPERT, _ALIASES = (
    row_index(f) for f in ("quantizer_path", "scope", "role", "key", "op_type", "tensor", "shape", "expert", "aliases"))


def _spec_findings(item: LintInput, inv: Inventory, rows: Sequence[SiteRow], outcomes: list[Outcome],
                   fill_axes: AxisFiller) -> Iterator[Diagnostic]:
    from qrt.resolver.plan import owner_type

    problems: dict[tuple[str, int], list[str]] = defaultdict(list)
    messages: dict[tuple[str, int], str] = {}
    rules: dict[int, Rule] = {}
    # what a site's decided spec does on its tensor depends only on these facts of the site
    # (what fills its axes, what the checks and the messages read): computed once per distinct
    memo: dict[tuple[Any, ...], tuple[tuple[tuple[str, int], str], ...]] = {}
    module_types = inv.module_types
    for row, (matched, state) in compress(zip(rows, outcomes), sites_where(outcomes, _decides)):
        decided = state.decision
        rule = matched[-1]
        scope, key, tensor = row[_SCOPE], row[_KEY], row[_TENSOR]
        param = param_name(tensor)  # the owner's class, as owner_type reads it
        owner = module_types.get(param.rpartition(".")[0]) if param is not None else None
        facts = (id(decided), rule.order, row[_ROLE], type(key), key, row[_OP_TYPE], scope[-1][1] if scope else "",
                 row[_SHAPE], row[_EXPERT] is None, owner)
        found = memo.get(facts)
        if found is None:
            site = Site(*row)
            spec = fill_axes(decided, site, owner_type(site, inv))
            found = memo[facts] = tuple(_site_problems(spec, site, rule))
        for problem, message in found:
            messages[problem] = message
            problems[problem].append(row[_PATH])
            rules[rule.order] = rule
    for (code, order), paths in problems.items():
        rule = rules[order]
        # reported for a shipped preset's rule too, at the preset's own line: the preset is
        # fine in general, but on this model the run would fail there
        yield _finding(
            code, item, _rule_span(rule),
            f"{messages[(code, order)]}: {len(paths)} site(s) decided by this rule ({_examples(paths)})",
            config_path=rule.origin.config_path, data={"sites": len(paths)}, file=_rule_file(item, rule),
        )


def _site_problems(spec: Any, site: Site, rule: Rule) -> Iterator[tuple[tuple[str, int], str]]:
    """``((code, rule order), message)`` for each stage of ``spec`` (its axes filled) that cannot
    run on ``site``'s tensor: no axis and no default (QRT024), or what
    :func:`~qrt.resolver.tensor_check.tensor_problem` finds (QRT022, QRT023)."""
    from qrt.ir.spec import PerTensor
    from qrt.resolver.tensor_check import tensor_problem

    for stage in spec.stages:
        g = stage.granularity
        if isinstance(g, PerTensor):
            continue
        axis = getattr(g, "axis", None)
        if axis is None:
            yield ("QRT024", rule.order), (
                f"{g.type} without an axis, and {site.op_type or site.module_type} has no "
                f"default axis for {site.role}[{site.key}]"
            )
        else:  # QRT022, QRT023: the check qrt resolve refuses a plan by
            found = tensor_problem(stage, site)
            if found is not None:
                yield (found[0], rule.order), found[1]


def never_run(regex: str, inv: Inventory) -> tuple[list[str], list[str]] | None:
    """When every module ``regex`` names never runs its own forward (docs/semantics.md §1: a container
    whose children its parent calls directly is on no call stack, so a configuration keyed to
    it governs nothing): those modules, and the modules that do run below them, outermost first
    (called from outside them, per the inventory's call stacks). ``None`` when ``regex`` names
    no module, or one that runs."""
    if _none_match(regex, _module_names(inv)):
        return None
    matched = [m for m in inv.modules if regex_fullmatch(regex, m.name)]
    if not matched or any(m.called for m in matched):
        return None
    idle = [m.name for m in matched]

    def below(name: str) -> bool:
        return any(name.startswith(u + ".") for u in idle)

    running = [
        m.name for m in inv.modules
        if m.called and below(m.name) and not (len(m.scope) >= 2 and below(m.scope[-2]))
    ]
    return idle, running


_NAMES: dict[int, tuple[Any, tuple[str, ...]]] = {}


def _module_names(inv: Inventory) -> tuple[str, ...]:
    """The names of ``inv``'s modules, in order (once per inventory)."""
    found = _NAMES.get(id(inv.modules))
    if found is None or found[0] is not inv.modules:
        _NAMES.clear()  # one inventory at a time
        found = _NAMES[id(inv.modules)] = (inv.modules, tuple(m.name for m in inv.modules))
    return found[1]


def _never_run_message(what: str, idle: list[str], running: list[str]) -> tuple[str, str]:
    """QRT028's message and fix: the modules to key instead (a regex where they are the
    numbered children of one list, ``model\\.layers\\.\\d+``)."""
    names = _examples([repr(n) for n in idle])
    if not running:
        return (
            f"{what} names {names}, whose forward never runs and below which no module runs, "
            f"so it governs nothing",
            "key a module that runs (qrt inspect lists them with their calls)",
        )
    numbered = re.compile(re.escape(idle[0]) + r"\.\d+")
    if len(idle) == 1 and all(numbered.fullmatch(n) for n in running):
        fix = f"key the modules that run: {numbered.pattern} ({_examples(running, 4)})"
    else:
        fix = f"key the modules that run: {_examples(running, 4)}"
    return (
        f"{what} names {names}, whose forward never runs (its parent calls its children "
        f"directly), so it governs nothing; the modules that run below it: "
        f"{_examples([repr(n) for n in running], 4)}",
        fix,
    )


def _hierarchical_keys(item: LintInput, names: _Names, inv: Inventory) -> Iterator[Diagnostic]:
    """Keys that govern nothing on this model: a module name no module has (QRT020), a module
    that never runs (QRT028), a class or op type the model lacks (QRT020). Classes are matched
    as the resolver matches them (:func:`type_matches`: a bare name is accepted where it names
    one class); a bare name naming several is an error (QRT001). A ``null`` value only turns
    sites off, so its key matching nothing is info (:func:`turns_off`)."""
    cfg = item.config
    modules, types, op_types = names.modules, names.types, names.op_types

    def at(path: str, text: str) -> tuple[tuple[Any, Any, Any], str | None]:
        origin = cfg.origin_of(path)
        if origin is None:
            return (None, None, None), item.path
        file = origin_file(origin, item.path)
        return span_of(item.lines_of(file), origin, text), file

    def severity(value: Any) -> Severity | None:
        return Severity.INFO if value is None else None

    for key, value in cfg.module_name_configs.items():
        path = f"module_name_configs[{key!r}]"
        if _none_match(key, modules):
            span, file = at(path, key)
            yield _finding("QRT020", item, span, f"module name regex /{key}/ matches no module of the model{_closest(_unescape(key), modules)}",
                           config_path=path, file=file, severity=severity(value), data={"by_name": True})
            continue
        idle = never_run(key, inv)
        if idle is not None:
            span, file = at(path, key)
            message, fix = _never_run_message(f"module name key /{key}/", *idle)
            yield _finding("QRT028", item, span, message, fix=fix, config_path=path, file=file,
                           data={"never_run": idle[0], "running": idle[1]})
    for key, value in cfg.module_type_configs.items():
        path = f"module_type_configs[{key!r}]"
        hits = sorted(t for t in types if type_matches(key, t))
        if not hits:
            span, file = at(path, key)
            yield _finding("QRT020", item, span, f"no module of class {key!r} in the model{_closest_class(key, types)}",
                           config_path=path, file=file, severity=severity(value))
        elif len(hits) > 1:
            span, file = at(path, key)
            yield _finding("QRT001", item, span,
                           f"class {key!r} is ambiguous in this model: it names {len(hits)} classes "
                           f"({', '.join(hits)}), and resolving refuses it",
                           fix="key the fully-qualified class name: " + " or ".join(hits),
                           config_path=path, file=file, severity=Severity.ERROR, data={"classes": hits})
    scopes = [("global_config", cfg.global_config)]
    scopes += [(f"module_type_configs[{k!r}]", v) for k, v in cfg.module_type_configs.items()]
    scopes += [(f"module_name_configs[{k!r}]", v) for k, v in cfg.module_name_configs.items()]
    for path, sub in scopes:
        if sub is None:
            continue
        for key, value in sub.op_type_config.items():
            if key not in op_types:
                key_path = f"{path}.op_type_config[{key!r}]"
                span, file = at(key_path, sub.written_op_type(key))
                yield _finding("QRT020", item, span, f"no op of type {key!r} runs in the model{_closest(key, op_types)}",
                               config_path=key_path, file=file, severity=severity(value))


def _unused_rule(item: LintInput, rule: Rule, inv: Inventory, names: _Names) -> Diagnostic:
    """Why a rule of the user's selects no site: a module key past the module's (QRT025), a
    module that never runs (QRT028), or a name, class or op type the model lacks (QRT020; info
    for a rule that only turns sites off)."""
    file, span, path = _rule_file(item, rule), _rule_span(rule), rule.origin.config_path
    reason = _module_io_reason(rule, inv)
    if reason is not None:
        return _finding("QRT025", item, span, f"this rule selects no site: {reason}", config_path=path, file=file)
    sel = rule.selector
    for what, regex in (("module", sel.module_name), ("scope", sel.scope.name if sel.scope else None)):
        idle = never_run(regex, inv) if regex is not None else None
        if idle is not None:
            message, fix = _never_run_message(f"{what} /{regex}/", *idle)
            return _finding("QRT028", item, span, message, fix=fix, config_path=path, file=file,
                            data={"never_run": idle[0], "running": idle[1]})
    off = turns_off(rule.effect)
    # by_name: the rule names modules, ops or quantizers (a typo is likely), not only a class or
    # an op type this model lacks (a rule for other architectures): qrt run refuses the former
    by_name = any(x is not None for x in (sel.module_name, sel.scope.name if sel.scope else None,
                                          sel.op_name, sel.quantizer_path, sel.tensor))
    return _finding(
        "QRT020", item, span,
        f"this rule selects no site of the model: {_nothing_reason(sel, names)}"
        + (" (it only turns sites off, so it changes nothing here)" if off else ""),
        config_path=path, file=file, severity=Severity.INFO if off else None, data={"by_name": by_name},
    )


def _shadowed(item: LintInput, rule: Rule, use: RuleUse, uses: dict[int, RuleUse]) -> Diagnostic | None:
    """QRT021, unless every rule replacing it is in another file and it came from an include
    (the include-then-override pattern, :func:`overridden_include`), or is its own translation
    for ``Conv1D`` weights (:func:`~qrt.frontends.wildcard.compile.is_frame_of`: the entry still
    decides those sites, in ModelOpt's frame)."""
    from qrt.frontends.wildcard.compile import is_frame_of

    mine = [
        o for o in use.replacers
        if not overridden_include(rule, uses[o].rule, item) and not is_frame_of(uses[o].rule, rule)
    ]
    if not mine:
        return None
    order = max(mine, key=lambda o: use.replacers[o])
    by = uses[order].rule
    where = (
        f"line {by.origin.line}"
        if by.origin.file == rule.origin.file and by.origin.line is not None
        else by.origin.position or by.origin.config_path or f"rule {order}"
    )
    return _finding(
        "QRT021", item, _rule_span(rule),
        f"every one of the {use.selected} site(s) this rule selects is decided by a "
        f"later rule, mostly the one at {where}",
        config_path=rule.origin.config_path, file=_rule_file(item, rule),
        fix="delete the rule, or move it below the rule that replaces it",
        data={"selected": use.selected, "shadowed_by": where},
    )


def model_findings(item: LintInput, inv: Inventory) -> tuple[list[Diagnostic], list[RuleUse]]:
    """Every model-aware finding, and what each rule the user wrote does on the model.

    The model is resolved once; every check reads that one pass's outcomes (grouped where
    only the outcome matters), not a plan of its own."""
    source = item.rule_source()
    rules = source.rules_for(inv)
    rows = inv.site_rows()
    outcomes = FastResolver(rules).row_outcomes(rows)
    uses = _rule_uses(rules, outcomes)
    out: list[Diagnostic] = []
    written = user_rules(item)
    names = _Names.of(inv, rows)
    if written is not None:
        for rule in written:
            if not is_users(rule, item):
                continue
            use = uses[rule.order]
            if use.selected == 0:
                out.append(_unused_rule(item, rule, inv, names))
            elif use.replaced == use.selected and use.decided == 0:
                found = _shadowed(item, rule, use, uses)
                if found is not None:
                    out.append(found)
    elif item.kind == "hierarchical":
        out.extend(_hierarchical_keys(item, names, inv))
    # an ambiguous bare class name is reported as QRT001 (static checks, given the model's
    # classes); the resolver's own check would refuse the rules here, so it is not repeated
    fill_axes = AxisFiller()
    out.extend(_spec_findings(item, inv, rows, outcomes, fill_axes))
    if item.kind == "wildcard":
        out.extend(_uninstrumented(item, inv))
    from qrt.lint.coverage_check import coverage_findings

    out.extend(coverage_findings(item, rules, inv, rows, outcomes, fill_axes))
    shown = [uses[r.order] for r in (written or ()) if not is_synthetic(r)]
    return out, shown


def _uninstrumented(item: LintInput, inv: Inventory) -> Iterator[Diagnostic]:
    """QRT026: an entry whose glob, read over qrt's quantizer paths, also matches sites ModelOpt
    has no quantizer for: those carry no ModelOpt name, so the entry does not reach them and
    they stay off (docs/semantics.md §4). Only entries that switch on (a cfg, or enable: true)."""
    from dataclasses import replace

    from qrt.ir.effect import Patch

    for rule in user_rules(item) or ():
        effect = rule.effect
        switches_on = (isinstance(effect, Set) and effect.enable) or (isinstance(effect, Patch) and effect.enable is True)
        if is_synthetic(rule) or not switches_on or rule.selector.quantizer_names != "modelopt":
            continue
        wide = replace(rule.selector, quantizer_names="qrt")
        paths = [s.quantizer_path for s in inv.sites if s.modelopt_name is None and wide.matches(s)]
        if not paths:
            continue
        file = _rule_file(item, rule)
        span = span_of(item.lines_of(file), rule.origin, rule.selector.quantizer_path or "")
        yield _finding(
            "QRT026", item, span,
            f"this entry's glob also matches {len(paths)} site(s) ModelOpt has no quantizer for "
            f"({_examples(paths)}); a list cannot reach them, so they stay off",
            config_path=rule.origin.config_path,
            fix="narrow the glob (e.g. '*proj.weight_quantizer') if those were not meant; "
            "quantize them with a DSL rule or a hierarchical config if they were",
            data={"sites": len(paths)}, file=file,
        )
