"""End to end against llm-compressor's ``oneshot``: time and peak memory of quantizing one
checkpoint on the CPU, qrt whole, qrt one layer at a time (``--sequential``), and the peer.

    python bench/vs_llmcompressor.py [--peer-python PATH] [--scheme w4a16|w8a8] [--runs 3]
        [--hidden 1024] [--layers 12] [--samples 16] [--seq-len 128] [--threads 1] [--cap auto]

A Llama checkpoint (float32, random weights, ``save_pretrained``) with a word-level
tokenizer (the ``tokenizers`` library) and a text file are built locally under ``--workdir``
(kept between runs). Every contender starts in a fresh process, loads the checkpoint from
disk, calibrates on the same token ids (qrt's ``--calib`` sampling; the peer gets exactly
the samples qrt calibrates on), and writes a compressed-tensors checkpoint:

* ``qrt``: ``qrt run RULES --model DIR --calib TEXT --export OUT --no-compare``;
* ``qrt --sequential``: the same, one decoder layer read from the safetensors at a time;
* ``qrt --sequential --finalize`` under ``prlimit --as CAP``, an address-space limit that
  leaves less room than the float weights: ``--cap auto`` is the ``VmPeak`` of a process that
  imports everything and builds the model on ``meta`` (no weight read) plus 95% of the float
  weights' bytes; and ``qrt --finalize`` whole under the same limit, which must fail for the
  limit to mean anything;
* peer: llm-compressor 0.14's ``oneshot`` (its default pipeline) with the same scheme as
  ``config_groups`` — ``w4a16``: int4 symmetric weights per group of 32, every Linear, the
  head included (qrt's ``rules/w4a16.qrt``); ``w8a8``: int8 per-channel weights and static
  per-tensor int8 inputs (``rules/w8a8.qrt``; qrt's activation observer is a moving average,
  the peer's its default) — run by ``--peer-python``, an interpreter with llm-compressor
  installed (it needs transformers <= 5.17, qrt pins 5.25: a venv of its own). Without it
  the peer's row says why it is missing.

Figures: median wall time of ``--runs`` runs and the largest peak RSS (``wait4``'s
``ru_maxrss`` of the process). One thread each by default (``--threads``): on a shared
machine more threads measure the neighbours. The peer keeps the whole float model in CPU
memory (its sequential pipeline onloads each part from the CPU to the execution device);
qrt's sequential run reads each part from the files.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._progress import progress  # noqa: E402

_PEER = r'''
import json, sys, time
ids, model_dir, out, scheme, pipeline = json.load(open(sys.argv[1])), sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5]
from datasets import Dataset
from compressed_tensors.quantization import QuantizationArgs, QuantizationScheme
from llmcompressor import oneshot
from llmcompressor.modifiers.quantization import QuantizationModifier
if scheme == "w4a16":
    group = QuantizationScheme(targets=["Linear"], weights=QuantizationArgs(
        num_bits=4, type="int", symmetric=True, strategy="group", group_size=32))
else:
    group = QuantizationScheme(targets=["Linear"], weights=QuantizationArgs(
        num_bits=8, type="int", symmetric=True, strategy="channel"), input_activations=QuantizationArgs(
        num_bits=8, type="int", symmetric=True, strategy="tensor", dynamic=False))
data = Dataset.from_dict({"input_ids": ids, "attention_mask": [[1] * len(x) for x in ids]})
kwargs = {} if pipeline == "default" else {"pipeline": pipeline}
oneshot(model=model_dir, dataset=data, recipe=QuantizationModifier(config_groups={"g": group}),
        num_calibration_samples=len(ids), shuffle_calibration_samples=False,
        max_seq_length=max(len(x) for x in ids), output_dir=out, **kwargs)
'''

_WORDS = ("the a quick brown fox jumps over lazy dog cat sleeps runs fast slow red green blue small large old "
          "new river hill tree house road city night day sun moon star cloud rain wind stone fire water light "
          "dark warm cold bird fish horse boat ship train car door window book paper pen table chair").split()


def _build(workdir: Path, args: argparse.Namespace) -> tuple[Path, Path]:
    """The checkpoint folder and the text file, built once per size."""
    model_dir = workdir / f"llama-h{args.hidden}-l{args.layers}"
    text = workdir / "calib.txt"
    if not text.exists():
        rng = random.Random(0)
        lines = [" ".join(rng.choice(_WORDS) for _ in range(rng.randint(args.seq_len // 2, args.seq_len * 2)))
                 for _ in range(256)]
        text.write_text("\n".join(lines) + "\n")
    if not (model_dir / "model.safetensors").exists() and not (model_dir / "model.safetensors.index.json").exists():
        progress(f"building {model_dir.name}")
        import tokenizers
        import torch
        import transformers

        torch.manual_seed(0)
        config = transformers.LlamaConfig(vocab_size=args.vocab, hidden_size=args.hidden,
                                          intermediate_size=args.intermediate or int(args.hidden * 2.75),
                                          num_hidden_layers=args.layers, num_attention_heads=args.hidden // 64,
                                          num_key_value_heads=args.hidden // 64, tie_word_embeddings=False)
        with torch.device("cpu"):
            model = transformers.LlamaForCausalLM(config)
        model.save_pretrained(model_dir, max_shard_size="200MB")
        del model
        words = tokenizers.Tokenizer(tokenizers.models.WordLevel(unk_token="[UNK]"))
        words.pre_tokenizer = tokenizers.pre_tokenizers.Whitespace()
        words.train_from_iterator(text.read_text().splitlines(), tokenizers.trainers.WordLevelTrainer(special_tokens=["[UNK]"]))
        transformers.PreTrainedTokenizerFast(tokenizer_object=words, unk_token="[UNK]").save_pretrained(model_dir)
    return model_dir, text


def _measure(cmd: list[str], env: dict[str, str]) -> tuple[float, int, int, str]:
    """Wall seconds, peak RSS (bytes) and exit status of ``cmd``, and its stderr's tail."""
    with tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        err.seek(0)
        tail = err.read().decode(errors="replace").strip().splitlines()[-1:] or [""]
    return seconds, usage.ru_maxrss * 1024, proc.returncode, tail[0]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--workdir", default=str(Path(tempfile.gettempdir()) / "qrt-bench-llmc"))
    p.add_argument("--peer-python", help="an interpreter with llm-compressor installed")
    p.add_argument("--peer-pipeline", default="default", help="oneshot's pipeline (default: its own default)")
    p.add_argument("--scheme", choices=("w4a16", "w8a8"), default="w4a16")
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--hidden", type=int, default=1024)
    p.add_argument("--intermediate", type=int, default=0)
    p.add_argument("--layers", type=int, default=12)
    p.add_argument("--vocab", type=int, default=8192)
    p.add_argument("--samples", type=int, default=16)
    p.add_argument("--seq-len", type=int, default=128)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--cap", default="auto", help="address-space limit of the capped rows: bytes, auto, or none")
    args = p.parse_args()
    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    model_dir, text = _build(workdir, args)
    float_bytes = sum(f.stat().st_size for f in model_dir.glob("*.safetensors"))
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads), "MKL_NUM_THREADS": str(args.threads),
           "TOKENIZERS_PARALLELISM": "false", "PYTHONPATH": str(ROOT)}
    rules = str(ROOT / "rules" / f"{args.scheme}.qrt")
    qrt = [sys.executable, "-m", "qrt", "run", rules, "--model", str(model_dir), "--calib", str(text),
           "--calib-samples", str(args.samples), "--seq-len", str(args.seq_len), "--no-compare", "--no-progress",
           "--overwrite", "--format", "json", "--export"]
    rows: list[tuple[str, list[tuple[float, int, int, str]]]] = []

    def run(name: str, cmd: list[str], runs: int) -> list[tuple[float, int, int, str]]:
        got = []
        for i in range(runs):
            progress(f"{name}: run {i + 1}/{runs}")
            got.append(_measure(cmd, env))
        rows.append((name, got))
        return got

    whole = run("qrt", [*qrt, str(workdir / "out-qrt")], args.runs)
    run("qrt --sequential", [*qrt, str(workdir / "out-qrt-seq"), "--sequential"], args.runs)
    if args.cap != "none":
        cap = int(args.cap) if args.cap != "auto" else _baseline(model_dir, env) + int(0.95 * float_bytes)
        limit = ["prlimit", f"--as={cap}", "--"]
        finalize = [*qrt[:-1], "--finalize"]  # calibrate and finalize: what sequential onloading is for
        run(f"qrt --sequential --finalize, --as {cap / 2**20:.0f} MiB",
            [*limit, *finalize, str(workdir / "fin-qrt-cap"), "--sequential"], 1)
        run(f"qrt --finalize, --as {cap / 2**20:.0f} MiB", [*limit, *finalize, str(workdir / "fin-qrt-cap2")], 1)
    peer_note = None
    if args.peer_python and Path(args.peer_python).exists():
        from qrt.runtime.calibration import load_calibration

        samples = load_calibration(str(text), samples=args.samples, seq_len=args.seq_len, seed=0,
                                   tokenizer_dir=model_dir).samples
        ids = [s[0].tolist() for s in (samples[:-1] if len(samples) > 1 else samples)]  # qrt holds the last out
        data = workdir / "peer-ids.json"
        data.write_text(json.dumps(ids))
        script = workdir / "peer.py"
        script.write_text(_PEER)
        run(f"llm-compressor oneshot ({args.peer_pipeline} pipeline)",
            [args.peer_python, str(script), str(data), str(model_dir), str(workdir / "out-peer"), args.scheme,
             args.peer_pipeline], args.runs)
    else:
        peer_note = f"peer: not run ({'no --peer-python given' if not args.peer_python else args.peer_python + ' does not exist'})"
    progress("")
    print(f"{args.scheme}, Llama hidden {args.hidden}, {args.layers} layers, float32 weights "
          f"{float_bytes / 2**20:.0f} MiB; {args.samples} samples of <= {args.seq_len} tokens; "
          f"{args.threads} thread(s); median of {args.runs} run(s)")
    print(f"{'contender':<48} {'time s':>8} {'peak RSS MiB':>13}  status")
    for name, got in rows:
        ok = [g for g in got if g[2] == 0]
        if ok:
            t = statistics.median(g[0] for g in ok)
            rss = max(g[1] for g in ok)
            print(f"{name:<48} {t:8.1f} {rss / 2**20:13.0f}  ok")
        else:
            print(f"{name:<48} {'-':>8} {max(g[1] for g in got) / 2**20:13.0f}  failed (exit {got[0][2]}: {got[0][3][:80]})")
    if peer_note:
        print(peer_note)
    del whole


def _baseline(model_dir: Path, env: dict[str, str]) -> int:
    """The address space (``VmPeak``) a run takes before it reads any weight: the interpreter,
    torch, transformers, qrt's runtime and the model on ``meta``."""
    code = ("import qrt.runtime.finalize.export, qrt.runtime.quant.run\n"
            "from qrt.runtime.sequential import load_sequential\n"
            f"load_sequential({str(model_dir)!r})\n"
            "print(next(l for l in open('/proc/self/status') if l.startswith('VmPeak')).split()[1])\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    return int(out.stdout.split()[-1]) * 1024


if __name__ == "__main__":
    main()
