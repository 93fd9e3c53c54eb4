"""``qrt convert``: rewrite a rule file in another front end's form (verified with --model)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from qrt.cli.common import add_debug_option, add_model_options, inventory_for_rules

__all__ = ["register", "run"]

TARGETS = ("dsl", "quant-cfg", "hierarchical", "compressed-tensors", "torchao", "llm-compressor")
"""The targets (``qrt.tools.convert.TARGETS``; kept here so ``qrt --help`` imports no front end)."""


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "convert",
        help="rewrite a config in another front end's form",
        description="Convert SRC (a DSL rule file, a hierarchical YAML config, a ModelOpt "
        "quant_cfg list or modelopt:NAME) to another front end. Any source converts to the "
        "DSL exactly. Between the config styles, --model writes that model's decisions "
        "(compacted into globs or regexes); without it, what has an equivalent is converted "
        "and every rule that has none is named with the reason. With --model the result is "
        "resolved beside the source and written only if every site gets the same decision.",
    )
    p.add_argument("src", metavar="SRC")
    p.add_argument("--to", choices=TARGETS, required=True, help="the front end to write")
    add_model_options(p, required=False)
    p.add_argument(
        "-o", "--output", metavar="FILE",
        help="write here instead of stdout (a quant-cfg FILE ending in .json is written as JSON); "
        "an existing FILE is kept unless --overwrite",
    )
    p.add_argument("--overwrite", action="store_true", help="replace FILE (-o) if it exists")
    add_debug_option(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from qrt.frontends.source import load_rule_source
    from qrt.tools.convert import ConvertError, convert

    if args.output and Path(args.output).exists() and not args.overwrite:
        # checked first: a converted config over the source (-o config.yaml) or over
        # another config loses the user's file, and nothing before this point costs anything
        raise ConvertError(
            f"{args.output} exists; qrt convert does not replace a file unless asked",
            location=args.output,
            hint="pass --overwrite to replace it, or write to another file with -o",
        )
    from qrt.frontends.checkpoint import checkpoint_of

    source = load_rule_source(args.src)
    inv = inventory_for_rules(args, source) if args.model or checkpoint_of(source) else None
    fmt = "json" if args.output and args.output.lower().endswith(".json") else "yaml"
    text = convert(source, args.to, inv, fmt=fmt)
    if args.output:
        from qrt.files import write_output

        write_output(args.output, text)
        print(f"wrote {args.output}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0
