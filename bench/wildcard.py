"""ModelOpt's 39 presets on the Llama-70B-shaped inventory: qrt compile + resolve, and ModelOpt.

    python bench/wildcard.py                 # under a minute: 8 layers of the 70B shape
    python bench/wildcard.py --full          # 80 layers (11,875 sites): many minutes
    python bench/wildcard.py [--layers N] [--no-modelopt] [--no-oracle]

For each shipped preset (``rules/modelopt``): loading the YAML file, compiling it into rules,
resolving the meta inventory, and the literal loop over entries ×
quantizers (the oracle) — checked equal. The peer in the same run, where ``nvidia-modelopt``
is installed: its own ``set_quantizer_by_cfg`` on the same model (built on meta, quantized
modules swapped in once), which does what the resolver does for ModelOpt's own quantizers.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import statistics
import sys
import time
import warnings
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _progress import progress  # noqa: E402  (bench/, the script's folder)

import torch  # noqa: E402

from qrt.frontends.wildcard import reference_site_states  # noqa: E402
from qrt.frontends.wildcard.compile import compile_wildcard  # noqa: E402
from qrt.frontends.wildcard.presets import available_modelopt_presets, load_modelopt_preset  # noqa: E402
from qrt.frontends.wildcard.spec_map import attributes_from_spec  # noqa: E402
from qrt.resolver.plan import resolve_inventory  # noqa: E402
from qrt.runtime.examples import LlamaConfig, TinyLlama  # noqa: E402
from qrt.runtime.trace import trace_model  # noqa: E402


def _modelopt(layers: int) -> Any:
    """A meta 70B-shaped model with ModelOpt's quantizers swapped in, or None."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from modelopt.torch.quantization import conversion
    except ImportError:
        return None
    with torch.device("meta"):
        model = TinyLlama(_config(layers)).eval()
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        conversion.replace_quant_module(model)
    return conversion, model


def _config(layers: int) -> LlamaConfig:
    import dataclasses

    return dataclasses.replace(LlamaConfig.llama_70b(), num_hidden_layers=layers)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--full", action="store_true", help="the 80-layer model (many minutes)")
    parser.add_argument("--layers", type=int, help="decoder layers of the 70B shape (default 8; --full 80)")
    parser.add_argument("--no-modelopt", action="store_true", help="skip the ModelOpt peer")
    parser.add_argument("--no-oracle", action="store_true", help="skip the literal-loop check")
    args = parser.parse_args()
    args.layers = args.layers or (80 if args.full else 8)
    progress(f"tracing {args.layers} layers on meta ...")
    with torch.device("meta"):
        model = TinyLlama(_config(args.layers)).eval()
    inv = trace_model(model, (torch.randint(0, 128256, (1, 16), device="meta"),))
    progress("building the ModelOpt peer ..." if not args.no_modelopt else "")
    peer = None if args.no_modelopt else _modelopt(args.layers)
    progress("")
    header = f"{'preset':<38} {'entries':>7} {'load ms':>8} {'compile ms':>10} {'resolve ms':>10} {'oracle s':>8} {'quantized':>9}"
    if peer:
        header += f" {'modelopt ms':>11}"
    print(f"{len(inv.sites)} sites, {args.layers} layers")
    print(header, flush=True)
    totals: dict[str, list[float]] = {"resolve": [], "modelopt": [], "compile": []}
    for name in available_modelopt_presets():
        progress(f"{name} ...")
        t0 = time.perf_counter()
        config = load_modelopt_preset(name)
        load_ms = (time.perf_counter() - t0) * 1e3
        t0 = time.perf_counter()
        rules = compile_wildcard(config)
        compile_ms = (time.perf_counter() - t0) * 1e3
        t0 = time.perf_counter()
        plan = resolve_inventory(rules, inv)
        resolve_ms = (time.perf_counter() - t0) * 1e3
        oracle = "-"
        if not args.no_oracle:
            t0 = time.perf_counter()
            want = reference_site_states(config, inv.sites)
            oracle = f"{time.perf_counter() - t0:.2f}"
            for d in plan.decisions:
                got = {"enable": d.state.enabled, "attributes": attributes_from_spec(d.state.spec)}
                assert got == want[d.site.quantizer_path], f"{name}: {d.site.quantizer_path}"
        quantized = sum(1 for d in plan.decisions if d.spec is not None)
        row = f"{name:<38} {len(config):>7} {load_ms:8.1f} {compile_ms:10.1f} {resolve_ms:10.1f} {oracle:>8} {quantized:>9}"
        totals["resolve"].append(resolve_ms)
        totals["compile"].append(compile_ms)
        if peer:
            conversion, qmodel = peer
            cfg = config.to_list(normalised=True)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                t0 = time.perf_counter()
                conversion.set_quantizer_by_cfg(qmodel, cfg)
                modelopt_ms = (time.perf_counter() - t0) * 1e3
            totals["modelopt"].append(modelopt_ms)
            row += f" {modelopt_ms:11.1f}"
        progress("")
        print(row, flush=True)
    summary = (
        f"median: compile {statistics.median(totals['compile']):.1f} ms, "
        f"resolve {statistics.median(totals['resolve']):.1f} ms"
    )
    if totals["modelopt"]:
        summary += f", ModelOpt set_quantizer_by_cfg {statistics.median(totals['modelopt']):.1f} ms"
    print(summary)


if __name__ == "__main__":
    main()
