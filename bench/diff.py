"""``qrt diff`` of two plans of the Llama-70B-shaped model, timed as CI runs it.

    python bench/diff.py [--runs 5]

Resolves two ModelOpt presets (FP8_DEFAULT_CFG, NVFP4_DEFAULT_CFG) and a one-character edit
of a DSL rule file on the 80-layer meta inventory (11,875 sites), writes the plans as
``qrt resolve -o`` does, then times fresh processes: ``qrt diff planA planB`` (goal: under a
second, no torch), ``qrt diff A B --model inv.json`` (both resolved in the run), ``qrt lock
--check``, and the same diff through ``git diff --no-index`` of the two plan files as the peer
a reviewer would otherwise use (line-based, no grouping).
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _time(cmd: list[str], runs: int, ok: tuple[int, ...] = (0, 1)) -> tuple[float, str]:
    walls, out = [], ""
    for _ in range(runs):
        t0 = time.perf_counter()
        done = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
        walls.append(time.perf_counter() - t0)
        if done.returncode not in ok:
            raise SystemExit(f"{cmd}: exit {done.returncode}\n{done.stderr}")
        out = done.stdout
    return statistics.median(walls), out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    import torch

    from qrt.api import resolve
    from qrt.inventory.io import save_inventory
    from qrt.runtime.examples import LlamaConfig, TinyLlama
    from qrt.runtime.trace import trace_model
    from qrt.sealed_json import dumps_sealed
    from qrt.tools.lock import lock_text

    tmp = Path(tempfile.mkdtemp(prefix="qrt-bench-diff-"))
    try:
        with torch.device("meta"):
            model = TinyLlama(LlamaConfig.llama_70b()).eval()
        inv = trace_model(model, (torch.randint(0, 128256, (1, 16), device="meta"),))
        inv_path = tmp / "llama70b.json"
        save_inventory(inv, inv_path)
        plans = {}
        for name in ("FP8_DEFAULT_CFG", "NVFP4_DEFAULT_CFG"):
            plans[name] = tmp / f"{name}.json"
            plans[name].write_text(dumps_sealed(resolve(f"modelopt:{name}", inv).to_json()))
        rules = tmp / "rules.qrt"
        rules.write_text("include preset w8a8\nmodule /model\\.layers\\.[0-3]\\..*/ -> off\n")
        lock = tmp / "plan.lock"
        lock.write_text(lock_text(resolve(str(rules), inv), str(rules)))
        edited = tmp / "edited.qrt"
        edited.write_text("include preset w8a8\nmodule /model\\.layers\\.[0-4]\\..*/ -> off\n")

        qrt = [sys.executable, "-m", "qrt"]
        a, b = str(plans["FP8_DEFAULT_CFG"]), str(plans["NVFP4_DEFAULT_CFG"])
        rows = []
        wall, out = _time([*qrt, "diff", a, b], args.runs)
        rows.append(("diff planA.json planB.json", wall, out.splitlines()[0]))
        wall, out = _time([*qrt, "diff", "modelopt:FP8_DEFAULT_CFG", "modelopt:NVFP4_DEFAULT_CFG", "--model", str(inv_path)], args.runs)
        rows.append(("diff A B --model inv.json", wall, out.splitlines()[0]))
        wall, out = _time([*qrt, "lock", "--check", str(lock), str(edited), "--model", str(inv_path)], args.runs)
        rows.append(("lock --check (one-char edit)", wall, out.splitlines()[0]))
        no_torch = subprocess.run(
            [sys.executable, "-c", f"import sys; from qrt.cli.main import main; main(['diff', {a!r}, {b!r}]); print('torch' in sys.modules)"],
            capture_output=True, text=True, cwd=ROOT,
        ).stdout.strip().splitlines()[-1]
        if shutil.which("git"):
            wall, out = _time(["git", "diff", "--no-index", "--stat", a, b], args.runs)
            rows.append(("peer: git diff --no-index (lines)", wall, out.strip().splitlines()[-1]))
        print(f"{len(inv.sites)} sites; {args.runs} runs, median; torch imported by plan diff: {no_torch}")
        print(f"{'what':<36} {'wall s':>7}  result")
        for what, wall, first in rows:
            print(f"{what:<36} {wall:7.3f}  {first}")
    finally:
        shutil.rmtree(tmp)


if __name__ == "__main__":
    main()
