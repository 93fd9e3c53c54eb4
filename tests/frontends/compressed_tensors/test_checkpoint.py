"""A quantized checkpoint folder as input: ``qrt explain DIR QUERY`` and ``qrt resolve DIR
--summary`` read its ``config.json``'s compressed-tensors ``quantization_config`` and build the
float model it describes on meta — on an export qrt itself wrote, and on a config written the
way llm-compressor writes it (``ModelCompressor.update_config``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from qrt.api import resolve
from qrt.frontends.checkpoint import checkpoint_source
from qrt.model_inventory import checkpoint_inventory
from qrt.frontends.source import load_rule_source
from tests.conftest import run_qrt

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

W4 = "spec w = int4 symmetric per_block(8) qparam_calculator=static\nop linear weight -> w\n"


def _tiny_llama() -> Any:
    return transformers.LlamaConfig(hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2,
                                    num_key_value_heads=1, vocab_size=64, max_position_embeddings=32,
                                    architectures=["LlamaForCausalLM"])


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A tiny Llama quantized by qrt (int4 weights in blocks of 8), saved and exported in
    the compressed-tensors format with its config.json; and the rule file it came from."""
    import qrt

    folder = tmp_path_factory.mktemp("export")
    rules = folder / "w4.qrt"
    rules.write_text(W4)
    config = _tiny_llama()
    config.save_pretrained(folder / "float")
    torch.manual_seed(0)
    model = transformers.AutoModelForCausalLM.from_config(config).eval()
    quantized = qrt.quantize(model, str(rules), [torch.randint(0, 64, (1, 6))])
    qrt.save_quantized(quantized, folder / "saved")
    qrt.export_compressed_tensors(folder / "saved", folder / "out", hf_config=folder / "float")
    return folder / "out", rules


def _weights(plan: Any) -> dict[str, Any]:
    """Each linear weight's decision."""
    out = {}
    for site in plan.inventory.sites:
        if site.op_type == "linear" and site.role == "state" and site.key == "weight":
            spec = plan.spec(plan.decision(site.quantizer_path))
            out[site.quantizer_path] = spec
    return out


def test_a_qrt_export_reads_back_as_the_plan_it_was_made_from(exported: tuple[Path, Path]) -> None:
    out, rules = exported
    inv = checkpoint_inventory(out)  # the model from out/config.json, on meta
    assert inv.model["spec"] == str(out)
    ours = _weights(resolve(checkpoint_source(out), inv))
    original = _weights(resolve(load_rule_source(rules), inv))
    assert ours == original and len(ours) == 8


def test_explain_and_resolve_take_the_checkpoint_folder_alone(exported: tuple[Path, Path]) -> None:
    out, _ = exported
    done = run_qrt("explain", str(out), "model.layers.0.mlp.down_proj.weight_quantizer")
    assert done.returncode == 0, done.stderr
    assert "=> int4 symmetric per_block axis=1 block_size=8 qparam_calculator=static" in done.stdout
    assert "config_groups['group_0'].targets[0]" in done.stdout and f"{out}/config.json:" in done.stdout
    assert "compressed-tensors: model.layers.0.mlp.down_proj (Linear) matches 'Linear' (class)" in done.stdout
    summary = run_qrt("resolve", str(out), "--summary")
    assert summary.returncode == 0, summary.stderr
    assert any(line.split()[:3] == ["linear", "state", "8"] and "int4" in line for line in summary.stdout.splitlines())
    assert "8 of " in summary.stdout


def _llm_compressor_config(folder: Path) -> Path:
    """config.json as llm-compressor saves it: ``ModelCompressor.update_config``'s layout,
    the ``QuantizationConfig`` dumped by compressed-tensors itself."""
    ct = pytest.importorskip("compressed_tensors")
    from compressed_tensors.quantization import QuantizationConfig

    qconfig = QuantizationConfig.model_validate({
        "config_groups": {
            "group_0": {"targets": ["Linear"], "weights": {"num_bits": 4, "type": "int", "group_size": 8,
                                                           "strategy": "group", "symmetric": True}},
            "group_1": {"targets": ["re:.*mlp\\.down_proj$", "re:.*mlp.*"],
                        "weights": {"num_bits": 8, "type": "float", "strategy": "channel"},
                        "input_activations": {"num_bits": 8, "type": "float", "strategy": "token", "dynamic": True}},
        },
        "ignore": ["lm_head"], "format": "mixed-precision", "quantization_status": "compressed",
    })
    folder.mkdir()
    _tiny_llama().save_pretrained(folder)
    config = json.loads((folder / "config.json").read_text())
    config["quantization_config"] = {"version": ct.__version__, "quant_method": "compressed-tensors",
                                     "sparsity_config": {}, "transform_config": {},
                                     **qconfig.model_dump(mode="json", exclude=["quant_method"])}
    (folder / "config.json").write_text(json.dumps(config, indent=2, sort_keys=True))
    return folder


def test_an_llm_compressor_checkpoint_config(tmp_path: Path) -> None:
    folder = _llm_compressor_config(tmp_path / "ckpt")
    done = run_qrt("explain", str(folder), "lm_head.weight_quantizer", "model.layers.0.mlp.down_proj.input_quantizer",
                   "--format", "json")
    assert done.returncode == 0, done.stderr
    sites = {s["quantizer_path"]: s for s in json.loads(done.stdout)["sites"]}
    assert sites["lm_head.weight_quantizer"]["decision"] is None  # ignore: ["lm_head"]
    down = sites["model.layers.0.mlp.down_proj.input_quantizer"]["decision"]
    assert down["dtype"] == "float8_e4m3fn" and down["extras"] == {"strategy": "token"}


def test_a_folder_without_a_compressed_tensors_config_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "float"
    _tiny_llama().save_pretrained(folder)
    done = run_qrt("explain", str(folder), "lm_head.weight_quantizer")
    assert done.returncode == 2 and "has no compressed-tensors quantization_config" in done.stderr


def test_convert_writes_a_checkpoint_as_rules_checked_on_its_model(exported: tuple[Path, Path], tmp_path: Path) -> None:
    out, _ = exported
    done = run_qrt("convert", str(out), "--to", "dsl", "-o", str(tmp_path / "rules.qrt"))
    assert done.returncode == 0, done.stderr  # written only if it resolves the same on the model
    assert "int4 symmetric per_block(8, axis=1)" in (tmp_path / "rules.qrt").read_text()
    refused = run_qrt("convert", str(out / "config.json"), "--to", "dsl")
    assert refused.returncode == 2 and "only for a given model" in refused.stderr


def test_a_config_with_rules_but_no_model_needs_model(tmp_path: Path) -> None:
    """A qrt export of a built-in model writes the quantization_config alone: the rules read,
    the model must be given."""
    folder = tmp_path / "rules-only"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"quantization_config": {
        "config_groups": {"W4A16": ["Linear"]}, "quant_method": "compressed-tensors"}}))
    refused = run_qrt("explain", str(folder), "lm_head.weight_quantizer")
    assert refused.returncode == 2 and "no model (no model_type" in refused.stderr and "--model" in refused.stderr
    with_model = run_qrt("explain", str(folder), "lm_head.weight_quantizer", "--model", "tiny_llama")
    assert with_model.returncode == 0 and "=> int4 symmetric per_block axis=1 block_size=128" in with_model.stdout


def test_a_modelopt_export_folder_answers_from_its_hf_quant_config(tmp_path: Path) -> None:
    """ModelOpt's ``hf_quant_config.json`` (as ``process_layer_quant_config`` writes it): the
    format's specs are its ModelOpt preset's (here INT4_AWQ_CFG with the checkpoint's group
    size, as qrt's ModelOpt reader resolves that preset), every Linear not matched by
    ``exclude_modules`` (fnmatch), the FP8 KV cache on the attention's cached keys/values."""
    folder = tmp_path / "mo"
    folder.mkdir()
    config = _tiny_llama().to_dict()
    (folder / "config.json").write_text(json.dumps({**config, "quantization_config": {"quant_method": "modelopt"}}))
    (folder / "hf_quant_config.json").write_text(json.dumps({
        "producer": {"name": "modelopt", "version": "0.47.0"},
        "quantization": {"quant_algo": "W4A16_AWQ", "group_size": 8, "has_zero_point": False,
                         "pre_quant_scale": True, "kv_cache_quant_algo": "FP8",
                         "exclude_modules": ["lm_head", "model.layers.0.mlp*"]}}))
    inv = checkpoint_inventory(folder)
    plan = resolve(load_rule_source(folder), inv)
    preset = resolve("modelopt:INT4_AWQ_CFG", inv)
    kv = resolve("modelopt:FP8_KV_CFG", inv)
    for site in inv.sites:
        got = plan.spec(plan.decision(site.quantizer_path))
        if site.op_type == "linear" and (site.role, site.key) in (("state", "weight"), ("input", 0)):
            want = preset.spec(preset.decision(site.quantizer_path))
            if want is not None:
                want = want.model_copy(update={"granularity": want.granularity.model_copy(update={"block_size": 8})})
            if site.module == "lm_head" or site.module.startswith("model.layers.0.mlp"):
                want = None
            assert got == want, site.quantizer_path
        elif site.modelopt_name and site.modelopt_name.endswith(("k_bmm_quantizer", "v_bmm_quantizer")):
            assert got is not None and got == kv.spec(kv.decision(site.quantizer_path))
    r = run_qrt("explain", str(folder), "model.layers.0.mlp.up_proj.weight_quantizer")
    assert r.returncode == 0 and "exclude_modules pattern 'model.layers.0.mlp*'" in r.stdout, r.stderr
    (folder / "hf_quant_config.json").write_text(json.dumps({"quantization": {"quant_algo": "NVFP4_SVD"}}))
    r = run_qrt("resolve", str(folder), "--summary")
    assert r.returncode == 2 and "quant_algo 'NVFP4_SVD' has no qrt reading" in r.stderr


def test_an_awq_checkpoint_converts_the_linears_transformers_converts(tmp_path: Path) -> None:
    """``quant_method: awq``: every Linear ``should_convert_module`` keeps, with the list
    ``get_modules_to_not_convert(..., add_default_skips=True)`` builds on the same model, gets
    AutoAWQ's int4 groups; bitsandbytes is refused, naming why."""
    from transformers import AwqConfig
    from transformers.quantizers.base import HfQuantizer
    from transformers.quantizers.quantizers_utils import should_convert_module

    folder = tmp_path / "awq"
    folder.mkdir()
    awq = {**AwqConfig(group_size=8).to_dict(), "modules_to_not_convert": ["model.layers.0.self_attn.q_proj"]}
    (folder / "config.json").write_text(json.dumps({**_tiny_llama().to_dict(), "quantization_config": awq}))
    inv = checkpoint_inventory(folder)
    plan = resolve(load_rule_source(folder), inv)
    model = transformers.AutoModelForCausalLM.from_config(_tiny_llama())
    skip = HfQuantizer.get_modules_to_not_convert(model, awq["modules_to_not_convert"], model._keep_in_fp32_modules,
                                                  add_default_skips=True)
    linears = [n for n, m in model.named_modules() if isinstance(m, torch.nn.Linear)]
    weights = _weights(plan)
    for name in linears:
        spec = weights[f"{name}.weight_quantizer"]
        if should_convert_module(name, skip):
            assert spec is not None and spec.dtype == "int4" and spec.qscheme == "asymmetric", name
        else:
            assert spec is None, name
    assert any(weights.values()) and not all(weights.values())
    bnb = {"quant_method": "bitsandbytes", "load_in_4bit": True, "bnb_4bit_quant_type": "nf4"}
    (folder / "config.json").write_text(json.dumps({**_tiny_llama().to_dict(), "quantization_config": bnb}))
    r = run_qrt("resolve", str(folder), "--summary")
    assert r.returncode == 2 and "NF4/FP4" in r.stderr and "no exact qrt spec" in r.stderr
