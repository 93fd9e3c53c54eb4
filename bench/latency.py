"""Latency where users wait: whole-process times of the commands people run on a big model,
and loading a saved quantized model against opening its safetensors.

    python bench/latency.py                  # about a minute: 8 layers of the 70B shape, 3 warm runs,
                                             # one cold run and one load of each kind
    python bench/latency.py --full           # the 80-layer 70B shape, 5 runs of everything, a 1B-shaped saved model
    python bench/latency.py --root OTHER     # time another qrt checkout (e.g. an older commit)
    python bench/latency.py --layers 80 --runs 5 --no-cold --saved DIR   # warm rows and loads only
    python bench/latency.py --full --baseline HEAD~10   # also time that commit (git archive), same machine,
                                                        # same run, and print both against the goals

Rows (median of the runs, wall seconds of a whole ``python -m qrt …`` process, and its CPU
seconds — the machine may be shared, CPU time is what the command itself costs):

* ``explain cold``: ``qrt explain modelopt:NVFP4_DEFAULT_CFG --model CONFIG QUERY`` with an
  empty inventory cache (``$QRT_CACHE_DIR`` emptied before each run): build on meta, trace;
* ``explain first (template)``: the same with the inventories emptied before each run but the
  template of its family kept — learned by an untimed run on an 8B-shaped Llama config of the
  same structure: a new size of a model traced before (docs/cache.md);
* ``explain warm``: the same again (the inventory read from the cache);
* ``explain inv.json``: the same on a saved inventory (``qrt inspect -o``), the reference;
* ``lint warm``: ``qrt lint rules/w8a8.qrt --model CONFIG``;
* ``inspect warm``: ``qrt inspect --model CONFIG``;
* ``load_quantized`` of a saved, finalized Llama (weight-only int4 on every Linear) into a
  meta-device model: the call alone, in a fresh process, imports paid before the clock — the
  trusted load, ``verify=True`` (every decision resolved again and every file hashed), and the
  peer, ``safetensors.safe_open`` of its files with every tensor taken (memory-mapped, as the
  load maps them). A trusted load places the quantizers from the manifest's ``placements``
  record: no parser, resolver or inventory (the first run's wall is the first number of the
  row: the operating system's file cache is cold for it).

A checkout without the inventory cache (``--root`` of an older qrt) traces on every run: its
warm rows are cold.

Every process runs with Python's bytecode cache on (in the bench's scratch folder: an installed
qrt has its ``.pyc`` files), whatever ``PYTHONDONTWRITEBYTECODE`` says, and each row starts
with one untimed run that writes it; without it each process compiles qrt's modules again
(0.15 s of every command). The closing table puts each goal of issue 24 beside the median of
this checkout and, with ``--baseline``, of the baseline.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _progress import progress

ROOT = Path(__file__).resolve().parent.parent
QUERY = "model.layers.0.mlp.down_proj.weight_quantizer"


def _config(folder: Path, layers: int, *, hidden: int = 8192, inter: int = 28672, heads: int = 64,
            kv: int = 8) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps({
        "model_type": "llama", "architectures": ["LlamaForCausalLM"], "hidden_size": hidden,
        "intermediate_size": inter, "num_hidden_layers": layers, "num_attention_heads": heads,
        "num_key_value_heads": kv, "vocab_size": 128256, "tie_word_embeddings": False,
    }))
    return folder


def _timed(argv: list[str], env: dict[str, str], *, before=None) -> tuple[float, float, str]:  # type: ignore[no-untyped-def]
    if before is not None:
        before()
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    # run in the checkout timed: `python -m qrt` puts its working folder first on sys.path, so
    # started from another checkout it would import that one's qrt, whatever PYTHONPATH says
    done = subprocess.run(argv, capture_output=True, text=True, env=env, check=False, cwd=env["PYTHONPATH"])
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode not in (0, 1):
        raise SystemExit(f"{' '.join(argv)} failed:\n{done.stderr[-3000:]}")
    cpu = (after.ru_utime - used.ru_utime) + (after.ru_stime - used.ru_stime)
    return wall, cpu, done.stdout


def _row(label: str, runs: list[tuple[float, float, str]]) -> tuple[float, float]:
    walls = [r[0] for r in runs]
    cpus = [r[1] for r in runs]
    progress("")
    print(f"{label:<28} {statistics.median(walls):8.3f} {statistics.median(cpus):8.3f}   "
          f"{' '.join(f'{w:.2f}' for w in walls)}", flush=True)
    return statistics.median(walls), statistics.median(cpus)


LOAD = r"""
import json, sys, time
sys.path.insert(0, {root!r})
import torch, transformers
from pathlib import Path
cfg = transformers.LlamaConfig(**json.loads(Path({config!r}).read_text()))
with torch.device("meta"):
    model = transformers.LlamaForCausalLM(cfg)
from safetensors import safe_open
import qrt, qrt.runtime.finalize.load, qrt.runtime.quant.quantizer  # imports before the clock
mode = {mode!r}
t0, c0 = time.perf_counter(), time.process_time()
if mode == "safe_open":
    tensors = {{}}
    for f in sorted(Path({directory!r}).glob("*.safetensors")):
        with safe_open(str(f), framework="pt", device="cpu") as fh:
            for k in fh.keys():
                tensors[k] = fh.get_tensor(k)
else:
    qrt.load_quantized({directory!r}, model, verify=(mode == "verify"))
print(json.dumps([time.perf_counter() - t0, time.process_time() - c0]))
"""

SAVE = r"""
import json, sys
sys.path.insert(0, {root!r})
import torch, transformers
from pathlib import Path
import qrt
cfg = transformers.LlamaConfig(**json.loads(Path({config!r}).read_text()))
with torch.device("meta"):
    model = transformers.LlamaForCausalLM(cfg)
model = model.to_empty(device="cpu").to(torch.bfloat16)
torch.manual_seed(0)
with torch.no_grad():
    for p in model.parameters():
        p.normal_(0, 0.02)
model.model.rotary_emb = type(model.model.rotary_emb)(cfg)  # its buffers, lost by to_empty
q = qrt.Quantizer(model.eval(), qrt.parse_rules("op linear weight -> int4 per_block(128, axis=-1) qparam_calculator=static\n"))
q.prepare((torch.randint(0, 1000, (1, 8)),))
q.finalize(mmap_dir={directory!r})
"""


def _load_rows(root: Path, work: Path, runs: int, full: bool, saved: Path | None,
               env: dict[str, str]) -> dict[str, tuple[float, float]]:
    shape = dict(hidden=2048, inter=8192, heads=32, kv=8) if full else dict(hidden=256, inter=1024, heads=4, kv=2)
    config = _config(work / "small", 16 if full else 2, **shape) / "config.json"
    if saved is None:
        saved = work / "saved"
        progress(f"finalizing a {'1B' if full else 'small'}-shaped Llama to {saved} ...")
        _timed([sys.executable, "-c", SAVE.format(root=str(root), config=str(config), directory=str(saved))], env)
    else:
        config = saved / "config.json" if (saved / "config.json").is_file() else config
    size = sum(f.stat().st_size for f in saved.glob("*.safetensors")) / 2**20
    print(f"\nload of a saved Llama ({size:.0f} MiB of safetensors), the call alone, in a fresh process")
    print(f"{'what':<28} {'median s':>8} {'cpu s':>8}   wall of each run", flush=True)
    medians: dict[str, tuple[float, float]] = {}
    for mode in ("trusted", "verify", "safe_open"):
        times = []
        for i in range(runs):
            progress(f"{mode}: run {i + 1} of {runs} ...")
            code = LOAD.format(root=str(root), config=str(config), directory=str(saved), mode=mode)
            out = _timed([sys.executable, "-c", code], env)[2].strip().splitlines()
            if not out:  # the load raised (exit 1): say why rather than fail on an empty line
                done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=False,
                                      cwd=env["PYTHONPATH"])
                raise SystemExit(f"load_quantized ({mode}) failed:\n{done.stderr[-3000:]}")
            times.append(json.loads(out[-1]))
        label = {"trusted": "load_quantized", "verify": "load_quantized verify=True",
                 "safe_open": "safe_open (peer)"}[mode]
        progress("")
        walls = [t[0] for t in times]
        print(f"{label:<28} {statistics.median(walls):8.4f} {statistics.median(t[1] for t in times):8.4f}   "
              f"{' '.join(f'{t:.4f}' for t in walls)}", flush=True)
        medians[mode] = statistics.median(walls), statistics.median(t[1] for t in times)
    return medians


def _checkout(baseline: str, work: Path) -> Path:
    """``--baseline``: a folder as it is, else a git revision of this repository, extracted
    (``git archive``) into the scratch folder."""
    if Path(baseline).is_dir():
        return Path(baseline).resolve()
    folder = work / "baseline"
    folder.mkdir()
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", baseline], capture_output=True, check=False)
    if archive.returncode != 0:
        raise SystemExit(f"--baseline {baseline}: neither a folder nor a git revision: {archive.stderr.decode()[-500:]}")
    subprocess.run(["tar", "-x", "-C", str(folder)], input=archive.stdout, check=True)
    return folder


def _measure(root: Path, args: argparse.Namespace, work: Path, runs: int, slow_runs: int, layers: int,
             saved: Path | None) -> tuple[dict[str, tuple[float, float]], Path | None]:
    """Every row for the checkout at ``root``; returns the medians by row (and the saved model
    it finalized, for the next checkout to load the same files)."""
    cache = work / f"cache-{root.name}"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env.update(PYTHONPATH=str(root), QRT_CACHE_DIR=str(cache), NO_COLOR="1",
               PYTHONPYCACHEPREFIX=str(work / "pycache"))
    model = str(_config(work / "llama", layers))
    qrt = [sys.executable, "-m", "qrt"]
    rules = str(root / "rules" / "w8a8.qrt")

    def empty_cache() -> None:
        shutil.rmtree(cache, ignore_errors=True)

    def inventories_only() -> None:  # the family's template stays
        shutil.rmtree(cache / "inventories", ignore_errors=True)

    sibling = str(_config(work / "llama-8b", max(3, layers // 2), hidden=4096, inter=14336, heads=32, kv=8))

    medians: dict[str, tuple[float, float]] = {}
    print(f"\nqrt at {root}; a 70B-shaped Llama config with {layers} layers; {runs} runs a row")
    print(f"{'command':<28} {'median s':>8} {'cpu s':>8}   wall of each run", flush=True)
    explain = [*qrt, "explain", "modelopt:NVFP4_DEFAULT_CFG", "--model", model, QUERY]
    rows = [
        *([] if args.no_cold else [("explain cold", explain, empty_cache)]),
        *([] if args.no_cold else [("explain first (template)", explain, inventories_only)]),
        ("explain warm", explain, None),
        ("lint warm", [*qrt, "lint", rules, "--model", model], None),
        ("inspect warm", [*qrt, "inspect", "--model", model], None),
    ]
    if not args.no_commands:
        progress("writing the bytecode cache, filling the inventory cache ...")
        _timed(explain, env)  # untimed: compiles qrt's modules once (and traces, for the warm rows)
        # untimed: an 8B-shaped Llama of the same family, traced — the template the "first" row uses
        _timed([*qrt, "explain", "modelopt:NVFP4_DEFAULT_CFG", "--model", sibling, QUERY], env)
    for label, argv, before in [] if args.no_commands else rows:
        done = []
        for i in range(runs if before is None else slow_runs):
            progress(f"{label}: run {i + 1} of {runs} ...")
            done.append(_timed(argv, env, before=before))
        medians[label] = _row(label, done)
    if not args.no_commands:
        inv = str(work / f"inv-{root.name}.json")
        _timed([*qrt, "inspect", "--model", model, "--format", "json", "-o", inv], env)
        done = []
        for i in range(runs):
            progress(f"explain inv.json: run {i + 1} of {runs} ...")
            done.append(_timed([*qrt, "explain", "modelopt:NVFP4_DEFAULT_CFG", "--model", inv, QUERY], env))
        medians["explain inv.json"] = _row("explain inv.json", done)
    if not args.no_load:
        loads = _load_rows(root, work, slow_runs, args.full, saved, env)
        medians.update({f"load {k}": v for k, v in loads.items()})
        saved = saved or work / "saved"
    return medians, saved


GOALS = (
    ("explain cold", "first `qrt explain`, new family <= 2 s", lambda m: 2.0),
    ("explain first (template)", "first `qrt explain`, family seen <= 2 s", lambda m: 2.0),
    ("explain warm", "warm `qrt explain` <= 0.3 s", lambda m: 0.3),
    ("lint warm", "warm `qrt lint --model` <= 0.3 s", lambda m: 0.3),
    ("load trusted", "load_quantized <= 2 x safe_open + 20 ms", lambda m: 2 * m["load safe_open"][0] + 0.02),
)


def _goal_table(results: list[tuple[str, dict[str, tuple[float, float]]]]) -> None:
    print("\nissue 24's goals: median wall s / cpu s (whole process; load_quantized: the call alone)")
    print(f"{'goal':<42} " + " ".join(f"{name:>15}" for name, _ in results) + "  met (last, by wall)")
    for key, text, limit in GOALS:
        cells, met = [], ""
        for _, medians in results:
            if key not in medians or (key == "load trusted" and "load safe_open" not in medians):
                cells.append(f"{'-':>15}")
                continue
            goal = limit(medians)
            wall, cpu = medians[key]
            cells.append(f"{wall:8.3f}/{cpu:6.3f}")
            met = f"{'yes' if wall <= goal else 'no'} (goal {goal:.3f})"
        print(f"{text:<42} " + " ".join(cells) + f"  {met}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--full", action="store_true", help="80 layers, 5 runs, a 1B-shaped saved model (minutes)")
    parser.add_argument("--runs", type=int, help="runs per row (default 3; --full 5)")
    parser.add_argument("--layers", type=int, help="layers of the 70B-shaped config (default 8; --full 80)")
    parser.add_argument("--root", type=Path, default=ROOT, help="the qrt checkout to time (default: this one)")
    parser.add_argument("--baseline", help="also time this checkout (a folder, or a git revision of this "
                        "repository, extracted with git archive) first, and print both against the goals")
    parser.add_argument("--saved", type=Path, help="a saved quantized Llama to load (its config.json beside it); "
                        "default: finalize one first")
    parser.add_argument("--no-load", action="store_true", help="skip the load_quantized rows")
    parser.add_argument("--no-cold", action="store_true", help="skip the cold explain row")
    parser.add_argument("--no-commands", action="store_true", help="only the load_quantized rows")
    args = parser.parse_args()
    runs = args.runs or (5 if args.full else 3)
    slow_runs = args.runs or (5 if args.full else 1)  # a cold trace, a process importing transformers
    layers = args.layers or (80 if args.full else 8)
    work = Path(tempfile.mkdtemp(prefix="qrt-bench-latency-"))
    try:
        roots = [("this", args.root.resolve())]
        if args.baseline:
            roots.insert(0, ("baseline", _checkout(args.baseline, work)))
        results = []
        saved = args.saved
        for name, root in reversed(roots):  # this checkout first: it finalizes the saved model
            medians, saved = _measure(root, args, work, runs, slow_runs, layers, saved)
            results.insert(0, (name, medians))
        _goal_table(results)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
