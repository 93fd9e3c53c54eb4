"""Finalize: time, sizes on disk, mmap load against a full read, and peak memory.

    python bench/finalize.py [--layers 8] [--hidden 1024]

A random Hugging Face Llama (float32; vocab 32000, intermediate 2.75 × hidden, 8 heads), one
thread. Every measurement runs in a fresh interpreter so its peak RSS (``ru_maxrss``) is its
own:

1. **finalize** — prepare with weight-only specs (int8 per channel, int4 per block of 128,
   NVFP4-style fp4 with e4m3 block scales, MXFP4), then ``Quantizer.finalize()`` in memory and
   ``finalize(mmap_dir=...)`` to disk: seconds, peak RSS against the float model's own bytes
   (a finalize that held two dense copies would show ≥ 2×), and the safetensors bytes against
   the float32 and bfloat16 checkpoints of the same model. Peer: torchao's ``quantize_`` with
   ``Int8WeightOnlyConfig`` (real int8 weights, in memory) on the same model.
2. **load** — ``qrt.load_quantized`` into a meta-device model (memory-mapped: nothing read
   until used) against the same load followed by reading every tensor once (a full read), and
   against loading the bfloat16 checkpoint with ``safetensors.torch.load_file``: seconds and
   RSS after loading.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

SPECS = {
    "int8": "int8 per_channel(axis=0) qparam_calculator=static",
    "int4/128": "int4 per_block(128, axis=-1) qparam_calculator=static",
    "nvfp4": "float4_e2m1fn_x2 per_block(16, axis=-1) scale_dtype=float8_e4m3fn",
    "mxfp4": "float4_e2m1fn_x2 per_block(32, axis=-1) scale_dtype=float8_e8m0fnu",
}

PRELUDE = r"""
import json, resource, sys, time, warnings
sys.path.insert(0, {root!r})
warnings.filterwarnings("ignore")
import torch, transformers
torch.set_num_threads(1)
cfg = transformers.LlamaConfig(vocab_size=32000, hidden_size={hidden}, intermediate_size={inter},
                               num_hidden_layers={layers}, num_attention_heads=8, num_key_value_heads=8)
def rss_mb():
    return int(open("/proc/self/statm").read().split()[1]) * 4096 / 2**20
def reset_peak():
    # Linux: writing 5 to clear_refs resets the peak RSS (VmHWM), so a peak is one phase's own
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
def peak_mb():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
def build():
    torch.manual_seed(0)
    return transformers.LlamaForCausalLM(cfg).eval()
"""

FINALIZE = PRELUDE + r"""
import qrt
model = build()
dense = sum(t.numel() * t.element_size() for t in model.state_dict().values()) / 2**20
inputs = (torch.randint(0, 32000, (1, 16)),)
q = qrt.Quantizer(model, qrt.parse_rules("op linear weight -> {spec}\n"))
q.prepare(inputs)
import gc; gc.collect()
base = rss_mb()
reset_peak()
t0 = time.perf_counter()
q.finalize({args})
seconds = time.perf_counter() - t0
largest = max(p.numel() * p.element_size() for p in build().parameters()) / 2**20
print(json.dumps({{"seconds": seconds, "peak_mb": peak_mb(), "before_mb": base, "dense_mb": dense,
                  "after_mb": rss_mb(), "largest_mb": largest}}))
"""

TORCHAO = PRELUDE + r"""
from torchao.quantization import Int8WeightOnlyConfig, quantize_
model = build()
dense = sum(t.numel() * t.element_size() for t in model.state_dict().values()) / 2**20
base = rss_mb()
reset_peak()
t0 = time.perf_counter()
quantize_(model, Int8WeightOnlyConfig())
seconds = time.perf_counter() - t0
largest = max(p.numel() * p.element_size() for p in build().parameters()) / 2**20
print(json.dumps({{"seconds": seconds, "peak_mb": peak_mb(), "before_mb": base, "dense_mb": dense, "after_mb": rss_mb(),
                  "largest_mb": largest}}))
"""

LOAD = r"""
import qrt
with torch.device("meta"):
    model = build()
base = rss_mb()
reset_peak()
t0 = time.perf_counter()
qrt.load_quantized({directory!r}, model)
if {full}:
    total = 0.0
    for t in list(model.parameters()) + list(model.buffers()):
        total += float(t.float().sum()) if t.numel() else 0.0
    for m in model.modules():
        packed = m.__dict__.get("packed")
        if packed is not None:
            for t in packed.tensors().values():
                total += float(t.reshape(-1).view(torch.uint8).sum())
seconds = time.perf_counter() - t0
print(json.dumps({{"seconds": seconds, "rss_mb": rss_mb() - base, "peak_mb": peak_mb() - base}}))
"""

LOAD_DENSE = r"""
from safetensors.torch import load_file
base = rss_mb()
reset_peak()
t0 = time.perf_counter()
state = load_file({path!r})
if {full}:
    total = sum(float(t.float().sum()) for t in state.values())
seconds = time.perf_counter() - t0
print(json.dumps({{"seconds": seconds, "rss_mb": rss_mb() - base, "peak_mb": peak_mb() - base}}))
"""

SAVE_DENSE = r"""
from safetensors.torch import save_file
model = build()
state = {{k: v.detach().to({dtype}).contiguous() for k, v in model.state_dict().items()}}
state.pop("lm_head.weight", None) if cfg.tie_word_embeddings else None
save_file(state, {path!r})
"""


def _run(code: str) -> dict:  # type: ignore[type-arg]
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    if done.returncode:
        raise SystemExit(done.stderr[-3000:])
    lines = done.stdout.strip().splitlines()
    return json.loads(lines[-1]) if lines else {}


def _row(label: str, r: dict) -> str:  # type: ignore[type-arg]
    extra = r["peak_mb"] - r["before_mb"]
    return (f"{label} {r['seconds']:7.2f} {extra:8.0f}MB {extra / r['dense_mb']:6.2f}x {extra / r['largest_mb']:7.2f}x "
            f"{r['after_mb'] - r['before_mb']:6.0f}MB")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--layers", type=int, default=8)
    ap.add_argument("--hidden", type=int, default=1024)
    a = ap.parse_args()
    fmt = {"root": str(ROOT), "hidden": a.hidden, "inter": int(a.hidden * 2.75) // 128 * 128, "layers": a.layers}
    prelude = PRELUDE.format(**fmt)
    work = Path(tempfile.mkdtemp(prefix="qrt-bench-finalize-"))
    sizes = {}
    for name, dtype in (("fp32", "torch.float32"), ("bf16", "torch.bfloat16")):
        path = work / f"{name}.safetensors"
        _run(prelude + SAVE_DENSE.format(dtype=dtype, path=str(path)))
        sizes[name] = path.stat().st_size

    print(f"model: Llama, {a.layers} layers, hidden {a.hidden}, float32 checkpoint {sizes['fp32'] / 2**20:.0f} MiB, "
          f"bfloat16 {sizes['bf16'] / 2**20:.0f} MiB; one thread\n")
    print("1. finalize (weight-only, every Linear)")
    print("   extra peak: RSS high-water mark during finalize minus RSS before it (MiB, and as a multiple")
    print("   of the float model and of its largest weight); change: RSS after minus before")
    print(f"{'format':10} {'where':7} {'seconds':>7} {'extra peak':>10} {'/model':>7} {'/largest':>8} {'change':>8} "
          f"{'on disk':>8} {'vs fp32':>7} {'vs bf16':>7}")
    saved = {}
    for name, spec in SPECS.items():
        for where in ("memory", "mmap"):
            directory = work / f"{name.replace('/', '_')}"
            args = f"mmap_dir={str(directory)!r}" if where == "mmap" else ""
            r = _run(FINALIZE.format(**fmt, spec=spec, args=args))
            disk = ""
            ratio32 = ratio16 = ""
            if where == "mmap":
                on_disk = sum(f.stat().st_size for f in directory.glob("*.safetensors"))
                disk = f"{on_disk / 2**20:.0f} MiB"
                ratio32 = f"{sizes['fp32'] / on_disk:.2f}x"
                ratio16 = f"{sizes['bf16'] / on_disk:.2f}x"
                saved[name] = directory
            print(_row(f"{name:10} {where:7}", r) + f" {disk:>8} {ratio32:>7} {ratio16:>7}")
    r = _run(TORCHAO.format(**fmt))
    print(_row(f"{'torchao int8':10} {'memory':7}", r) + "   (peer: quantize_(Int8WeightOnlyConfig()))")

    print("\n2. load (into a meta-device model)")
    print(f"{'what':34} {'seconds':>8} {'RSS added':>10} {'peak added':>10}")
    for name in ("int4/128", "nvfp4"):
        for full in (False, True):
            r = _run(prelude + LOAD.format(directory=str(saved[name]), full=full))
            label = f"{name} load_quantized" + (" + full read" if full else " (mmap)")
            print(f"{label:34} {r['seconds']:8.3f} {r['rss_mb']:8.0f}MB {r['peak_mb']:8.0f}MB")
    for full in (False, True):
        r = _run(prelude + LOAD_DENSE.format(path=str(work / "bf16.safetensors"), full=full))
        label = "bf16 load_file (peer)" + (" + full read" if full else "")
        print(f"{label:34} {r['seconds']:8.3f} {r['rss_mb']:8.0f}MB {r['peak_mb']:8.0f}MB")
    print(f"\n(files under {work})")


if __name__ == "__main__":
    main()
