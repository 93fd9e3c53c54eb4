"""The grammar file, loaded once into a lark parser.

Why it is built this way: the grammar is data (``grammar/qrt.lark``, shipped in the wheel and
found with :func:`qrt.resources.data_dir`), not a string in code. It knows only *shapes* (a
rule is ``selector -> effect``, a spec body is a list of items); the rest of the front end
gives its words meaning. It is parsed with LALR and the contextual lexer, with
``propagate_positions`` on so every tree node carries the ``Meta`` that origins and errors are
stamped from. The parser is built on first use and cached, so importing the DSL costs nothing
until a rule file is read.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import cache

from lark import Lark, Token
from lark.lark import PostLex

from qrt.resources import data_dir

__all__ = ["GRAMMAR_FILE", "parser"]

GRAMMAR_FILE = "qrt.lark"
"""The grammar's file name inside ``data_dir("grammar")`` (``grammar/qrt.lark`` in the tree)."""


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
def parser() -> Lark:
    """The DSL's lark parser (built once)."""
    text = (data_dir("grammar") / GRAMMAR_FILE).read_text(encoding="utf-8")
    return Lark(
        text,
        parser="lalr",
        lexer="contextual",
        propagate_positions=True,
        maybe_placeholders=False,
        postlex=_WordsEverywhere(),
    )
