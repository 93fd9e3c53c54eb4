"""``qrt report``: what a config does to a model, as one self-contained HTML page (or its JSON).

``qrt report CONFIG --model SPEC -o plan.html``; also on a plan or lock file, on the directory of
a saved quantized model, and with ``--diff`` on two inputs (any that ``qrt diff`` takes).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from qrt.cli.common import add_debug_option, add_model_options, inventory_from_args
from qrt.files import write_output

__all__ = ["register", "run"]


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "report",
        help="draw what a config does to a model: one self-contained HTML page (or JSON)",
        description="Write a report of INPUT on a model: the module tree coloured by decision "
        "(format and bits), weight bytes before and after per module and for the whole model, "
        "search by name or glob, and each site's explain cascade. INPUT is a config of any front "
        "end (with --model), a plan or lock file (weight bytes with --model), or the directory "
        "of a saved quantized model. With --diff, two inputs (as `qrt diff` takes them): the "
        "page shows the sites `qrt diff` reports. The page loads nothing from the network; "
        "--format json writes the same facts (schemas/report.schema.json).",
    )
    p.add_argument("inputs", metavar="INPUT", nargs="+",
                   help="a config, modelopt:NAME, a plan or lock file, a saved model directory; two with --diff")
    add_model_options(p, required=False)
    p.add_argument("--diff", action="store_true", help="compare two inputs (a and b), as `qrt diff` does")
    p.add_argument("--across-models", action="store_true",
                   help="with --diff: compare plans of two different models (as `qrt diff --across-models`)")
    p.add_argument("--format", choices=("html", "json"), default="html")
    p.add_argument("-o", "--output", metavar="FILE", help="write the report here instead of stdout")
    add_debug_option(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    started = time.perf_counter()
    want = 2 if args.diff else 1
    if len(args.inputs) != want:
        print(f"qrt report: error: {'--diff compares two inputs' if args.diff else 'one INPUT (or two with --diff)'}, "
              f"got {len(args.inputs)}: {' '.join(args.inputs)}", file=sys.stderr)
        return 2
    doc = _diff(args) if args.diff else _single(args, args.inputs[0])
    if args.format == "json":
        import json

        text = json.dumps(doc, indent=1) + "\n"
    else:
        from qrt.tools.report_html import render_html

        text = render_html(doc)
    if args.output:
        write_output(args.output, text)
        size = len(text.encode("utf-8"))
        cov = doc["coverage"]
        bytes_text = ""
        if cov is not None:
            from qrt.tools.coverage import human_bytes

            bytes_text = (f"; weights {human_bytes(cov['bytes_before'])} -> {human_bytes(cov['bytes_after'])}, "
                          f"{100 * cov['fraction']:.1f}% quantized")
        print(f"wrote {args.output} ({size / 1e6:.2f} MB, {time.perf_counter() - started:.1f} s): "
              f"{len(doc['sites'])} sites, {len(doc['modules'])} modules{bytes_text}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0


def _single(args: argparse.Namespace, arg: str) -> dict[str, Any]:
    from qrt.tools.report import plan_report, rows_report

    path = Path(arg)
    if path.is_dir():
        from qrt.runtime.finalize.manifest import plan_from_manifest, read_manifest

        return plan_report(plan_from_manifest(read_manifest(path, allow_version_mismatch=True), source=arg), arg)
    if path.is_file() and path.suffix.lower() in (".json", ".lock"):
        from qrt.files import DATA_LIMIT, parse_json, read_text
        from qrt.tools.diff_inputs import _as_plan_file
        from qrt.tools.plan_view import view_of_json

        text = read_text(path, limit=DATA_LIMIT)
        if _as_plan_file(text, path.suffix):
            view = view_of_json(text, arg)  # checked against its schema
            inventory = inventory_from_args(args) if args.model else None
            if inventory is not None:
                from qrt.tools.diff_inputs import check_same_model

                check_same_model(view, view, inventory, across=False)
            return rows_report(view, parse_json(text, file=arg)["sites"], inventory)
    from qrt.api import resolve
    from qrt.cli.common import read_config

    source = read_config(arg)  # a bad config fails before the model is built
    return plan_report(resolve(source, inventory_from_args(args), check_tensors=False), arg)  # the page shows it


def _diff(args: argparse.Namespace) -> dict[str, Any]:
    from qrt.tools.diff_inputs import check_same_model, load_side
    from qrt.tools.report import diff_report

    if args.model:
        from qrt.cli.diff_cmd import _check_configs

        _check_configs(*args.inputs)
    inventory = inventory_from_args(args) if args.model else None
    a = load_side(args.inputs[0], inventory)
    b = load_side(args.inputs[1], inventory)
    check_same_model(a, b, inventory, across=args.across_models)
    return diff_report(a, b, inventory)
