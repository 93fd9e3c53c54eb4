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
    p.add_argument(
        "--finalize", metavar="DIR",
        help="then finalize the model: real low-bit weights written to DIR (replacing a model qrt saved there before; safetensors shards + "
        "qrt-manifest.json; load with qrt.load_quantized, explain with `qrt explain DIR QUERY`), "
        "and print the sizes before and after",
    )
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
                        progress=progress, finalize_dir=args.finalize)
    if progress is not None:
        print("\r\033[K", end="", file=sys.stderr, flush=True)
    if args.format == "json":
        print(json.dumps({
            "quantizers": report.quantizers, "enabled": report.enabled, "batches": report.batches,
            "max_abs_error": report.max_abs_error, "cosine": report.cosine,
            **({"finalized": report.finalized} if report.finalized is not None else {}),
        }, indent=1))
    else:
        sys.stdout.write(report.summary)
        print(f"\noutput vs float model after {report.batches} calibration batches: "
              f"max abs error {report.max_abs_error:.4g}, cosine {report.cosine:.6f}")
        if report.finalized is not None:
            print(_finalized_text(report.finalized))
    return 0


def _size(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024  # type: ignore[assignment]
    return ""  # pragma: no cover


def _finalized_text(f: dict) -> str:  # type: ignore[type-arg]
    lines = [
        f"finalized into {f['directory']}: {f['weights']} weights packed",
        f"  quantized weights: {_size(f['dense_weight_bytes'])} -> {_size(f['packed_weight_bytes'])} "
        f"({f['dense_weight_bytes'] / max(f['packed_weight_bytes'], 1):.2f}x smaller)",
        f"  checkpoint: float {_size(f['float_checkpoint_bytes'])} -> safetensors {_size(f['disk_bytes'])} "
        f"({f['float_checkpoint_bytes'] / max(f['disk_bytes'], 1):.2f}x smaller) + manifest {_size(f['manifest_bytes'])}",
        f"  finalized vs prepared output: max abs difference {f['max_abs_diff_vs_prepared']:.3g}",
    ]
    if f["kept_dense"]:
        lines.append(f"  kept dense (also read unquantized): {', '.join(f['kept_dense'])}")
    return "\n".join(lines)
