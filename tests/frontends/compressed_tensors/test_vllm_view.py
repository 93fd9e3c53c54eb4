"""vLLM's reading of compressed-tensors configs (``--as vllm``, ``qrt lint --target vllm``).

vLLM is not installable here, so its logic is reproduced from
``vllm/model_executor/layers/quantization/compressed_tensors/{compressed_tensors,utils}.py`` and
checked on configs whose answer those files (and vLLM's own loading tests, which assert that a
``Linear``-targeted llm-compressor checkpoint gives ``qkv_proj``, ``o_proj``, ``gate_up_proj`` and
``down_proj`` a scheme) fix: the first target in the config's order wins, class targets match
as substrings of vLLM's layer classes, fused q/k/v and gate/up take one scheme, ``ignore`` reads
names only, and shards split by ``ignore`` are refused.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from qrt.api import resolve
from qrt.frontends.compressed_tensors import compressed_tensors_from_data
from qrt.frontends.compressed_tensors.source import CompressedTensorsSource, VllmSource, consumer_view
from qrt.frontends.compressed_tensors.vllm import vllm_reading
from qrt.frontends.compressed_tensors.errors import CompressedTensorsConfigError
from qrt.inventory.model import Inventory
from qrt.lint import lint

W4 = {"num_bits": 4, "type": "int", "symmetric": True, "strategy": "group", "group_size": 8}
W8 = {"num_bits": 8, "type": "int", "symmetric": True, "strategy": "channel"}
A8 = {"num_bits": 8, "type": "int", "symmetric": True, "strategy": "tensor"}


@cache
def llama() -> Inventory:
    from qrt.model_inventory import load_model_inventory

    return load_model_inventory("tiny_llama")


def _config(*groups: tuple[list[str], dict[str, Any]], ignore: list[str] | None = None, **more: Any) -> dict[str, Any]:
    return {"config_groups": {f"group_{i}": {"targets": t, **s} for i, (t, s) in enumerate(groups)},
            "ignore": ignore or [], "format": "pack-quantized", **more}


def _weights(data: dict[str, Any], inv: Inventory, *, vllm: bool) -> dict[str, str | None]:
    """Module → its weight decision's dtype (``None``: not quantized), in one reading."""
    config = compressed_tensors_from_data(data)
    source = VllmSource(config) if vllm else CompressedTensorsSource(config)
    plan = resolve(source, inv)
    out = {}
    for site in inv.sites:
        if site.op_type == "linear" and site.role == "state":
            spec = plan.spec(plan.decision(site.quantizer_path))
            out[site.module] = None if spec is None else str(spec.dtype)
    return out


def test_a_linear_config_as_llm_compressor_saves_it_reads_alike() -> None:
    """vLLM's W8A8 loading test: every projection gets the scheme, lm_head (ignored) none."""
    data = _config((["Linear"], {"weights": W8, "input_activations": A8}), ignore=["lm_head"])
    ours, theirs = _weights(data, llama(), vllm=False), _weights(data, llama(), vllm=True)
    assert ours == theirs
    assert theirs["lm_head"] is None
    assert {m for m, d in theirs.items() if d} == {m for m in theirs if m != "lm_head"}
    layers = vllm_reading(compressed_tensors_from_data(data), llama()).layers
    assert layers["model.layers.0.self_attn.k_proj"].layer == "model.layers.0.self_attn.qkv_proj"
    assert layers["model.layers.0.mlp.up_proj"].vllm_class == "MergedColumnParallelLinear"
    assert layers["model.layers.0.mlp.down_proj"].vllm_class == "RowParallelLinear"


def test_class_target_beats_a_shard_regex_in_vllm() -> None:
    """compressed-tensors: a name match beats any class match, so k_proj takes group_1. vLLM:
    qkv_proj matches no name, then 'Linear' is contained in 'QKVParallelLinear'."""
    data = _config((["Linear"], {"weights": W4}), (["re:.*k_proj$"], {"weights": W8}))
    ours, theirs = _weights(data, llama(), vllm=False), _weights(data, llama(), vllm=True)
    k = "model.layers.0.self_attn.k_proj"
    assert ours[k] == "int8" and theirs[k] == "int4"
    assert ours["lm_head"] == "int4" and theirs["lm_head"] is None  # ParallelLMHead is no LinearBase
    assert {m for m in ours if ours[m] != theirs[m]} == {k, "model.layers.1.self_attn.k_proj", "lm_head"}


def test_vllm_takes_targets_in_the_configs_order_not_sorted() -> None:
    """compressed-tensors sorts regexes alphabetically ('re:.*down_proj$' < 're:.*mlp.*');
    vLLM tries them as written."""
    data = _config((["re:.*mlp.*"], {"weights": W4}), (["re:.*down_proj$"], {"weights": W8}))
    ours, theirs = _weights(data, llama(), vllm=False), _weights(data, llama(), vllm=True)
    d = "model.layers.0.mlp.down_proj"
    assert ours[d] == "int8" and theirs[d] == "int4"
    assert ours["model.layers.0.mlp.gate_proj"] == theirs["model.layers.0.mlp.gate_proj"] == "int4"


def test_fused_layer_takes_its_first_shards_target() -> None:
    """_match_fused_layer: every shard must match some target; the first shard's decides."""
    data = _config((["re:.*\\.q_proj$"], {"weights": W8}), (["re:.*\\.k_proj$", "re:.*\\.v_proj$"], {"weights": W4}))
    theirs = _weights(data, llama(), vllm=True)
    assert {theirs[f"model.layers.0.self_attn.{p}"] for p in ("q_proj", "k_proj", "v_proj")} == {"int8"}
    # without the dot, 're:.*v_proj$' matches the fused name 'qkv_proj' itself, which decides first
    loose = _config((["re:.*q_proj$"], {"weights": W8}), (["re:.*k_proj$", "re:.*v_proj$"], {"weights": W4}))
    assert _weights(loose, llama(), vllm=True)["model.layers.0.self_attn.q_proj"] == "int4"
    only_q = _config((["re:.*q_proj$"], {"weights": W8}))
    assert _weights(only_q, llama(), vllm=True)["model.layers.0.self_attn.q_proj"] is None  # k, v match nothing


def test_ignore_reads_names_only_and_a_split_fused_layer_is_refused() -> None:
    data = _config((["Linear"], {"weights": W4}), ignore=["Linear"])
    assert set(_weights(data, llama(), vllm=False).values()) == {None}
    assert _weights(data, llama(), vllm=True)["model.layers.0.mlp.down_proj"] == "int4"
    split = _config((["Linear"], {"weights": W4}), ignore=["re:.*v_proj$"])
    with pytest.raises(CompressedTensorsConfigError, match=r"Found a different quantization schemes .*qkv_proj.*v_proj ignored"):
        resolve(VllmSource(compressed_tensors_from_data(split)), llama())
    whole = _config((["Linear"], {"weights": W4}), ignore=["re:.*(q|k|v)_proj$"])
    assert _weights(whole, llama(), vllm=True)["model.layers.0.self_attn.q_proj"] is None


def test_vllm_reads_no_output_activations_and_fails_on_presets() -> None:
    data = _config((["Linear"], {"weights": W8, "output_activations": A8}))
    config = compressed_tensors_from_data(data)
    plan = resolve(VllmSource(config), llama())
    outputs = [s for s in llama().sites if s.op_type == "linear" and s.role == "output"]
    assert all(plan.spec(plan.decision(s.quantizer_path)) is None for s in outputs)
    with pytest.raises(CompressedTensorsConfigError, match="preset"):
        vllm_reading(compressed_tensors_from_data({"config_groups": {"W4A16": ["Linear"]}}), llama())


def test_consumer_view_refuses_other_sources() -> None:
    from qrt.frontends.source import rule_source_from_text

    with pytest.raises(CompressedTensorsConfigError, match="reads a compressed-tensors config"):
        consumer_view(rule_source_from_text("op linear weight -> int8 per_channel\n", label="r.qrt", suffix=".qrt"), "vllm")


def _write(tmp_path: Path, data: dict[str, Any]) -> str:
    path = tmp_path / "config.json"
    path.write_text(json.dumps(data, indent=1))
    return str(path)


def test_lint_target_vllm(tmp_path: Path) -> None:
    differs = _write(tmp_path, _config((["Linear"], {"weights": W4}), (["re:.*k_proj$"], {"weights": W8}),
                                       ignore=["lm_head"]))
    result = lint([differs], llama(), targets=["vllm"])
    codes = [(f.code, f.line) for f in result.findings]
    line = next(i for i, text in enumerate(Path(differs).read_text().splitlines(), 1) if "k_proj" in text)
    assert ("QRT030", line) in codes and ("QRT031", line) in codes, result.findings  # at the k_proj target
    assert not [f for f in lint([differs], llama()).findings if f.code.startswith("QRT03")]  # only with --target
    same = _write(tmp_path, _config((["Linear"], {"weights": W4}), ignore=["lm_head"]))
    assert not lint([same], llama(), targets=["vllm"]).findings
    kv = _write(tmp_path, _config((["Linear"], {"weights": W4}), ignore=["lm_head"], kv_cache_scheme={
        "num_bits": 8, "type": "float", "symmetric": True, "strategy": "tensor", "dynamic": False}))
    found = lint([kv], llama(), targets=["vllm"]).findings
    assert [f.code for f in found] == ["QRT030"] and "kv_cache_scheme" in found[0].message


def test_cli_as_vllm(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from qrt.cli.main import main

    path = _write(tmp_path, _config((["Linear"], {"weights": W4}), (["re:.*k_proj$"], {"weights": W8})))
    assert main(["explain", path, "model.layers.0.self_attn.k_proj.weight_quantizer", "--model", "tiny_llama",
                 "--as", "vllm"]) == 0
    out = capsys.readouterr().out
    assert "vLLM layer model.layers.0.self_attn.qkv_proj (QKVParallelLinear)" in out and "int4" in out
    assert main(["lint", path, "--target", "vllm"]) == 2  # needs --model


def test_a_qwen2_moe_checkpoint_as_vllm_lays_it_out(tmp_path: Path) -> None:
    """A real transformers Qwen2-MoE built on meta from a checkpoint's config.json: the shared
    expert's gate/up fuse into ``gate_up_proj`` (vLLM's qwen2_moe.py packed_modules_mapping),
    its ``shared_expert_gate`` is built unquantized; the experts are no nn.Linear here."""
    from qrt.frontends.checkpoint import checkpoint_source
    from qrt.model_inventory import checkpoint_inventory

    quant = _config((["Linear"], {"weights": W4}), ignore=["lm_head"], quant_method="compressed-tensors")
    (tmp_path / "config.json").write_text(json.dumps({
        "architectures": ["Qwen2MoeForCausalLM"], "model_type": "qwen2_moe", "hidden_size": 16,
        "intermediate_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2, "num_key_value_heads": 1,
        "vocab_size": 64, "max_position_embeddings": 32, "num_experts": 2, "num_experts_per_tok": 1,
        "moe_intermediate_size": 8, "shared_expert_intermediate_size": 8, "quantization_config": quant}))
    inv = checkpoint_inventory(tmp_path)
    source = checkpoint_source(tmp_path)
    reading = vllm_reading(source.config, inv)
    up = reading.layers["model.layers.0.mlp.shared_expert.up_proj"]
    assert (up.layer, up.vllm_class) == ("model.layers.0.mlp.shared_expert.gate_up_proj", "MergedColumnParallelLinear")
    assert "model.layers.0.mlp.shared_expert_gate" in reading.notes
    theirs = _weights(quant, inv, vllm=True)
    ours = _weights(quant, inv, vllm=False)
    assert theirs["model.layers.0.mlp.shared_expert_gate"] is None and ours["model.layers.0.mlp.shared_expert_gate"] == "int4"
    assert {m for m in ours if ours[m] != theirs[m]} == {"model.layers.0.mlp.shared_expert_gate"}


def test_an_architecture_without_a_vllm_layout_is_refused() -> None:
    from qrt.model_inventory import load_model_inventory

    with pytest.raises(CompressedTensorsConfigError, match="does not know how vLLM lays out"):
        vllm_reading(compressed_tensors_from_data(_config((["Linear"], {"weights": W4}))), load_model_inventory("mha"))


def test_integer_weights_without_inputs_under_an_activation_format_fail_vllms_parsing() -> None:
    data = _config((["Linear"], {"weights": W8}), format="int-quantized")
    with pytest.raises(CompressedTensorsConfigError, match="vLLM asserts"):
        vllm_reading(compressed_tensors_from_data(data), llama())
    assert vllm_reading(compressed_tensors_from_data(_config((["Linear"], {"weights": W8}))), llama()).layers


def test_a_mixtral_checkpoint_fuses_qkv_only(tmp_path: Path) -> None:
    """vLLM's mixtral.py packs q/k/v only; transformers 5's experts and router are no nn.Linear,
    so the attention projections are all either reading quantizes (lm_head aside)."""
    from qrt.model_inventory import checkpoint_inventory

    quant = _config((["Linear"], {"weights": W4}), ignore=["lm_head"], quant_method="compressed-tensors")
    (tmp_path / "config.json").write_text(json.dumps({
        "architectures": ["MixtralForCausalLM"], "model_type": "mixtral", "hidden_size": 16, "intermediate_size": 32,
        "num_hidden_layers": 1, "num_attention_heads": 2, "num_key_value_heads": 1, "vocab_size": 64,
        "max_position_embeddings": 32, "num_local_experts": 2, "num_experts_per_tok": 1, "quantization_config": quant}))
    inv = checkpoint_inventory(tmp_path)
    reading = vllm_reading(compressed_tensors_from_data(quant), inv)
    assert {e.layer for e in reading.layers.values()} == {"model.layers.0.self_attn.qkv_proj",
                                                          "model.layers.0.self_attn.o_proj"}
    assert _weights(quant, inv, vllm=True) == _weights(quant, inv, vllm=False)
