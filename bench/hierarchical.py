"""Hierarchical config with many module-name regex keys on a Llama-70B-shaped inventory.

    python bench/hierarchical.py           # under a minute: 8 layers of the 70B shape, 100 keys
    python bench/hierarchical.py --full    # 80 layers (11,875 sites), 1,000 keys: many minutes
    python bench/hierarchical.py --layers 80 --keys 1000

Measures compiling the config into rules against the meta inventory, resolving it, and the
direct reading of the config per site (the oracle; what a config library without compilation
does per site) as the peer in the same run. The direct reading is the slow part: every site
tests every key's regex, so it grows with sites × keys.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _progress import progress  # noqa: E402  (bench/, the script's folder)

import torch  # noqa: E402

from qrt.frontends.hierarchical import ModuleQuantizerConfig, OpQuantizerConfig, QuantizerConfig  # noqa: E402
from qrt.frontends.hierarchical.compile import compile_config  # noqa: E402
from qrt.frontends.hierarchical.direct import read_site  # noqa: E402
from qrt.ir.spec import QuantizationSpec  # noqa: E402
from qrt.resolver.plan import resolve_inventory  # noqa: E402
from qrt.runtime.examples import LlamaConfig, TinyLlama  # noqa: E402
from qrt.runtime.trace import trace_model  # noqa: E402


def make_config(keys: int) -> QuantizerConfig:
    w4 = QuantizationSpec(dtype="int4", granularity={"type": "per_block", "block_size": 128})
    fp8 = QuantizationSpec(dtype="float8_e4m3fn")
    names = {}
    parts = ["self_attn", "mlp", "self_attn\\.(q|k|v)_proj", "mlp\\.(gate|up)_proj", "(input|post_attention)_layernorm"]
    for i in range(keys):
        layer = i % 80
        part = parts[(i // 80) % len(parts)]
        names[rf"model\.layers\.{layer}\.{part}"] = ModuleQuantizerConfig(
            op_input_spec={"*": fp8} if i % 2 else None,
            op_output_spec=None,
            op_state_spec={"weight": w4},
            op_type_config={"softmax": None},
            op_name_config={r"mul(_\d+)?": OpQuantizerConfig(op_input_spec=None, op_output_spec=None, op_state_spec=None)},
        )
    return QuantizerConfig(
        global_config=ModuleQuantizerConfig(op_state_spec={"weight": w4}, op_output_spec=None),
        module_name_configs=names,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--full", action="store_true", help="80 layers and 1,000 keys (many minutes)")
    parser.add_argument("--keys", type=int, help="module-name keys (default 100; --full 1000)")
    parser.add_argument("--layers", type=int, help="decoder layers of the 70B shape (default 8; --full 80)")
    args = parser.parse_args()
    keys = args.keys or (1000 if args.full else 100)
    layers = args.layers or (80 if args.full else 8)
    progress(f"tracing the 70B shape with {layers} layers on meta ...")
    with torch.device("meta"):
        model = TinyLlama(dataclasses.replace(LlamaConfig.llama_70b(), num_hidden_layers=layers)).eval()
    inv = trace_model(model, (torch.randint(0, 128256, (1, 16), device="meta"),))
    args.keys = keys
    progress(f"compiling {keys} keys against {len(inv.sites):,} sites ...")
    t0 = time.perf_counter()
    cfg = make_config(args.keys)
    build_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    rules = compile_config(cfg, inv).rules
    compile_s = time.perf_counter() - t0
    progress(f"resolving {len(rules):,} rules ...")
    t0 = time.perf_counter()
    plan = resolve_inventory(rules, inv)
    resolve_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    direct = []
    for i, s in enumerate(inv.sites):
        if i % 200 == 0:
            progress(f"direct reading (the peer): site {i:,} of {len(inv.sites):,} ...")
        direct.append(read_site(cfg, s, inv).spec)
    direct_s = time.perf_counter() - t0
    progress("")
    assert [d.spec for d in plan] == direct, "compiled rules disagree with the direct reading"
    quantized = sum(1 for d in plan if d.spec is not None)
    print(f"{'layers':>6} {'keys':>5} {'sites':>6} {'rules':>7} {'config s':>9} {'compile s':>10} {'resolve s':>10} {'direct-read s':>14} {'quantized':>10}")
    print(f"{layers:>6} {args.keys:>5} {len(inv.sites):>6} {len(rules):>7} {build_s:9.2f} {compile_s:10.2f} {resolve_s:10.2f} {direct_s:14.2f} {quantized:>10}")


if __name__ == "__main__":
    main()
