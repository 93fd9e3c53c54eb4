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
from qrt.errors import QrtError

__all__ = ["main", "build_parser"]

COMMANDS = {
    "inspect": "inspect_cmd", "resolve": "resolve_cmd", "explain": "explain_cmd", "convert": "convert_cmd",
    "lint": "lint_cmd", "diff": "diff_cmd", "lock": "lock_cmd", "report": "report_cmd", "run": "run_cmd",
    "export": "export_cmd", "cache": "cache_cmd",
}
"""Each command and the module of ``qrt.cli`` that registers and runs it, in ``qrt --help``'s order."""


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The command line's parser. With ``command`` (a known name), only that subcommand's
    module is imported and registered: a command pays for its own options and imports, not the
    other ten's (a warm ``qrt lint`` is a few hundred milliseconds, a tenth of it this)."""
    import importlib

    parser = argparse.ArgumentParser(
        prog="qrt",
        description="Quantization rules for PyTorch: inspect models, resolve and explain "
        "which quantizer every tensor gets.",
    )
    parser.add_argument("--version", action="version", version=f"qrt {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in [command] if command in COMMANDS else COMMANDS:
        importlib.import_module(f"qrt.cli.{COMMANDS[name]}").register(sub)  # type: ignore[index]
    return parser


def _unknown_command(parser: argparse.ArgumentParser, argv: list[str]) -> str | None:
    """The error for a mistyped subcommand (``qrt resolv``), with the closest command names;
    argparse alone lists all of them and suggests none. ``None`` when the command is known."""
    if not argv or argv[0].startswith("-"):
        return None
    commands = list(COMMANDS)
    if argv[0] in commands:
        return None
    from qrt.errors import did_you_mean

    close = did_you_mean(argv[0], commands)
    return (f"qrt: error: unknown command {argv[0]!r}" + (f"; {close}" if close else "")
            + f"\n  commands: {', '.join(commands)} (qrt --help says what each does)")


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(argv[0] if argv else None)
    unknown = _unknown_command(parser, argv)
    if unknown is not None:
        print(unknown, file=sys.stderr)
        return 2
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
    except MemoryError:  # the machine's limit, not a bug: say so, and what uses less
        if debug:
            traceback.print_exc()
        print(f"qrt: error: out of memory running `qrt {argv[0] if argv else ''}`: the model or an input needs "
              "more memory than this process may use (a ulimit, prlimit --as, a container's limit)\n"
              "  for qrt run on a checkpoint folder, --sequential (or --max-memory SIZE) loads one decoder "
              "layer at a time", file=sys.stderr)
        return 2
    except Exception:  # a bug in qrt, not in the user's input
        traceback.print_exc()
        print("qrt: internal error — please report it with the traceback above", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
