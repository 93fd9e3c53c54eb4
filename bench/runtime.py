"""The eager runtime against ModelOpt 0.47 on tiny random Hugging Face Llamas, one thread.

    python bench/runtime.py [--runs 5]

1. Forward overhead of the fake-quantized model over the float model (hidden 256,
   intermediate 512, 8 layers, 8 heads, batch 4 × 128 tokens): qrt prepared with INT8 and FP8
   ModelOpt presets — as shipped, and with the norm weights the presets' ``*weight_quantizer``
   also reaches in qrt switched off, so the coverage equals ModelOpt's — beside ModelOpt's own
   ``mtq.quantize(model, CFG)`` fake-quant forward on the same model. Prepare/quantize times too.
2. ``set_quantizer_by_cfg`` on a prepared 64-layer tiny Llama (hidden 128, so that W4A8_AWQ_BETA's blocks of 128 fit) for INT8_DEFAULT,
   FP8_DEFAULT, W4A8_AWQ_BETA and the largest preset, beside ModelOpt's ``set_quantizer_by_cfg``
   on the same model converted by ModelOpt. Goal: at least 50× faster. "qrt 1st" is the first
   application of a list (it compiles the list's rules); later ones reuse them.
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
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402

import qrt  # noqa: E402
from qrt.frontends.wildcard.presets import load_modelopt_preset  # noqa: E402

NORMS_OFF = [{"quantizer_name": "*norm*", "enable": False}, {"quantizer_name": "*act_fn*", "enable": False}]


def _llama(layers: int, hidden: int, inter: int, heads: int) -> torch.nn.Module:
    import transformers

    cfg = transformers.LlamaConfig(vocab_size=1000, hidden_size=hidden, intermediate_size=inter,
                                   num_hidden_layers=layers, num_attention_heads=heads, num_key_value_heads=heads)
    torch.manual_seed(0)
    return transformers.LlamaForCausalLM(cfg).eval()


def _forward_time(model: torch.nn.Module, x: torch.Tensor, runs: int) -> float:
    with torch.no_grad():
        model(x, use_cache=False)
        times = []
        for _ in range(runs):
            t0 = time.perf_counter()
            model(x, use_cache=False)
            times.append(time.perf_counter() - t0)
    return statistics.median(times)


def _modelopt() -> Any:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import modelopt.torch.quantization as mtq
            from modelopt.torch.quantization import conversion
    except ImportError:
        return None
    return mtq, conversion


def _preset_list(name: str, extra: list[dict[str, Any]] = ()) -> list[dict[str, Any]]:  # type: ignore[assignment]
    return load_modelopt_preset(name).to_list(normalised=True) + list(extra)


def forward_overhead(runs: int, peer: Any) -> None:
    base = _llama(8, 256, 512, 8)
    x = torch.randint(0, 1000, (4, 128))
    float_s = _forward_time(base, x, runs)
    print(f"forward, hidden 256 × 8 layers, batch 4×128, 1 thread: float {float_s * 1e3:.1f} ms")
    print(f"{'runtime':<10} {'preset':<18} {'coverage':<22} {'quantizers':>10} {'prepare s':>9} {'fwd ms':>7} {'× float':>7}")
    for preset in ("INT8_DEFAULT_CFG", "FP8_DEFAULT_CFG"):
        for coverage, cfg in (("as shipped", _preset_list(preset)), ("ModelOpt's (no norms)", _preset_list(preset, NORMS_OFF))):
            model = copy.deepcopy(base)
            t0 = time.perf_counter()
            quantizer = qrt.Quantizer(model, cfg)
            quantizer.prepare((x,), example_kwargs={"use_cache": False})
            prepare_s = time.perf_counter() - t0
            with torch.no_grad(), quantizer.calibration_mode():
                model(x, use_cache=False)
            enabled = sum(1 for q in quantizer.quantizers() if q.enabled)
            fwd = _forward_time(model, x, runs)
            print(f"{'qrt':<10} {preset:<18} {coverage:<22} {enabled:>10} {prepare_s:9.3f} {fwd * 1e3:7.1f} {fwd / float_s:7.2f}")
        if peer is not None:
            mtq, _ = peer
            model = copy.deepcopy(base)
            t0 = time.perf_counter()
            with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                mtq.quantize(model, getattr(mtq, preset), lambda m: m(x, use_cache=False))
            prepare_s = time.perf_counter() - t0
            enabled = sum(1 for n, m in model.named_modules() if type(m).__name__ == "TensorQuantizer" and m.is_enabled)
            fwd = _forward_time(model, x, runs)
            print(f"{'ModelOpt':<10} {preset:<18} {'':<22} {enabled:>10} {prepare_s:9.3f} {fwd * 1e3:7.1f} {fwd / float_s:7.2f}")


def set_by_cfg(runs: int, peer: Any) -> None:
    base = _llama(64, 128, 256, 4)  # hidden 128: W4A8_AWQ_BETA blocks weights by 128
    x = torch.randint(0, 1000, (1, 16))
    model = copy.deepcopy(base)
    quantizer = qrt.Quantizer(model, "modelopt:INT8_DEFAULT_CFG")
    quantizer.prepare((x,), example_kwargs={"use_cache": False})
    theirs = None
    if peer is not None:
        _, conversion = peer
        theirs = copy.deepcopy(base)
        with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            conversion.replace_quant_module(theirs)
    largest = max(
        ("INT8_DEFAULT_CFG", "FP8_DEFAULT_CFG", "W4A8_AWQ_BETA_CFG", *qrt_presets()),
        key=lambda n: len(load_modelopt_preset(n)),
    )
    print(f"\nset_quantizer_by_cfg on a prepared 64-layer Llama (hidden 128), {len(quantizer.quantizers())} quantizers:")
    print(f"{'preset':<34} {'entries':>7} {'qrt 1st ms':>10} {'qrt ms':>8} {'ModelOpt ms':>12} {'speed-up':>9}")
    for name in ("INT8_DEFAULT_CFG", "FP8_DEFAULT_CFG", "W4A8_AWQ_BETA_CFG", largest):
        cfg = _preset_list(name)
        ours = []
        for _ in range(runs):
            t0 = time.perf_counter()
            qrt.set_quantizer_by_cfg(model, cfg)
            ours.append(time.perf_counter() - t0)
        row = f"{name:<34} {len(cfg):>7} {ours[0] * 1e3:10.2f} {statistics.median(ours) * 1e3:8.2f}"
        if theirs is not None:
            _, conversion = peer
            peer_times = []
            for _ in range(runs):
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    t0 = time.perf_counter()
                    conversion.set_quantizer_by_cfg(theirs, cfg)
                    peer_times.append(time.perf_counter() - t0)
            row += f" {statistics.median(peer_times) * 1e3:12.2f} {statistics.median(peer_times) / statistics.median(ours):8.1f}×"
        print(row)


def qrt_presets() -> list[str]:
    from qrt.frontends.wildcard.presets import available_modelopt_presets

    return available_modelopt_presets()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(1)
    warnings.simplefilter("ignore")
    peer = _modelopt()
    if peer is None:
        print("nvidia-modelopt is not installed: qrt's figures only (pip install nvidia-modelopt==0.47.0)")
    forward_overhead(args.runs, peer)
    set_by_cfg(args.runs, peer)


if __name__ == "__main__":
    main()
