"""``qrt export --format compressed-tensors``: the export loads in transformers (through the
compressed-tensors library) and computes what qrt's finalized model computes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from qrt.frontends.dsl import parse_rules
from qrt.runtime.examples import EXAMPLES
from qrt.runtime.finalize.export import export_compressed_tensors
from qrt.runtime.finalize.pack import FinalizeError
from qrt.runtime.quant.quantizer import Quantizer
from tests.conftest import ROOT, run_qrt

transformers = pytest.importorskip("transformers")
pytest.importorskip("compressed_tensors")


def hf_llama(tied: bool = False) -> tuple[torch.nn.Module, tuple[torch.Tensor]]:
    cfg = transformers.LlamaConfig(vocab_size=128, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                                   num_attention_heads=4, num_key_value_heads=2, tie_word_embeddings=tied)
    torch.manual_seed(0)
    return transformers.LlamaForCausalLM(cfg).eval(), (torch.randint(0, 128, (2, 8)),)


def saved_hf(tmp_path: Path, rules: str, tied: bool = False) -> tuple[torch.Tensor, tuple[torch.Tensor], Path, Path]:
    model, inputs = hf_llama(tied)
    q = Quantizer(model, parse_rules(rules))
    q.prepare(inputs)
    with q.calibration_mode():
        model(*inputs)
    q.finalize(mmap_dir=tmp_path / "saved")
    with torch.no_grad():
        out = model(*inputs).logits
    model.config.save_pretrained(tmp_path / "hf")
    return out, inputs, tmp_path / "saved", tmp_path / "hf"


CASES = {
    "int4 weight-only": ("op linear weight -> int4 per_block(32, axis=-1) qparam_calculator=static\n"
                         'module "lm_head" op linear weight -> off\n', "pack-quantized", 0.0),
    "uint4 asymmetric": ("op linear weight -> uint4 asymmetric per_block(32, axis=-1) qparam_calculator=static\n",
                         "pack-quantized", 0.0),
    # W8A8: compressed-tensors quantizes inputs as round(x / s), qrt (torchao's arithmetic) as
    # round(x * (1/s)): an input exactly between two codes may round apart, so the logits agree
    # closely rather than bit for bit (the scales are checked equal exactly)
    "W8A8 int8": ("op linear weight -> int8 per_channel(axis=0) qparam_calculator=static\n"
                  "op linear input[0] -> int8 per_tensor qparam_calculator=minmax\n", "int-quantized", 5e-2),
    "W8A8 fp8": ("op linear weight -> float8_e4m3fn per_channel(axis=0) qparam_calculator=static\n"
                 "op linear input[0] -> float8_e4m3fn per_tensor qparam_calculator=minmax\n", "float-quantized", 5e-2),
    "MXFP4": ("op linear weight -> float4_e2m1fn_x2 per_block(32, axis=-1) scale_dtype=float8_e8m0fnu\n",
              "mxfp4-pack-quantized", 3e-2),
    "NVFP4": ("op linear weight -> float4_e2m1fn_x2 per_block(16, axis=-1) scale_dtype=float8_e4m3fn\n",
              "nvfp4-pack-quantized", 3e-2),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_the_export_loads_in_transformers_with_the_same_outputs(tmp_path: Path, case: str) -> None:
    rules, fmt, tolerance = CASES[case]
    expected, inputs, saved, hf = saved_hf(tmp_path, rules)
    report = export_compressed_tensors(saved, tmp_path / "ct", hf_config=hf)
    config = json.loads((tmp_path / "ct" / "config.json").read_text())
    assert config["model_type"] == "llama"  # the model's own config, with the block added
    qc = config["quantization_config"]
    assert qc["format"] == fmt and qc["quant_method"] == "compressed-tensors"
    assert report["modules"] == (14 if "lm_head" in rules else 15)
    assert qc["ignore"] == (["lm_head"] if "lm_head" in rules else [])
    dtype = torch.bfloat16 if "FP4" in case else torch.float32
    kwargs = {}
    if "asymmetric" in case:
        # transformers' run-compressed modules register zero points unpacked ([out, groups])
        # while compressed-tensors' own compressor (and vLLM) store them packed into int32
        # along the output axis, as qrt does; decompressing at load reads them correctly
        kwargs["quantization_config"] = transformers.CompressedTensorsConfig(dequantize=True)
    loaded = transformers.AutoModelForCausalLM.from_pretrained(tmp_path / "ct", dtype=dtype, **kwargs).eval()
    with torch.no_grad():
        got = loaded(*inputs).logits.float()
    # FP4 models run in bfloat16 there (weights decompressed on each call): their logits agree
    # to bfloat16 precision; the weights themselves are equal exactly
    # (tests/runtime/test_compressed_tensors_format.py)
    torch.testing.assert_close(got, expected, atol=tolerance, rtol=tolerance)
    if "W8A8" in case:
        from safetensors.torch import load_file

        from qrt.runtime.finalize.files import read_shard

        exported = load_file(tmp_path / "ct" / "model.safetensors")
        ours = read_shard(saved / "model-00001.safetensors")
        module = "model.layers.1.mlp.down_proj"
        assert torch.equal(exported[f"{module}.input_scale"], ours[f"{module}.input_quantizer.scale"].reshape(1))


def test_the_cli_exports_and_names_what_it_cannot_hold(tmp_path: Path) -> None:
    rules = tmp_path / "r.qrt"
    rules.write_text("op linear weight -> int4 per_block(32, axis=-1) qparam_calculator=static\n"
                     "op linear output -> int8\n")
    done = run_qrt("run", str(rules), "--model", "tiny_llama", "--finalize", str(tmp_path / "m"))
    assert done.returncode == 0, done.stderr
    refused = run_qrt("export", str(tmp_path / "m"), "--format", "compressed-tensors")
    assert refused.returncode == 2
    assert "activation quantizer(s) have no compressed-tensors form" in refused.stderr and "--weights-only" in refused.stderr
    done = run_qrt("export", str(tmp_path / "m"), "--format", "compressed-tensors", "--weights-only", "-o", str(tmp_path / "ct"))
    assert done.returncode == 0, done.stderr
    assert "15 quantized Linear modules" in done.stdout and "left in float (--weights-only): 15" in done.stderr
    qc = json.loads((tmp_path / "ct" / "config.json").read_text())["quantization_config"]
    assert qc["config_groups"]["group_0"]["targets"] == ["Linear"] and qc["format"] == "pack-quantized"
    again = run_qrt("export", str(tmp_path / "m"), "--weights-only", "-o", str(tmp_path / "ct"))
    assert again.returncode == 2 and "--overwrite" in again.stderr


def test_mixed_schemes_get_one_group_each(tmp_path: Path) -> None:
    from compressed_tensors.entrypoints.convert import CompressedTensorsDequantizer, convert_checkpoint
    from safetensors.torch import load_file

    from qrt.runtime.finalize.pack import dequantize

    rules = ("op linear weight -> int4 per_block(32, axis=-1) qparam_calculator=static\n"
             'module /.*mlp.*/ op linear weight -> int8 per_channel(axis=0) qparam_calculator=static\n')
    model, inputs = hf_llama()
    q = Quantizer(model, parse_rules(rules))
    q.prepare(inputs)
    q.finalize(mmap_dir=tmp_path / "saved")
    model.config.save_pretrained(tmp_path / "hf")
    export_compressed_tensors(tmp_path / "saved", tmp_path / "ct", hf_config=tmp_path / "hf")
    qc = json.loads((tmp_path / "ct" / "config.json").read_text())["quantization_config"]
    assert qc["format"] == "pack-quantized" and len(qc["config_groups"]) == 2  # one format, two schemes
    targets = sorted(t for g in qc["config_groups"].values() for t in g["targets"])
    assert len(targets) == 15 and "model.layers.0.mlp.up_proj" in targets
    # compressed-tensors' own checkpoint dequantizer reads every module exactly. (transformers
    # 5.23's loader reads the second group's 8-bit weights as 4-bit when both groups share the
    # pack-quantized format: its issue, not the file's — see the closing note of issue 11)
    convert_checkpoint(str(tmp_path / "ct"), str(tmp_path / "dense"),
                       CompressedTensorsDequantizer(str(tmp_path / "ct"), dtype=torch.float32), device="cpu")
    dense: dict[str, torch.Tensor] = {}
    for f in (tmp_path / "dense").glob("*.safetensors"):
        dense.update(load_file(f))
    for module in targets:
        want = dequantize(model.get_submodule(f"{module}.weight_quantizer").__dict__["packed"])
        assert torch.equal(dense[f"{module}.weight"].float(), want), module


def test_a_conv_weight_is_refused_by_name(tmp_path: Path) -> None:
    example = EXAMPLES["cnn"]
    torch.manual_seed(0)
    model = example.build().eval()
    q = Quantizer(model, parse_rules("op conv2d weight -> int8 per_channel(axis=0) qparam_calculator=static\n"))
    q.prepare(example.inputs(None, "cpu"))
    q.finalize(mmap_dir=tmp_path / "m")
    with pytest.raises(FinalizeError, match="stores quantized Linear weights only; .*weight"):
        export_compressed_tensors(tmp_path / "m", tmp_path / "ct")
    assert ROOT.is_dir()


def test_the_export_carries_the_tokenizer_and_generation_config(tmp_path: Path) -> None:
    _, _, saved, hf = saved_hf(tmp_path, CASES["int4 weight-only"][0])
    transformers = pytest.importorskip("transformers")
    transformers.GenerationConfig(max_new_tokens=3).save_pretrained(hf)
    (hf / "tokenizer_config.json").write_text('{"model_max_length": 64}\n')
    report = export_compressed_tensors(saved, tmp_path / "ct", hf_config=hf)
    assert {"generation_config.json", "tokenizer_config.json"} <= set(report["files"])
    assert (tmp_path / "ct" / "tokenizer_config.json").read_text() == '{"model_max_length": 64}\n'


def test_a_config_of_another_model_size_is_refused(tmp_path: Path) -> None:
    _, _, saved, hf = saved_hf(tmp_path, CASES["int4 weight-only"][0])
    config = json.loads((hf / "config.json").read_text())
    config["intermediate_size"] *= 2
    other = tmp_path / "other" / "config.json"
    other.parent.mkdir()
    other.write_text(json.dumps(config))
    with pytest.raises(FinalizeError, match=r"describes another model: .*mlp\.(gate|up|down)_proj\.weight: saved"):
        export_compressed_tensors(saved, tmp_path / "ct", hf_config=other)
    assert not (tmp_path / "ct").exists()  # refused before anything was written


def test_a_tied_head_that_is_quantized_exports_untied(tmp_path: Path) -> None:
    """Issue 20: the shipped w4a16/w8a8 quantize lm_head, and on a tied model (the embedding
    reads the same tensor, float) the export failed. The head is stored quantized, the
    embedding float, and the config says they are no longer tied."""
    rules = "op linear weight -> int4 per_block(32, axis=-1) qparam_calculator=static\n"
    expected, inputs, saved, hf = saved_hf(tmp_path, rules, tied=True)
    report = export_compressed_tensors(saved, tmp_path / "ct", hf_config=hf)
    assert report["modules"] == 15
    config = json.loads((tmp_path / "ct" / "config.json").read_text())
    assert config["tie_word_embeddings"] is False and config["quantization_config"]["ignore"] == []
    loaded = transformers.AutoModelForCausalLM.from_pretrained(tmp_path / "ct").eval()
    with torch.no_grad():
        got = loaded(*inputs).logits.float()
    torch.testing.assert_close(got, expected, atol=0.0, rtol=0.0)


def test_nvfp4_fused_layers_share_one_global_scale(tmp_path: Path) -> None:
    """vLLM fuses q/k/v and gate/up into one matrix with one NVFP4 global scale (the largest
    when a checkpoint's differ, which changes the numbers): qrt gives them one scale before
    block scales are computed, as llm-compressor does, in fake quantization and packing alike,
    so the finalized model, the export and what vLLM computes agree."""
    from safetensors.torch import load_file

    from qrt.runtime.quant.numerics import nvfp4_global_scale

    model, inputs = hf_llama()
    own = {name: nvfp4_global_scale(module.weight.detach()) for name, module in model.named_modules()
           if isinstance(module, torch.nn.Linear)}
    expected, inputs, saved, hf = saved_hf(tmp_path, CASES["NVFP4"][0])
    export_compressed_tensors(saved, tmp_path / "ct", hf_config=hf)
    exported = load_file(tmp_path / "ct" / "model.safetensors")
    for layer in range(2):
        for parent, group in (("self_attn", ("q_proj", "k_proj", "v_proj")), ("mlp", ("gate_proj", "up_proj"))):
            names = [f"model.layers.{layer}.{parent}.{child}" for child in group]
            scales = {float(exported[f"{n}.weight_global_scale"]) for n in names}
            assert len(scales) == 1, (names, scales)
            # the group's amax: compressed-tensors stores the reciprocal of qrt's multiplier
            assert scales.pop() == pytest.approx(1 / max(float(own[n]) for n in names), rel=1e-6)
            assert len({float(own[n]) for n in names}) > 1  # the members' own scales differ
    o_proj = [float(exported[f"model.layers.{i}.self_attn.o_proj.weight_global_scale"]) for i in range(2)]
    assert o_proj == pytest.approx([1 / float(own[f"model.layers.{i}.self_attn.o_proj"]) for i in range(2)], rel=1e-6)


def test_nvfp4_activations_export_as_compressed_tensors_nvfp4(tmp_path: Path) -> None:
    """NVFP4 (W4A4) inputs — ModelOpt's NVFP4_DEFAULT_CFG — export as compressed-tensors'
    NVFP4 preset: dynamic block scales under a static global scale, which qrt calibrates (the
    largest magnitude seen) and writes as ``input_global_scale`` in compressed-tensors'
    convention (its own ``generate_gparam`` of the same range gives the same value)."""
    from compressed_tensors.quantization import QuantizationArgs
    from compressed_tensors.quantization.quant_scheme import PRESET_SCHEMES
    from compressed_tensors.quantization.utils import generate_gparam
    from safetensors.torch import load_file

    from qrt.runtime.finalize.files import read_shard

    nvfp4 = "float4_e2m1fn_x2 per_block(16, axis=-1) scale_dtype=float8_e4m3fn"
    _, _, saved, hf = saved_hf(tmp_path, f"op linear weight -> {nvfp4}\nop linear input[0] -> {nvfp4}\n")
    export_compressed_tensors(saved, tmp_path / "ct", hf_config=hf)
    qc = json.loads((tmp_path / "ct" / "config.json").read_text())["quantization_config"]
    (group,) = qc["config_groups"].values()
    assert qc["format"] == "nvfp4-pack-quantized"
    ours = QuantizationArgs(**group["input_activations"])
    preset = PRESET_SCHEMES["NVFP4"]["input_activations"]
    assert ours.model_dump() == preset.model_dump()
    exported = load_file(tmp_path / "ct" / "model.safetensors")
    stored = read_shard(saved / "model-00001.safetensors")
    for module in ("model.layers.0.self_attn.q_proj", "model.layers.1.mlp.down_proj"):
        amax = stored[f"{module}.input_quantizer.max_val"]
        assert amax.numel() == 1 and float(amax) > 0
        torch.testing.assert_close(exported[f"{module}.input_global_scale"], generate_gparam(-amax, amax).reshape(1),
                                   rtol=1e-6, atol=0)


def test_an_mx_input_is_refused_with_the_rounding_that_differs(tmp_path: Path) -> None:
    """compressed-tensors computes dynamic MX activation scales by rounding each block's
    largest magnitude to a power of two; qrt floors it. The export would not compute what qrt
    measured, so it is refused with the way out (the MX weights alone are exact)."""
    rules = tmp_path / "r.qrt"
    mx = "float4_e2m1fn_x2 per_block(32, axis=-1) scale_dtype=float8_e8m0fnu"
    rules.write_text(f"op linear weight -> {mx}\nop linear input[0] -> {mx}\n")
    done = run_qrt("run", str(rules), "--model", "tiny_llama", "--finalize", str(tmp_path / "m"), "--no-compare")
    assert done.returncode == 0, done.stderr
    refused = run_qrt("export", str(tmp_path / "m"), "--format", "compressed-tensors", "-o", str(tmp_path / "ct"))
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
    assert "MX input quantizer" in refused.stderr and "rounded, not floored" in refused.stderr, refused.stderr
    assert not (tmp_path / "ct").exists()
    done = run_qrt("export", str(tmp_path / "m"), "--format", "compressed-tensors", "--weights-only", "-o", str(tmp_path / "ct"))
    assert done.returncode == 0, done.stderr
    groups = json.loads((tmp_path / "ct" / "config.json").read_text())["quantization_config"]["config_groups"]
    assert [g["format"] for g in groups.values()] == ["mxfp4-pack-quantized"]


def test_overwrite_replaces_an_earlier_export_whole_and_keeps_other_files(tmp_path: Path) -> None:
    """An export is written beside OUT and moved in: into an existing OUT (--overwrite) the
    shards and index of an earlier, larger export go (a loader would read a stale index before
    the new model.safetensors), the user's other files stay, and no scratch folder remains."""
    expected, inputs, saved, hf = saved_hf(tmp_path, CASES["int4 weight-only"][0])
    out = tmp_path / "ct"
    out.mkdir()
    for stale in ("model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors",
                  "model.safetensors.index.json", "config.json"):
        (out / stale).write_text("stale")
    (out / "NOTES.md").write_text("mine")
    with pytest.raises(FinalizeError, match="not empty"):
        export_compressed_tensors(saved, out, hf_config=hf)
    export_compressed_tensors(saved, out, hf_config=hf, overwrite=True)
    assert sorted(p.name for p in out.iterdir()) == ["NOTES.md", "config.json", "model.safetensors"]
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []
    loaded = transformers.AutoModelForCausalLM.from_pretrained(out).eval()
    with torch.no_grad():
        assert torch.equal(loaded(*inputs).logits, expected)
