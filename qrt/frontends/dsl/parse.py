"""Rule files in the selector DSL → a :class:`~qrt.ir.rule.RuleSet` (SEMANTICS §2).

Why it is built this way:

* **The grammar is data** (``grammar/qrt.lark``, shipped in the wheel and found with
  :func:`qrt.resources.data_dir`); this module only gives its words meaning. The grammar
  knows *shapes* (a rule is ``selector -> effect``, a spec body is a list of items); whether
  ``int4`` is a dtype or a spec name, or ``scale_dtyp`` a field, is decided here, where the
  error can name the valid choices and the closest one.
* **Two passes.** A lark ``Transformer`` turns one file into statements and builds every
  part that needs no context (selectors, patches, priorities), stamping positions from lark's
  ``Meta`` (``propagate_positions``). The loader then walks the statements in order: it
  expands ``include`` in place, keeps the spec names defined so far, and turns spec bodies
  into :class:`~qrt.ir.spec.QuantizationSpec`. Includes act as if the included file's text
  stood on the include line, so rule order (the fold's tie-break) is the reading order and a
  spec defined in an included file is usable after the include.
* **Every error is located.** Parse errors, bad regexes, unknown fields, bad priorities,
  missing or cyclic includes all carry ``file:line:col``, the offending line with a caret, and
  what would have been valid. Nothing from lark or pydantic reaches the user raw.
* **Words are case-sensitive and literal.** A spec body reads only the canonical spellings
  of :mod:`qrt.ir.spec` (``int8``, ``per_block(32)``, ``moving_average``); ``default`` stands
  for ``None`` ("the runtime's choice") in the four fields that allow it.

Escapes: a ``/regex/`` is the regex as written, except that ``\\/`` stands for ``/`` (so a
regex can hold a slash); any other backslash pair is kept as it is. A ``"string"`` uses JSON
escapes. A regex that holds the pair ``\\/`` itself, or a newline, can be written as a
``"string"`` instead; the printer does that, so every regex the IR can hold has a spelling.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any, Union

from lark import Lark, Token, Transformer, v_args
from lark.exceptions import UnexpectedCharacters, UnexpectedInput, UnexpectedToken, VisitError
from lark.lark import PostLex
from pydantic import ValidationError

from qrt.errors import IncludeError, QrtError, RuleSyntaxError, SpecError, did_you_mean
from qrt.ir.effect import Effect, Off, Patch, Set
from qrt.ir.origin import Origin
from qrt.ir.patterns import PatternError, check_regex
from qrt.ir.rule import Rule, RuleSet
from qrt.ir.selector import ScopeMatch, Selector
from qrt.ir.spec import (
    FAKE_QUANTIZERS,
    QPARAM_CALCULATORS,
    QSCHEMES,
    QUANT_DTYPES,
    RANGE_CALCULATORS,
    SCALE_DTYPES,
    SPEC_FIELDS,
    PerBlock,
    PerChannel,
    PerTensor,
    QuantizationSpec,
    spec_error_message,
)
from qrt.ops.registry import default_registry
from qrt.resources import data_dir

__all__ = [
    "parse_rules",
    "load_rules",
    "GRAMMAR_FILE",
    "WORD_RE",
    "IDENT_RE",
    "EFFECT_KEYWORDS",
    "GRANULARITY_WORDS",
    "NULLABLE_FIELDS",
    "FIELD_CHOICES",
    "STRING_SOURCE",
    "available_presets",
    "bare_spec_name_ok",
]

GRAMMAR_FILE = "qrt.lark"
"""The grammar's file name inside ``data_dir("grammar")`` (``grammar/qrt.lark`` in the tree)."""

STRING_SOURCE = "<string>"
"""The file name rules parsed from a string carry in their origins and errors."""

WORD_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")
"""The grammar's WORD terminal: what may be written without quotes."""

IDENT_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")

EFFECT_KEYWORDS: tuple[str, ...] = ("off", "enable", "disable", "patch")
"""Words that open an effect, so a spec of that name must be quoted to be referenced."""

GRANULARITY_WORDS: tuple[str, ...] = ("per_tensor", "per_channel", "per_block")

NULLABLE_FIELDS: tuple[str, ...] = (
    "scale_dtype",
    "qparam_calculator",
    "range_calculator",
    "fake_quantize",
)
"""Fields whose value may be ``default`` (``None``: the runtime picks for the tensor's role)."""

FIELD_CHOICES: dict[str, tuple[str, ...]] = {
    "dtype": QUANT_DTYPES,
    "qscheme": QSCHEMES,
    "granularity": GRANULARITY_WORDS,
    "scale_dtype": SCALE_DTYPES,
    "qparam_calculator": QPARAM_CALCULATORS,
    "range_calculator": RANGE_CALCULATORS,
    "fake_quantize": FAKE_QUANTIZERS,
}

_SPEC_VOCABULARY: frozenset[str] = frozenset((*QUANT_DTYPES, *QSCHEMES, *GRANULARITY_WORDS))
"""Bare words a spec body understands; a spec may not be *named* one of these without quotes."""

_PREDICATE_NAMES: dict[str, str] = {
    "scope": "in",
    "module_name": "module",
    "module_type": "type",
    "parent_class": "parent",
    "op_type": "op",
    "op_name": "opname",
    "role": "a role (input, output, state, ...)",
    "key": "a key",
    "quantizer_path": "quantizer",
}

_TERMINAL_WORDS: dict[str, str] = {
    "WORD": "a name",
    "STRING": 'a "string"',
    "REGEX": "a /regex/",
    "INT": "an integer",
    "_NL": "end of line",
    "$END": "end of file",
}

_PRIORITY_FORM = "write it as `priority 2` or `priority (1, 0)`: one or more integers"
_RULE_FORM = "a rule is written `<selector> -> <effect> [priority (...)]`"
_SPEC_FORM = (
    "a spec is a dtype, optionally symmetric|asymmetric and a granularity "
    "(per_tensor, per_channel, per_channel(axis=0), per_block(32), per_block(32, axis=1)), "
    "then FIELD=VALUE items, e.g. `int4 per_block(32) scale_dtype=float8_e4m3fn`"
)


# ---------------------------------------------------------------------------------------------
# Sources and located errors


@dataclass(frozen=True)
class _Source:
    """One file's text and where it lives: ``file`` labels messages and origins; ``base`` is
    the folder ``include "x"`` is resolved against; ``key`` identifies it for cycle checks."""

    text: str
    file: str
    base: Union[Path, Traversable]
    key: str | None


def _context(text: str, line: int, column: int) -> str:
    """The source line and a caret under ``column`` (1-based), indented for a message."""
    lines = text.split("\n")
    src = lines[line - 1].rstrip("\r") if 0 < line <= len(lines) else ""
    offset = len(src[: max(column - 1, 0)].expandtabs())
    return f"    {src.expandtabs()}\n    {' ' * offset}^"


def _located(
    cls: type[QrtError],
    src: _Source,
    line: int,
    column: int,
    message: str,
    *,
    hint: str | None = None,
    offending: str | None = None,
) -> QrtError:
    return cls(
        f"{message}\n{_context(src.text, line, column)}",
        location=f"{src.file}:{line}:{column}",
        offending=offending,
        hint=hint or None,
    )


def _at_token(cls: type[QrtError], src: _Source, tok: Token, message: str, **kw: Any) -> QrtError:
    return _located(cls, src, tok.line or 0, tok.column or 0, message, **kw)


def _hints(*parts: str | None) -> str | None:
    text = "\n".join(p for p in parts if p)
    return text or None


# ---------------------------------------------------------------------------------------------
# The parser


class _WordsEverywhere(PostLex):
    """Lets the contextual lexer read a WORD in every state.

    Keywords then match whole words only (``inputs`` is one word, not ``input`` + ``s``), a
    misspelled keyword arrives as a WORD the error can compare with what was expected, and a
    keyword where no keyword fits (``state[off]``) is an ordinary name.
    """

    always_accept = ("WORD",)

    def process(self, stream: Iterator[Token]) -> Iterator[Token]:
        return stream


@cache
def _parser() -> Lark:
    text = (data_dir("grammar") / GRAMMAR_FILE).read_text(encoding="utf-8")
    return Lark(
        text,
        parser="lalr",
        lexer="contextual",
        propagate_positions=True,
        maybe_placeholders=False,
        postlex=_WordsEverywhere(),
    )


def _describe_terminal(name: str) -> str:
    if name in _TERMINAL_WORDS:
        return _TERMINAL_WORDS[name]
    try:
        pattern = _parser().get_terminal(name).pattern
    except KeyError:
        return name
    if pattern.type == "str":
        return repr(pattern.value)
    return name


def _keyword_of(name: str) -> str | None:
    """The keyword text of a terminal, if it is a word-like literal such as ``module``."""
    try:
        pattern = _parser().get_terminal(name).pattern
    except KeyError:
        return None
    if pattern.type == "str" and IDENT_RE.fullmatch(pattern.value):
        return str(pattern.value)
    return None


def _syntax_error(src: _Source, err: UnexpectedInput) -> RuleSyntaxError:
    """A lark error → line, caret, a readable expected list and a did-you-mean.

    The expected list comes from lark's interactive parser (``accepts()``), which tries each
    terminal: the parse table's own list is wider (LALR merges states), and the lexer's leaves
    out the keywords folded into WORD.
    """
    interactive = getattr(err, "interactive_parser", None)
    expected: set[str] = set()
    in_priority = False
    if interactive is not None:
        try:
            expected = set(interactive.accepts())
        except Exception:  # pragma: no cover - lark internals; fall back to the table
            expected = set(getattr(err, "expected", None) or getattr(err, "allowed", None) or ())
        in_priority = any(
            isinstance(v, Token) and v.type == "PRIORITY"
            for v in interactive.parser_state.value_stack
        )
    else:  # pragma: no cover - lark attaches one to every LALR error
        expected = set(getattr(err, "expected", None) or getattr(err, "allowed", None) or ())
    word: str | None = None
    extra: str | None = None
    if isinstance(err, UnexpectedToken):
        tok = err.token
        if tok.type == "_NL":
            message = "unexpected end of line"
        elif tok.type == "$END":
            message = "unexpected end of file"
        elif tok.type == "WORD":
            message = f"unexpected word {tok.value!r}"
            word = str(tok.value)
        else:
            message = f"unexpected {tok.value!r}"
    elif isinstance(err, UnexpectedCharacters):
        char = src.text[err.pos_in_stream] if err.pos_in_stream < len(src.text) else ""
        if char == '"':
            message = 'unterminated string: a "string" must end on the same line'
        elif char == "/":
            message = (
                "unterminated regex: a /regex/ must end on the same line "
                "(write \\/ for a slash inside it)"
            )
        else:
            message = f"unexpected character {char!r}"
    else:  # pragma: no cover - UnexpectedEOF cannot happen: the text always ends with a newline
        message = "unexpected end of input"
    expected -= {"$END", "COMMENT"}
    shown = sorted(
        {_describe_terminal(t) for t in expected}, key=lambda s: (not s.startswith("'"), s)
    )
    keywords = sorted(k for k in (_keyword_of(t) for t in expected) if k)
    hint = _hints(
        ("expected one of: " + ", ".join(shown)) if shown else None,
        did_you_mean(word, keywords) if word else None,
        _PRIORITY_FORM if in_priority else None,
        _RULE_FORM if _arrow_name() in expected and extra is None else None,
        extra,
    )
    line = getattr(err, "line", 0) or 0
    column = getattr(err, "column", 0) or 0
    return _located(RuleSyntaxError, src, line, column, message, hint=hint)  # type: ignore[return-value]


@cache
def _arrow_name() -> str:
    for term in _parser().terminals:
        if term.pattern.type == "str" and term.pattern.value == "->":
            return term.name
    return "__ANON_0"  # pragma: no cover


# ---------------------------------------------------------------------------------------------
# Token decoding


def decode_string(src: _Source, tok: Token) -> str:
    """A ``"..."`` token → its text (JSON escapes)."""
    try:
        value = json.loads(str(tok), strict=False)
    except json.JSONDecodeError as exc:
        raise _at_token(
            RuleSyntaxError,
            src,
            tok,
            f"invalid escape in string: {exc.msg}",
            hint='valid escapes: \\" \\\\ \\/ \\b \\f \\n \\r \\t \\uXXXX',
            offending=str(tok),
        ) from None
    assert isinstance(value, str)
    return value


def decode_regex_literal(literal: str) -> str:
    """``/.../`` → the regex: ``\\/`` stands for ``/``; every other backslash pair is kept."""
    body = literal[1:-1]
    out: list[str] = []
    i = 0
    while i < len(body):
        c = body[i]
        if c == "\\" and i + 1 < len(body):
            nxt = body[i + 1]
            out.append("/" if nxt == "/" else c + nxt)
            i += 2
        else:
            out.append(c)
            i += 1
    return "".join(out)


# ---------------------------------------------------------------------------------------------
# Statements (the transformer's output)


@dataclass(frozen=True)
class _Call:
    name: Token
    args: tuple[tuple[Token | None, Token], ...]
    """``(keyword or None, INT token)`` pairs in the order written"""


@dataclass(frozen=True)
class _Field:
    name: Token
    value: Union[Token, _Call]


_Item = Union[Token, _Call, _Field]


@dataclass(frozen=True)
class _Body:
    items: tuple[_Item, ...]
    line: int
    column: int


@dataclass(frozen=True)
class _SetBody:
    body: _Body
    enable: bool


@dataclass(frozen=True)
class _SetNamed:
    name: str
    token: Token
    enable: bool


@dataclass(frozen=True)
class _Include:
    path: str | None
    preset: str | None
    token: Token
    line: int
    column: int


@dataclass(frozen=True)
class _SpecDef:
    name: str
    name_token: Token
    body: _Body
    line: int
    column: int


@dataclass(frozen=True)
class _RuleStmt:
    selector: Selector
    effect: Union[Effect, _SetBody, _SetNamed]
    priority: tuple[int, ...]
    line: int
    column: int


_Statement = Union[_Include, _SpecDef, _RuleStmt]


def _token_of(item: _Item) -> Token:
    if isinstance(item, Token):
        return item
    return item.name


# ---------------------------------------------------------------------------------------------
# Field values: shared by spec bodies and patches


def _granularity_from_call(src: _Source, call: _Call) -> dict[str, Any]:
    """``per_block(32, axis=1)`` → ``{"type": "per_block", "axis": 1, "block_size": 32}``."""
    kind = str(call.name)
    if kind not in GRANULARITY_WORDS:
        raise _at_token(
            SpecError,
            src,
            call.name,
            f"unknown granularity {kind!r}",
            hint=_hints(
                did_you_mean(kind, GRANULARITY_WORDS),
                "valid: per_tensor, per_channel, per_channel(axis=N), per_block(B), per_block(B, axis=N)",
            ),
        )
    allowed = {"per_tensor": (), "per_channel": ("axis",), "per_block": ("block_size", "axis")}[kind]
    data: dict[str, Any] = {"type": kind}
    seen: dict[str, Token] = {}
    for index, (keyword, value) in enumerate(call.args):
        tok = keyword or value
        if keyword is None:
            if kind != "per_block" or index != 0:
                form = "per_block(B, axis=N)" if kind == "per_block" else f"{kind}(axis=N)"
                raise _at_token(
                    SpecError,
                    src,
                    tok,
                    f"{kind} takes no positional argument here",
                    hint=f"write {form}" if kind != "per_tensor" else "write per_tensor",
                )
            name = "block_size"
        else:
            name = str(keyword)
            if name not in allowed:
                raise _at_token(
                    SpecError,
                    src,
                    tok,
                    f"{kind} has no argument {name!r}",
                    hint=_hints(
                        did_you_mean(name, allowed),
                        f"valid arguments of {kind}: {', '.join(allowed) or 'none'}",
                    ),
                )
        if name in seen:
            raise _at_token(SpecError, src, tok, f"{kind}: {name} given twice")
        seen[name] = tok
        data[name] = int(value)
    model = {"per_tensor": PerTensor, "per_channel": PerChannel, "per_block": PerBlock}[kind]
    try:
        built = model.model_validate(data)
    except ValidationError as exc:
        raise _at_token(
            SpecError,
            src,
            call.name,
            f"invalid granularity: {_granularity_message(exc)}",
            hint="e.g. per_block(32), per_block(32, axis=1), per_channel(axis=0)",
        ) from None
    return built.to_json()


def _granularity_message(exc: ValidationError) -> str:
    parts = []
    for item in exc.errors():
        where = ".".join(str(p) for p in item["loc"])
        parts.append(f"{where}: {item['msg']}" if where else str(item["msg"]))
    return "; ".join(parts)


def _field_value(src: _Source, field_tok: Token, value: Union[Token, _Call]) -> Any:
    """The canonical value of ``FIELD=VALUE`` (names as strings, ``None``, granularity JSON)."""
    name = str(field_tok)
    if name not in FIELD_CHOICES:
        raise _at_token(
            SpecError,
            src,
            field_tok,
            f"unknown spec field {name!r}",
            hint=_hints(did_you_mean(name, SPEC_FIELDS), "valid fields: " + ", ".join(SPEC_FIELDS)),
            offending=name,
        )
    if isinstance(value, _Call):
        if name == "granularity":
            return _granularity_from_call(src, value)
        raise _at_token(SpecError, src, value.name, f"{name} takes a name, not {value.name}(...)")
    if value.type != "WORD":
        raise _at_token(
            SpecError, src, value, f"{name} takes a name, got {str(value)}",
            hint=f"valid values of {name}: " + ", ".join(
                [*FIELD_CHOICES[name], *(["default"] if name in NULLABLE_FIELDS else [])]
            ),
        )
    word = str(value)
    if name == "granularity":
        if word in ("per_tensor", "per_channel"):
            return {"type": word}
        if word == "per_block":
            raise _at_token(SpecError, src, value, "per_block needs a block size", hint="write per_block(32)")
    nullable = name in NULLABLE_FIELDS
    if nullable and word == "default":
        return None
    choices = FIELD_CHOICES[name]
    if word not in choices:
        shown = list(choices) + (["default"] if nullable else [])
        raise _at_token(
            SpecError,
            src,
            value,
            f"unknown {name} {word!r}",
            hint=_hints(did_you_mean(word, shown), f"valid values of {name}: " + ", ".join(shown)),
            offending=word,
        )
    return word


def bare_spec_name_ok(name: str) -> bool:
    """May ``name`` be written without quotes where a spec is defined or used?"""
    return _bare_spec_name_problem(name) is None


def _bare_spec_name_problem(name: str) -> str | None:
    """Why ``name`` cannot be written unquoted as a spec name, or ``None`` if it can."""
    if not IDENT_RE.fullmatch(name):
        return "a bare spec name is an identifier (letters, digits, _; no dots)"
    if name in _SPEC_VOCABULARY:
        return f"{name!r} is a word of the spec language itself"
    if name in EFFECT_KEYWORDS or name == "default":
        return f"{name!r} is a keyword where specs are used"
    return None


# ---------------------------------------------------------------------------------------------
# Transformer: parse tree → statements


@v_args(meta=True)
class _ToStatements(Transformer[Token, list[_Statement]]):
    """One file's tree → statements. Builds everything that needs no other statement."""

    def __init__(self, src: _Source) -> None:
        super().__init__()
        self.src = src

    # -- shared pieces --------------------------------------------------------------------

    def name(self, meta: Any, children: list[Token]) -> tuple[str, Token, bool]:
        (tok,) = children
        if tok.type == "STRING":
            return decode_string(self.src, tok), tok, True
        return str(tok), tok, False

    def pattern(self, meta: Any, children: list[Token]) -> tuple[str, Token]:
        (tok,) = children
        value = decode_string(self.src, tok) if tok.type == "STRING" else decode_regex_literal(str(tok))
        problem = check_regex(value)
        if problem:
            raise _at_token(PatternError, self.src, tok, problem, offending=str(tok))
        return value, tok

    def key(self, meta: Any, children: list[Token]) -> tuple[Union[int, str], Token]:
        (tok,) = children
        if tok.type == "INT":
            return int(tok), tok
        if tok.type == "STRING":
            return decode_string(self.src, tok), tok
        return str(tok), tok

    def at(self, meta: Any, children: list[Token]) -> tuple[int, Token]:
        (tok,) = children
        depth = int(tok)
        if depth < 0:
            raise _at_token(
                PatternError, self.src, tok, f"scope depth must be >= 0, got {depth}",
                hint="`at 0` is the root module, `at 1` its children, ...",
            )
        return depth, tok

    def role(self, meta: Any, children: list[Token]) -> Token:
        (tok,) = children
        return tok

    def call(self, meta: Any, children: list[Any]) -> _Call:
        name, *args = children
        return _Call(name, tuple(args))

    def positional_arg(self, meta: Any, children: list[Token]) -> tuple[None, Token]:
        return None, children[0]

    def keyword_arg(self, meta: Any, children: list[Token]) -> tuple[Token, Token]:
        return children[0], children[1]

    def value(self, meta: Any, children: list[Any]) -> Union[Token, _Call]:
        (value,) = children
        return value  # type: ignore[no-any-return]

    # -- predicates: each returns [(selector field, value, token)] -------------------------

    def scope_name(self, meta: Any, children: list[Any]) -> list[tuple[str, Any, Token]]:
        (regex, tok), *rest = children
        type_ = next((c[0] for c in rest if len(c) == 3), None)
        depth = next((c[0] for c in rest if len(c) == 2), None)
        return [("scope", ScopeMatch(name=regex, type=type_, depth=depth), tok)]

    def scope_type(self, meta: Any, children: list[Any]) -> list[tuple[str, Any, Token]]:
        (type_, tok, _), *rest = children
        depth = rest[0][0] if rest else None
        return [("scope", ScopeMatch(type=type_, depth=depth), tok)]

    def module(self, meta: Any, children: list[Any]) -> list[tuple[str, Any, Token]]:
        (regex, tok) = children[0]
        return [("module_name", regex, tok)]

    def module_type(self, meta: Any, children: list[Any]) -> list[tuple[str, Any, Token]]:
        text, tok, _ = children[0]
        return [("module_type", text, tok)]

    def parent(self, meta: Any, children: list[Any]) -> list[tuple[str, Any, Token]]:
        text, tok, _ = children[0]
        return [("parent_class", text, tok)]

    def op(self, meta: Any, children: list[Any]) -> list[tuple[str, Any, Token]]:
        text, tok, _ = children[0]
        return [("op_type", default_registry.canonical(text), tok)]

    def opname(self, meta: Any, children: list[Any]) -> list[tuple[str, Any, Token]]:
        relative = len(children) == 2
        regex, tok = children[-1]
        out = [("op_name", regex, tok)]
        if relative:
            out.append(("op_name_relative", True, children[0]))
        return out

    def tensor(self, meta: Any, children: list[Any]) -> list[tuple[str, Any, Token]]:
        role_tok = children[0]
        out: list[tuple[str, Any, Token]] = [("role", str(role_tok), role_tok)]
        if len(children) == 2:
            key, key_tok = children[1]
            out.append(("key", key, key_tok))
        return out

    def state_shorthand(self, meta: Any, children: list[Token]) -> list[tuple[str, Any, Token]]:
        (tok,) = children
        return [("role", "state", tok), ("key", str(tok), tok)]

    def key_predicate(self, meta: Any, children: list[Any]) -> list[tuple[str, Any, Token]]:
        key, tok = children[0]
        return [("key", key, tok)]

    def quantizer(self, meta: Any, children: list[Token]) -> list[tuple[str, Any, Token]]:
        (tok,) = children
        return [("quantizer_path", decode_string(self.src, tok), tok)]

    # -- selector ------------------------------------------------------------------------

    def any_predicate(self, meta: Any, children: list[Any]) -> list[tuple[str, Any, Token]]:
        """``*`` accepts every site: alone it selects everything, beside others it adds nothing."""
        return []

    def predicates(self, meta: Any, children: list[list[tuple[str, Any, Token]]]) -> Selector:
        values: dict[str, Any] = {}
        where: dict[str, Token] = {}
        for group in children:
            for name, value, tok in group:
                if name in values:
                    first = where[name]
                    raise _at_token(
                        RuleSyntaxError,
                        self.src,
                        tok,
                        f"{_PREDICATE_NAMES.get(name, name)} is given twice in one rule",
                        hint=(
                            f"first given at {self.src.file}:{first.line}:{first.column}; a "
                            "selector is a conjunction and each predicate appears at most once "
                            "(use another rule for an alternative, or a regex with |)"
                        ),
                    )
                values[name] = value
                where[name] = tok
        try:
            return Selector(**values)
        except PatternError as exc:  # pragma: no cover - every check above runs first
            raise _located(PatternError, self.src, meta.line, meta.column, exc.message) from None

    # -- effects -------------------------------------------------------------------------

    def off(self, meta: Any, children: list[Any]) -> Off:
        return Off()

    def enable(self, meta: Any, children: list[Any]) -> Patch:
        return Patch(enable=True)

    def disable(self, meta: Any, children: list[Any]) -> Patch:
        return Patch(enable=False)

    def patch_enable(self, meta: Any, children: list[Any]) -> tuple[str, bool, Any]:
        return "enable", True, meta

    def patch_disable(self, meta: Any, children: list[Any]) -> tuple[str, bool, Any]:
        return "enable", False, meta

    def patch_field(self, meta: Any, children: list[Any]) -> tuple[str, Any, Any]:
        field_tok, value = children
        return str(field_tok), _field_value(self.src, field_tok, value), meta

    def patch(self, meta: Any, children: list[tuple[str, Any, Any]]) -> Patch:
        enable: bool | None = None
        fields: dict[str, Any] = {}
        seen: dict[str, Any] = {}
        for name, value, item_meta in children:
            if name in seen:
                first = seen[name]
                what = "enable/disable" if name == "enable" else f"field {name}"
                raise _located(
                    RuleSyntaxError, self.src, item_meta.line, item_meta.column,
                    f"patch: {what} given twice",
                    hint=f"first given at {self.src.file}:{first.line}:{first.column}",
                )
            seen[name] = item_meta
            if name == "enable":
                enable = value
            else:
                fields[name] = value
        return Patch(enable=enable, fields=fields)

    def spec_body(self, meta: Any, children: list[_Item]) -> _Body:
        return _Body(tuple(children), meta.line, meta.column)

    def item_word(self, meta: Any, children: list[Token]) -> Token:
        return children[0]

    def item_call(self, meta: Any, children: list[_Call]) -> _Call:
        return children[0]

    def item_field(self, meta: Any, children: list[Any]) -> _Field:
        return _Field(children[0], children[1])

    def set_body(self, meta: Any, children: list[Any]) -> _SetBody:
        return _SetBody(children[0], enable=len(children) == 1)

    def set_named(self, meta: Any, children: list[Token]) -> _SetNamed:
        tok = children[0]
        return _SetNamed(decode_string(self.src, tok), tok, enable=len(children) == 1)

    # -- priority ------------------------------------------------------------------------

    def prio_item(self, meta: Any, children: list[Token]) -> Token:
        return children[0]

    def priority_one(self, meta: Any, children: list[Token]) -> tuple[int, ...]:
        return self._priority(children[0], children[1:])

    def priority_tuple(self, meta: Any, children: list[Token]) -> tuple[int, ...]:
        return self._priority(children[0], children[1:])

    def _priority(self, keyword: Token, items: list[Token]) -> tuple[int, ...]:
        if not items:
            raise _at_token(
                RuleSyntaxError, self.src, keyword, "priority needs at least one integer",
                hint=_PRIORITY_FORM,
            )
        for tok in items:
            if tok.type != "INT":
                raise _at_token(
                    RuleSyntaxError, self.src, tok,
                    f"priority values must be integers, got {str(tok)!r}",
                    hint=_PRIORITY_FORM,
                )
        return tuple(int(t) for t in items)

    # -- statements ----------------------------------------------------------------------

    def include_file(self, meta: Any, children: list[Token]) -> _Include:
        tok = children[0]
        return _Include(decode_string(self.src, tok), None, tok, meta.line, meta.column)

    def include_preset(self, meta: Any, children: list[Any]) -> _Include:
        text, tok, _ = children[0]
        return _Include(None, text, tok, meta.line, meta.column)

    def spec_def(self, meta: Any, children: list[Any]) -> _SpecDef:
        (text, tok, quoted), body = children
        if not quoted:
            reason = _bare_spec_name_problem(text)
            if reason:
                raise _at_token(
                    RuleSyntaxError, self.src, tok, f"cannot name a spec {text!r}: {reason}",
                    hint=f'choose another name, or quote it (spec "{text}" = ...) and refer to it as "{text}"',
                )
        return _SpecDef(text, tok, body, meta.line, meta.column)

    def rule(self, meta: Any, children: list[Any]) -> _RuleStmt:
        selector, effect, *rest = children
        priority = rest[0] if rest else (0,)
        return _RuleStmt(selector, effect, priority, meta.line, meta.column)

    def start(self, meta: Any, children: list[_Statement]) -> list[_Statement]:
        return list(children)


# ---------------------------------------------------------------------------------------------
# Loader: includes, spec names, rule order


@dataclass
class _SpecEntry:
    spec: QuantizationSpec
    where: str
    """``file:line:col`` of the name in its definition"""
    context: str
    """that line with a caret, for the redefinition error"""


@dataclass
class _Loader:
    specs: dict[str, _SpecEntry] = field(default_factory=dict)
    rules: list[Rule] = field(default_factory=list)
    stack: list[tuple[str | None, str]] = field(default_factory=list)

    def load(self, src: _Source) -> None:
        self.stack.append((src.key, src.file))
        try:
            for stmt in _statements(src):
                if isinstance(stmt, _Include):
                    self._include(src, stmt)
                elif isinstance(stmt, _SpecDef):
                    self._define(src, stmt)
                else:
                    self._rule(src, stmt)
        finally:
            self.stack.pop()

    # -- include -------------------------------------------------------------------------

    def _include(self, src: _Source, stmt: _Include) -> None:
        child = _open_include(src, stmt)
        active = [k for k, _ in self.stack]
        if child.key is not None and child.key in active:
            start = active.index(child.key)
            chain = [label for _, label in self.stack[start:]] + [child.file]
            raise _located(
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
                hint=_hints(exc.hint, note),
                code=exc.code,
            ) from None

    # -- spec NAME = body ----------------------------------------------------------------

    def _define(self, src: _Source, stmt: _SpecDef) -> None:
        tok = stmt.name_token
        where = f"{src.file}:{tok.line}:{tok.column}"
        spec, _ = self._spec(src, stmt.body, effect=False)
        previous = self.specs.get(stmt.name)
        if previous is not None:
            if previous.where == where and previous.spec == spec:
                return  # the same file included twice: the same definition, not a new one
            raise _at_token(
                SpecError, src, stmt.name_token,
                f"spec {stmt.name!r} is already defined",
                hint=(
                    f"first defined at {previous.where}:\n{previous.context.strip(chr(10))}\n"
                    "a spec name is defined once; choose another name for this one"
                ),
            )
        context = _context(src.text, tok.line or 0, tok.column or 0)
        self.specs[stmt.name] = _SpecEntry(spec, where, context)

    def _spec(self, src: _Source, body: _Body, *, effect: bool) -> tuple[QuantizationSpec, str | None]:
        """A body → its spec, and the spec name when the body is just a defined name."""
        items = body.items
        if len(items) == 1 and isinstance(items[0], Token):
            name = str(items[0])
            # only a name that may be written bare is looked up bare: `int8` is always the
            # dtype, even where a spec was defined as `spec "int8" = ...`
            if name in self.specs and _bare_spec_name_problem(name) is None:
                return self.specs[name].spec, name
        data: dict[str, Any] = {}
        first_at: dict[str, Token] = {}
        for index, item in enumerate(items):
            tok = _token_of(item)
            if isinstance(item, Token):
                fname, value = self._word(
                    src, item, effect=effect, alone=len(items) == 1, first=index == 0
                )
            elif isinstance(item, _Call):
                fname, value = "granularity", _granularity_from_call(src, item)
            else:
                fname, value = str(item.name), _field_value(src, item.name, item.value)
            if fname in data:
                first = first_at[fname]
                raise _at_token(
                    SpecError, src, tok, f"{fname} is given twice in one spec",
                    hint=f"first given at {src.file}:{first.line}:{first.column}",
                )
            data[fname] = value
            first_at[fname] = tok
        try:
            return QuantizationSpec.model_validate(data), None
        except ValidationError as exc:
            problem = exc.errors()[0]
            loc = problem["loc"][0] if problem["loc"] else None
            tok = first_at.get(str(loc)) if loc is not None else None
            line, column = (tok.line or 0, tok.column or 0) if tok else (body.line, body.column)
            raise _located(
                SpecError, src, line, column, "invalid spec: " + spec_error_message(exc),
                hint=_SPEC_FORM,
            ) from None

    def _word(
        self, src: _Source, tok: Token, *, effect: bool, alone: bool, first: bool
    ) -> tuple[str, Any]:
        word = str(tok)
        if word in QUANT_DTYPES:
            return "dtype", word
        if word in QSCHEMES:
            return "qscheme", word
        if word in ("per_tensor", "per_channel"):
            return "granularity", {"type": word}
        if word == "per_block":
            raise _at_token(SpecError, src, tok, "per_block needs a block size", hint="write per_block(32) or per_block(32, axis=1)")
        if word in self.specs and _bare_spec_name_problem(word) is None:
            raise _at_token(
                SpecError, src, tok,
                f"spec name {word!r} cannot be combined with other spec items",
                hint="use the name alone, define a new spec, or change fields with `patch FIELD=VALUE`",
            )
        names = sorted(self.specs)
        candidates = [*names, *QUANT_DTYPES, *QSCHEMES, *GRANULARITY_WORDS]
        if effect and first:
            candidates += list(EFFECT_KEYWORDS)
            message = f"{word!r} is neither a spec defined above nor a dtype"
        else:
            message = f"unknown word {word!r} in a spec"
        return_hint = _hints(
            did_you_mean(word, candidates),
            ("defined specs: " + ", ".join(names)) if names else "no spec is defined above this line",
            "dtypes: " + ", ".join(QUANT_DTYPES),
            None if (effect and alone) else _SPEC_FORM,
        )
        raise _at_token(SpecError, src, tok, message, hint=return_hint, offending=word)

    # -- rules ---------------------------------------------------------------------------

    def _rule(self, src: _Source, stmt: _RuleStmt) -> None:
        effect = stmt.effect
        if isinstance(effect, _SetBody):
            spec, name = self._spec(src, effect.body, effect=True)
            effect = Set(spec, enable=effect.enable, spec_name=name)
        elif isinstance(effect, _SetNamed):
            entry = self.specs.get(effect.name)
            if entry is None:
                names = sorted(self.specs)
                raise _at_token(
                    SpecError, src, effect.token, f"no spec named {effect.name!r} is defined above",
                    hint=_hints(
                        did_you_mean(effect.name, names),
                        ("defined specs: " + ", ".join(names)) if names else None,
                    ),
                )
            effect = Set(entry.spec, enable=effect.enable, spec_name=effect.name)
        origin = Origin(file=src.file, line=stmt.line, column=stmt.column)
        self.rules.append(
            Rule(stmt.selector, effect, stmt.priority, order=len(self.rules), origin=origin)
        )


def _statements(src: _Source) -> list[_Statement]:
    text = src.text if src.text.endswith("\n") else src.text + "\n"
    try:
        tree = _parser().parse(text)
    except UnexpectedInput as exc:
        raise _syntax_error(src, exc) from None
    try:
        result = _ToStatements(src).transform(tree)
    except VisitError as exc:
        if isinstance(exc.orig_exc, QrtError):
            raise exc.orig_exc from None
        raise
    assert isinstance(result, list)
    return result


# ---------------------------------------------------------------------------------------------
# Finding files


def available_presets() -> list[str]:
    """Names of the rule presets shipped with qrt (``include preset NAME``)."""
    folder = data_dir("rules")
    return sorted(p.name[: -len(".qrt")] for p in folder.iterdir() if p.name.endswith(".qrt"))


def _read(target: Union[Path, Traversable]) -> str:
    return target.read_text(encoding="utf-8-sig")


def _open_include(src: _Source, stmt: _Include) -> _Source:
    if stmt.preset is not None:
        name = stmt.preset
        target: Union[Path, Traversable] = data_dir("rules") / f"{name}.qrt"
        if not IDENT_RE.fullmatch(name) or not target.is_file():
            presets = available_presets()
            raise _at_token(
                IncludeError, src, stmt.token, f"no shipped preset named {name!r}",
                hint=_hints(did_you_mean(name, presets), "shipped presets: " + ", ".join(presets)),
            )
        label = str(target)
        base: Union[Path, Traversable] = data_dir("rules")
        key = _key_of(target)
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
        if not target.is_file():
            raise _at_token(
                IncludeError, src, stmt.token, f"cannot include {raw!r}: no such file",
                hint=f"tried {label} (a path is relative to the including file's folder)",
                offending=raw,
            )
        base = target.parent if isinstance(target, Path) else _parent_of(src.base, raw)
        key = _key_of(target)
    try:
        text = _read(target)
    except (OSError, UnicodeDecodeError) as exc:
        raise _at_token(IncludeError, src, stmt.token, f"cannot read {label}: {exc}") from None
    return _Source(text=text, file=label, base=base, key=key)


def _parent_of(base: Traversable, raw: str) -> Traversable:
    folder = base
    for part in Path(raw).parts[:-1]:
        folder = folder / part
    return folder


def _key_of(target: Union[Path, Traversable]) -> str:
    if isinstance(target, Path):
        return str(target.resolve())
    return str(target)


# ---------------------------------------------------------------------------------------------
# Public entry points


def parse_rules(text: str, *, file: str = STRING_SOURCE, base_dir: Path | None = None) -> RuleSet:
    """Rules from DSL text. ``file`` labels origins and errors; ``include "x"`` is resolved
    against ``base_dir`` (default: the folder of ``file``, or the working directory for text
    that comes from no file)."""
    if base_dir is None:
        base_dir = Path(file).parent if not file.startswith("<") else Path(".")
    key = _key_of(Path(file)) if not file.startswith("<") else None
    loader = _Loader()
    loader.load(_Source(text=text, file=file, base=Path(base_dir), key=key))
    return RuleSet.of(loader.rules)


def load_rules(path: str | Path) -> RuleSet:
    """Rules from a ``.qrt`` file; its includes are resolved relative to it."""
    target = Path(path)
    try:
        text = _read(target)
    except FileNotFoundError:
        raise IncludeError(
            f"rule file {str(path)!r} not found", location=str(path), offending=str(path)
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise IncludeError(f"cannot read rule file: {exc}", location=str(path)) from None
    return parse_rules(text, file=str(path), base_dir=target.parent)
