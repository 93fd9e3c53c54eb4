"""``qrt resolve``: decide every site of a model and write the plan."""

from __future__ import annotations

import argparse
import sys

from qrt.cli.common import add_debug_option, add_model_options, inventory_for_rules
from qrt.tools.style import Style, want_color
from qrt.files import write_output

__all__ = ["register", "run"]


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "resolve",
        help="decide every site of a model under a rule file and write the plan",
        description="Resolve RULES against a model: every site with its decision (plan JSON "
        "with --format json or -o; schemas/plan.schema.json).",
    )
    p.add_argument("rules", metavar="RULES", help="a rule file: the qrt DSL, a hierarchical YAML config, a ModelOpt quant_cfg list, "
                   "modelopt:NAME, a compressed-tensors quantization_config, or a compressed-tensors checkpoint folder "
                   "(its config.json is also the model: no --model)")
    add_model_options(p, required=False)
    p.add_argument("--format", choices=("text", "json"), default=None,
                   help="text (default on stdout) or json (default with -o)")
    p.add_argument("-o", "--output", metavar="FILE", help="write the plan to FILE")
    p.add_argument("--summary", action="store_true",
                   help="print how many sites of each op type and role get each decision, and the "
                   "weight bytes before and after by format (with --format json or -o, also as "
                   "the plan's summary.weights)")
    p.add_argument("--as", dest="consumer", choices=("vllm",), default=None,
                   help="read a compressed-tensors config as this consumer's loader does (vllm: its own target "
                   "matching, fused q/k/v and gate/up layers; docs/compressed-tensors.md) instead of as "
                   "compressed-tensors applies it")
    p.add_argument("--color", choices=("auto", "always", "never"), default="auto")
    add_debug_option(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from qrt.api import resolve
    from qrt.tools.explain_text import render_plan_text
    from qrt.cli.common import read_config

    source = read_config(args.rules)  # a bad rule file fails before the model is built
    if args.consumer:
        from qrt.frontends.compressed_tensors.source import consumer_view

        source = consumer_view(source, args.consumer)
    plan = resolve(source, inventory_for_rules(args, source))
    fmt = args.format or ("json" if args.output else "text")
    coverage = None
    if args.summary:
        from qrt.tools.coverage import coverage_of_plan, render_coverage
        from qrt.tools.summary import render_summary

        coverage = coverage_of_plan(plan)
        table, _, sites_line = render_summary(plan).rstrip("\n").rpartition("\n")
        # the weight bytes go above the last line, which stays "N of M sites quantized"
        summary = f"{table}\n{render_coverage(coverage)}{sites_line}\n"
        if args.output is None and args.format is None:
            sys.stdout.write(summary)
            return 0
        print(summary, end="", file=sys.stderr if args.output is None else sys.stdout)
    if fmt == "json":
        from qrt.sealed_json import dumps_sealed

        data = plan.to_json()
        if coverage is not None:  # --summary adds the weight bytes to the plan's summary
            data["summary"]["weights"] = coverage.to_json()
        text = dumps_sealed(data)
    else:
        color = want_color(args.color, sys.stdout) if args.output is None else args.color == "always"
        text = render_plan_text(plan, Style(color))
    if args.output:
        write_output(args.output, text)
        print(f"wrote {args.output}: {len(plan.quantized())} of {len(plan)} sites quantized", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0
