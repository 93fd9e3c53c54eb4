"""``qrt convert`` between the three front ends: round trips that resolve equal on every site.

Every shipped ModelOpt preset is converted to each front end on the built-in models and a
tiny Hugging Face Llama (sdpa and eager attention), read back, resolved, and compared site by
site with the preset's own plan — independently of the verification ``convert`` does itself.
Then the routes without a model: what has an equivalent converts, the rest is named.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

import pytest

from qrt.api import resolve
from qrt.frontends.dsl import parse_rules
from qrt.frontends.hierarchical import config_from_yaml_text
from qrt.frontends.source import load_rule_source
from qrt.frontends.wildcard import load_wildcard, wildcard_from_text
from qrt.frontends.wildcard.presets import available_modelopt_presets
from qrt.inventory.model import Inventory
from qrt.tools.convert import ConvertError, convert
from tests.conftest import run_qrt

MODELS = ["two_add", "cnn", "mha", "tiny_llama", "hf_llama_sdpa", "hf_llama_eager"]


@cache
def inventory(name: str) -> Inventory:
    if not name.startswith("hf_llama"):
        from qrt.model_inventory import load_model_inventory

        return load_model_inventory(name)
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    from qrt.runtime.trace import trace_model

    cfg = transformers.LlamaConfig(
        vocab_size=128, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, attn_implementation=name.rpartition("_")[2],
    )
    torch.manual_seed(0)
    model = transformers.LlamaForCausalLM(cfg).eval()
    return trace_model(model, (torch.randint(0, 128, (1, 8)),), {"use_cache": False})


def read_back(text: str, target: str):  # type: ignore[no-untyped-def]
    if target == "dsl":
        return parse_rules(text, file="<converted>")
    if target == "quant-cfg":
        return wildcard_from_text(text, file="<converted>")
    return config_from_yaml_text(text, file="<converted>")


@cache
def _text(name: str) -> str:
    """A shipped ModelOpt preset's file text (rules/modelopt/NAME.yaml)."""
    return (Path(__file__).resolve().parents[2] / "rules" / "modelopt" / f"{name}.yaml").read_text(encoding="utf-8")


def decisions(plan) -> dict[str, object]:  # type: ignore[no-untyped-def]
    return {d.site.quantizer_path: plan.spec(d) for d in plan.decisions}


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("target", ["dsl", "quant-cfg", "hierarchical"])
def test_every_preset_converts_and_resolves_equal(model: str, target: str) -> None:
    inv = inventory(model)
    quantized = 0
    for name in available_modelopt_presets():
        source = load_rule_source(f"modelopt:{name}")
        if model == "hf_llama_eager" and "bmm" not in _text(name):
            continue  # eager attention differs from sdpa in its attention sites only (suite time)
        text = convert(source, target, inv)  # type: ignore[arg-type]
        before = decisions(resolve(source, inv))
        after = decisions(resolve(read_back(text, target), inv))
        assert after == before, f"{name} → {target} on {model}"
        quantized += sum(1 for spec in before.values() if spec is not None)
    assert quantized > 0 or model == "two_add"  # two adds: no quantizer ModelOpt names


@pytest.mark.parametrize("model", ["tiny_llama", "hf_llama_sdpa"])
def test_round_trip_back_to_a_quant_cfg(model: str) -> None:
    """preset → hierarchical → quant-cfg → DSL: every hop resolves equal."""
    inv = inventory(model)
    for name in ("FP8_DEFAULT_CFG", "NVFP4_DEFAULT_CFG", "W4A8_AWQ_BETA_CFG", "INT8_SMOOTHQUANT_CFG", "FP8_KV_CFG"):
        source = load_rule_source(f"modelopt:{name}")
        want = decisions(resolve(source, inv))
        hop = source
        for target in ("hierarchical", "quant-cfg", "dsl"):
            text = convert(hop, target, inv)  # type: ignore[arg-type]
            hop = load_rule_source(read_back(text, target)) if target != "hierarchical" else load_rule_source(read_back(text, target))
            assert decisions(resolve(hop, inv)) == want, f"{name} via {target}"


def test_compaction_groups_layers_under_one_glob() -> None:
    inv = inventory("tiny_llama")
    text = convert(load_rule_source("modelopt:INT8_DEFAULT_CFG"), "quant-cfg", inv)
    # the legacy-free list form of a wildcard source is written as it is (no compaction needed)
    assert "'*weight_quantizer'" in text
    dsl = convert(load_rule_source("rules/w8a8.qrt"), "hierarchical", inv)
    assert r"model\.layers\.\d+\.self_attn\.q_proj" in dsl
    # a rule list with a model is written as globs that each name one group of sites
    rules = parse_rules(
        'quantizer "*proj.weight_quantizer" -> int4 per_block(32, axis=-1) qparam_calculator=minmax range_calculator=minmax\n'
        'quantizer "*mlp.down_proj.weight_quantizer" -> off\n'
    )
    text = convert(load_rule_source(rules), "quant-cfg", inv)
    entries = wildcard_from_text(text)
    names = [e.pattern for e in entries]
    assert names[0] == "*" and len(names) <= 8 and not any(c.isdigit() for n in names for c in n), names
    assert decisions(resolve(entries, inv)) == decisions(resolve(rules, inv))


def test_legacy_dict_converts_to_the_list_form(tmp_path: Path) -> None:
    legacy = tmp_path / "legacy.json"
    legacy.write_text(json.dumps({
        "quant_cfg": {"*weight_quantizer": {"num_bits": 4, "block_sizes": {"-1": 128}, "enable": True},
                      "default": {"enable": False}},
        "algorithm": "max",
    }))
    text = convert(load_rule_source(legacy), "quant-cfg")
    assert "quantizer_name: '*weight_quantizer'" in text and "quantizer_name: '*'" in text
    assert "-1: 128" in text and "algorithm: max" in text
    back = wildcard_from_text(text)
    assert not back.legacy and [e.pattern for e in back] == ["*weight_quantizer", "*"]
    assert [e.attributes() for e in back] == [e.attributes() for e in load_wildcard(legacy)]


def test_rules_without_a_model_convert_what_has_an_equivalent() -> None:
    rules = parse_rules(
        'modelopt_name "*weight_quantizer" -> float8_e4m3fn per_channel(axis=0) qparam_calculator=minmax range_calculator=minmax\n'
        'parent nn.Linear quantizer "*lm_head*" -> off\n'
        'quantizer "*input_quantizer" -> int8 qparam_calculator=static range_calculator=minmax disabled\n'
    )
    text = convert(load_rule_source(rules), "quant-cfg")
    entries = wildcard_from_text(text)
    assert [(e.pattern, e.parent_class, e.enable) for e in entries] == [
        ("*", None, False), ("*weight_quantizer", None, None), ("*lm_head*", "nn.Linear", False),
        ("*input_quantizer", None, False),
    ]
    for model in ("tiny_llama", "cnn"):
        inv = inventory(model)
        assert decisions(resolve(entries, inv)) == decisions(resolve(rules, inv))


def test_rules_without_a_model_name_each_rule_that_has_no_equivalent() -> None:
    rules = parse_rules(
        'modelopt_name "*weight_quantizer" -> float8_e4m3fn qparam_calculator=minmax range_calculator=minmax\n'
        "op linear input[0] -> int8\n"
        'modelopt_name "*x" -> int8 asymmetric qparam_calculator=minmax range_calculator=minmax\n'
        'quantizer "*y" -> enable\n',
        file="mine.qrt",
    )
    with pytest.raises(ConvertError) as info:
        convert(load_rule_source(rules), "quant-cfg")
    message = str(info.value)
    assert "3 rule(s) have no quant_cfg equivalent" in message
    assert "mine.qrt:2:1" in message and "selects by op_type, role, key" in message
    assert "mine.qrt:3:1" in message and "zero point" in message
    assert "mine.qrt:4:1" in message and "role default spec" in message


def test_rules_without_a_model_that_quantize_by_qrt_paths_are_refused() -> None:
    """A glob over qrt's paths also reaches sites no entry can (a norm's weight), so a rule
    that switches sites on by it has no quant_cfg equivalent; by ModelOpt's names it has."""
    rules = parse_rules('quantizer "*weight_quantizer" -> int8 qparam_calculator=minmax range_calculator=minmax\n', file="q.qrt")
    with pytest.raises(ConvertError) as info:
        convert(load_rule_source(rules), "quant-cfg")
    assert "q.qrt:1:1" in str(info.value) and "modelopt" in str(info.value)
    inv = inventory("tiny_llama")
    norm = next(s for s in inv.sites if s.quantizer_path.endswith("input_layernorm.mul_1.weight_quantizer"))
    assert norm.modelopt_name is None and resolve(rules, inv).decision(norm.quantizer_path).spec is not None
    with pytest.raises(ConvertError) as info:  # with the model: the plan quantizes norm weights
        convert(load_rule_source(rules), "quant-cfg", inv)
    assert "ModelOpt creates no quantizer" in str(info.value) and "input_layernorm.mul_1.weight_quantizer" in str(info.value)


def test_a_model_decision_modelopt_cannot_say_is_named() -> None:
    inv = inventory("tiny_llama")
    with pytest.raises(ConvertError) as info:
        convert(load_rule_source("rules/w8a8.qrt"), "quant-cfg", inv)
    assert "moving_average" in str(info.value) and "model.layers.0.self_attn.q_proj" in str(info.value)


def test_to_hierarchical_needs_a_model_for_rule_lists() -> None:
    with pytest.raises(ConvertError) as info:
        convert(load_rule_source("modelopt:FP8_DEFAULT_CFG"), "hierarchical")
    assert "--model" in (info.value.hint or "")


def test_what_a_hierarchical_config_cannot_say_is_refused_with_the_sites() -> None:
    """A module-level site and an op-level site on one tensor, both quantized: a hierarchical
    config lets the module level switch the op level off."""
    inv = inventory("tiny_llama")
    site = next(s for s in inv.sites if s.role == "module_input" and s.module == "model.layers.0.mlp")
    on_tensor = [s for s in inv.sites if s.tensor == site.tensor and s.role == "input"]
    assert on_tensor
    rules = parse_rules(
        f'quantizer "{site.quantizer_path}" -> int8 qparam_calculator=minmax range_calculator=minmax\n'
        f'quantizer "{on_tensor[0].quantizer_path}" -> int8 qparam_calculator=minmax range_calculator=minmax\n'
    )
    with pytest.raises(ConvertError) as info:
        convert(load_rule_source(rules), "hierarchical", inv)
    assert on_tensor[0].quantizer_path in str(info.value)


def test_cli_convert_writes_json_and_yaml(tmp_path: Path) -> None:
    out = tmp_path / "fp8.json"
    done = run_qrt("convert", "modelopt:FP8_DEFAULT_CFG", "--to", "quant-cfg", "--model", "cnn", "-o", str(out))
    assert done.returncode == 0, done.stderr
    data = json.loads(out.read_text())
    assert data["quant_cfg"][1] == {"quantizer_name": "*weight_quantizer", "cfg": {"num_bits": [4, 3], "axis": None}}
    hier = tmp_path / "fp8.yaml"
    done = run_qrt("convert", str(out), "--to", "hierarchical", "--model", "cnn", "-o", str(hier))
    assert done.returncode == 0, done.stderr
    again = run_qrt("resolve", str(hier), "--model", "cnn", "--format", "json")
    first = run_qrt("resolve", "modelopt:FP8_DEFAULT_CFG", "--model", "cnn", "--format", "json")
    assert again.returncode == 0 and first.returncode == 0, again.stderr + first.stderr
    strip = lambda text: [(s["quantizer_path"], s["decision"]) for s in json.loads(text)["sites"]]  # noqa: E731
    assert strip(again.stdout) == strip(first.stdout)


def test_cli_convert_refusal_exits_2() -> None:
    done = run_qrt("convert", "rules/w8a8.qrt", "--to", "quant-cfg")
    assert done.returncode == 2 and "no quant_cfg equivalent" in done.stderr


def test_cli_targets_are_the_tools_targets() -> None:
    from qrt.cli import convert_cmd
    from qrt.tools import convert as tool

    assert convert_cmd.TARGETS == tool.TARGETS
