"""``qrt resolve``: decide every site of a model and write the plan."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from qrt.cli.common import add_debug_option, add_model_options, inventory_from_args
from qrt.tools.style import Style, want_color

__all__ = ["register", "run"]


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "resolve",
        help="decide every site of a model under a rule file and write the plan",
        description="Resolve RULES against a model: every site with its decision (plan JSON "
        "with --format json or -o; schemas/plan.schema.json).",
    )
    p.add_argument("rules", metavar="RULES", help="a rule file: the qrt DSL, a hierarchical YAML config, a ModelOpt quant_cfg list, or modelopt:NAME")
    add_model_options(p)
    p.add_argument("--format", choices=("text", "json"), default=None,
                   help="text (default on stdout) or json (default with -o)")
    p.add_argument("-o", "--output", metavar="FILE", help="write the plan to FILE")
    p.add_argument("--summary", action="store_true",
                   help="print how many sites of each op type and role get each decision")
    p.add_argument("--color", choices=("auto", "always", "never"), default="auto")
    add_debug_option(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from qrt.api import resolve
    from qrt.tools.explain_text import render_plan_text
    from qrt.cli.common import read_config

    source = read_config(args.rules)  # a bad rule file fails before the model is built
    plan = resolve(source, inventory_from_args(args))
    fmt = args.format or ("json" if args.output else "text")
    if args.summary:
        from qrt.tools.summary import render_summary

        summary = render_summary(plan)
        if args.output is None and args.format is None:
            sys.stdout.write(summary)
            return 0
        print(summary, end="", file=sys.stderr if args.output is None else sys.stdout)
    if fmt == "json":
        from qrt.sealed_json import dumps_sealed

        text = dumps_sealed(plan.to_json())
    else:
        color = want_color(args.color, sys.stdout) if args.output is None else args.color == "always"
        text = render_plan_text(plan, Style(color))
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")
        print(f"wrote {args.output}: {len(plan.quantized())} of {len(plan)} sites quantized", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0
