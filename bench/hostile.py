"""Census of hostile inputs (issue 19): every door of qrt fed every class of bad input.

Each case builds its files in a scratch folder, then runs one CLI command or one Python API
call in a forked child of this process (qrt, torch and transformers imported once, so a case
costs its own work, not the imports) under a memory cap (``--mem``, RLIMIT_AS) and a timeout
(``--timeout``). A case's outcome:

* ``clean``: the error the case expects, as a user should see it: exit 2 (CLI) or a
  :class:`qrt.QrtError` / a ``TypeError`` naming the argument (API), no traceback, no
  "internal error", and the phrase the case names (a file name, a line, what is valid);
* ``ok``: a valid input that must run, and ran;
* ``crash``: a traceback, "internal error", exit 1, or another exception;
* ``accepted``: an invalid input that ran to exit 0 (a silent accept);
* ``unclear``: exit 2, but the message lacks the phrase the case asks for;
* ``hang`` / ``memory``: killed by the timeout or the memory cap.

    python bench/hostile.py                    # every case, one line each, then the totals
    python bench/hostile.py -k saved -v        # cases whose id holds "saved", with output
    python bench/hostile.py --scale            # also: lint at 20k rules, resolve at 200k

The test suite runs the cheap part of this census (``tests/test_hostile.py``); this script is
the whole of it, for the issue's figures.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import resource
import signal
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

Setup = Callable[[Path], Any]
"""Builds a case's files in a folder; returns the CLI argv (a list of str) or a Python
callable (the API call)."""


@dataclass
class Case:
    id: str
    cls: str
    setup: Setup
    expect: str = "error"  # "error" or "ok"
    phrase: str = ""  # must appear in the message of a clean error


CASES: list[Case] = []


def case(id: str, cls: str, expect: str = "error", phrase: str = "") -> Callable[[Setup], Setup]:
    def add(setup: Setup) -> Setup:
        CASES.append(Case(id, cls, setup, expect, phrase))
        return setup

    return add


def write(folder: Path, name: str, text: str | bytes) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


_SHARED: dict[str, Path] = {}


def shared(name: str) -> Path:
    """Files several cases read, made once per census (an inventory, a saved model)."""
    if name in _SHARED:
        return _SHARED[name]
    base = Path(tempfile.mkdtemp(prefix="qrt-hostile-shared-"))
    if name == "inventory":
        from qrt.inventory.io import save_inventory
        from qrt.model_inventory import load_model_inventory

        path = base / "tiny_llama.json"
        save_inventory(load_model_inventory("tiny_llama"), path)
    elif name == "saved":
        from qrt.cli.main import main

        path = base / "saved"
        with _quiet():
            code = main(["run", "modelopt:INT8_DEFAULT_CFG", "--model", "tiny_llama", "--batches", "2",
                         "--no-compare", "--finalize", str(path)])
        assert code == 0, "could not make the saved model"
    else:
        raise KeyError(name)
    _SHARED[name] = path
    return path


class _quiet:
    def __enter__(self) -> None:
        import contextlib

        self._stack = contextlib.ExitStack()
        self._stack.enter_context(contextlib.redirect_stdout(io.StringIO()))
        self._stack.enter_context(contextlib.redirect_stderr(io.StringIO()))

    def __exit__(self, *exc: object) -> None:
        self._stack.close()


def copy_saved(folder: Path) -> Path:
    import shutil

    target = folder / "saved"
    shutil.copytree(shared("saved"), target)
    return target


def manifest_edit(folder: Path, edit: Callable[[dict[str, Any]], None]) -> Path:
    saved = copy_saved(folder)
    path = saved / "qrt-manifest.json"
    data = json.loads(path.read_text())
    edit(data)
    path.write_text(json.dumps(data, indent=1))
    return saved


def load_call(saved: Path) -> Callable[[], Any]:
    def call() -> Any:
        import qrt
        from qrt.runtime.sources import build_model
        from qrt.model_spec import parse_model_spec

        built = build_model(parse_model_spec("tiny_llama"))
        model = qrt.load_quantized(saved, built.model)
        return model(*built.args, **built.kwargs)

    return call


# ---------------------------------------------------------------------------------------------
# cases: rule files (most of these are tests/test_hostile.py's; here for the census's totals)
RULE = "op linear weight -> int8\n"


def _rule_cli(command: str, name: str, text: str | bytes, *extra: str) -> Setup:
    def setup(folder: Path) -> list[str]:
        path = write(folder, name, text)
        return [command, str(path), "--model", str(shared("inventory")), *extra]

    return setup


for _cmd in ("resolve", "lint"):
    case(f"{_cmd}-axis-7", "silent accept: plan invalid for model", phrase=":1")(
        _rule_cli(_cmd, "r.qrt", "op linear weight -> int8 per_channel(axis=7)\n"))
    case(f"{_cmd}-block-1e12", "silent accept: plan invalid for model", phrase=":1")(
        _rule_cli(_cmd, "r.qrt", "op linear weight -> int4 per_block(1000000000000)\n"))
case("explain-axis-7", "silent accept: plan invalid for model", expect="ok")(
    lambda f: ["explain", str(write(f, "r.qrt", "op linear weight -> int8 per_channel(axis=7)\n")),
               "--model", str(shared("inventory")), "model.layers.0.self_attn.q_proj"])
case("yaml-axis-7", "silent accept: plan invalid for model", phrase="r.yaml")(
    _rule_cli("resolve", "r.yaml", "quantization_config:\n  op_type_config:\n    linear:\n      weight: {dtype: int8, granularity: {type: per_channel, axis: 7}}\n"))
case("modelopt-axis-7", "silent accept: plan invalid for model", phrase="quant_cfg.json")(
    _rule_cli("resolve", "quant_cfg.json", '[{"quantizer_name": "*weight_quantizer", "cfg": {"num_bits": 8, "axis": 7}}]'))
case("modelopt-block-1e12", "silent accept: plan invalid for model", phrase="quant_cfg.json")(
    _rule_cli("resolve", "quant_cfg.json", '[{"quantizer_name": "*weight_quantizer", "cfg": {"num_bits": 4, "block_sizes": {"-1": 1000000000000}}}]'))
case("modelopt-num-bits-nan", "silent accept: bad value", phrase="num_bits")(
    _rule_cli("resolve", "quant_cfg.json", '[{"quantizer_name": "*weight_quantizer", "cfg": {"num_bits": NaN}}]'))
case("modelopt-num-bits-nan-yaml", "silent accept: bad value", phrase="num_bits")(
    _rule_cli("resolve", "quant_cfg.yaml", "- quantizer_name: '*weight_quantizer'\n  cfg: {num_bits: .nan}\n"))
for _bits in ("16", "9", '"8"'):
    # valid ModelOpt attributes (a plan carries them as extras); the eager runtime refuses them below
    case(f"modelopt-num-bits-{_bits.strip(chr(34))}{'-str' if _bits.startswith(chr(34)) else ''}", "silent accept: bad value", expect="ok")(
        _rule_cli("resolve", "quant_cfg.json", '[{"quantizer_name": "*weight_quantizer", "cfg": {"num_bits": %s}}]' % _bits))
case("yaml-algorithm-nonsense", "silent accept: bad value", phrase="nonsense")(
    _rule_cli("resolve", "r.yaml", "quantization_config:\n  global_config: {weight: {dtype: int8}}\nalgorithm: {method: nonsense}\n"))
case("yaml-algorithm-nonsense-in-spec", "silent accept: bad value", phrase="nonsense")(
    _rule_cli("resolve", "r.yaml", "quantization_config:\n  algorithm: {method: nonsense}\n  global_config: {weight: {dtype: int8}}\n"))
case("modelopt-algorithm-nonsense", "silent accept: bad value", phrase="nonsense")(
    _rule_cli("resolve", "cfg.json", '{"quant_cfg": [{"quantizer_name": "*weight_quantizer", "cfg": {"num_bits": 8}}], "algorithm": {"method": "nonsense"}}'))
case("json-depth-line", "reader crash: JSON depth", phrase=":1:")(
    _rule_cli("resolve", "quant_cfg.json", "[\n" * 150 + "]" * 150))
case("yaml-json-depth-line", "reader crash: JSON depth", phrase=":3:")(
    _rule_cli("resolve", "quant_cfg.json", '[\n{"quantizer_name": "*",\n "cfg": ' + "[" * 150 + "]" * 150 + "}]"))
case("dsl-dev-zero", "unbounded read", phrase="character device")(
    lambda f: ["resolve", str(_link(f, "r.qrt", "/dev/zero")), "--model", str(shared("inventory"))])
case("dsl-include-passwd", "saved: confinement", phrase="hostname")(
    _rule_cli("lint", "r.qrt", 'include "/etc/hostname"\n'))


def _link(folder: Path, name: str, target: str) -> Path:
    path = folder / name
    path.symlink_to(target)
    return path


# -- inventory / plan / lock files -----------------------------------------------------------
def _dup_inventory(folder: Path) -> Path:
    data = json.loads(shared("inventory").read_text())
    data.pop("sha256", None)
    data["sites"].append(dict(data["sites"][0]))
    return write(folder, "inv.json", json.dumps(data, indent=1))


case("inventory-site-twice", "silent accept: duplicate site", phrase="inv.json")(
    lambda f: ["resolve", str(write(f, "r.qrt", RULE)), "--model", str(_dup_inventory(f))])


def _dup_plan(folder: Path) -> list[str]:
    from qrt.cli.main import main

    rules = write(folder, "r.qrt", RULE)
    plan = folder / "plan.json"
    with _quiet():
        main(["resolve", str(rules), "--model", str(shared("inventory")), "--format", "json", "-o", str(plan)])
    data = json.loads(plan.read_text())
    data.pop("sha256", None)
    data["sites"].append(dict(data["sites"][0]))
    write(folder, "plan.json", json.dumps(data, indent=1))
    return ["diff", str(plan), str(rules), "--model", str(shared("inventory"))]


case("plan-site-twice", "silent accept: duplicate site", phrase="plan.json")(_dup_plan)

# -- output paths ----------------------------------------------------------------------------
case("resolve-o-existing-dir", "output path", phrase="out")(
    lambda f: (f / "out").mkdir() or ["resolve", str(write(f, "r.qrt", RULE)), "--model", str(shared("inventory")), "-o", str(f / "out")])
case("resolve-o-missing-parent", "output path", phrase="nope")(
    lambda f: ["resolve", str(write(f, "r.qrt", RULE)), "--model", str(shared("inventory")), "-o", str(f / "nope" / "plan.json")])
case("resolve-o-dev-full", "output path", phrase="/dev/full")(
    lambda f: ["resolve", str(write(f, "r.qrt", RULE)), "--model", str(shared("inventory")), "-o", "/dev/full"])
case("lock-o-dev-full", "output path", phrase="/dev/full")(
    lambda f: ["lock", str(write(f, "r.qrt", RULE)), "--model", str(shared("inventory")), "-o", "/dev/full"])
case("convert-o-dev-full", "output path", phrase="/dev/full")(
    lambda f: ["convert", str(write(f, "r.qrt", RULE)), "--to", "hierarchical", "-o", "/dev/full"])
case("report-o-missing-parent", "output path", phrase="nope")(
    lambda f: ["report", str(write(f, "r.qrt", RULE)), "--model", str(shared("inventory")), "-o", str(f / "nope" / "p.html")])
case("run-finalize-existing-file", "output path", phrase="taken")(
    lambda f: ["run", "modelopt:INT8_DEFAULT_CFG", "--model", "two_add", "--batches", "1", "--no-compare",
               "--finalize", str(write(f, "taken", "x"))])
case("run-finalize-dev-full", "output path", phrase="/dev/full")(
    lambda f: ["run", "modelopt:INT8_DEFAULT_CFG", "--model", "two_add", "--batches", "1", "--no-compare",
               "--finalize", "/dev/full"])
case("export-to-existing-dir", "output path", phrase="out")(
    lambda f: (write(f, "out/x", "x"), ["export", str(shared("saved")), "-o", str(f / "out")])[1])
case("export-dot", "output path", phrase="")(
    lambda f: ["export", "."])
case("export-missing-parent", "output path", expect="ok")(
    lambda f: ["export", str(shared("saved")), "-o", str(f / "nope" / "out")])
case("export-dev-full", "output path", phrase="/dev/full")(
    lambda f: ["export", str(shared("saved")), "-o", "/dev/full"])


def _bad_hf_config(folder: Path) -> list[str]:
    return ["export", str(shared("saved")), "-o", str(folder / "out"), "--hf-config", str(write(folder, "config.json", "{bad"))]


case("export-bad-hf-config", "output path", phrase="config.json")(_bad_hf_config)

# -- saved quantized directories -------------------------------------------------------------


def _edit_bits(data: dict[str, Any]) -> None:
    for entry in (data.get("tensors") or data.get("weights") or {}).values() if isinstance(data.get("tensors") or data.get("weights"), dict) else []:
        if isinstance(entry, dict) and "bits" in entry:
            entry["bits"] = 4
            return
    text = json.dumps(data).replace('"bits": 8', '"bits": 4', 1)
    data.clear()
    data.update(json.loads(text))


case("saved-bits-8-to-4", "saved dir trusted", phrase="saved")(
    lambda f: load_call(manifest_edit(f, _edit_bits)))
case("saved-manifest-include-passwd", "saved dir trusted", phrase="include")(
    lambda f: ["explain", str(manifest_edit(f, lambda d: d["rules"].update(dsl='include "/etc/passwd"\n' + d["rules"]["dsl"]))),
               "model.layers.0.mlp.up_proj"])


def _shard_edit(folder: Path, how: str) -> Path:
    saved = copy_saved(folder)
    shard = sorted(saved.glob("*.safetensors"))[0]
    data = shard.read_bytes()
    if how == "header":
        shard.write_bytes(b"\xff" * 8 + data[8:])
    elif how == "truncate":
        shard.write_bytes(data[: len(data) // 2])
    elif how in ("shape", "dtype", "missing"):
        from safetensors.torch import load_file, save_file

        tensors = load_file(shard)
        name = sorted(tensors)[0]
        if how == "shape":
            t = tensors[name]
            tensors[name] = __import__("torch").zeros((*t.shape[:-1], t.shape[-1] + 1) if t.dim() else (2,), dtype=t.dtype)
        elif how == "dtype":
            tensors[name] = tensors[name].to(__import__("torch").float64)
        else:
            del tensors[name]
        save_file(tensors, shard)
    return saved


for _how in ("header", "truncate", "shape", "dtype", "missing"):
    case(f"saved-shard-{_how}", "saved dir trusted", phrase="safetensors")(
        (lambda how: lambda f: load_call(_shard_edit(f, how)))(_how))
    case(f"export-saved-shard-{_how}", "saved dir trusted", phrase="safetensors")(
        (lambda how: lambda f: ["export", str(_shard_edit(f, how)), "-o", str(f / "out")])(_how))

# -- CLI options and --model specs -----------------------------------------------------------
case("input-shape-huge", "cli option", phrase="input-shape")(
    lambda f: ["inspect", "--model", "two_add", "--input-shape", "100000,100000", "--device", "cpu", "--no-cache"])
case("device-cuda-on-cpu", "cli option", phrase="cuda")(
    lambda f: ["inspect", "--model", "two_add", "--device", "cuda", "--no-cache"])
case("seed-1e23", "cli option", phrase="seed")(lambda f: ["inspect", "--model", "two_add", "--seed", "1e23"])
case("seed-huge-int", "cli option", phrase="seed")(lambda f: ["run", "modelopt:INT8_DEFAULT_CFG", "--model", "two_add", "--seed", "9" * 40, "--batches", "1"])
case("seed-negative", "cli option", expect="ok")(lambda f: ["run", "modelopt:INT8_DEFAULT_CFG", "--model", "two_add", "--seed", "-5", "--batches", "1"])
case("batches-minus-1", "cli option", phrase="batches")(lambda f: ["run", "modelopt:INT8_DEFAULT_CFG", "--model", "two_add", "--batches", "-1"])


def _factory(body: str) -> Setup:
    def setup(folder: Path) -> list[str]:
        path = write(folder, "fac.py", "import torch\n" + body)
        return ["inspect", "--model", f"{path}:make", "--no-cache"]

    return setup


case("forward-returns-none", "cli option", expect="ok")(_factory(
    "class M(torch.nn.Module):\n    def __init__(self):\n        super().__init__(); self.l = torch.nn.Linear(4, 4)\n"
    "    def forward(self, x):\n        self.l(x)\n        return None\n"
    "def make():\n    return M(), torch.randn(2, 4)\n"))
case("run-forward-returns-none", "cli option", phrase="None")(lambda f: ["run", "modelopt:INT8_DEFAULT_CFG", "--model", _factory(
    "class M(torch.nn.Module):\n    def __init__(self):\n        super().__init__(); self.l = torch.nn.Linear(4, 4)\n"
    "    def forward(self, x):\n        self.l(x)\n        return None\n"
    "def make():\n    return M(), torch.randn(2, 4)\n")(f)[2], "--batches", "1"])
case("factory-exit", "cli option", phrase="exit")(_factory("def make():\n    exit()\n"))
case("factory-sys-exit-0", "cli option", phrase="exit")(_factory("import sys\ndef make():\n    sys.exit(0)\n"))
case("factory-keyboard", "cli option", phrase="fac.py")(_factory("def make():\n    raise SystemExit('bye')\n"))
case("hf-architectures-5", "cli option", phrase="architectures")(
    lambda f: ["inspect", "--model", f"hf:{write(f, 'm/config.json', json.dumps({'model_type': 'llama', 'architectures': [5], 'hidden_size': 16, 'intermediate_size': 32, 'num_attention_heads': 2, 'num_key_value_heads': 2, 'num_hidden_layers': 1, 'vocab_size': 64})).parent}", "--no-cache"])
case("hf-architectures-str", "cli option", expect="ok")(
    lambda f: ["inspect", "--model", f"hf:{write(f, 'm/config.json', json.dumps({'model_type': 'llama', 'architectures': 'LlamaForCausalLM', 'hidden_size': 16, 'intermediate_size': 32, 'num_attention_heads': 2, 'num_key_value_heads': 2, 'num_hidden_layers': 1, 'vocab_size': 64})).parent}", "--no-cache"])
case("hf-hidden-size-huge", "cli option", phrase="could not build")(
    lambda f: ["inspect", "--model", f"hf:{write(f, 'm/config.json', json.dumps({'model_type': 'llama', 'hidden_size': 10**7, 'intermediate_size': 10**7, 'num_attention_heads': 2, 'num_key_value_heads': 2, 'num_hidden_layers': 1, 'vocab_size': 10**6})).parent}", "--device", "cpu", "--no-cache"])

# -- the Python API --------------------------------------------------------------------------


def _api(body: Callable[[], Any]) -> Setup:
    return lambda folder: body


def _tiny() -> Any:
    import torch

    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(8, 8), torch.nn.ReLU(), torch.nn.Linear(8, 8)), torch.randn(2, 8)


case("api-resolve-5", "api misuse", phrase="rules")(_api(lambda: __import__("qrt").resolve(5, "two_add")))
case("api-resolve-model-5", "api misuse", phrase="model")(_api(lambda: __import__("qrt").resolve(__import__("qrt").parse_rules(RULE), 5)))
case("api-quantizer-12345", "api misuse", phrase="config")(_api(lambda: __import__("qrt").Quantizer(_tiny()[0], 12345)))
case("api-quantizer-model-str", "api misuse", phrase="model")(_api(lambda: __import__("qrt").Quantizer("two_add", "modelopt:INT8_DEFAULT_CFG")))
case("api-explain-queries-5", "api misuse", phrase="queries")(
    _api(lambda: __import__("qrt").explain(__import__("qrt").parse_rules(RULE), "two_add", queries=[5])))
case("api-load-quantized-x", "api misuse", phrase="model")(lambda f: (lambda: __import__("qrt").load_quantized(shared("saved"), "x")))
case("api-load-quantized-dir-5", "api misuse", phrase="directory")(lambda f: (lambda: __import__("qrt").load_quantized(5, _tiny()[0])))
case("api-execution-mode-warp", "api misuse", phrase="warp")(
    _api(lambda: __import__("qrt").quantize(_tiny()[0], "modelopt:INT8_DEFAULT_CFG", example_inputs=_tiny()[1], execution_mode="warp")))
case("api-parse-rules-5", "api misuse", phrase="text")(_api(lambda: __import__("qrt").parse_rules(5)))
case("api-load-rules-5", "api misuse", phrase="source")(_api(lambda: __import__("qrt").load_rules(5)))


def _nan_batch() -> Any:
    import torch

    import qrt

    model, x = _tiny()
    batches = [x, torch.full_like(x, float("nan")), x]
    qrt.quantize(model, "modelopt:INT8_DEFAULT_CFG", batches)


case("api-nan-calibration", "silent accept: NaN", phrase="NaN")(_api(_nan_batch))


def _finalized() -> Any:
    import torch

    import qrt

    model, x = _tiny()
    quantizer = qrt.Quantizer(model, "modelopt:INT8_DEFAULT_CFG")
    prepared = quantizer.prepare((x,))
    with torch.no_grad(), quantizer.calibration_mode():
        prepared(x)
    quantizer.finalize()
    return quantizer, prepared, x


def _after_finalize_disable() -> Any:
    import qrt

    _, model, x = _finalized()
    with qrt.set_quantizer_by_cfg_context(model, [{"quantizer_name": "*", "enable": False}]):
        model(x)


def _after_finalize_bits() -> Any:
    import qrt

    _, model, x = _finalized()
    qrt.set_quantizer_by_cfg(model, [{"quantizer_name": "*weight_quantizer", "cfg": {"num_bits": 4}}])
    model(x)


case("finalized-disable-context", "runtime after finalize", phrase="finalize")(_api(_after_finalize_disable))
case("finalized-num-bits-4", "runtime after finalize", phrase="finalize")(_api(_after_finalize_bits))


def _spec_extras(name: str) -> Setup:
    def call() -> Any:
        import qrt

        model, x = _tiny()
        qrt.quantize(model, f"modelopt:{name}", example_inputs=(x,))

    return _api(call)


case("runtime-fp8-2d-blockwise", "silent accept: runtime ignores extras", phrase="block_sizes")(_spec_extras("FP8_2D_BLOCKWISE_WEIGHT_ONLY_CFG"))
case("runtime-fp8-per-token", "silent accept: runtime ignores extras", phrase="block_sizes")(_spec_extras("FP8_PER_CHANNEL_PER_TOKEN_CFG"))




def _runtime_bits(bits: Any) -> Setup:
    def call() -> Any:
        import qrt

        model, x = _tiny()
        qrt.quantize(model, [{"quantizer_name": "*weight_quantizer", "cfg": {"num_bits": bits}}], example_inputs=(x,))

    return _api(call)


for _bits in (16, 9, "8"):
    case(f"runtime-num-bits-{_bits}", "silent accept: runtime ignores extras", phrase="num_bits")(_runtime_bits(_bits))
case("dsl-200k-rules", "scale", phrase="50,000")(
    _rule_cli("resolve", "r.qrt", 'quantizer "*.weight_quantizer" -> int8\n' * 200_000))
case("dsl-doubling-includes", "scale", phrase="included")(lambda f: (
    [write(f, f"d{i}.qrt", f'include "d{i + 1}.qrt"\ninclude "d{i + 1}.qrt"\n') for i in range(25)],
    write(f, "d25.qrt", RULE), ["resolve", str(f / "d0.qrt"), "--model", str(shared("inventory"))])[2])
case("yaml-alias-bomb", "unbounded read", phrase="alias")(_rule_cli(
    "resolve", "r.yaml", "quantization_config: {}\na: &a [1,1,1,1,1,1,1,1,1]\n" + "".join(
        f"{c}: &{c} [" + ",".join([f"*{p}"] * 9) + "]\n" for p, c in zip("abcdefgh", "bcdefghi"))))


# ---------------------------------------------------------------------------------------------
def _run_child(c: Case, folder: Path, timeout: float, mem: int, out_path: Path) -> None:
    """In the forked child: build the case, run it, write the outcome as JSON; never returns."""
    result: dict[str, Any] = {}
    try:
        resource.setrlimit(resource.RLIMIT_AS, (mem, mem))
        signal.alarm(int(timeout))
        target = c.setup(folder)
        out, err = io.StringIO(), io.StringIO()
        import contextlib

        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            if isinstance(target, list):
                from qrt.cli.main import main

                try:
                    code = main(target)
                except SystemExit as exit_:
                    code = exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 2)
                    if isinstance(exit_.code, str):
                        err.write(exit_.code)
                result = {"kind": "cli", "code": code, "said": out.getvalue() + err.getvalue(),
                          "lint": target[0] == "lint"}
            else:
                from qrt.errors import QrtError

                try:
                    target()
                    result = {"kind": "api", "code": 0, "said": out.getvalue() + err.getvalue()}
                except QrtError as exc:  # ArgumentTypeError is a QrtError and a TypeError
                    result = {"kind": "api", "code": 2, "exc": type(exc).__name__, "said": str(exc)}
    except MemoryError:
        result = {"kind": "?", "code": "memory", "said": ""}
    except BaseException as exc:  # noqa: BLE001 - the census records everything
        result = {"kind": "?", "code": 1, "exc": type(exc).__name__,
                  "said": "".join(traceback.format_exception(exc))[-3000:]}
    out_path.write_text(json.dumps(result))
    os._exit(0)


def classify(c: Case, result: dict[str, Any]) -> str:
    code, said = result.get("code"), result.get("said", "")
    if code == "hang":
        return "hang"
    if code == "memory":
        return "memory"
    if code == 1 and result.get("lint") and "Traceback" not in said:
        code = 2  # qrt lint exits 1 for error findings
    if "Traceback" in said or "internal error" in said or code == 1:
        return "crash"
    if c.expect == "ok":
        return "ok" if code == 0 else "refused"
    if code == 0:
        return "accepted"
    if code == 2:
        return "clean" if c.phrase in said else "unclear"
    return "crash"


def run_case(c: Case, timeout: float, mem: int) -> tuple[str, dict[str, Any], float]:
    folder = Path(tempfile.mkdtemp(prefix=f"qrt-hostile-{c.id}-"))
    out_path = folder / ".outcome.json"
    start = time.perf_counter()
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        _run_child(c, folder, timeout, mem, out_path)
    deadline = start + timeout + 5
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        if time.perf_counter() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            status = -1
            break
        time.sleep(0.02)
    took = time.perf_counter() - start
    if out_path.exists():
        result = json.loads(out_path.read_text())
    elif os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGALRM or status == -1:
        result = {"code": "hang", "said": ""}
    else:
        result = {"code": "memory" if os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL else 1,
                  "said": f"child ended with status {status}"}
    return classify(c, result), result, took


def _timed(call: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    try:
        value: Any = call()
    except Exception as exc:  # noqa: BLE001 - a refusal is a figure too
        value = exc
    return time.perf_counter() - start, value


def scale(rules: tuple[int, ...] = (5_000, 20_000), resolve_at: tuple[int, ...] = (50_000, 200_000),
          patterns: tuple[int, ...] = (20_000, 100_000)) -> list[str]:
    """The issue's figures: lint of N DSL rules, resolve of N DSL rules (refused past
    ``MAX_RULES``), and RE2 sets of N patterns; one line each."""
    import qrt
    from qrt.cli.main import main as cli
    from qrt.ir.regex_set import RegexSet

    folder = Path(tempfile.mkdtemp(prefix="qrt-hostile-scale-"))
    inventory = shared("inventory")
    lines = []

    def dsl(n: int) -> Path:
        path = folder / f"rules-{n}.qrt"
        path.write_text("".join(f'quantizer "*layers.{i}.mlp.*weight_quantizer" -> int8 per_channel\n' for i in range(n)))
        return path

    for n in rules:
        path = dsl(n)
        with _quiet():
            took, code = _timed(lambda: cli(["lint", str(path), "--model", str(inventory)]))  # noqa: B023 - timed at once
        lines.append(f"lint {n:,} DSL rules on tiny_llama: {took:.1f} s (exit {code})")
    for n in resolve_at:
        path = dsl(n)
        with _quiet():
            took, code = _timed(lambda: cli(["resolve", str(path), "--model", str(inventory)]))  # noqa: B023 - timed at once
        lines.append(f"resolve {n:,} DSL rules on tiny_llama: {took:.1f} s (exit {code})")
    for n in patterns:
        texts = [f".*layers\\.{i}\\..*_quantizer" for i in range(n)]
        took, found = _timed(lambda: RegexSet(texts))  # noqa: B023 - timed at once
        sets = found.sets if isinstance(found, RegexSet) else found
        start = time.perf_counter()
        for i in range(100):
            found.match(f"model.layers.{i * 97}.mlp.down_proj.weight_quantizer")
        per = (time.perf_counter() - start) / 100
        lines.append(f"RE2 set of {n:,} patterns: compiled in {took:.1f} s into {sets} set(s); "
                     f"{per * 1e3:.2f} ms a match")
    del qrt
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-k", default="", help="only cases whose id holds this")
    parser.add_argument("-v", action="store_true", help="print each case's message")
    parser.add_argument("--timeout", type=float, default=60.0)
    parser.add_argument("--mem", type=int, default=8, help="memory cap, GiB (RLIMIT_AS)")
    parser.add_argument("--json", metavar="FILE", help="write every outcome to FILE")
    parser.add_argument("--scale", action="store_true", help="only the scale figures (lint at 20k rules, "
                        "resolve at 50k/200k, RE2 sets of 20k/100k patterns)")
    args = parser.parse_args(argv)
    if args.scale:
        import qrt.cli.main  # noqa: F401

        for line in scale():
            print(line, flush=True)
        return 0
    import torch  # noqa: F401 - imported once, before the forks
    import transformers  # noqa: F401

    import qrt.cli.main  # noqa: F401

    selected = [c for c in CASES if args.k in c.id]
    shared("inventory")  # made here, once: a forked child's copy of the cache dies with it
    if any(word in c.id for c in selected for word in ("saved", "export", "load-quantized")):
        shared("saved")
    totals: dict[str, int] = {}
    rows = []
    for c in selected:
        outcome, result, took = run_case(c, args.timeout, args.mem << 30)
        totals[outcome] = totals.get(outcome, 0) + 1
        rows.append({"id": c.id, "class": c.cls, "outcome": outcome, "seconds": round(took, 2), **result})
        print(f"{outcome:9} {took:6.2f}s  {c.id:38} {c.cls}", flush=True)
        if args.v or outcome not in ("clean", "ok"):
            said = result.get("said", "").strip().splitlines()
            for line in said[-6:] if outcome == "crash" else said[:4]:
                print(f"          | {line[:200]}")
    print("totals:", ", ".join(f"{k} {v}" for k, v in sorted(totals.items())), f"({sum(totals.values())} cases)")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))
    return 0 if set(totals) <= {"clean", "ok"} else 1


if __name__ == "__main__":
    sys.exit(main())
