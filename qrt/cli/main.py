"""The ``qrt`` command: one subcommand per file in this package, all on the public API.

Exit codes: 0 success, 2 a user error (bad spec, bad file, bad rule: one message, no
traceback unless ``--debug``), 1 an internal error (a bug in qrt: the traceback is shown).
"""

from __future__ import annotations

import argparse
import sys
import traceback
from collections.abc import Sequence

from qrt._version import __version__
from qrt.cli import (
    convert_cmd,
    diff_cmd,
    explain_cmd,
    export_cmd,
    inspect_cmd,
    lint_cmd,
    lock_cmd,
    resolve_cmd,
    run_cmd,
)
from qrt.errors import QrtError

__all__ = ["main", "build_parser"]

SUBCOMMANDS = (inspect_cmd, resolve_cmd, explain_cmd, convert_cmd, lint_cmd, diff_cmd, lock_cmd, run_cmd, export_cmd)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="qrt",
        description="Quantization rules for PyTorch: inspect models, resolve and explain "
        "which quantizer every tensor gets.",
    )
    parser.add_argument("--version", action="version", version=f"qrt {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for module in SUBCOMMANDS:
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    debug = getattr(args, "debug", False)
    try:
        code: int = args.run(args)
        return code
    except QrtError as err:
        if debug:
            traceback.print_exc()
        print(f"qrt: error[{err.code}]: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("qrt: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except Exception:  # a bug in qrt, not in the user's input
        traceback.print_exc()
        print("qrt: internal error — please report it with the traceback above", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
