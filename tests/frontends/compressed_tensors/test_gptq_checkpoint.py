"""GPTQ checkpoint folders (``quant_method: gptq``): the Linears optimum's ``convert_model``
takes (transformers 5's GPTQ path) get GPTQ's integer format; the rest stays float.

optimum is not installed here, so the answers are the ones ``optimum/gptq/quantizer.py`` and
``optimum/gptq/utils.py`` give by construction on a model with Llama's module names (qrt's
``tiny_llama``): the block ``model.layers`` (``BLOCK_PATTERNS``), every ``nn.Linear`` under it,
``lm_head`` not; ``modules_in_block_to_quantize`` keeps the names ending with an entry.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from qrt.api import resolve
from qrt.frontends.checkpoint import checkpoint_source
from qrt.frontends.compressed_tensors.errors import CompressedTensorsConfigError
from qrt.frontends.compressed_tensors.gptq_checkpoint import GptqSource, read_gptq
from qrt.inventory.model import Inventory
from qrt.ir.spec import PerChannel

GPTQ = {"quant_method": "gptq", "bits": 4, "group_size": 8, "desc_act": False, "sym": True,
        "damp_percent": 0.1, "true_sequential": True, "checkpoint_format": "gptq", "meta": {"quantizer": ["x"]}}


def _folder(path: Path, quant: dict[str, Any]) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    (path / "config.json").write_text(json.dumps({
        "architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 16, "intermediate_size": 32,
        "num_hidden_layers": 1, "num_attention_heads": 2, "num_key_value_heads": 1, "vocab_size": 64,
        "max_position_embeddings": 32, "quantization_config": quant}))
    return path


@cache
def _inventory() -> Inventory:
    from qrt.model_inventory import load_model_inventory

    return load_model_inventory("tiny_llama")


@pytest.fixture(scope="module")
def inv() -> Inventory:
    return _inventory()


def _weights(quant: dict[str, Any], inv: Inventory) -> dict[str, Any]:
    plan = resolve(GptqSource(read_gptq(quant, "config.json")), inv)
    return {s.module: plan.spec(plan.decision(s.quantizer_path)) for s in inv.sites
            if s.op_type == "linear" and s.role == "state"}


def test_the_block_linears_get_gptqs_format(inv: Inventory, tmp_path: Path) -> None:
    source = checkpoint_source(_folder(tmp_path / "ckpt", GPTQ))
    assert isinstance(source, GptqSource)
    weights = _weights(GPTQ, inv)
    assert weights["lm_head"] is None
    taken = {m for m, spec in weights.items() if spec is not None}
    assert taken == {f"model.layers.{i}.{p}" for i in (0, 1) for p in ("self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj",
                                                        "self_attn.o_proj", "mlp.gate_proj", "mlp.up_proj",
                                                        "mlp.down_proj")}
    spec = weights["model.layers.0.mlp.down_proj"]
    assert (spec.dtype, spec.qscheme, spec.granularity.block_size) == ("int4", "symmetric", 8)
    asym = _weights({**GPTQ, "sym": False, "group_size": -1}, inv)["model.layers.0.mlp.down_proj"]
    assert asym.qscheme == "asymmetric" and isinstance(asym.granularity, PerChannel)


def test_modules_in_block_to_quantize_keeps_name_endings(inv: Inventory) -> None:
    weights = _weights({**GPTQ, "modules_in_block_to_quantize": [["self_attn.q_proj"], ["mlp.down_proj"]]}, inv)
    assert {m for m, s in weights.items() if s is not None} == {
        f"model.layers.{i}.{p}" for i in (0, 1) for p in ("self_attn.q_proj", "mlp.down_proj")}


@pytest.mark.parametrize(("change", "match"), [
    ({"desc_act": True}, "act-order"),
    ({"lm_head": True}, "lm_head"),
    ({"bits": 5}, "2, 3, 4 or 8"),
    ({"group_sise": 8}, "not a key"),
])
def test_what_has_no_exact_reading_is_refused(change: dict[str, Any], match: str) -> None:
    with pytest.raises(CompressedTensorsConfigError, match=match):
        read_gptq({**GPTQ, **change}, "config.json")


def test_no_block_found_is_refused() -> None:
    from qrt.model_inventory import load_model_inventory

    with pytest.raises(CompressedTensorsConfigError, match="block patterns"):
        resolve(GptqSource(read_gptq(GPTQ, "config.json")), load_model_inventory("mha"))
