"""``qrt lint``: find config mistakes before a long quantization run (CI-friendly).

Exit codes: 0 clean, 1 findings at or above ``--fail-on``, 2 an input that cannot be read or a
usage error. Without ``--model`` (or with a saved inventory) nothing imports torch.
"""

from __future__ import annotations

import argparse
import os
import sys

from qrt.files import write_output

__all__ = ["register", "run"]


def _codes(text: str) -> list[str]:
    return [c.strip().upper() for c in text.split(",") if c.strip()]


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    from qrt.cli.common import add_model_options

    p = sub.add_parser(
        "lint",
        help="check rule files and configs for mistakes (CI)",
        description="Check DSL rule files, hierarchical YAML configs and ModelOpt quant_cfg "
        "lists (or modelopt:NAME) for mistakes: unknown keys, suspicious patterns, rules that "
        "never win, spec combinations no backend runs; with --model also patterns that match "
        "nothing, keys for modules that never run, ambiguous class names, shadowed rules, axes "
        "and block sizes that do not fit the tensors. A finding about an included file's rule "
        "names that file and its line. Exit 0 "
        "clean, 1 findings at or above --fail-on, 2 unreadable input. Suppress one line's "
        "finding with a comment `# qrt: noqa QRT012`. docs/lint.md lists every code.",
    )
    p.add_argument("paths", nargs="*", metavar="PATH", help="files to check, or modelopt:NAME")
    add_model_options(p, required=False)
    p.add_argument("--format", choices=("text", "json", "sarif", "github"), default="text")
    p.add_argument("--select", type=_codes, default=[], metavar="CODES",
                   help="only these codes or prefixes, comma-separated (QRT0,QRT201)")
    p.add_argument("--ignore", type=_codes, default=[], metavar="CODES",
                   help="leave out these codes or prefixes, comma-separated")
    p.add_argument("--fail-on", choices=("error", "warning", "info"), default="warning",
                   help="exit 1 when a finding is at least this severe (default: warning)")
    p.add_argument("--target", action="append", choices=("vllm",), default=[], metavar="CONSUMER",
                   help="also check compressed-tensors configs against this consumer's loader (vllm: a module it "
                   "reads differently, fused q/k/v or gate/up shards with different schemes); needs --model, or "
                   "a checkpoint's config.json, whose model is then used")
    p.add_argument("--explain", metavar="CODE", help="print what CODE means, with a bad and a fixed example")
    p.add_argument("-o", "--output", metavar="FILE", help="write the report here instead of stdout")
    p.add_argument("--debug", action="store_true", help="show tracebacks for errors")
    p.set_defaults(run=run)


def _explain(code: str) -> int:
    from qrt.lint.codes import CODES

    info = CODES.get(code.upper())
    if info is None:
        print(f"qrt: error: unknown code {code!r}; known codes: {', '.join(CODES)}", file=sys.stderr)
        return 2
    if info.lint:
        where = "needs --model" if info.needs_model else "no model needed"
    else:
        where = "an error a command raises, not a lint finding"
    raised = f" (qrt.{info.raised_as})" if info.raised_as else ""
    print(f"{info.code} {info.name} [{info.severity.label}, {where}]{raised}: {info.summary}\n")
    print(info.explanation + "\n")
    if info.bad:
        print(f"Bad ({info.file}):\n" + "".join(f"    {line}\n" for line in info.bad.splitlines()))
        print(f"Fixed ({info.file}):\n" + "".join(f"    {line}\n" for line in info.fixed.splitlines()))
    return 0


def _checkpoint_of(paths: list[str]) -> str | None:
    """The checkpoint folder whose ``config.json`` is among ``paths`` (its model is the one
    ``--target`` checks against when no ``--model`` is given), or ``None``."""
    from pathlib import Path

    from qrt.frontends.checkpoint import is_checkpoint_dir

    for path in paths:
        if Path(path).name == "config.json" and is_checkpoint_dir(Path(path).parent):
            return str(Path(path).parent)
    return None


def run(args: argparse.Namespace) -> int:
    if args.explain:
        return _explain(args.explain)
    if not args.paths:
        print("qrt lint: error: give at least one PATH (a rule file, a YAML config, a quant_cfg "
              "list or modelopt:NAME)", file=sys.stderr)
        return 2
    from qrt.frontends import rules_cache
    from qrt.lint.diagnostics import Severity
    from qrt.lint.report import render
    from qrt.lint.run import lint

    inventory = None
    if args.model:
        from qrt.cli.common import inventory_from_args

        inventory = lambda: inventory_from_args(args)  # noqa: E731  (built once the inputs read)
    if args.target and not args.model:
        checkpoint = _checkpoint_of(args.paths)
        if checkpoint is None:
            print(f"qrt lint: error: --target {args.target[0]} needs --model, or a checkpoint's config.json "
                  "(vLLM's reading depends on the model's layers)", file=sys.stderr)
            return 2
        from qrt.model_inventory import checkpoint_inventory

        inventory = lambda: checkpoint_inventory(checkpoint)  # noqa: E731  (the checkpoint's own model, on meta)
    with rules_cache.using(not args.no_cache):  # a DSL file read before: its rules from the cache, no lark
        result = lint(args.paths, inventory, select=args.select, ignore=args.ignore, targets=args.target)
    if result.model_skipped:
        print(f"qrt lint: {args.model} was not built: an input cannot be read (fix it first, then "
              "lint again for the model's checks)", file=sys.stderr)
    color = args.format == "text" and not args.output and sys.stdout.isatty() and "NO_COLOR" not in os.environ
    text = render(result, args.format, color=color)
    if args.output:
        write_output(args.output, text)
    else:
        sys.stdout.write(text)
    return result.exit_code(Severity.parse(args.fail_on))
