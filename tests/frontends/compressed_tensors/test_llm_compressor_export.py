"""A checkpoint llm-compressor itself exported, read by ``qrt resolve`` and ``qrt explain``.

llm-compressor 0.14's ``oneshot`` quantizes a tiny random Llama (its own venv: it pins another
transformers) with ``targets="Linear"``, an ``ignore`` holding a name and a regex, and saves it
compressed; qrt then reads the folder as a user would — no ``--model``, the model built on meta
from its ``config.json`` — and must quantize exactly the weights llm-compressor packed, in
groups of the width its scales say. Opt-in, like the recipe differential next to it:
``QRT_LLM_COMPRESSOR_PYTHON`` names a Python with llm-compressor (about 10-30 s a scheme).
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.conftest import run_qrt

_MAKE = r'''
import json, sys, torch, transformers
from pathlib import Path
from llmcompressor import oneshot
from llmcompressor.modifiers.quantization import QuantizationModifier
from safetensors import safe_open

out, scheme = Path(sys.argv[1]), sys.argv[2]
cfg = transformers.LlamaConfig(vocab_size=64, hidden_size=128, intermediate_size=256, num_hidden_layers=2,
                               num_attention_heads=4, num_key_value_heads=2, tie_word_embeddings=False)
torch.manual_seed(0)
src = out.parent / (out.name + "-float")
transformers.LlamaForCausalLM(cfg).save_pretrained(src)
recipe = QuantizationModifier(targets="Linear", scheme=scheme,
                              ignore=["lm_head", "re:.*layers\\.1\\.mlp\\.down_proj$"])
oneshot(model=str(src), recipe=recipe).save_pretrained(out, save_compressed=True)
shapes = {}
for f in out.glob("*.safetensors"):
    with safe_open(str(f), "pt") as h:
        shapes.update({k: list(h.get_slice(k).get_shape()) for k in h.keys()})
print(json.dumps(shapes))
'''


@pytest.mark.skipif(not os.environ.get("QRT_LLM_COMPRESSOR_PYTHON"),
                    reason="set QRT_LLM_COMPRESSOR_PYTHON to a Python with llm-compressor (slow: ~10-30 s)")
@pytest.mark.parametrize(("scheme", "dtype", "inputs"), [("W4A16", "int4", None), ("W8A8", "int8", "int8"),
                                                         ("FP8_DYNAMIC", "float8_e4m3fn", "float8_e4m3fn")])
def test_qrt_reads_what_llm_compressor_packed(tmp_path: Path, scheme: str, dtype: str, inputs: str | None) -> None:
    script = tmp_path / "make.py"
    script.write_text(_MAKE)
    folder = tmp_path / scheme.lower()
    done = subprocess.run([os.environ["QRT_LLM_COMPRESSOR_PYTHON"], str(script), str(folder), scheme],
                          capture_output=True, text=True, timeout=600, check=True)
    shapes: dict[str, list[int]] = json.loads(done.stdout.strip().splitlines()[-1])
    packed = {k.removesuffix(".weight_scale") for k in shapes if k.endswith(".weight_scale")}
    assert packed and "lm_head" not in packed and "model.layers.1.mlp.down_proj" not in packed

    plan_file = tmp_path / "plan.json"
    assert run_qrt("resolve", str(folder), "-o", str(plan_file)).returncode == 0
    plan = json.loads(plan_file.read_text())
    weights = {s["module"]: s["decision"] for s in plan["sites"]
               if s["role"] == "state" and s["key"] == "weight" and s["op_type"] == "linear"}
    acts = {s["module"]: s["decision"] for s in plan["sites"]
            if s["role"] == "input" and s["key"] == 0 and s["op_type"] == "linear"}
    ours = {m for m, d in weights.items() if d is not None}
    assert ours == packed  # the same weights, by name
    for module in ours:
        spec = weights[module]
        assert spec["dtype"] == dtype, (module, spec)
        if spec["granularity"]["type"] == "per_block":  # int4 packs 8 to an int32; a scale per group
            in_features = shapes[f"{module}.weight_packed"][1] * 8
            assert spec["granularity"]["block_size"] * shapes[f"{module}.weight_scale"][1] == in_features
        else:  # one scale per output channel, stored (out, 1)
            assert spec["granularity"]["type"] == "per_channel" and shapes[f"{module}.weight_scale"][1] == 1
        assert (acts[module] or {}).get("dtype") == inputs, (module, acts[module])
    assert all(acts[m] is None for m in weights if m not in ours)

    shown = run_qrt("explain", str(folder), "model.layers.1.mlp.down_proj.weight_quantizer")
    assert shown.returncode == 0 and "ignore[0]" in shown.stdout and "not quantized" in shown.stdout
