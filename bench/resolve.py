"""Resolver speed: sites/second against site and rule counts, and the 70B-shaped plan.

    python bench/resolve.py            # under a minute: 10^3..10^4 sites, 10..10^3 rules, 70B shape
    python bench/resolve.py --full     # the full grid (10^3..10^6 sites, 10..10^4 rules): many minutes

Table 1 — synthetic sites (a Llama-like naming scheme, 24 op kinds per layer) and rule sets
of a realistic mix (op-type/role/key equalities, module-name regexes, quantizer-path globs,
scope predicates, patches). ``warm`` resolves a second site set of the same model shape
with the resolver already built (indexes and memo tables filled); ``cold`` includes
building it. The peers, same rules and sites, on a sample (10^3 sites, fewer for big rule sets): the literal docs/semantics.md
§2 fold (``reference``, every rule tested per site), and a ModelOpt-style loop — for each
entry, ``fnmatch`` every quantizer name (what ``set_quantizer_by_cfg`` does) — run on the
path-glob rules alone.

Table 2 — the 80-layer Llama-70B shape on meta: trace, resolve and explain-all times.
"""

from __future__ import annotations

import argparse
import fnmatch
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _progress import progress  # noqa: E402  (bench/, the script's folder)

from qrt.ir.effect import Off, Patch, Set  # noqa: E402
from qrt.ir.rule import Rule, RuleSet  # noqa: E402
from qrt.ir.selector import ScopeMatch, Selector  # noqa: E402
from qrt.ir.site import Site  # noqa: E402
from qrt.ir.spec import QuantizationSpec  # noqa: E402
from qrt.resolver.fast import FastResolver  # noqa: E402
from qrt.resolver.reference import resolve_reference  # noqa: E402

OPS = [("q_proj", "linear"), ("k_proj", "linear"), ("v_proj", "linear"), ("o_proj", "linear"),
       ("gate_proj", "linear"), ("up_proj", "linear"), ("down_proj", "linear")]
LAYER_T = "pkg.DecoderLayer"
ATTN_T = "pkg.Attention"
LIN_T = "torch.nn.modules.linear.Linear"


def synthetic_sites(n: int, tag: str = "") -> list[Site]:
    """``n`` sites of a deep decoder: per layer, 7 linears × (input, weight, output) + others."""
    sites: list[Site] = []
    layer = 0
    root = ("", "pkg.Model")
    while len(sites) < n:
        lname = f"model{tag}.layers.{layer}"
        lscope = (root, (lname, LAYER_T))
        for mod, op in OPS:
            parent = "self_attn" if mod.endswith("proj") and mod[0] in "qkvo" else "mlp"
            pname = f"{lname}.{parent}"
            name = f"{pname}.{mod}"
            scope = (*lscope, (pname, ATTN_T if parent == "self_attn" else "pkg.MLP"), (name, LIN_T))
            opn = f"{name}.{op}"
            for role, key, q in (("input", 0, "input_quantizer"), ("state", "weight", "weight_quantizer"),
                                 ("output", 0, "output_quantizer")):
                sites.append(Site(f"{name}.{q}", scope, role, key, op, opn, tensor=f"{opn}:{role}"))
        for op in ("add", "mul", "softmax", "matmul", "silu", "cat"):
            opn = f"{lname}.{op}"
            for k in (0, 1):
                sites.append(Site(f"{opn}.input_quantizer_{k}", lscope, "input", k, op, opn, tensor=f"{opn}:{k}"))
        layer += 1
    return sites[:n]


def synthetic_rules(n: int, seed: int = 0) -> RuleSet:
    rnd = random.Random(seed)
    specs = [QuantizationSpec(dtype="int8"), QuantizationSpec(dtype="int4", granularity={"type": "per_block", "block_size": 32}),
             QuantizationSpec(dtype="float8_e4m3fn")]
    makers = [
        lambda: Selector(op_type=rnd.choice(["linear", "add", "mul", "softmax", "matmul"]), role=rnd.choice(["input", "state", "output"])),
        lambda: Selector(module_name=rf"model\.layers\.{rnd.randrange(80)}\..*"),
        lambda: Selector(quantizer_path=f"*layers.{rnd.randrange(80)}.*{rnd.choice(['q', 'k', 'v', 'o'])}_proj*"),
        lambda: Selector(scope=ScopeMatch(type=rnd.choice([ATTN_T, "pkg.MLP"])), op_type="linear", key="weight"),
        lambda: Selector(op_name=rf".*\.layers\.{rnd.randrange(80)}\.(add|mul)"),
        lambda: Selector(role="state", key="weight", module_type=LIN_T),
    ]
    effects = [lambda: Set(rnd.choice(specs)), lambda: Off(), lambda: Patch(enable=rnd.random() < 0.5),
               lambda: Patch(fields={"dtype": "int4"})]
    return RuleSet.of(Rule(rnd.choice(makers)(), rnd.choice(effects)(), (rnd.randrange(3),)) for _ in range(n))


def modelopt_style_loop(rules: RuleSet, sites: list[Site]) -> None:
    """For each entry, fnmatch every quantizer name: ModelOpt's set_quantizer_by_cfg loop."""
    state: dict[str, object] = {}
    for rule in rules:
        pattern = rule.selector.quantizer_path
        if pattern is None:
            continue
        for s in sites:
            if fnmatch.fnmatch(s.quantizer_path, pattern):
                state[s.quantizer_path] = rule.effect


def table_synthetic(site_counts: list[int], rule_counts: list[int]) -> None:
    print("Synthetic sites (sites/s; warm = resolver already built and memo tables filled)")
    print(f"{'rules':>6} {'sites':>8} {'cold s':>8} {'warm s':>8} {'warm sites/s':>13} {'reference sites/s':>18} {'modelopt-loop sites/s':>22}",
          flush=True)
    for r in rule_counts:
        rules = synthetic_rules(r)
        for n in site_counts:
            progress(f"resolving {n:,} sites with {r:,} rules ...")
            sites = synthetic_sites(n)
            t0 = time.perf_counter()
            res = FastResolver(rules)
            res.resolve(sites)
            cold = time.perf_counter() - t0
            t0 = time.perf_counter()
            res.resolve(sites)
            warm = time.perf_counter() - t0
            sample = sites[: max(100, min(1000, 100_000 // r))]  # the literal fold is slow: ~1/rules
            t0 = time.perf_counter()
            resolve_reference(rules, sample)
            ref = len(sample) / (time.perf_counter() - t0)
            t0 = time.perf_counter()
            modelopt_style_loop(rules, sample)
            loop = len(sample) / max(time.perf_counter() - t0, 1e-9)
            progress("")
            print(f"{r:>6} {n:>8} {cold:8.3f} {warm:8.3f} {n / warm:13,.0f} {ref:18,.0f} {loop:22,.0f}", flush=True)


def table_70b() -> None:
    import torch

    from qrt.resolver.explain import explain_decision
    from qrt.resolver.plan import resolve_inventory
    from qrt.runtime.examples import LlamaConfig, TinyLlama
    from qrt.runtime.trace import trace_model

    with torch.device("meta"):
        model = TinyLlama(LlamaConfig.llama_70b()).eval()
    ids = torch.randint(0, 128256, (1, 16), device="meta")
    progress("tracing the 70B shape on meta ...")
    t0 = time.perf_counter()
    inv = trace_model(model, (ids,))
    trace_s = time.perf_counter() - t0
    w4 = QuantizationSpec(dtype="int4", granularity={"type": "per_block", "block_size": 128})
    rules = RuleSet.of([
        Rule(Selector(op_type="linear", role="state", key="weight"), Set(w4)),
        Rule(Selector(op_type="linear", role="input"), Set(QuantizationSpec(dtype="float8_e4m3fn"))),
        Rule(Selector(quantizer_path="*[kv]_bmm_quantizer"), Set(QuantizationSpec(dtype="float8_e4m3fn"))),
        Rule(Selector(module_name=r"model\.layers\.(0|79)\..*"), Off()),
        Rule(Selector(module_name="lm_head"), Off()),
    ])
    progress("resolving, writing the plan, explaining every site ...")
    t0 = time.perf_counter()
    plan = resolve_inventory(rules, inv)
    resolve_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    plan.to_json()
    json_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    for d in plan:
        explain_decision(d, inv)
    explain_s = time.perf_counter() - t0
    progress("")
    print()
    print("Llama-70B shape (80 layers, meta)")
    print(f"{'sites':>7} {'trace s':>8} {'resolve s':>10} {'plan json s':>12} {'explain-all s':>14}")
    print(f"{len(inv.sites):>7} {trace_s:8.2f} {resolve_s:10.3f} {json_s:12.3f} {explain_s:14.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--full", action="store_true", help="the full grid, up to 10^6 sites and 10^4 rules (many minutes)")
    parser.add_argument("--quick", action="store_true", help="(the default now; kept for old command lines)")
    parser.add_argument("--no-70b", action="store_true")
    args = parser.parse_args()
    if args.full:
        table_synthetic([1_000, 10_000, 100_000, 1_000_000], [10, 100, 1_000, 10_000])
    else:
        table_synthetic([1_000, 10_000], [10, 100, 1_000])
    if not args.no_70b:
        table_70b()


if __name__ == "__main__":
    main()
