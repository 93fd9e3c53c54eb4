"""``qrt lock``: write a config's plan as a lock file, or check that it still holds.

``qrt lock CONFIG --model SPEC -o plan.lock`` writes; ``qrt lock --check plan.lock CONFIG
--model SPEC`` exits 1 and prints the grouped diff when the config, the model or qrt would
now give another plan (0 when the plan is unchanged, 2 for unreadable input).
"""

from __future__ import annotations

import argparse
import sys

from qrt.cli.common import add_debug_option, add_model_options, inventory_from_args
from qrt.files import write_output

__all__ = ["register", "run"]


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "lock",
        help="write a config's plan as a lock file, or check a lock file",
        description="Resolve CONFIG on the model and write the plan as a lock file (sorted, one "
        "site per line, with qrt's version and the config's and the model's digests). With "
        "--check LOCK, resolve again and compare: exit 1 with the grouped diff when the plan "
        "changed, 0 when it did not.",
    )
    p.add_argument("config", metavar="CONFIG", help="a rule file, YAML config, quant_cfg list or modelopt:NAME")
    add_model_options(p)
    p.add_argument("--check", metavar="LOCK", help="compare with this lock file instead of writing one")
    p.add_argument("--format", choices=("text", "json", "markdown"), default="text",
                   help="the report format of --check")
    p.add_argument("-o", "--output", metavar="FILE", help="write the lock file here (default: stdout)")
    add_debug_option(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from qrt.api import resolve
    from qrt.tools.lock import check_lock, lock_text

    from qrt.cli.common import read_config

    source = read_config(args.config)  # a bad config fails before the model is built
    plan = resolve(source, inventory_from_args(args))
    if args.check is None:
        text = lock_text(plan, args.config)
        if args.output:
            write_output(args.output, text)
            print(f"wrote {args.output}: {len(plan.quantized())} of {len(plan)} sites quantized", file=sys.stderr)
        else:
            sys.stdout.write(text)
        return 0
    from qrt.tools.plan_diff import render_diff

    from qrt.files import DATA_LIMIT, read_text
    from qrt.tools.plan_view import PlanFileError

    locked = read_text(args.check, what="lock file", limit=DATA_LIMIT, error=PlanFileError)
    result = check_lock(args.check, locked, plan, args.config)
    if args.format == "json":
        import json

        data = json.loads(render_diff(result.diff, "json"))
        data["notes"] = result.notes
        text = json.dumps(data, indent=1) + "\n"
    else:
        text = render_diff(result.diff, args.format)
        if result.notes:
            text += "".join(f"note: {n}\n" for n in result.notes)
        text += ("lock holds: the plan is unchanged\n" if result.ok else
                 f"lock is stale: {result.diff.changed} site(s) decided differently; run "
                 f"`qrt lock {args.config} --model {args.model} -o {args.check}` to accept\n")
    sys.stdout.write(text)
    return 0 if result.ok else 1
