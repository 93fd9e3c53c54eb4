"""lark's ``UnexpectedInput`` → a :class:`~qrt.errors.RuleSyntaxError` a user can act on.

Why a module of its own: what lark knows at a syntax error is phrased in its own terms
(terminal names such as ``WORD`` or ``__ANON_0``, a parse table's merged expectations). This
is the one place that translates it: the line with a caret, a readable list of what was
expected, a did-you-mean against the keywords that would have fitted, and the general form of
a rule or priority when the mistake is in one. Nothing from lark reaches the user raw.
"""

from __future__ import annotations

from functools import cache

from lark import Token
from lark.exceptions import UnexpectedCharacters, UnexpectedInput, UnexpectedToken

from qrt.errors import RuleSyntaxError, did_you_mean
from qrt.frontends.dsl.grammar import parser
from qrt.frontends.dsl.source import Source, join_hints, located
from qrt.frontends.dsl.vocabulary import IDENT_RE

__all__ = ["PRIORITY_FORM", "RULE_FORM", "syntax_error"]

PRIORITY_FORM = "write it as `priority 2` or `priority (1, 0)`: one or more integers"
RULE_FORM = "a rule is written `<selector> -> <effect> [priority (...)]`"

_TERMINAL_WORDS: dict[str, str] = {
    "WORD": "a name",
    "STRING": 'a "string"',
    "REGEX": "a /regex/",
    "INT": "an integer",
    "_NL": "end of line",
    "$END": "end of file",
}
"""How a terminal that is not a literal is named in an expected list."""


def syntax_error(src: Source, err: UnexpectedInput) -> RuleSyntaxError:
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
    hint = join_hints(
        ("expected one of: " + ", ".join(shown)) if shown else None,
        did_you_mean(word, keywords) if word else None,
        PRIORITY_FORM if in_priority else None,
        RULE_FORM if _arrow_name() in expected and extra is None else None,
        extra,
    )
    line = getattr(err, "line", 0) or 0
    column = getattr(err, "column", 0) or 0
    return located(RuleSyntaxError, src, line, column, message, hint=hint)  # type: ignore[return-value]


def _describe_terminal(name: str) -> str:
    """A terminal as a reader knows it: ``'module'`` for a literal, ``a name`` for WORD."""
    if name in _TERMINAL_WORDS:
        return _TERMINAL_WORDS[name]
    try:
        pattern = parser().get_terminal(name).pattern
    except KeyError:
        return name
    if pattern.type == "str":
        return repr(pattern.value)
    return name


def _keyword_of(name: str) -> str | None:
    """The keyword text of a terminal, if it is a word-like literal such as ``module``."""
    try:
        pattern = parser().get_terminal(name).pattern
    except KeyError:
        return None
    if pattern.type == "str" and IDENT_RE.fullmatch(pattern.value):
        return str(pattern.value)
    return None


@cache
def _arrow_name() -> str:
    """The name lark gave the anonymous ``->`` terminal: expecting it means "inside a rule"."""
    for term in parser().terminals:
        if term.pattern.type == "str" and term.pattern.value == "->":
            return term.name
    return "__ANON_0"  # pragma: no cover
