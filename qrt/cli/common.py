"""Options every model-reading subcommand shares: ``--model``, ``--input-shape``, ``--device``."""

from __future__ import annotations

import argparse
import sys

from qrt.errors import ModelSourceError
from qrt.inventory.model import Inventory
from qrt.model_spec import SPEC_FORMS, load_model_inventory

__all__ = ["add_model_options", "add_debug_option", "inventory_from_args", "parse_shape", "progress_printer"]


def parse_shape(text: str) -> tuple[int, ...]:
    try:
        dims = tuple(int(d) for d in text.split(","))
    except ValueError:
        dims = ()
    if not dims or any(d <= 0 for d in dims):
        raise argparse.ArgumentTypeError(
            f"invalid shape {text!r}: write positive sizes separated by commas, e.g. 1,3,224,224"
        )
    return dims


def add_model_options(parser: argparse.ArgumentParser, *, required: bool = True) -> None:
    parser.add_argument("--model", "-m", required=required, metavar="SPEC", help=SPEC_FORMS)
    parser.add_argument(
        "--input-shape",
        type=parse_shape,
        action="append",
        metavar="SHAPE",
        help="shape of an example input (repeat for several inputs); overrides the derived "
        "or factory inputs. For Hugging Face models: the token-id shape (batch,seq)",
    )
    parser.add_argument(
        "--device",
        choices=("cpu", "meta", "cuda"),
        help="where to build the model: meta allocates no weights (default: meta for Hugging "
        "Face configs, cpu otherwise)",
    )
    parser.add_argument("--no-progress", action="store_true", help="do not show tracing progress")


def add_debug_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--debug", action="store_true", help="show tracebacks for errors")


def progress_printer(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    """A trace-progress callback printing to a terminal's stderr, or ``None`` (no terminal, or
    ``--no-progress``)."""
    if getattr(args, "no_progress", False) or not sys.stderr.isatty():
        return None

    def progress(p) -> None:  # type: ignore[no-untyped-def]
        print(
            f"\rtracing: {p.ops} ops, {p.module_calls} module calls, {p.seconds:.1f}s",
            end="",
            file=sys.stderr,
            flush=True,
        )

    return progress


def inventory_from_args(args: argparse.Namespace) -> Inventory:
    progress = progress_printer(args)
    show = progress is not None

    if args.model is None:
        raise ModelSourceError("no model given", hint="pass --model SPEC; " + SPEC_FORMS)
    inv = load_model_inventory(
        args.model,
        input_shapes=args.input_shape,
        device=args.device,
        progress=progress if show else None,
    )
    if show:
        print("\r\033[K", end="", file=sys.stderr, flush=True)
    return inv
