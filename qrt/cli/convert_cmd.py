"""``qrt convert``: rewrite a rule file in another front end's form (verified with --model)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from qrt.cli.common import add_debug_option, add_model_options, inventory_from_args
from qrt.frontends.source import load_rule_source
from qrt.tools.convert import convert_to_dsl

__all__ = ["register", "run"]

TARGETS = ("dsl",)  # quant-cfg and hierarchical targets arrive with the wildcard front end


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "convert",
        help="rewrite a config in another front end's form",
        description="Convert SRC (a DSL rule file or a hierarchical YAML config) to another "
        "front end. With --model the result is resolved beside the source and written only "
        "if every site gets the same decision.",
    )
    p.add_argument("src", metavar="SRC")
    p.add_argument("--to", choices=TARGETS, required=True)
    add_model_options(p, required=False)
    p.add_argument("-o", "--output", metavar="FILE")
    add_debug_option(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    source = load_rule_source(args.src)
    inv = inventory_from_args(args) if args.model else None
    text = convert_to_dsl(source, inv)
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")
        print(f"wrote {args.output}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0
