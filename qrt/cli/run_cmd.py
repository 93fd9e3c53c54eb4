"""``qrt run CONFIG --model SPEC``: prepare, calibrate, and compare with the float model."""

from __future__ import annotations

import argparse
import json
import sys

from qrt.cli.common import add_debug_option, add_model_options

__all__ = ["register", "run"]


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "run",
        help="prepare a model under a config, calibrate it, and compare with the float model",
        description="Prepare the model for quantization under CONFIG (eager mode), calibrate on "
        "the example inputs and random batches like them, then print every quantizer and the "
        "output error against the float model (largest absolute error, cosine similarity).",
    )
    p.add_argument("config", metavar="CONFIG", help="a rule file, YAML config, quant_cfg list or modelopt:NAME")
    add_model_options(p)
    p.add_argument("--batches", type=int, default=8, help="calibration batches (default 8)")
    p.add_argument("--seed", type=int, default=0, help="seed of the random batches")
    p.add_argument("--format", choices=("text", "json"), default="text")
    add_debug_option(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from qrt.model_spec import parse_model_spec
    from qrt.runtime.quant.run import run_config
    from qrt.runtime.sources import build_model

    spec = parse_model_spec(args.model)
    device = args.device or "cpu"
    if device == "meta":
        print("qrt run: error: --device meta has no weights to run; use cpu or cuda", file=sys.stderr)
        return 2
    built = build_model(spec, input_shapes=args.input_shape, device=device)
    from qrt.cli.common import progress_printer

    progress = progress_printer(args)
    report = run_config(args.config, built.model, built.args, built.kwargs, batches=args.batches, seed=args.seed,
                        progress=progress)
    if progress is not None:
        print("\r\033[K", end="", file=sys.stderr, flush=True)
    if args.format == "json":
        print(json.dumps({
            "quantizers": report.quantizers, "enabled": report.enabled, "batches": report.batches,
            "max_abs_error": report.max_abs_error, "cosine": report.cosine,
        }, indent=1))
    else:
        sys.stdout.write(report.summary)
        print(f"\noutput vs float model after {report.batches} calibration batches: "
              f"max abs error {report.max_abs_error:.4g}, cosine {report.cosine:.6f}")
    return 0
