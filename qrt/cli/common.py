"""Options every model-reading subcommand shares: ``--model``, ``--input-shape``, ``--device``,
``--seed``; and the one way each command turns them into a model or an inventory."""

from __future__ import annotations

import argparse
import math
import sys

from typing import TYPE_CHECKING, Any

from qrt.errors import ModelSourceError
from qrt.inventory.model import Inventory
from qrt.model_inventory import load_model_inventory
from qrt.model_spec import SPEC_FORMS

if TYPE_CHECKING:
    from qrt.runtime.sources import BuiltModel

__all__ = [
    "add_model_options",
    "add_debug_option",
    "inventory_for_rules",
    "inventory_from_args",
    "model_from_args",
    "read_config",
    "parse_shape",
    "progress_printer",
]

DEFAULT_SEED = 0
"""Every command seeds the random weights and inputs of the models it builds (``--seed``), so
that two runs of one command print the same numbers."""


def parse_shape(text: str) -> tuple[int, ...]:
    try:
        dims = tuple(int(d) for d in text.split(","))
    except ValueError:
        dims = ()
    if not dims or any(d <= 0 for d in dims):
        raise argparse.ArgumentTypeError(
            f"invalid shape {text!r}: write positive sizes separated by commas, e.g. 1,3,224,224"
        )
    if math.prod(dims) > MAX_INPUT_ELEMENTS:
        raise argparse.ArgumentTypeError(
            f"shape {text!r} has {math.prod(dims):,} elements; an example input may have at most "
            f"{MAX_INPUT_ELEMENTS:,} (8 GiB of float32): tracing names sites from one small batch"
        )
    return dims


MAX_INPUT_ELEMENTS = 1 << 31
"""Elements an ``--input-shape`` may have: a trace needs a representative batch, not a large one,
and a bigger tensor fails inside torch's allocator (``100000,100000`` asks for 40 GB)."""

SEED_RANGE = (-(1 << 63), (1 << 64) - 1)
"""Seeds ``torch.manual_seed`` takes (a signed or unsigned 64-bit integer)."""


def parse_seed(text: str) -> int:
    try:
        seed = int(text)
    except ValueError:
        seed = None
    if seed is None or not SEED_RANGE[0] <= seed <= SEED_RANGE[1]:
        raise argparse.ArgumentTypeError(
            f"invalid seed {text!r}: write an integer from {SEED_RANGE[0]} to {SEED_RANGE[1]} (a 64-bit seed)"
        )
    return seed


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
    parser.add_argument(
        "--seed",
        type=parse_seed,
        default=DEFAULT_SEED,
        help=f"seed of the random weights of built-in and config-only models, of their example "
        f"inputs and of qrt run's calibration batches: the same seed gives the same model and the "
        f"same numbers in every process (default {DEFAULT_SEED})",
    )
    parser.add_argument(
        "--dtype",
        choices=("auto", "float32", "bfloat16", "float16"),
        default="auto",
        help="the model's dtype: auto keeps a checkpoint's own (its config's dtype) and builds "
        "everything else in float32; another choice casts the model and its example inputs",
    )
    parser.add_argument("--no-progress", action="store_true",
                        help="do not show progress on stderr (tracing; qrt run: also calibration, layers, "
                        "finalize, export); off anyway when stderr is not a terminal")
    parser.add_argument(
        "--no-cache",
        action="store_true",
        help="trace the model again instead of reading its inventory from qrt's cache, and do not "
        "store it (the cache holds the inventories of models traced on this machine, keyed by "
        "their content and these options; `qrt cache info` shows it). Commands that build the "
        "model with its weights (qrt run) never read the cache",
    )


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
        seed=getattr(args, "seed", DEFAULT_SEED),
        dtype=getattr(args, "dtype", None),
        cache=not getattr(args, "no_cache", False),
    )
    if show:
        print("\r\033[K", end="", file=sys.stderr, flush=True)
    return inv


def inventory_for_rules(args: argparse.Namespace, source: Any) -> Inventory:
    """The model rules are resolved on: ``--model``, or — for rules read from a quantized
    checkpoint folder, with no ``--model`` — the model that folder's ``config.json`` describes,
    built on meta (:func:`qrt.model_inventory.checkpoint_inventory`)."""
    if args.model is not None:  # the checkpoint reader (and pydantic, YAML) only where needed
        return inventory_from_args(args)
    from qrt.frontends.checkpoint import checkpoint_of
    from qrt.model_inventory import checkpoint_inventory

    checkpoint = checkpoint_of(source)
    if checkpoint is None:
        return inventory_from_args(args)
    return checkpoint_inventory(checkpoint, input_shapes=args.input_shape, progress=progress_printer(args),
                                seed=getattr(args, "seed", DEFAULT_SEED), dtype=getattr(args, "dtype", None))


def model_from_args(args: argparse.Namespace) -> BuiltModel:
    """The model ``--model`` names, built with weights (on ``--device``, cpu by default) and
    seeded by ``--seed``: what ``qrt run``, ``inspect --prepared`` and ``explain --mode graph``
    prepare. A saved inventory has no weights: that is said here, with what would do."""
    from qrt.model_spec import parse_model_spec
    from qrt.runtime.sources import build_model

    if args.model is None:
        raise ModelSourceError("no model given", hint="pass --model SPEC; " + SPEC_FORMS)
    spec = parse_model_spec(args.model)
    if spec.kind == "inventory":
        raise ModelSourceError(
            f"{args.model} is a saved inventory: it has no weights to run",
            hint="pass the model itself: a built-in name, path/to/file.py:factory, "
            "package.module:factory or a Hugging Face config",
        )
    return build_model(spec, input_shapes=args.input_shape, device=args.device or "cpu",
                       seed=getattr(args, "seed", DEFAULT_SEED), dtype=getattr(args, "dtype", None),
                       require_weights=not getattr(args, "random_weights", True))


def read_config(config: str, *, cache: bool = True) -> Any:
    """Read and check CONFIG before any model is built: a rule file's syntax error or a bad
    key is reported at once, not after a model build and trace that can take seconds.

    ``cache`` (off with ``--no-cache``): a DSL file's or a ModelOpt list's compiled rules come
    from the compiled-rules cache (:mod:`qrt.frontends.rules_cache`) when this file was read
    before, with no parser or front end imported; else they are compiled and kept there."""
    from qrt.frontends import rules_cache
    from qrt.frontends.cached_source import cached_rule_source

    with rules_cache.using(cache):
        found = cached_rule_source(config) if cache else None
        if found is not None:
            return found
        from qrt.frontends.source import load_rule_source

        return load_rule_source(config)
