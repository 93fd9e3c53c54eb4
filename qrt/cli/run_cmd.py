"""``qrt run CONFIG --model SPEC``: prepare, calibrate, and compare with the float model."""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from qrt.cli.common import add_debug_option, add_model_options

if TYPE_CHECKING:
    from qrt.frontends.source import RuleSource
    from qrt.inventory.model import Inventory
    from qrt.runtime.calibration import CalibrationData
    from qrt.runtime.quant.run import RunReport
    from qrt.runtime.sequential import SequentialModel
    from qrt.runtime.sources import BuiltModel

__all__ = ["register", "run"]


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "run",
        help="prepare a model under a config, calibrate it, and compare with the float model",
        description="Prepare the model for quantization under CONFIG (eager mode), calibrate on "
        "the example inputs and random batches like them, then print what was run, every "
        "quantizer and the output error against the float model (largest absolute error, "
        "cosine similarity). --seed fixes the random weights, inputs and batches: the same "
        "seed prints the same numbers.",
    )
    p.add_argument("config", metavar="CONFIG", help="a rule file, YAML config, quant_cfg list or modelopt:NAME")
    add_model_options(p)
    p.add_argument("--batches", type=_positive, default=None,
                   help="calibration batches: the example, then random ones like it (default 8; "
                   "with --calib, use --calib-samples)")
    p.add_argument(
        "--calib", metavar="FILE",
        help="calibrate on real samples instead of random batches: text (.txt, one sample per "
        "line; .jsonl, a text field per line) tokenized by the model folder's own tokenizer, or "
        "token ids (.safetensors, an integer tensor (samples, tokens)); the last sample is kept "
        "out of calibration for the comparison",
    )
    p.add_argument("--calib-samples", type=_positive, default=32, metavar="N",
                   help="samples drawn from --calib (with --seed; all when it holds fewer; default 32)")
    p.add_argument("--seq-len", type=_positive, default=512, metavar="N",
                   help="tokens per --calib sample at most (default 512)")
    p.add_argument("--calib-all-experts", action="store_true",
                   help="mixture-of-experts models: calibrate every expert on every token (the "
                   "outputs keep the model's own routing); without it an expert sees only the tokens "
                   "routed to it, and experts that saw none are warned about")
    p.add_argument(
        "--finalize", metavar="DIR",
        help="then finalize the model: real low-bit weights written to DIR (replacing a model qrt saved there before; safetensors shards + "
        "qrt-manifest.json; load with qrt.load_quantized, explain with `qrt explain DIR QUERY`), "
        "and print the sizes before and after",
    )
    p.add_argument(
        "--export", metavar="OUT",
        help="then write a deployable checkpoint to OUT (compressed-tensors: transformers and vLLM "
        "load it without qrt): the finalized weights, the model folder's config.json with its "
        "quantization_config, its tokenizer and generation config (like qrt export --hf-config)",
    )
    p.add_argument("--overwrite", action="store_true", help="with --export: write into a non-empty OUT")
    p.add_argument(
        "--sequential", action="store_true",
        help="Hugging Face checkpoint folders: calibrate and finalize one decoder layer at a time, each "
        "read from the safetensors files when its turn comes and packed before the next (the model "
        "itself on meta), so memory holds the packed weights and one float layer, not the float "
        "model; the results equal a run without it (docs/sequential.md)",
    )
    p.add_argument("--max-memory", type=_size_arg, metavar="SIZE",
                   help="run --sequential when the model's float weights are larger than SIZE (e.g. 8GiB, "
                   "500MB, 2e9), as they are when loaded whole")
    p.add_argument("--no-compare", action="store_true",
                   help="skip the comparison with the float model, and the float copy of the model it "
                   "needs (the model's size again in memory)")
    p.add_argument(
        "--random-weights", action="store_true",
        help="run a Hugging Face config that has no weights beside it on random weights, on "
        "purpose (without this, such a folder is an error: a model folder's run uses its "
        "safetensors checkpoint)",
    )
    p.add_argument(
        "--allow-low-coverage", action="store_true",
        help="run a config that quantizes less than half of the model's weight bytes although it "
        "switches weights on (lint QRT029), or whose own enabling rule selects no site (QRT020); "
        "without this, qrt run refuses it (exit 2) before building the model",
    )
    p.add_argument("--format", choices=("text", "json"), default="text")
    add_debug_option(p)
    p.set_defaults(run=run)


_UNITS = {"": 1, "b": 1, "k": 10**3, "kb": 10**3, "kib": 2**10, "m": 10**6, "mb": 10**6, "mib": 2**20,
          "g": 10**9, "gb": 10**9, "gib": 2**30, "t": 10**12, "tb": 10**12, "tib": 2**40}


def _size_arg(text: str) -> int:
    """``--max-memory``: bytes, with an optional unit (``8GiB``, ``500MB``, ``2e9``)."""
    import re

    match = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]*)?(?:e[0-9]+)?)\s*([a-zA-Z]*)\s*", text)
    unit = match.group(2).lower() if match else ""
    if match is None or unit not in _UNITS or float(match.group(1)) * _UNITS[unit] < 1:
        raise argparse.ArgumentTypeError(
            f"invalid size {text!r}: a positive number of bytes with an optional unit, e.g. 8GiB, 500MB, 2e9")
    return int(float(match.group(1)) * _UNITS[unit])


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"invalid count {text!r}: give a whole number of at least 1")
    return value


_KINDS = {"DslSource": "qrt rules", "HierarchicalSource": "hierarchical config",
          "WildcardSource": "ModelOpt quant_cfg list"}


def _heading(args: argparse.Namespace, source: RuleSource, built: BuiltModel, report: RunReport,
             calib: str | None = None) -> str:
    """What was run: the model (and how its weights came to be), the config and the runtime,
    and the calibration data, so that the table below it can be read and the run repeated."""
    from qrt.model_spec import parse_model_spec

    kind = parse_model_spec(args.model).kind
    source_kind = {"builtin": "built-in", "hf": "Hugging Face"}.get(kind, "factory")
    weights = str(built.info.get("weights", "random"))
    origin = f"{source_kind}, " + (f"random weights, seed {args.seed}" if weights == "random"
                                   else f"weights {weights}" if weights.startswith("from") else f"weights from its {weights}")
    dtype = built.info.get("dtype")
    model = (f"{args.model} ({type(built.model).__name__}, {origin}, {built.info.get('device', 'cpu')}"
             + (f", {dtype}" if dtype else "") + ")")
    mode = f"{report.mode} mode"
    if report.config_mode is not None and report.config_mode != report.mode:
        mode += f" (the config says {report.config_mode}; qrt run runs the eager runtime)"
    config = f"{args.config} ({_KINDS.get(type(source).__name__, 'config')}), {mode}"
    inputs = ", ".join(
        f"{i['key']}: {i['dtype']}[{', '.join(str(d) for d in i['shape'])}]" if isinstance(i["key"], str)
        else f"{i['dtype']}[{', '.join(str(d) for d in i['shape'])}]"
        for i in built.info.get("inputs", [])
    ) or "no tensors"
    rest = report.batches - 1
    calibration = f"{report.batches} batch{'es' if report.batches != 1 else ''} of {inputs}: the example input"
    if rest:
        calibration += f", then {rest} random batch{'es' if rest != 1 else ''} like it (seed {args.seed})"
    comparison = "one more random batch through the quantized and the float model"
    if calib is not None:
        calibration = calib
        comparison = ("the last sample, kept out of calibration," if report.held_out else "the one sample") \
            + " through the quantized and the float model"
    if report.cosine is None:
        comparison = "none (--no-compare: no float copy of the model was kept)"
    return (
        f"model:        {model}\n"
        f"config:       {config}: {report.quantizers} quantizers, {report.enabled} enabled\n"
        f"calibration:  {calibration}\n"
        f"comparison:   {comparison}\n\n"
    )


def run(args: argparse.Namespace) -> int:
    from qrt.cli.common import model_from_args, read_config

    if args.device == "meta":
        print("qrt run: error: --device meta has no weights to run; use cpu or cuda", file=sys.stderr)
        return 2
    if args.calib is not None and args.batches is not None:
        print("qrt run: error: --batches counts random batches; with --calib, say how many samples "
              "with --calib-samples", file=sys.stderr)
        return 2
    if args.calib is not None and not Path(args.calib).is_file():
        print(f"qrt run: error: --calib {args.calib}: no such file (a .txt, .jsonl or .safetensors "
              "file of samples)", file=sys.stderr)
        return 2
    from qrt.files import output_directory

    for flag, value in (("--finalize", args.finalize), ("--export", args.export)):
        if value is not None:  # a file, a device or a missing parent: refused before the model is built
            output_directory(value, what=f"{flag} directory")
    if args.export is not None and Path(args.export).exists() and any(Path(args.export).iterdir()) \
            and not args.overwrite:
        print(f"qrt run: error: --export {args.export}: the directory exists and is not empty (pass "
              "--overwrite, or a new directory)", file=sys.stderr)
        return 2
    source = read_config(args.config)  # a bad config fails before the model is built
    from qrt.api import resolve
    from qrt.cli.common import inventory_from_args
    from qrt.tools.coverage import coverage_of_plan, render_coverage

    inventory = inventory_from_args(args)  # on meta for a Hugging Face model: no weights read
    if not args.allow_low_coverage and _too_little(args, inventory):
        return 2
    coverage = coverage_of_plan(resolve(source, inventory))
    sequential = _sequential(args)
    built = sequential.built() if sequential is not None else model_from_args(args)
    from qrt.runtime.progress import bars_for
    from qrt.runtime.quant.run import run_config
    from qrt.runtime.quant.summary import LEGEND

    calib = _calibration(args, built) if args.calib is not None else None
    bars = bars_for(args.no_progress)
    with contextlib.ExitStack() as stack:
        finalize_dir = args.finalize
        if args.export is not None and finalize_dir is None:  # export reads a finalized model
            import tempfile

            finalize_dir = stack.enter_context(tempfile.TemporaryDirectory(prefix="qrt-finalized-"))
        if sequential is not None:
            from qrt.runtime.sequential import run_sequential

            report = run_sequential(source, sequential, batches=args.batches or 8, seed=args.seed,
                                    finalize_dir=finalize_dir, calibration=calib.samples if calib is not None else None,
                                    compare=not args.no_compare, all_experts=args.calib_all_experts, bars=bars)
        else:
            report = run_config(source, built.model, built.args, built.kwargs, batches=args.batches or 8,
                                seed=args.seed, finalize_dir=finalize_dir,
                                calibration=calib.samples if calib is not None else None,
                                compare=not args.no_compare, all_experts=args.calib_all_experts, bars=bars)
        exported = None
        if args.export is not None:
            with bars.step("exporting"):
                exported = _export(args, finalize_dir)
    if args.finalize is None and report.finalized is not None:
        report.finalized = None  # a scratch directory for --export, gone now
    if args.format == "json":
        print(json.dumps({
            "quantizers": report.quantizers, "enabled": report.enabled, "batches": report.batches,
            "max_abs_error": report.max_abs_error, "cosine": report.cosine,
            "model": args.model, "weights": built.info.get("weights"), "config": args.config,
            "mode": report.mode, "seed": args.seed,
            **({"calibration": calib.description} if calib is not None else {}),
            "inputs": built.info.get("inputs", []),
            **({"finalized": report.finalized} if report.finalized is not None else {}),
            **({"exported": exported} if exported is not None else {}),
            **({"routed_tokens": report.routed} if report.routed else {}),
            "weight_bytes": coverage.to_json(),  # "weights" says where the weights came from
        }, indent=1))
    else:
        sys.stdout.write(_heading(args, source, built, report, calib.description if calib is not None else None))
        sys.stdout.write(report.summary)
        if report.routed:
            from qrt.runtime.quant.run import render_routed

            sys.stdout.write("\n" + render_routed(report.routed))
        sys.stdout.write("\n" + render_coverage(coverage))
        sys.stdout.write("\n" + LEGEND)
        if report.cosine is not None and report.max_abs_error is not None:
            print(f"\noutput vs float model after {report.batches} calibration batches: "
                  f"max abs error {report.max_abs_error:.4g}, cosine {report.cosine:.6f}")
        if report.finalized is not None:
            print(_finalized_text(report.finalized))
        if exported is not None:
            print(f"exported to {args.export} ({exported['format']}): {exported['modules']} quantized Linear "
                  f"modules, files: {', '.join(exported['files'])}")
    return 0


def _sequential(args: argparse.Namespace) -> SequentialModel | None:
    """The checkpoint to run one layer at a time: with ``--sequential``, or with
    ``--max-memory`` when the float weights are larger than it; ``None``: run it whole."""
    if not args.sequential and args.max_memory is None:
        return None
    from qrt.errors import ModelSourceError
    from qrt.model_spec import parse_model_spec
    from qrt.runtime.sequential import load_sequential

    if not args.sequential and parse_model_spec(args.model).kind != "hf":
        return None  # only a checkpoint folder can be onloaded a layer at a time
    if args.device == "cuda":
        raise ModelSourceError("--sequential runs on the CPU (cuda is not supported with it yet)",
                               hint="drop --device cuda, or run without --sequential")
    loaded = load_sequential(args.model, dtype=args.dtype, input_shapes=args.input_shape, seed=args.seed)
    if not args.sequential and loaded.float_bytes <= args.max_memory:
        return None
    return loaded


def _too_little(args: argparse.Namespace, inventory: Inventory) -> bool:
    """The too-little guard (lint QRT029, and QRT020 on an enabling rule of the user's own
    file: :func:`qrt.lint.refusals.run_refusals`) on the model's inventory, before the
    model is built and its weights read: say why and refuse."""
    from qrt.lint.refusals import run_refusals

    refusals = run_refusals(args.config, inventory)
    if not refusals:
        return False
    print(f"qrt run: error: {args.config} would quantize too little of {args.model}:", file=sys.stderr)
    for f in refusals:
        where = ":".join(str(x) for x in (f.file, f.line, f.column) if x is not None)
        print(f"  {where}: {f.code}: {f.message}", file=sys.stderr)
    print("  fix the config (`qrt lint CONFIG --model SPEC` says more, `qrt report` draws the model), "
          "or pass --allow-low-coverage to run it anyway", file=sys.stderr)
    return True


def _export(args: argparse.Namespace, finalized: str) -> dict[str, object]:
    """``--export OUT``: the finalized model as compressed-tensors, with the model folder's
    config, tokenizer and generation config when the model is a Hugging Face one."""
    from qrt.model_spec import parse_model_spec
    from qrt.runtime.finalize.export import export_compressed_tensors

    spec = parse_model_spec(args.model)
    hf_config = spec.target if spec.kind == "hf" else None
    if hf_config is not None and not Path(hf_config).is_dir():
        hf_config = str(Path(hf_config).parent) if Path(hf_config).name == "config.json" else hf_config
    return export_compressed_tensors(finalized, args.export, hf_config=hf_config, overwrite=args.overwrite)


def _calibration(args: argparse.Namespace, built: BuiltModel) -> CalibrationData:
    """``--calib``'s samples, tokenized by the model folder's tokenizer (a Hugging Face
    folder, or the folder of its config.json)."""
    from qrt.model_spec import parse_model_spec
    from qrt.runtime.calibration import load_calibration

    spec = parse_model_spec(args.model)
    folder = None
    if spec.kind == "hf":
        folder = Path(spec.target) if Path(spec.target).is_dir() else Path(spec.target).parent
    vocab = getattr(getattr(built.model, "config", None), "vocab_size", None)
    return load_calibration(args.calib, samples=args.calib_samples, seq_len=args.seq_len, seed=args.seed,
                            tokenizer_dir=folder, vocab_size=vocab if isinstance(vocab, int) else None)


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
