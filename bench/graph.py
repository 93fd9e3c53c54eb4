"""Graph mode against eager mode: export + prepare time and forward overhead, one thread.

    python bench/graph.py [--runs 5]

On the built-in CNN (W8A8, the hierarchical default) and a tiny random HF Llama (hidden 256,
intermediate 512, 8 layers, batch 4 × 128; INT8_DEFAULT_CFG as a hierarchical-free list run in
both modes): prepare time, fake-quant forward time over the float model's, and the number of
quantizers each mode places (graph mode fuses, shares and de-duplicates).
"""

from __future__ import annotations

import argparse
import copy
import statistics
import sys
import time
import warnings
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402

from qrt.frontends.hierarchical import ExecutionMode, QuantizerConfig  # noqa: E402
from qrt.runtime.quant.quantizer import Quantizer  # noqa: E402


def _time(fn: Any, runs: int) -> float:
    with torch.no_grad():
        fn()
        times = []
        for _ in range(runs):
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
    return statistics.median(times)


def _row(label: str, model: torch.nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any], runs: int) -> None:
    float_s = _time(lambda: model(*args, **kwargs), runs)
    for mode in ("eager", "graph"):
        m = copy.deepcopy(model)
        q = Quantizer(m, QuantizerConfig(execution_mode=ExecutionMode(mode)))
        t0 = time.perf_counter()
        prepared = q.prepare(args, example_kwargs=kwargs or None)
        prepare_s = time.perf_counter() - t0
        with torch.no_grad(), q.calibration_mode():
            prepared(*args, **kwargs)
        fwd = _time(lambda: prepared(*args, **kwargs), runs)  # noqa: B023 - timed here, in this iteration
        print(f"{label:<26} {mode:<6} {len(q.quantizers()):>10} {prepare_s:9.3f} {fwd * 1e3:8.2f} {fwd / float_s:8.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(1)
    warnings.simplefilter("ignore")
    print(f"{'model (W8A8)':<26} {'mode':<6} {'quantizers':>10} {'prepare s':>9} {'fwd ms':>8} {'× float':>8}")
    from qrt.runtime.examples import EXAMPLES

    cnn = EXAMPLES["cnn"]
    torch.manual_seed(0)
    _row("built-in cnn", cnn.build().eval(), cnn.inputs((8, 3, 32, 32), "cpu"), {}, args.runs)
    try:
        import transformers
    except ImportError:
        return
    cfg = transformers.LlamaConfig(vocab_size=1000, hidden_size=256, intermediate_size=512, num_hidden_layers=8,
                                   num_attention_heads=8, num_key_value_heads=8)
    torch.manual_seed(0)
    llama = transformers.LlamaForCausalLM(cfg).eval()
    _row("HF Llama 8×256, 4×128", llama, (torch.randint(0, 1000, (4, 128)),), {"use_cache": False}, args.runs)


if __name__ == "__main__":
    main()
