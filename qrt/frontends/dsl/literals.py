"""Quoted literals → their text: ``"strings"`` and ``/regexes/``.

Why a module of its own: the two escape conventions differ on purpose, and the printer relies
on the exact rules to give every value a spelling, so they are stated once, here:

* A ``/regex/`` is the regex as written, except that ``\\/`` stands for ``/`` (so a regex can
  hold a slash); any other backslash pair is kept as it is, so ``\\d`` or ``\\.`` reach the
  regex engine unchanged.
* A ``"string"`` uses JSON escapes.

A regex that holds the pair ``\\/`` itself, or a newline, can be written as a ``"string"``
instead; the printer does that, so every regex the IR can hold has a spelling.
"""

from __future__ import annotations

import json

from lark import Token

from qrt.errors import RuleSyntaxError
from qrt.frontends.dsl.source import Source, at_token

__all__ = ["decode_string", "decode_regex_literal"]


def decode_string(src: Source, tok: Token) -> str:
    """A ``"..."`` token → its text (JSON escapes)."""
    try:
        value = json.loads(str(tok), strict=False)
    except json.JSONDecodeError as exc:
        raise at_token(
            RuleSyntaxError,
            src,
            tok,
            f"invalid escape in string: {exc.msg}",
            hint='valid escapes: \\" \\\\ \\/ \\b \\f \\n \\r \\t \\uXXXX',
            offending=str(tok),
        ) from None
    assert isinstance(value, str)
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:  # "\ud800": JSON accepts a lone surrogate, nothing after does
        raise at_token(
            RuleSyntaxError,
            src,
            tok,
            f"invalid escape in string: \\u{ord(value[exc.start]):04x} is half of a UTF-16 "
            "surrogate pair, not a character",
            hint="write the character itself, or both halves of the pair "
            "(\\ud83d\\ude00 for U+1F600)",
            offending=str(tok),
        ) from None
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
