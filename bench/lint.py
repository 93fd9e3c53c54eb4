"""``qrt lint`` on the Llama-70B-shaped inventory: a shipped preset plus 100 user rules.

    python bench/lint.py [--runs 5]

Builds the 80-layer inventory on meta once and saves it (as `qrt inspect -o` does), writes 100
DSL rules of the kinds people write (per-layer module regexes, op types, quantizer globs,
a few mistakes), then times the whole command as CI runs it — a fresh process each run:
``qrt lint modelopt:NVFP4_DEFAULT_CFG rules.qrt --model inv.json``. Also timed: the static
lint alone, and an in-process breakdown (imports, inventory load, parse, checks). Target:
under 0.3 s for the whole process. No peer tool lints these configs, so the table compares
the phases with each other.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _rules() -> str:
    lines = [
        "include preset w8a8",
        "spec w4 = int4 per_block(128, axis=-1) qparam_calculator=static",
        "type Linear weight -> int8 per_channel",  # QRT001
        "type torch.nn.modules.linear.Linear input[0] -> float8_e4m3fn per_tensor",
    ]
    for i in range(80):
        if i % 4 == 0:
            lines.append(f"in name /model\\.layers\\.{i}\\.self_attn/ op linear weight -> w4")
        elif i % 4 == 1:
            lines.append(f"module /model\\.layers\\.{i}\\.mlp\\.(gate|up)_proj/ weight -> int8 per_channel(axis=0)")
        elif i % 4 == 2:
            lines.append(f'quantizer "model.layers.{i}.mlp.down_proj.*" -> off')
        else:
            lines.append(f"in name /model\\.layers\\.{i}/ op scaled_dot_product_attention output -> off")
    lines += [
        'quantizer "*[kv]_bmm_quantizer" -> float8_e4m3fn',
        "module /lm_head/ -> off priority (1)",
        "in type qrt.runtime.examples.LlamaMLP op mul input[*] -> int8",
        "op embedding weight -> int8 per_channel(axis=0)",
        "module /model.layers.\\d+.mlp.gate_proj/ -> off",  # QRT002
        "opname /linear_23/ -> off",  # QRT008, QRT020
    ]
    while len(lines) < 102:
        lines.append(f"module /model\\.layers\\.{len(lines) % 80}\\.post_attention_layernorm/ -> off")
    return "\n".join(lines) + "\n"


def _time(cmd: list[str], runs: int) -> tuple[float, int]:
    walls = []
    code = 0
    for _ in range(runs):
        t0 = time.perf_counter()
        done = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
        walls.append(time.perf_counter() - t0)
        code = done.returncode
        if code not in (0, 1):
            raise SystemExit(done.stderr)
    return statistics.median(walls), code


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--keep", action="store_true", help="keep the inventory and rules (path printed)")
    args = parser.parse_args()
    import torch

    from qrt.inventory.io import save_inventory
    from qrt.runtime.examples import LlamaConfig, TinyLlama
    from qrt.runtime.trace import trace_model

    tmp = Path(tempfile.mkdtemp(prefix="qrt-bench-lint-"))
    with torch.device("meta"):
        model = TinyLlama(LlamaConfig.llama_70b()).eval()
    inv = trace_model(model, (torch.randint(0, 128256, (1, 16), device="meta"),))
    inv_path = tmp / "llama70b.json"
    save_inventory(inv, inv_path)
    rules = tmp / "rules.qrt"
    rules.write_text(_rules())
    n_rules = sum(1 for line in rules.read_text().splitlines() if "->" in line)
    qrt = [sys.executable, "-m", "qrt", "lint"]
    rows = []
    wall, code = _time([*qrt, "modelopt:NVFP4_DEFAULT_CFG", str(rules), "--model", str(inv_path)], args.runs)
    rows.append(("preset + rules, --model inv.json", wall, code))
    wall, code = _time([*qrt, "modelopt:NVFP4_DEFAULT_CFG", str(rules)], args.runs)
    rows.append(("preset + rules, static", wall, code))
    wall, _ = _time([sys.executable, "-c", "pass"], args.runs)
    rows.append(("python -c pass (interpreter start)", wall, 0))

    # in-process breakdown (one run, this process: imports already warm are not counted)
    probe = (
        "import time; t0=time.perf_counter()\n"
        "from qrt.lint.run import lint; from qrt.inventory.io import load_inventory_file\n"
        "t1=time.perf_counter()\n"
        f"inv=load_inventory_file({str(inv_path)!r}); t2=time.perf_counter()\n"
        f"r=lint(['modelopt:NVFP4_DEFAULT_CFG', {str(rules)!r}]); t3=time.perf_counter()\n"
        f"r=lint(['modelopt:NVFP4_DEFAULT_CFG', {str(rules)!r}], inv); t4=time.perf_counter()\n"
        "print(f'{t1-t0:.3f} {t2-t1:.3f} {t3-t2:.3f} {t4-t3:.3f} {len(r.findings)}')\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT).stdout.split()
    print(f"{len(inv.sites)} sites, {n_rules} user rules + NVFP4_DEFAULT_CFG ({args.runs} runs, median)")
    print(f"{'what':<40} {'wall s':>7} {'exit':>5}")
    for what, wall, code in rows:
        print(f"{what:<40} {wall:7.3f} {code:>5}")
    print(
        f"in process: imports {out[0]} s, inventory load {out[1]} s, static lint {out[2]} s, "
        f"lint with model {out[3]} s, {out[4]} findings"
    )
    if args.keep:
        print(f"files kept in {tmp}")
    else:
        import shutil

        shutil.rmtree(tmp)


if __name__ == "__main__":
    main()
