"""Checks that need no model: what a config says, read as text and as rules.

* patterns (:mod:`qrt.lint.patterns`) wherever a regex or a glob is read;
* short class names (``type Linear``), graph-node op names (``linear_23``), op type keys no
  registry knows;
* spec combinations no backend accepts (MX and NVFP4 block and scale rules);
* rules that can never win: a later rule of equal or higher priority always selects what
  they select and replaces their decision. Checked on the rules a user wrote (DSL rules,
  ModelOpt entries); a hierarchical config compiles to many rules per setting, so its
  settings are checked against a model instead.
"""

from __future__ import annotations

import bisect

import re
from collections.abc import Iterator
from dataclasses import replace
from fnmatch import fnmatchcase
from typing import Any

from qrt import formats
from qrt.ir.effect import Off, Set
from qrt.ir.rule import Rule, RuleSet
from qrt.ir.origin import Origin
from qrt.ir.selector import Selector, type_matches
from qrt.ir.spec import QuantizationSpec
from qrt.lint.codes import CODES
from qrt.lint.diagnostics import Diagnostic, Severity
from qrt.lint.inputs import LintInput
from qrt.lint.locate import origin_file, shipped_file, span_of
from qrt.lint.patterns import glob_in_regex, nested_quantifier, regex_in_glob, unescaped_dots

__all__ = ["covers", "is_users", "overridden_include", "spec_problem", "static_findings", "user_rules"]

_GRAPH_NODE = re.compile(r"[a-z][a-z0-9_]*_[0-9]+")
_GLOB_META = re.compile(r"[*?\[]")


def _finding(code: str, item: LintInput, span: tuple[Any, Any, Any], message: str, *,
             fix: str | None = None, config_path: str | None = None, file: str | None = None,
             severity: Severity | None = None, **data: Any) -> Diagnostic:
    """A finding at ``span`` of ``file`` (default: the linted input; a rule from an included
    file passes that file, so the line exists in the file named)."""
    line, column, end = span
    return Diagnostic(
        code=code, severity=severity if severity is not None else CODES[code].severity,
        message=message, file=file or item.path, line=line, column=column, end_column=end,
        config_path=config_path, fix=fix, data=data,
    )


def _where(item: LintInput, origin: Origin) -> tuple[str | None, list[str]]:
    """The file a rule or key was written in, and its lines."""
    file = origin_file(origin, item.path)
    return file, item.lines_of(file)


# ---------------------------------------------------------------------------------------------
# The rules a user wrote


def user_rules(item: LintInput) -> RuleSet | None:
    """The rules that stand for what the user wrote (DSL rules; one per ModelOpt entry, after
    the role-default rules); ``None`` for a hierarchical config."""
    if item.kind == "dsl":
        return item.rules  # type: ignore[no-any-return]
    if item.kind == "wildcard":
        from qrt.frontends.wildcard.compile import compile_wildcard

        return compile_wildcard(item.wildcard)
    return None


def is_synthetic(rule: Rule) -> bool:
    """A rule no line of the input wrote (ModelOpt's role defaults)."""
    return (rule.origin.file or "").startswith("<")


def is_users(rule: Rule, item: LintInput) -> bool:
    """Whether the user answers for ``rule``: written in the linted input or in a file of theirs
    it includes. Not a front end's synthetic default, and not a rule of a preset shipped with
    qrt that the input includes: the preset's text is qrt's (its own tests lint it clean), and
    that a general preset names sites this model lacks is no mistake of the user's. Linting the
    shipped file itself (``modelopt:NAME``) makes its rules the subject, so they count."""
    if is_synthetic(rule):
        return False
    file = rule.origin.file
    return file == item.path or not shipped_file(file)


def overridden_include(rule: Rule, by: Rule, item: LintInput) -> bool:
    """``rule`` comes from an included file and ``by`` (which replaces it) from another file:
    the "include a preset, then override it" pattern (README), which is the intended use of an
    include, not a mistake. A rule replaced by a later rule of its own file is still reported,
    and so is a rule of the linted input itself."""
    return rule.origin.file != item.path and by.origin.file != rule.origin.file


# ---------------------------------------------------------------------------------------------
# Patterns


def _regex_findings(item: LintInput, origin: Any, regex: str, *, root_op_name: bool = False,
                    config_path: str | None = None) -> Iterator[Diagnostic]:
    file, lines = _where(item, origin)
    span = span_of(lines, origin, f"/{regex}/", regex, regex.replace("\\", "\\\\"))
    for code, check in (("QRT002", unescaped_dots), ("QRT003", nested_quantifier), ("QRT004", glob_in_regex)):
        found = check(regex)
        if found:
            yield _finding(code, item, span, found[0], fix=found[1], config_path=config_path, file=file)
    if root_op_name and _GRAPH_NODE.fullmatch(regex):
        yield _finding(
            "QRT008", item, span,
            f"op name /{regex}/ is in graph-node style; qrt op names are <module>.<op_type>[_n], "
            f"so it matches only an op of the root module",
            fix="name the module: /model\\.layers\\.3\\.mlp\\.down_proj\\.linear/, or "
            "`in name /…/ opname relative /linear/`",
            config_path=config_path, file=file,
        )


def _glob_findings(item: LintInput, origin: Any, glob: str, config_path: str | None = None) -> Iterator[Diagnostic]:
    found = regex_in_glob(glob)
    if found:
        file, lines = _where(item, origin)
        span = span_of(lines, origin, f'"{glob}"', f"'{glob}'", glob)
        yield _finding("QRT005", item, span, found[0], fix=found[1], config_path=config_path, file=file)


def _class_finding(item: LintInput, origin: Any, name: str, keyword: str,
                   types: frozenset[str] | None) -> Iterator[Diagnostic]:
    """QRT001 for a bare class name. Without a model: a warning (it may name several classes).
    With one, the resolver's own matching (:func:`~qrt.ir.selector.type_matches`) decides:
    several classes → an error (resolving refuses it, docs/semantics.md §2); exactly one → info naming
    it (accepted, and the fix is that class's full name); none → the warning stays (and QRT020
    says the rule selects nothing)."""
    if "." in name:
        return
    from qrt.ops.torch_nn import TORCH_NN_CLASSES

    hits = sorted(t for t in types if type_matches(name, t)) if types is not None else []
    fqn = hits[0] if hits else TORCH_NN_CLASSES.get(name)
    fix = f"{keyword} {fqn}" if fqn else f"{keyword} <module>.{name} (the fully-qualified name)"
    file, lines = _where(item, origin)
    span = span_of(lines, origin, f"{keyword} {name}", name)
    if span[1] is not None and span[2] is not None and lines[span[0] - 1][span[1] - 1:].startswith(keyword + " "):
        span = (span[0], span[1] + len(keyword) + 1, span[2])
    if len(hits) > 1:
        yield _finding(
            "QRT001", item, span,
            f"class {name!r} is ambiguous in this model: it names {len(hits)} classes "
            f"({', '.join(hits)}), and resolving refuses it",
            fix=" or ".join(f"{keyword} {h}" for h in hits), file=file, severity=Severity.ERROR,
            classes=hits,
        )
    elif hits:
        yield _finding(
            "QRT001", item, span,
            f"class {name!r} is a short name; in this model it names one class, {hits[0]} "
            f"(accepted, but a second class of that name would make it ambiguous)",
            fix=fix, file=file, severity=Severity.INFO, classes=hits,
        )
    else:
        yield _finding(
            "QRT001", item, span,
            f"class {name!r} is a short name: it matches every class named {name}, from any module",
            fix=fix, file=file,
        )


def _selector_findings(item: LintInput, rule: Rule, types: frozenset[str] | None) -> Iterator[Diagnostic]:
    sel, origin = rule.selector, rule.origin
    if sel.module_name is not None:
        yield from _regex_findings(item, origin, sel.module_name)
    if sel.scope is not None and sel.scope.name is not None:
        yield from _regex_findings(item, origin, sel.scope.name)
    if sel.op_name is not None:
        yield from _regex_findings(item, origin, sel.op_name, root_op_name=not sel.op_name_relative)
    if sel.quantizer_path is not None:
        yield from _glob_findings(item, origin, sel.quantizer_path, origin.config_path)
    for name, keyword in ((sel.module_type, "type"), (sel.parent_class, "parent")):
        if name is not None and item.kind == "dsl":
            yield from _class_finding(item, origin, name, keyword, types)
    if sel.scope is not None and sel.scope.type is not None and item.kind == "dsl":
        yield from _class_finding(item, origin, sel.scope.type, "type", types)


# ---------------------------------------------------------------------------------------------
# Specs


def spec_problem(spec: QuantizationSpec) -> str | None:
    """Why no backend runs this spec: the format families' own check
    (:func:`qrt.formats.spec_problem`: e8m0 scales only in MX blocks of 32, FP4 values only
    with fp8 scales)."""
    return formats.spec_problem(spec)


def _spec_fix(spec: QuantizationSpec) -> str:
    return formats.spec_fix(spec)


def _spec_findings(item: LintInput, rules: RuleSet) -> Iterator[Diagnostic]:
    seen: set[tuple[Any, ...]] = set()
    for rule in rules:
        if not isinstance(rule.effect, Set) or not is_users(rule, item):
            continue
        problem = spec_problem(rule.effect.spec)
        key = (rule.origin.file, rule.origin.line, problem)
        if problem is None or key in seen:
            continue
        seen.add(key)
        file, lines = _where(item, rule.origin)
        span = span_of(lines, rule.origin, "-> ", "cfg")
        if span[1] is not None and span[2] is not None and lines[span[0] - 1][span[1] - 1:].startswith("-> "):
            span = (span[0], span[1] + 3, None)
        yield _finding("QRT007", item, span, problem, fix=_spec_fix(rule.effect.spec),
                       config_path=rule.origin.config_path, file=file)


# ---------------------------------------------------------------------------------------------
# Rules that can never win


def _glob_covers(outer: str, inner: str) -> bool:
    if outer == inner or outer == "*":
        return True
    return not _GLOB_META.search(inner) and fnmatchcase(inner, outer)


_EQUAL_FIELDS = ("module_name", "module_type", "scope", "op_type", "op_name", "role", "parent_class", "tensor")
"""Selector fields that ``outer`` covers ``inner`` on only when equal (or unset in ``outer``)."""


def _range_covers(outer: tuple[int, int] | None, inner: tuple[int, int] | None) -> bool:
    if outer is None:
        return True
    return inner is not None and outer[0] <= inner[0] and inner[1] <= outer[1]


def covers(outer: Selector, inner: Selector) -> bool:
    """Whether every site ``inner`` selects is selected by ``outer`` — decided from the text
    of the two selectors only, so ``False`` may be wrong but ``True`` never is."""
    for name in _EQUAL_FIELDS:
        want = getattr(outer, name)
        if want is not None and getattr(inner, name) != want:
            return False
    if outer.quantizer_names != inner.quantizer_names and outer.quantizer_path is not None:
        return False
    if not (_range_covers(outer.experts, inner.experts) and _range_covers(outer.layers, inner.layers)):
        return False
    if outer.op_name is not None and outer.op_name_relative != inner.op_name_relative:
        return False
    if outer.key not in (None, "*") and outer.key != inner.key:
        return False
    if outer.quantizer_path is not None:
        if inner.quantizer_path is None or not _glob_covers(outer.quantizer_path, inner.quantizer_path):
            return False
    return True


class _QuantizerIndex:
    """Rule positions (ascending) by their quantizer glob: the candidates that may cover a
    rule, without scanning the others. ``covers`` needs the outer glob to be unset, ``*``, equal
    to the inner one, or (for a literal inner name) to match it (:func:`_glob_covers`)."""

    def __init__(self) -> None:
        self.any: list[int] = []  # no quantizer glob, or "*": may cover anything
        self.by_glob: dict[str, list[int]] = {}

    def add(self, j: int, glob: str | None) -> None:
        if glob is None or glob == "*":
            self.any.append(j)
        else:
            self.by_glob.setdefault(glob, []).append(j)

    def candidates(self, glob: str | None) -> list[list[int]]:
        if glob is None:  # an outer with a glob never covers an inner without one
            return [self.any]
        lists = [self.any, self.by_glob.get(glob, [])]
        if not _GLOB_META.search(glob):  # a literal name: any glob that matches it
            lists += [js for outer, js in self.by_glob.items() if outer != glob and fnmatchcase(glob, outer)]
        return lists


def _never_wins(item: LintInput, rules: RuleSet) -> Iterator[Diagnostic]:
    """QRT006 for each rule of the user's that a later rule always replaces. The finding is
    about the rule's own file; a rule of an included file that a rule of another file replaces
    is the include-then-override pattern and no finding (:func:`overridden_include`)."""
    ordered = sorted(rules, key=lambda r: r.sort_key)
    # candidates indexed by the fields a cover must equal: for each set of fields some rule
    # sets, its rules by their values of those fields (in rule order). A rule's possible
    # covers are then looked up, not scanned: linear in the rules for configs of many
    # distinct module rules (a 10,000-key hierarchical config), not quadratic
    # within a bucket, rules are indexed again by their quantizer glob (:func:`_QuantizerIndex`):
    # 20,000 per-layer ``quantizer "*layers.N.…"`` rules share one bucket, and a glob can only
    # be covered by the same glob, ``*``, no glob, or (a literal name) a glob matching it
    buckets: dict[tuple[str, ...], dict[tuple[object, ...], _QuantizerIndex]] = {}
    for j, other in enumerate(ordered):
        if not isinstance(other.effect, (Set, Off)) or is_synthetic(other):
            continue
        fields = tuple(name for name in _EQUAL_FIELDS if getattr(other.selector, name) is not None)
        values = tuple(getattr(other.selector, name) for name in fields)
        buckets.setdefault(fields, {}).setdefault(values, _QuantizerIndex()).add(j, other.selector.quantizer_path)
    for i, rule in enumerate(ordered):
        if not is_users(rule, item):
            continue
        later = None
        for fields, by_values in buckets.items():
            index = by_values.get(tuple(getattr(rule.selector, name) for name in fields))
            for candidates in index.candidates(rule.selector.quantizer_path) if index is not None else ():
                for j in candidates[bisect.bisect_right(candidates, i):]:
                    if later is not None and j >= later[0]:
                        break
                    other = ordered[j]
                    if not overridden_include(rule, other, item) and covers(other.selector, rule.selector):
                        later = (j, other)
                        break  # the first in this list after i: later ones in it come after
        later = later[1] if later is not None else None
        if later is None:
            continue
        where = (
            f"line {later.origin.line}"
            if later.origin.file == rule.origin.file and later.origin.line is not None
            else later.origin.position or later.origin.config_path or f"rule {later.order}"
        )
        finding = _finding(
            "QRT006", item, (rule.origin.line, rule.origin.column, None),
            f"this rule never decides a site: the rule at {where} selects everything it "
            f"selects and replaces its decision",
            fix="delete it, or move it below that rule (or raise its priority) if it was "
            "meant to win",
            config_path=rule.origin.config_path, file=origin_file(rule.origin, item.path),
            shadowed_by=where,
        )
        if item.kind == "wildcard":
            # ModelOpt composes lists by concatenation (its own presets do), so an
            # entry a later one replaces is expected there: reported, not a failure
            finding = replace(finding, severity=Severity.INFO,
                              message=finding.message + " (common when lists are concatenated)")
        yield finding


# ---------------------------------------------------------------------------------------------
# Hierarchical configs


def _hierarchical_findings(item: LintInput) -> Iterator[Diagnostic]:
    from qrt.frontends.hierarchical.compile import compile_config
    from qrt.ops.registry import default_registry

    cfg = item.config
    scopes: list[tuple[str, Any]] = []
    if cfg.global_config is not None:
        scopes.append(("global_config", cfg.global_config))
    for key, sub in cfg.module_type_configs.items():
        if sub is not None:
            scopes.append((f"module_type_configs[{key!r}]", sub))
    for key, sub in cfg.module_name_configs.items():
        path = f"module_name_configs[{key!r}]"
        origin = cfg.origin_of(path)
        if origin is not None:
            yield from _regex_findings(item, origin, key, config_path=path)
        if sub is not None:
            scopes.append((path, sub))
    for path, sub in scopes:
        for key in sub.op_name_config:
            key_path = f"{path}.op_name_config[{key!r}]"
            origin = cfg.origin_of(key_path)
            if origin is not None:
                yield from _regex_findings(item, origin, key, root_op_name=path == "global_config", config_path=key_path)
        for key in sub.op_type_config:
            if key in default_registry:
                continue
            from qrt.errors import did_you_mean

            key_path = f"{path}.op_type_config[{key!r}]"
            written = sub.written_op_type(key)
            origin = cfg.origin_of(key_path)
            span = span_of(item.lines_of(origin_file(origin, item.path)), origin, str(written)) if origin is not None else (None, None, None)
            hint = did_you_mean(key, default_registry.names())
            yield _finding(
                "QRT009", item, span,
                f"op type {written!r} is not a registered op type, so this key configures nothing"
                + (f" ({hint})" if hint else ""),
                fix="a registered op type (qrt inspect lists a model's), or register it with "
                "qrt.register_op_type",
                config_path=key_path,
            )
    yield from _spec_findings(item, compile_config(cfg, None).rules)


def static_findings(item: LintInput, types: frozenset[str] | None = None) -> list[Diagnostic]:
    """Every static finding of a readable input. ``types``, the class names of a model when
    lint has one (plain strings: no torch), settle whether a bare class name is ambiguous."""
    if item.kind == "hierarchical":
        return list(_hierarchical_findings(item))
    if item.kind in ("compressed_tensors", "recipe", "torchao"):
        return []  # read and checked by its reader; its rules exist per model only
    rules = user_rules(item)
    assert rules is not None
    out: list[Diagnostic] = []
    for rule in rules:
        if is_users(rule, item):
            out.extend(_selector_findings(item, rule, types))
    out.extend(_spec_findings(item, rules))
    out.extend(_never_wins(item, rules))
    return out
