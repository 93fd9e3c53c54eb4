"""Finalize to disk, save and load: safetensors shards + manifest, memory-mapped reload, the
saved plan, and every way a saved model can be wrong."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import jsonschema
import pytest
import torch

from qrt.frontends.dsl import parse_rules
from qrt.resources import schema
from qrt.runtime.examples import EXAMPLES
from qrt.runtime.finalize.files import read_shard
from qrt.runtime.finalize.pack import FinalizeError
from qrt.runtime.finalize.load import load_quantized
from qrt.runtime.finalize.saved import save_quantized
from qrt.runtime.quant.quantizer import Quantizer

RULES = (
    "op linear weight -> int4 per_block(32, axis=-1) qparam_calculator=static\n"
    "op linear input[0] -> int8 qparam_calculator=minmax\n"
)


def calibrated(rules: str = RULES, name: str = "tiny_llama") -> tuple[torch.nn.Module, Quantizer, tuple, torch.Tensor]:  # type: ignore[type-arg]
    example = EXAMPLES[name]
    torch.manual_seed(0)
    model = example.build().eval()
    inputs = example.inputs(None, "cpu")
    q = Quantizer(model, parse_rules(rules, file="rules.qrt"))
    q.prepare(inputs)
    with q.calibration_mode():
        model(*inputs)
    with torch.no_grad():
        out = model(*inputs)
    return model, q, inputs, out


def fresh(name: str = "tiny_llama") -> torch.nn.Module:
    with torch.device("meta"):
        model = EXAMPLES[name].build()
    return model.eval()


def mapped_files() -> str:
    return Path("/proc/self/maps").read_text()


def is_mapped_from(t: torch.Tensor, path: Path) -> bool:
    """Whether ``t``'s memory lies in a mapping of ``path`` (Linux's /proc/self/maps)."""
    ptr = t.untyped_storage().data_ptr()
    for line in mapped_files().splitlines():
        parts = line.split()
        if len(parts) >= 6 and parts[5] == str(path.resolve()):
            lo, hi = (int(x, 16) for x in parts[0].split("-"))
            if lo <= ptr < hi:
                return True
    return False


def test_finalize_to_a_directory_maps_the_model_onto_its_files(tmp_path: Path) -> None:
    model, q, inputs, prepared = calibrated()
    q.finalize(mmap_dir=tmp_path / "m")
    with torch.no_grad():
        torch.testing.assert_close(model(*inputs), prepared)
    manifest = json.loads((tmp_path / "m" / "qrt-manifest.json").read_text())
    jsonschema.validate(manifest, schema("quantized-manifest"))
    assert q.finalize_report["weights"] == 15 and q.finalize_report["files"][0]["name"] == "model-00001.safetensors"
    shard = tmp_path / "m" / "model-00001.safetensors"
    packed = model.get_submodule("model.layers.0.mlp.up_proj.weight_quantizer").__dict__["packed"]
    if sys.platform == "linux":
        # the packed weights, the unquantized ones and the activation scales all live in the file
        assert is_mapped_from(packed.data, shard)
        assert is_mapped_from(model.get_submodule("model.embed_tokens").weight, shard)
        assert is_mapped_from(model.get_submodule("model.layers.0.mlp.up_proj.input_quantizer").scale, shard)
    assert model.get_submodule("model.layers.0.mlp.up_proj").weight.numel() == 0
    # the plan that made it, with the rule origins
    site = next(s for s in manifest["plan"]["sites"] if s["quantizer_path"] == "model.layers.0.mlp.up_proj.weight_quantizer")
    assert site["origin"] == "rules.qrt:1:1"


def test_sizes_on_disk_are_the_bits_per_weight_plus_scales(tmp_path: Path) -> None:
    model, q, _, _ = calibrated()
    q.finalize(mmap_dir=tmp_path / "m")
    manifest = json.loads((tmp_path / "m" / "qrt-manifest.json").read_text())
    tensors = read_shard(tmp_path / "m" / "model-00001.safetensors")
    for path, record in manifest["packed"].items():
        out_features, in_features = record["layout"]["shape"]
        data = tensors[record["tensors"]["data"]]
        scale = tensors[record["tensors"]["scale"]]
        assert data.numel() * data.element_size() == out_features * in_features // 2, path  # 4 bits per weight
        assert scale.numel() == out_features * in_features // 32 and scale.dtype == torch.float32, path
        assert "zero_point" not in record["tensors"]  # symmetric


def test_load_into_a_meta_model_gives_the_same_outputs_and_saves_identically(tmp_path: Path) -> None:
    model, q, inputs, prepared = calibrated()
    q.finalize(mmap_dir=tmp_path / "m")
    loaded = load_quantized(tmp_path / "m", fresh())
    with torch.no_grad():
        assert torch.equal(loaded(*inputs), model(*inputs))
    assert not any(p.is_meta for p in loaded.parameters())
    save_quantized(loaded, tmp_path / "again")
    first = read_shard(tmp_path / "m" / "model-00001.safetensors")
    second = read_shard(tmp_path / "again" / "model-00001.safetensors")
    assert first.keys() == second.keys()
    for name in first:
        assert first[name].dtype == second[name].dtype and torch.equal(first[name].view(torch.uint8), second[name].view(torch.uint8)), name


@pytest.mark.parametrize("spec", [
    "int8 per_channel(axis=0) qparam_calculator=static",
    "uint4 asymmetric per_block(32, axis=-1) qparam_calculator=static",
    "float8_e4m3fn per_channel(axis=0) qparam_calculator=static",
    "float4_e2m1fn_x2 per_block(32, axis=-1) scale_dtype=float8_e8m0fnu",
    "float4_e2m1fn_x2 per_block(16, axis=-1) scale_dtype=float8_e4m3fn",
])
def test_save_an_unfinalized_model_and_load_it_finalized(tmp_path: Path, spec: str) -> None:
    model, _, inputs, prepared = calibrated(f"op linear weight -> {spec}\nop linear input[0] -> int8 qparam_calculator=minmax\n")
    save_quantized(model, tmp_path / "s")
    assert model.get_submodule("model.layers.0.mlp.up_proj").weight.numel() > 0  # saving changes nothing
    loaded = load_quantized(tmp_path / "s", fresh())
    with torch.no_grad():
        torch.testing.assert_close(loaded(*inputs), prepared)


def test_a_tied_embedding_read_unquantized_stays_dense(tmp_path: Path) -> None:
    transformers = pytest.importorskip("transformers")
    cfg = transformers.LlamaConfig(vocab_size=128, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                                   num_attention_heads=4, num_key_value_heads=2, tie_word_embeddings=True)
    torch.manual_seed(0)
    model = transformers.LlamaForCausalLM(cfg).eval()
    inputs = (torch.randint(0, 128, (2, 8)),)
    q = Quantizer(model, parse_rules("op linear weight -> int4 per_block(32, axis=-1) qparam_calculator=static\n"))
    q.prepare(inputs)
    with torch.no_grad():
        prepared = model(*inputs).logits
    q.finalize(mmap_dir=tmp_path / "hf")
    assert list(q.finalize_report["kept_dense"]) == ["model.embed_tokens.weight"]
    assert model.model.embed_tokens.weight.numel() == 128 * 64
    with torch.no_grad():
        torch.testing.assert_close(model(*inputs).logits, prepared)
    with torch.device("meta"):
        empty = transformers.LlamaForCausalLM(cfg)
    loaded = load_quantized(tmp_path / "hf", empty.eval())
    assert loaded.lm_head.weight is loaded.model.embed_tokens.weight  # still tied
    with torch.no_grad():
        torch.testing.assert_close(loaded(*inputs).logits, prepared)


# -- bad input -----------------------------------------------------------------------------------


def test_saving_an_unprepared_model_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(FinalizeError, match="not prepared by qrt"):
        save_quantized(EXAMPLES["tiny_llama"].build(), tmp_path / "x")


def test_a_missing_or_changed_file_is_named(tmp_path: Path) -> None:
    _, q, _, _ = calibrated()
    q.finalize(mmap_dir=tmp_path / "m")
    shard = tmp_path / "m" / "model-00001.safetensors"
    data = shard.read_bytes()
    shard.write_bytes(data + b"\0")
    with pytest.raises(FinalizeError, match="model-00001.safetensors: the file changed since it was written"):
        load_quantized(tmp_path / "m", fresh())
    # the same size, other contents: caught by verify
    changed = bytearray(data)
    changed[-1] ^= 0xFF
    shard.write_bytes(bytes(changed))
    load_quantized(tmp_path / "m", fresh())  # size and header agree: not checked without verify
    with pytest.raises(FinalizeError, match="contents differ"):
        load_quantized(tmp_path / "m", fresh(), verify=True)
    shard.unlink()
    with pytest.raises(FinalizeError, match="model-00001.safetensors: the file is missing"):
        load_quantized(tmp_path / "m", fresh())


def test_a_manifest_from_another_version_or_model_is_refused(tmp_path: Path) -> None:
    _, q, inputs, prepared = calibrated()
    q.finalize(mmap_dir=tmp_path / "m")
    with pytest.raises(FinalizeError, match="saved from another model \\(TinyLlama"):
        load_quantized(tmp_path / "m", fresh("cnn"))
    path = tmp_path / "m" / "qrt-manifest.json"
    manifest = json.loads(path.read_text())
    path.write_text(json.dumps({**manifest, "qrt_version": "0.0.1"}))
    with pytest.raises(FinalizeError, match="written by qrt 0.0.1, this is qrt"):
        load_quantized(tmp_path / "m", fresh())
    loaded = load_quantized(tmp_path / "m", fresh(), allow_version_mismatch=True)
    with torch.no_grad():
        torch.testing.assert_close(loaded(*inputs), prepared)
    path.write_text(json.dumps({**manifest, "format_version": 7}))
    with pytest.raises(FinalizeError, match="format_version 7; this qrt .* reads version 1"):
        load_quantized(tmp_path / "m", fresh())
    path.write_text(json.dumps({**manifest, "packed": {"x": {"parameter": "p"}}}))
    with pytest.raises(FinalizeError, match="packed/x: 'dtype' is a required property"):
        load_quantized(tmp_path / "m", fresh())
    path.write_text("{\n  oops")
    with pytest.raises(FinalizeError, match="qrt-manifest.json:2:3: not valid JSON"):
        load_quantized(tmp_path / "m", fresh())
    with pytest.raises(FinalizeError, match="no manifest"):
        load_quantized(tmp_path, fresh())


def test_the_saved_plan_is_checked_against_its_rules(tmp_path: Path) -> None:
    _, q, _, _ = calibrated()
    q.finalize(mmap_dir=tmp_path / "m")
    path = tmp_path / "m" / "qrt-manifest.json"
    manifest = json.loads(path.read_text())
    manifest["rules"]["dsl"] = manifest["rules"]["dsl"].replace("int4", "int8")
    path.write_text(json.dumps(manifest))
    with pytest.raises(FinalizeError, match="the manifest's rules now decide"):
        load_quantized(tmp_path / "m", fresh())


def test_directories_are_not_overwritten_by_accident(tmp_path: Path) -> None:
    model, q, _, _ = calibrated()
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "notes.txt").write_text("mine")
    with pytest.raises(FinalizeError, match="exists and is not empty"):
        save_quantized(model, tmp_path / "busy")
    with pytest.raises(FinalizeError, match="not a saved qrt model"):
        save_quantized(model, tmp_path / "busy", overwrite=True)
    save_quantized(model, tmp_path / "s")
    save_quantized(model, tmp_path / "s", overwrite=True)
    q.finalize(mmap_dir=tmp_path / "m")
    with pytest.raises(FinalizeError, match="reads its weights from this directory"):
        save_quantized(model, tmp_path / "m", overwrite=True)
    with pytest.raises(FinalizeError, match="finalized already"):
        q.finalize()


# -- the CLI and the public API ------------------------------------------------------------------


def test_qrt_run_finalize_writes_the_model_and_prints_sizes(tmp_path: Path) -> None:
    from tests.conftest import ROOT, run_qrt

    out = tmp_path / "fin"
    done = run_qrt("run", str(ROOT / "rules" / "w8a8.qrt"), "--model", "tiny_llama", "--finalize", str(out))
    assert done.returncode == 0, done.stderr
    assert "finalized into" in done.stdout and "15 weights packed" in done.stdout
    assert "finalized vs prepared output: max abs difference 0" in done.stdout
    assert (out / "qrt-manifest.json").is_file() and (out / "model-00001.safetensors").is_file()
    as_json = run_qrt("run", str(ROOT / "rules" / "w8a8.qrt"), "--model", "tiny_llama", "--finalize", str(tmp_path / "j"),
                      "--format", "json")
    report = json.loads(as_json.stdout)["finalized"]
    # int8 weights: a quarter of the float32 bytes, plus one float32 scale per output channel
    assert report["dense_weight_bytes"] / report["packed_weight_bytes"] == pytest.approx(4, rel=0.1)
    # the saved model explains itself, without --model
    explained = run_qrt("explain", str(out), "lm_head.weight_quantizer", "--format", "json")
    assert explained.returncode == 0, explained.stderr
    site = json.loads(explained.stdout)["sites"][0]
    assert site["decision"]["dtype"] == "int8" and "w8a8.qrt" in json.dumps(site)
    # the same directory loads through the public API
    import qrt

    model = qrt.load_quantized(out, fresh())
    assert model.get_submodule("lm_head").weight.numel() == 0
    again = run_qrt("run", str(ROOT / "rules" / "w8a8.qrt"), "--model", "tiny_llama", "--finalize", str(out))
    assert again.returncode == 0, again.stderr  # a re-run replaces the model it saved before …
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep")
    busy = run_qrt("run", str(ROOT / "rules" / "w8a8.qrt"), "--model", "tiny_llama", "--finalize", str(tmp_path / "mine"))
    assert busy.returncode != 0 and "not a saved qrt model" in busy.stderr  # … and nothing else
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep"
