"""``qrt inspect``: list a model's modules, ops and quantizable tensor sites."""

from __future__ import annotations

import argparse
import sys

from qrt.cli.common import add_debug_option, add_model_options, inventory_from_args
from qrt.model_spec import BUILTIN_NAMES
from qrt.tools.style import Style, want_color
from qrt.files import write_output

__all__ = ["register", "run"]


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "inspect",
        help="show every quantizable tensor site of a model",
        description="Trace a model on example inputs and show its modules, ops and tensor "
        "sites (text), or write its inventory (json) for every other qrt command.",
    )
    add_model_options(p, required=False)
    p.add_argument("--format", choices=("text", "json"), default="text")
    p.add_argument("-o", "--output", metavar="FILE", help="write to FILE instead of stdout")
    p.add_argument(
        "--filter",
        action="append",
        default=[],
        metavar="GLOB",
        help="keep sites whose quantizer path, op name or module name matches (repeatable)",
    )
    p.add_argument("--color", choices=("auto", "always", "never"), default="auto")
    p.add_argument("--list-models", action="store_true", help="list the built-in example models")
    p.add_argument(
        "--prepared", metavar="CONFIG",
        help="prepare the model under CONFIG (eager runtime, whatever the config's execution_mode) "
        "and list its quantizers with their specs and state, like ModelOpt's quant summary",
    )
    add_debug_option(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from qrt.inventory.io import dumps_inventory, inventory_to_json
    from qrt.tools.inspect import render_inventory_text
    if args.prepared:
        return _prepared(args)
    if args.list_models:
        from qrt.runtime.examples import EXAMPLES  # torch only for this listing

        for name in BUILTIN_NAMES:
            print(f"{name:<12} {EXAMPLES[name].description}")
        return 0
    inv = inventory_from_args(args)
    if args.format == "json":
        data = inventory_to_json(inv)
        if args.filter:
            from qrt.tools.inspect import matches_any

            data["sites"] = [
                s
                for s in data["sites"]
                if matches_any(args.filter, s["quantizer_path"], s["op_name"], s["scope"][-1], *s["aliases"])
            ]
        text = dumps_inventory(data)
    else:
        to_terminal = args.output is None
        color = want_color(args.color, sys.stdout) if to_terminal else args.color == "always"
        text = render_inventory_text(inv, style=Style(color), filters=args.filter)
    if args.output:
        write_output(args.output, text)
        print(f"wrote {args.output} ({len(inv.sites)} sites)", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0


def _prepared(args: argparse.Namespace) -> int:
    from qrt.cli.common import model_from_args, progress_printer, read_config

    if not args.model:
        print("qrt inspect: error: --prepared needs --model SPEC", file=sys.stderr)
        return 2
    source = read_config(args.prepared)  # a bad config fails before the model is built
    built = model_from_args(args)
    from qrt.runtime.quant.quantizer import Quantizer
    from qrt.runtime.quant.summary import LEGEND

    quantizer = Quantizer(built.model, source, execution_mode="eager")
    quantizer.prepare(built.args, example_kwargs=built.kwargs, progress=progress_printer(args))
    text = quantizer.summary() + "\n" + LEGEND
    if args.output:
        write_output(args.output, text)
    else:
        sys.stdout.write(text)
    return 0
