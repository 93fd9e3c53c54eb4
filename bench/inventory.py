"""Inventory a Llama-70B-shaped model on ``meta``: seconds, sites, memory; torch.export as peer.

    python bench/inventory.py            # 8- and 80-layer rows, export peer on 8 layers
    python bench/inventory.py --peer-layers 80   # also time torch.export on the full model

Shape: hidden 8192, 64 heads, 8 KV heads, intermediate 28672, vocab 128256 (Llama-3-70B).
The model is qrt's built-in Llama-style decoder built on ``meta``, so no weights exist; the
RSS column shows the process's resident memory growth during the trace (a 70B model's
weights would be ~140 GB in bf16). With ``transformers`` installed, the HF LlamaForCausalLM
of the same shape is measured too. The peer is ``torch.export.export`` on the same meta model:
the graph capture that graph-mode quantization starts from.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402

from qrt.runtime.examples import LlamaConfig, TinyLlama  # noqa: E402
from qrt.runtime.trace import trace_model  # noqa: E402


def rss_mb() -> float:
    """Current resident memory (Linux), in MiB."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def build_builtin(layers: int) -> torch.nn.Module:
    cfg = replace(LlamaConfig.llama_70b(), num_hidden_layers=layers)
    with torch.device("meta"):
        return TinyLlama(cfg).eval()


def build_hf(layers: int) -> torch.nn.Module | None:
    try:
        import transformers
    except ImportError:
        return None
    cfg = transformers.LlamaConfig(
        vocab_size=128256,
        hidden_size=8192,
        intermediate_size=28672,
        num_hidden_layers=layers,
        num_attention_heads=64,
        num_key_value_heads=8,
        rope_theta=500000.0,
    )
    with torch.device("meta"):
        return transformers.LlamaForCausalLM(cfg).eval()


def time_qrt(model: torch.nn.Module, hf: bool) -> tuple[float, int, int, float]:
    ids = torch.randint(0, 128256, (1, 16), device="meta")
    kwargs = {"use_cache": False} if hf else {}
    before = rss_mb()
    t0 = time.perf_counter()
    inv = trace_model(model, (ids,), kwargs)
    seconds = time.perf_counter() - t0
    return seconds, len(inv.sites), len(inv.ops), rss_mb() - before


def time_export(model: torch.nn.Module, hf: bool) -> float:
    ids = torch.randint(0, 128256, (1, 16), device="meta")
    kwargs = {"use_cache": False} if hf else {}
    t0 = time.perf_counter()
    with torch.no_grad():
        torch.export.export(model, (ids,), kwargs)
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--layers", type=int, nargs="+", default=[8, 80])
    parser.add_argument("--peer-layers", type=int, default=8, help="largest model the export peer runs on")
    args = parser.parse_args()
    torch.set_num_threads(1)
    rows = []
    for source in ("builtin", "hf"):
        for layers in args.layers:
            model = build_builtin(layers) if source == "builtin" else build_hf(layers)
            if model is None:
                continue
            hf = source == "hf"
            trace_model(model, (torch.randint(0, 10, (1, 4), device="meta"),), {"use_cache": False} if hf else {})  # warm
            seconds, sites, ops, rss = time_qrt(model, hf)
            peer = time_export(model, hf) if layers <= args.peer_layers else float("nan")
            params = sum(p.numel() for p in model.parameters())
            rows.append((source, layers, params / 1e9, ops, sites, seconds, rss, peer))
    print(f"{'model':<8} {'layers':>6} {'params':>8} {'ops':>7} {'sites':>7} {'qrt s':>8} {'ΔRSS MB':>8} {'export s':>9} {'ratio':>6}")
    for source, layers, params, ops, sites, seconds, rss, peer in rows:
        ratio = f"{peer / seconds:5.1f}x" if peer == peer else "   -"
        peer_s = f"{peer:9.2f}" if peer == peer else f"{'-':>9}"
        print(f"{source:<8} {layers:>6} {params:7.1f}B {ops:>7} {sites:>7} {seconds:8.2f} {rss:8.0f} {peer_s} {ratio:>6}")


if __name__ == "__main__":
    main()
