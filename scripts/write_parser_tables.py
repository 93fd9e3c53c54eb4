"""Write ``qrt/frontends/dsl/_parser_tables.py``: the DSL's LALR parser, analysed once.

Building the parser from ``grammar/qrt.lark`` costs 0.1–0.4 s in every process that reads a
rule file (lint, explain, ``qrt.load_quantized`` of a saved model's rules). The analysis is
data — lark serialises it for its own standalone parsers — so it is written here as a Python
literal, next to the sha256 of the grammar and the lark version it came from;
``qrt.frontends.dsl.grammar.parser`` loads it when both still match and builds the parser
otherwise. Run this again after editing the grammar or upgrading lark;
``tests/frontends/test_parser_tables.py`` fails until you do.

    python scripts/write_parser_tables.py
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run from a checkout without installing

from qrt.frontends.dsl.grammar import build_parser, grammar_sha256, tables_text  # noqa: E402

TARGET = ROOT / "qrt" / "frontends" / "dsl" / "_parser_tables.py"


def main() -> None:
    TARGET.write_text(tables_text(build_parser()), encoding="utf-8")
    print(f"wrote {TARGET.relative_to(ROOT)} (grammar sha256 {grammar_sha256()[:12]})")


if __name__ == "__main__":
    main()
