"""``qrt export``: a saved quantized model in a format other tools load.

``qrt export DIR --format compressed-tensors [-o OUT] [--hf-config PATH] [--weights-only]``
reads the directory ``qrt run --finalize`` / ``qrt.save_quantized`` wrote and writes a
Hugging Face checkpoint in the compressed-tensors format (vLLM, SGLang, transformers). Exit 0
when written, 2 for input the format cannot hold (the error names the site and the way out).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from qrt.cli.common import add_debug_option

__all__ = ["register", "run"]


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "export",
        help="write a saved quantized model in the compressed-tensors format",
        description="Read the quantized model saved in DIR (qrt run --finalize DIR, "
        "qrt.save_quantized) and write it as a Hugging Face checkpoint in the compressed-tensors "
        "format: packed weights and scales in safetensors, and config.json with its "
        "quantization_config (config groups, targets, ignore list).",
    )
    p.add_argument("directory", metavar="DIR", help="a saved quantized model (the directory with qrt-manifest.json)")
    p.add_argument("--format", choices=("compressed-tensors",), default="compressed-tensors",
                   help="the export format (default: compressed-tensors)")
    p.add_argument("-o", "--output", metavar="OUT", help="where to write (default: DIR.compressed-tensors beside DIR)")
    p.add_argument("--hf-config", metavar="PATH",
                   help="the model's Hugging Face config.json (or its directory): written with the "
                   "quantization_config added, so the export loads with from_pretrained")
    p.add_argument("--weights-only", action="store_true",
                   help="export the weights and leave activations in float where the format cannot "
                   "hold an activation quantizer (they are listed)")
    p.add_argument("--overwrite", action="store_true", help="write into a non-empty OUT")
    p.add_argument("--report", choices=("text", "json"), default="text", help="how to print what was written")
    add_debug_option(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from qrt.runtime.finalize.export import export_compressed_tensors

    source = Path(args.directory)
    named = source if source.name else source.resolve()  # `qrt export .`: named after the folder
    out = Path(args.output) if args.output else named.with_name((named.name or "model") + ".compressed-tensors")
    report = export_compressed_tensors(source, out, hf_config=args.hf_config, weights_only=args.weights_only,
                                       overwrite=args.overwrite)
    if args.report == "json":
        print(json.dumps({"output": str(out), **report}, indent=1))
        return 0
    print(f"wrote {out} ({report['format']}): {report['modules']} quantized Linear modules in "
          f"{report['groups']} config group(s), {len(report['ignore'])} ignored, files: {', '.join(report['files'])}")
    if report["activations_left_out"]:
        print(f"left in float (--weights-only): {len(report['activations_left_out'])} activation quantizer(s): "
              + ", ".join(report["activations_left_out"][:5]) + (" …" if len(report["activations_left_out"]) > 5 else ""),
              file=sys.stderr)
    return 0
