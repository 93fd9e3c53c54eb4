"""The DSL's loader: one file's statements walked in order — ``include`` expanded in place,
spec names kept as they are defined, spec bodies made specs, rules numbered in reading order
(the design: :mod:`qrt.frontends.dsl.parse`, whose entry points call it on a compiled-rules
cache miss; a module of its own so that a hit imports neither it nor lark)."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Union

from qrt.errors import IncludeError, QrtError, RuleSyntaxError, SpecError, did_you_mean
from qrt.files import INT_DIGITS, position_of, read_text
from qrt.frontends.dsl.limits import MAX_INCLUDE_DEPTH, MAX_INCLUDES, MAX_RULES
from qrt.frontends.dsl.source import (
    Source,
    at_token,
    available_presets,
    caret_context,
    join_hints,
    key_of,
    located,
)
from qrt.frontends.dsl.specs import DefinedSpec, spec_from_body
from qrt.frontends.dsl.statements import Include, RuleStmt, SetBody, SetNamed, SpecDef
from qrt.frontends.dsl.transform import read_statements
from qrt.frontends.dsl.vocabulary import IDENT_RE
from qrt.ir.effect import Set
from qrt.ir.origin import Origin
from qrt.ir.rule import Rule
from qrt.resources import data_dir

__all__ = ["Loader"]


# ---------------------------------------------------------------------------------------------
# Loader: includes, spec names, rule order


@dataclass
class Loader:
    """Reads files into one growing rule list; ``specs`` are the spec names defined so far."""

    specs: dict[str, DefinedSpec] = field(default_factory=dict)
    rules: list[Rule] = field(default_factory=list)
    stack: list[tuple[str | None, str]] = field(default_factory=list)
    """``(key, label)`` of each file being read, outermost first, for the cycle check"""
    counted: int = 0
    """rules (``->``) in the files read so far, capped at :data:`MAX_RULES`"""
    included: int = 0
    """files read through ``include`` so far, repeats counted (capped at :data:`MAX_INCLUDES`)"""
    deps: list[tuple[str, str, str]] = field(default_factory=list)
    """every included file as the compiled-rules cache checks it: ``(how, where, sha256)``"""

    def load(self, src: Source) -> None:
        _refuse_long_numbers(src)
        self._count_rules(src)
        self.stack.append((src.key, src.file))
        try:
            for stmt in read_statements(src):
                if isinstance(stmt, Include):
                    self._include(src, stmt)
                elif isinstance(stmt, SpecDef):
                    self._define(src, stmt)
                else:
                    self._rule(src, stmt)
        finally:
            self.stack.pop()

    def _count_rules(self, src: Source) -> None:
        """Refuse a rule set past :data:`MAX_RULES` before parsing the file that crosses it,
        at the line of its first rule over the limit."""
        arrows = src.text.count("->")
        if self.counted + arrows <= MAX_RULES:
            self.counted += arrows
            return
        index = -1
        for _ in range(MAX_RULES - self.counted + 1):
            index = src.text.find("->", index + 1)
        line = src.text.count("\n", 0, index) + 1
        column = index - (src.text.rfind("\n", 0, index) + 1) + 1
        raise located(
            RuleSyntaxError, src, line, column,
            f"more than {MAX_RULES:,} rules in one rule set ({self.counted + arrows:,} counted by "
            "their '->', includes too): qrt reads at most that many",
            hint="say it with patterns: one rule per kind of site with `layer LOW..HIGH` or a "
            "regex (`module /model\\.layers\\.(1[0-9])\\..*/`) instead of one rule per name",
        )

    # -- include -------------------------------------------------------------------------

    def _include(self, src: Source, stmt: Include) -> None:
        if len(self.stack) > MAX_INCLUDE_DEPTH:
            raise located(
                IncludeError, src, stmt.line, stmt.column,
                f"includes nested more than {MAX_INCLUDE_DEPTH} files deep "
                f"({self.stack[0][1]} -> {self.stack[1][1]} -> … -> {src.file})",
                hint=f"qrt follows includes at most {MAX_INCLUDE_DEPTH} files deep; include the "
                "shared files from one top-level file instead of chaining them",
            )
        self.included += 1
        if self.included > MAX_INCLUDES:
            raise located(
                IncludeError, src, stmt.line, stmt.column,
                f"more than {MAX_INCLUDES} files included in all (a file included twice counts "
                "twice: files that each include the next more than once multiply)",
                hint=f"qrt reads at most {MAX_INCLUDES} included files for one rule file; include "
                "each shared file once",
            )
        child = _open_include(src, stmt)
        self.deps.append(_dep_of(stmt, child))
        active = [k for k, _ in self.stack]
        if child.key is not None and child.key in active:
            start = active.index(child.key)
            chain = [label for _, label in self.stack[start:]] + [child.file]
            raise located(
                IncludeError, src, stmt.line, stmt.column,
                "include cycle: " + " -> ".join(chain),
                hint="a file may not include itself, directly or through other files",
            )
        try:
            self.load(child)
        except QrtError as exc:
            note = f"included from {src.file}:{stmt.line}:{stmt.column}"
            raise type(exc)(
                exc.message,
                location=exc.location,
                offending=exc.offending,
                hint=join_hints(exc.hint, note),
                code=exc.code,
            ) from None

    # -- spec NAME = body ----------------------------------------------------------------

    def _define(self, src: Source, stmt: SpecDef) -> None:
        tok = stmt.name_token
        where = f"{src.file}:{tok.line}:{tok.column}"
        spec, _ = spec_from_body(src, stmt.body, self.specs, effect=False)
        previous = self.specs.get(stmt.name)
        if previous is not None:
            if previous.where == where and previous.spec == spec:
                return  # the same file included twice: the same definition, not a new one
            raise at_token(
                SpecError, src, stmt.name_token,
                f"spec {stmt.name!r} is already defined",
                hint=(
                    f"first defined at {previous.where}:\n{previous.context.strip(chr(10))}\n"
                    "a spec name is defined once; choose another name for this one"
                ),
            )
        context = caret_context(src.text, tok.line or 0, tok.column or 0)
        self.specs[stmt.name] = DefinedSpec(spec, where, context)

    # -- rules ---------------------------------------------------------------------------

    def _rule(self, src: Source, stmt: RuleStmt) -> None:
        effect = stmt.effect
        if isinstance(effect, SetBody):
            spec, name = spec_from_body(src, effect.body, self.specs, effect=True)
            effect = Set(spec, enable=effect.enable, spec_name=name)
        elif isinstance(effect, SetNamed):
            entry = self.specs.get(effect.name)
            if entry is None:
                names = sorted(self.specs)
                raise at_token(
                    SpecError, src, effect.token, f"no spec named {effect.name!r} is defined above",
                    hint=join_hints(
                        did_you_mean(effect.name, names),
                        ("defined specs: " + ", ".join(names)) if names else None,
                    ),
                )
            effect = Set(entry.spec, enable=effect.enable, spec_name=effect.name)
        origin = Origin(file=src.file, line=stmt.line, column=stmt.column)
        self.rules.append(
            Rule(stmt.selector, effect, stmt.priority, order=len(self.rules), origin=origin)
        )


def _dep_of(stmt: Include, child: Source) -> tuple[str, str, str]:
    """An included file as :mod:`qrt.frontends.rules_cache` reads it again to check an entry."""
    from qrt.frontends.rules_cache import digest

    if stmt.preset is not None:
        return ("preset", stmt.preset, digest(child.text))
    return ("path", str(child.key), digest(child.text))


def _refuse_long_numbers(src: Source) -> None:
    """Refuse a run of more than 4,300 digits before parsing: Python's ``int()`` raises
    ``ValueError`` past that (every number in the DSL is read with it), and no priority, depth,
    bit count or block size needs one."""
    found = _LONG_NUMBER.search(src.text)
    if found is not None:
        line, column = position_of(src.text, found.start())
        raise located(
            RuleSyntaxError, src, line, column,
            f"a number of {len(found.group())} digits: qrt reads numbers of at most "
            f"{INT_DIGITS} digits (Python's integer-parsing limit)",
            offending=found.group()[:20] + "…",
        )


_LONG_NUMBER = re.compile(r"\d{%d,}" % (INT_DIGITS + 1))


# ---------------------------------------------------------------------------------------------
# Finding files


def _read(target: Union[Path, Traversable]) -> str:
    """A rule file's text: a user's through the bounded reader, a shipped preset as a resource."""
    if isinstance(target, Path):
        return read_text(target, what="rule file", error=IncludeError)
    return target.read_text(encoding="utf-8-sig")


def _open_include(src: Source, stmt: Include) -> Source:
    """The file an include names, read; a preset comes from the rules shipped in the wheel."""
    if stmt.preset is not None:
        name = stmt.preset
        target: Union[Path, Traversable] = data_dir("rules") / f"{name}.qrt"
        if not IDENT_RE.fullmatch(name) or not target.is_file():
            presets = available_presets()
            raise at_token(
                IncludeError, src, stmt.token, f"no shipped preset named {name!r}",
                hint=join_hints(did_you_mean(name, presets), "shipped presets: " + ", ".join(presets)),
            )
        label = str(target)
        base: Union[Path, Traversable] = data_dir("rules")
        key = key_of(target)
    else:
        assert stmt.path is not None
        raw = stmt.path
        if os.path.isabs(raw):
            target = Path(raw)
            label = raw
        else:
            target = src.base / raw
            label = os.path.normpath(str(target)) if isinstance(target, Path) else str(target)
            if isinstance(target, Path):
                target = Path(label)
        if not (target.exists() if isinstance(target, Path) else target.is_file()):
            raise at_token(
                IncludeError, src, stmt.token, f"cannot include {raw!r}: no such file",
                hint=f"tried {label} (a path is relative to the including file's folder)",
                offending=raw,
            )
        base = target.parent if isinstance(target, Path) else _parent_of(src.base, raw)
        key = key_of(target)
    try:
        text = _read(target)
    except QrtError as exc:
        raise at_token(
            IncludeError, src, stmt.token, f"cannot include {label}: {exc.message}",
            hint=join_hints(exc.hint, f"the bad byte is at {exc.location}" if exc.location != label else None),
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise at_token(IncludeError, src, stmt.token, f"cannot read {label}: {exc}") from None
    return Source(text=text, file=label, base=base, key=key)


def _parent_of(base: Traversable, raw: str) -> Traversable:
    """The folder of ``base / raw`` where ``base`` is no Path (a resource has no ``.parent``)."""
    folder = base
    for part in Path(raw).parts[:-1]:
        folder = folder / part
    return folder
