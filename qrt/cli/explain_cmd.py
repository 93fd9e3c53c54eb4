"""``qrt explain``: why did this tensor get this spec, and which rules lost."""

from __future__ import annotations

import argparse
import json
import sys

from qrt.cli.common import add_debug_option, add_model_options, inventory_from_args
from qrt.tools.style import Style, want_color

__all__ = ["register", "run"]


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "explain",
        help="show the full rule cascade behind sites' decisions",
        description="For each site a QUERY names (a quantizer path, an op name with optional "
        ":role[key], or a glob over either): every matching rule in fold order, which one "
        "decided, why each other lost, and which spec fields came from defaults.",
    )
    p.add_argument("rules", metavar="RULES", help="a rule file: the qrt DSL, or a hierarchical YAML config")
    p.add_argument("queries", metavar="QUERY", nargs="+")
    add_model_options(p)
    p.add_argument("--format", choices=("text", "json"), default="text")
    p.add_argument("--color", choices=("auto", "always", "never"), default="auto")
    add_debug_option(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from qrt.api import explain, resolve
    from qrt.tools.explain_text import render_explanations
    plan = resolve(args.rules, inventory_from_args(args))
    explanations = explain(plan, queries=args.queries)
    if args.format == "json":
        sys.stdout.write(json.dumps({"qrt_explain": 1, "sites": [e.to_json() for e in explanations]}, indent=1) + "\n")
    else:
        sys.stdout.write(render_explanations(explanations, Style(want_color(args.color, sys.stdout))))
    return 0
