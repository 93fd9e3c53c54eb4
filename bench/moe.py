"""Fused mixture-of-experts: forward overhead of fake-quantized experts, and packed size.

    python bench/moe.py [--hidden 256] [--experts 8] [--layers 2] [--tokens 128] [--full]

A random Hugging Face Mixtral (float32, top-2 routing, intermediate 2 × hidden), one thread.
For the experts implementations ``grouped_mm`` (transformers' default) and ``eager`` (the
per-expert loop) — and ``batched_mm`` (a gathered matrix per token: slow on CPU) with
``--full`` — the median forward time of

* the float model;
* qrt's fake-quantized model: every expert's matrix int4 per block of 32 and the experts'
  activations int8 per tensor (``op grouped_mm state`` / ``input[0]``), calibrated;
* the same finalized (packed int4 weights, dequantized on the fly);
* peer: ModelOpt 0.47's ``mtq.quantize`` with ``INT4_BLOCKWISE_WEIGHT_ONLY_CFG``-style
  experts (its fused-experts support runs the per-expert loop only; it forces ``eager``),
  where ModelOpt is installed;

and the packed bytes of the experts' weights against their bfloat16 bytes. ``--full`` also
runs ``batched_mm``, on a larger model (hidden 512, 16 experts, 4 layers, 512 tokens).
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import io
import statistics
import sys
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

RULES = "op grouped_mm state -> int4 per_block(32)\nop grouped_mm input[0] -> int8 per_tensor\n"


def _model(args: argparse.Namespace, implementation: str):  # type: ignore[no-untyped-def]
    import torch
    import transformers as T

    config = T.MixtralConfig(vocab_size=1024, hidden_size=args.hidden, intermediate_size=2 * args.hidden,
                             num_hidden_layers=args.layers, num_attention_heads=8, num_key_value_heads=8,
                             num_local_experts=args.experts, num_experts_per_tok=2, max_position_embeddings=4096)
    config._experts_implementation = implementation
    torch.manual_seed(0)
    return T.MixtralForCausalLM(config).eval()


def _time(model, ids, repeats: int) -> float:  # type: ignore[no-untyped-def]
    import torch

    times = []
    with torch.no_grad():
        model(ids)
        for _ in range(repeats):
            start = time.perf_counter()
            model(ids)
            times.append(time.perf_counter() - start)
    return statistics.median(times)


def _modelopt(model, ids):  # type: ignore[no-untyped-def]
    try:
        import modelopt.torch.quantization as mtq
    except ImportError:
        return None
    cfg = {"quant_cfg": [
        {"quantizer_name": "*", "enable": False},
        {"quantizer_name": "*experts*weight_quantizer", "cfg": {"num_bits": 4, "block_sizes": {-1: 32}}},
        {"quantizer_name": "*experts*input_quantizer", "cfg": {"num_bits": 8, "axis": None}},
    ], "algorithm": "max"}
    with contextlib.redirect_stdout(io.StringIO()):
        mtq.quantize(model, cfg, forward_loop=lambda m: m(ids))
    return model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--experts", type=int, default=8)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--tokens", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--full", action="store_true",
                        help="batched_mm too; hidden 512, 16 experts, 4 layers, 512 tokens, 5 repeats")
    args = parser.parse_args()
    if args.full:
        args.hidden, args.experts, args.layers, args.tokens, args.repeats = 512, 16, 4, 512, 5
    warnings.filterwarnings("ignore")
    import torch

    from qrt.api import parse_rules
    from qrt.runtime.quant.quantizer import Quantizer

    torch.set_num_threads(1)
    ids = torch.randint(0, 1024, (1, args.tokens))
    print(f"Mixtral: hidden {args.hidden}, {args.experts} experts (top 2), {args.layers} layers, "
          f"{args.tokens} tokens; median of {args.repeats} forwards, 1 thread", flush=True)
    rows = []
    sizes = None
    for implementation in ("grouped_mm", "batched_mm", "eager") if args.full else ("grouped_mm", "eager"):
        print(f"  {implementation} ...", file=sys.stderr, flush=True)
        model = _model(args, implementation)
        float_s = _time(model, ids, args.repeats)
        peer = _modelopt(copy.deepcopy(model), ids) if implementation == "eager" else None
        peer_s = _time(peer, ids, args.repeats) if peer is not None else None
        quantizer = Quantizer(model, parse_rules(RULES))
        quantizer.prepare((ids,))
        with torch.no_grad(), quantizer.calibration_mode():
            model(ids)
        fake_s = _time(model, ids, args.repeats)
        quantizer.finalize()
        final_s = _time(model, ids, args.repeats)
        report = quantizer.finalize_report
        sizes = (report["dense_bytes"], report["packed_bytes"])
        rows.append((implementation, float_s, fake_s, final_s, peer_s))
    print()
    print(f"{'implementation':<15} {'float ms':>9} {'qrt fake-quant':>15} {'qrt finalized':>14} {'ModelOpt fake-quant':>20}")
    for implementation, float_s, fake_s, final_s, peer_s in rows:
        peer = f"{peer_s * 1e3:8.1f} ({peer_s / float_s:.2f}x)" if peer_s is not None else "-"
        print(f"{implementation:<15} {float_s * 1e3:9.1f} {fake_s * 1e3:8.1f} ({fake_s / float_s:.2f}x)"
              f" {final_s * 1e3:7.1f} ({final_s / float_s:.2f}x) {peer:>20}")
    if sizes is not None:
        dense, packed = sizes
        print(f"\nexperts' weights: float32 {dense / 2**20:.2f} MiB, bfloat16 {dense / 2 / 2**20:.2f} MiB, "
              f"packed int4/32 {packed / 2**20:.2f} MiB ({packed / (dense / 2):.3f} of bfloat16)")


if __name__ == "__main__":
    main()
