"""The DSL parser's shipped LALR tables (qrt/frontends/dsl/_parser_tables.py) are those of the
grammar and lark in this tree, and the parser loaded from them reads and rejects every text
as the parser built from the grammar does."""

from __future__ import annotations

import lark

from qrt.frontends.dsl import _parser_tables as tables
from qrt.frontends.dsl.grammar import OUT_OF_DATE, build_parser, grammar_sha256, parser
from tests.conftest import ROOT


def test_the_shipped_tables_are_up_to_date() -> None:
    assert (tables.GRAMMAR_SHA256, tables.LARK_VERSION) == (grammar_sha256(), lark.__version__), OUT_OF_DATE


def _outcome(p: lark.Lark, text: str) -> object:
    try:
        return p.parse(text)
    except lark.exceptions.UnexpectedInput as exc:
        return (type(exc).__name__, exc.line, exc.column, sorted(getattr(exc, "expected", None) or ()),
                getattr(exc, "token", None))


def test_the_loaded_parser_reads_and_rejects_as_the_built_one() -> None:
    built = build_parser()  # 0.1-0.4 s: once
    for path in sorted((ROOT / "rules").glob("*.qrt")):
        text = path.read_text()
        for t in (text, text.replace("->", "=>", 1), "module_name x -> int8\n",
                  "op linear weight -> int4 per_block(\n", "op linear input[0] -> \n"):
            assert _outcome(parser(), t) == _outcome(built, t), (path.name, t)
