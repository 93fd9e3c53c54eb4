"""``qrt diff A B``: what a config change does to a model's plan, grouped for review.

Exit codes: 0 equal, 1 different, 2 an input that cannot be read (or of different models).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from qrt.cli.common import add_debug_option, add_model_options, inventory_from_args
from qrt.files import write_output

__all__ = ["register", "run"]


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "diff",
        help="show every site whose decision differs between two configs or plans",
        description="Compare two qrt inputs — configs of any front end (resolved on --model), "
        "plan or lock files, or either at a git revision (REV:path, read with git show) — and "
        "print the sites whose decisions differ, grouped by module type, op type, role and the "
        "pair of decisions, with the winning rule on each side. Exit 0 equal, 1 different, "
        "2 unreadable input.",
    )
    p.add_argument("a", metavar="A", help="a config, plan or lock file, modelopt:NAME, or REV:path")
    p.add_argument("b", metavar="B", help="the same kinds as A")
    add_model_options(p, required=False)
    p.add_argument("--format", choices=("text", "json", "markdown"), default="text",
                   help="markdown makes a table for a pull-request comment")
    p.add_argument("--across-models", action="store_true",
                   help="compare plans of two different models (sites on one side only are 'absent')")
    p.add_argument("-o", "--output", metavar="FILE", help="write the report here instead of stdout")
    add_debug_option(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from qrt.tools.diff_inputs import check_same_model, load_side
    from qrt.tools.plan_diff import diff_views, render_diff

    if args.model:
        _check_configs(args.a, args.b)
    inventory = inventory_from_args(args) if args.model else None
    a = load_side(args.a, inventory)
    b = load_side(args.b, inventory)
    check_same_model(a, b, inventory, across=args.across_models)
    result = diff_views(a, b)
    text = render_diff(result, args.format)
    if args.output:
        write_output(args.output, text)
    else:
        sys.stdout.write(text)
    return 0 if result.equal else 1


def _check_configs(*sides: str) -> None:
    """Read the sides that are configs in the working tree before the model is built, so a
    syntax error is reported at once, not after a model build and trace. Plan and lock files
    and ``REV:path`` sides are read by ``load_side`` as before."""
    from qrt.cli.common import read_config
    from qrt.errors import QrtError
    from qrt.files import DATA_LIMIT, read_text
    from qrt.tools.diff_inputs import _as_plan_file
    from qrt.tools.revisions import parse_revision

    for side in sides:
        if side.startswith("modelopt:"):
            read_config(side)
            continue
        path = Path(side)
        if parse_revision(side) is not None or not path.is_file():
            continue
        try:
            text = read_text(path, limit=DATA_LIMIT)
        except QrtError:
            continue  # load_side says why it cannot be read
        if not _as_plan_file(text, path.suffix):
            read_config(side)

