"""``--model DIR`` on a Hugging Face checkpoint folder runs on its weights (issue 20).

Checkpoints are written here with transformers' own ``save_pretrained`` from tiny random
configs; the weights qrt runs on are compared with the files, tensor by tensor.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from qrt import ModelSourceError, load_model_inventory, parse_model_spec
from qrt.runtime.quant.run import run_config
from qrt.runtime.sources import build_model
from tests.conftest import ROOT, run_qrt

transformers = pytest.importorskip("transformers")
safetensors_torch = pytest.importorskip("safetensors.torch")

W8A8 = str(ROOT / "rules" / "w8a8.qrt")


def _llama_config(layers: int = 2) -> "transformers.LlamaConfig":
    return transformers.LlamaConfig(vocab_size=128, hidden_size=64, intermediate_size=128, num_hidden_layers=layers,
                                    num_attention_heads=4, num_key_value_heads=2, tie_word_embeddings=False)


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """fp32/ and bf16/ checkpoints of one model whose lm_head is all 0.5, and cfgonly/."""
    root = tmp_path_factory.mktemp("ckpt")
    torch.manual_seed(1)
    model = transformers.LlamaForCausalLM(_llama_config())
    with torch.no_grad():
        model.lm_head.weight.fill_(0.5)
    model.save_pretrained(root / "fp32")
    model.to(torch.bfloat16).save_pretrained(root / "bf16")
    _llama_config().save_pretrained(root / "cfgonly")
    return root


def test_the_runtime_runs_on_the_checkpoints_weights(checkpoints: Path) -> None:
    built = build_model(parse_model_spec(str(checkpoints / "fp32")), device="cpu")
    saved = safetensors_torch.load_file(str(checkpoints / "fp32" / "model.safetensors"))
    state = built.model.state_dict()
    assert set(saved) <= set(state)
    for name, tensor in saved.items():
        assert torch.equal(state[name], tensor), name
    assert built.info["weights"].startswith("checkpoint")
    run_config(W8A8, built.model, built.args, built.kwargs, batches=2)
    scale = built.model.get_submodule("lm_head.weight_quantizer").scale
    assert torch.allclose(scale, torch.full_like(scale, 0.5 / 127), rtol=0.01)  # random weights: 0.0004


def test_a_checkpoint_keeps_its_dtype_unless_told(checkpoints: Path) -> None:
    spec = parse_model_spec(str(checkpoints / "bf16"))
    assert next(build_model(spec, device="cpu").model.parameters()).dtype == torch.bfloat16
    assert next(build_model(spec, device="cpu", dtype="float32").model.parameters()).dtype == torch.float32
    done = run_qrt("run", W8A8, "--model", str(checkpoints / "bf16"), "--batches", "2")
    assert done.returncode == 0, done.stderr
    assert "weights from its checkpoint (1 safetensors file), cpu, bfloat16)" in done.stdout
    assert done.stderr == ""  # no "Loading weights" bar from transformers


def test_a_config_without_weights_runs_only_on_purpose(checkpoints: Path) -> None:
    refused = run_qrt("run", W8A8, "--model", str(checkpoints / "cfgonly"), "--batches", "2")
    assert refused.returncode == 2
    assert "no weights beside it" in refused.stderr and "--random-weights" in refused.stderr
    done = run_qrt("run", W8A8, "--model", str(checkpoints / "cfgonly"), "--batches", "2", "--random-weights",
                   "--format", "json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["weights"] == "random"
    # a plan needs no weights: resolve and explain stay on meta, checkpoint or not
    assert run_qrt("resolve", W8A8, "--model", str(checkpoints / "cfgonly"), "--summary").returncode == 0
    assert load_model_inventory(str(checkpoints / "fp32")).model["device"] == "meta"


def test_pickled_weights_are_refused(tmp_path: Path) -> None:
    _llama_config().save_pretrained(tmp_path)
    (tmp_path / "pytorch_model.bin").write_bytes(b"not read")
    with pytest.raises(ModelSourceError, match="pickle") as err:
        build_model(parse_model_spec(str(tmp_path)), device="cpu")
    assert "safetensors" in (err.value.hint or "")


def test_a_checkpoint_that_does_not_fit_its_config_is_refused(checkpoints: Path, tmp_path: Path) -> None:
    folder = tmp_path / "three_layers"
    folder.mkdir()
    (folder / "model.safetensors").symlink_to(checkpoints / "fp32" / "model.safetensors")
    _llama_config(layers=3).save_pretrained(folder)
    with pytest.raises(ModelSourceError, match=r"not in the checkpoint \(would stay random\): .*layers\.2\."):
        build_model(parse_model_spec(str(folder)), device="cpu")


def test_an_already_quantized_checkpoint_is_refused(tmp_path: Path) -> None:
    config = _llama_config().to_dict()
    config["quantization_config"] = {"quant_method": "compressed-tensors", "config_groups": {}}
    (tmp_path / "config.json").write_text(json.dumps(config))
    with pytest.raises(ModelSourceError, match="already quantized \\(compressed-tensors\\)"):
        build_model(parse_model_spec(str(tmp_path)), device="cpu")
