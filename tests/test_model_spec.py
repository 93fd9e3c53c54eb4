"""``--model SPEC``: every form, and a clear exit-2 error for every way it can go wrong."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from qrt import ModelSourceError, load_model_inventory, parse_model_spec
from tests.conftest import run_qrt

FACTORY = '''
import torch
from torch import nn

class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 2)
    def forward(self, x, *, scale=None):
        y = self.fc(x)
        return y * scale if scale is not None else y

def with_inputs():
    return Net(), (torch.randn(3, 4),)

def with_kwargs():
    return Net(), {"x": torch.randn(3, 4), "scale": torch.ones(2)}

def model_only():
    return Net()

def broken():
    raise RuntimeError("no weights here")

def bad_forward():
    return Net(), (torch.randn(3, 5),)

not_callable = 3
'''


@pytest.fixture()
def factory_file(tmp_path: Path) -> Path:
    path = tmp_path / "mymodels.py"
    path.write_text(FACTORY)
    return path


def test_spec_kinds(tmp_path: Path, factory_file: Path) -> None:
    assert parse_model_spec("two_add").kind == "builtin"
    assert parse_model_spec("builtin:cnn").kind == "builtin"
    assert parse_model_spec(f"{factory_file}:with_inputs").kind == "file"
    assert parse_model_spec("mypkg.models:make").kind == "module"
    cfg = tmp_path / "config.json"
    cfg.write_text(json.dumps({"model_type": "llama"}))
    assert parse_model_spec(str(cfg)).kind == "hf"
    assert parse_model_spec(str(tmp_path)).kind == "hf"


def test_file_factory_with_args_and_kwargs(factory_file: Path) -> None:
    inv = load_model_inventory(f"{factory_file}:with_inputs")
    assert [op.name for op in inv.ops] == ["fc.linear"]
    inv = load_model_inventory(f"{factory_file}:with_kwargs")
    assert [op.name for op in inv.ops] == ["fc.linear", "mul"]
    assert {s.arg_name for s in inv.sites if s.role == "module_input" and s.module == ""} == {"x", None}


def test_model_only_factory_needs_input_shape(factory_file: Path) -> None:
    with pytest.raises(ModelSourceError, match="--input-shape"):
        load_model_inventory(f"{factory_file}:model_only")
    inv = load_model_inventory(f"{factory_file}:model_only", input_shapes=[(5, 4)])
    assert inv.sites[0].shape == (5, 4)


def test_module_factory(factory_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(factory_file.parent))
    inv = load_model_inventory("mymodels:with_inputs")
    assert [op.name for op in inv.ops] == ["fc.linear"]


@pytest.mark.parametrize(
    ("suffix", "message"),
    [
        (":broken", "factory .* raised RuntimeError: no weights here"),
        (":nope", "has no attribute 'nope'"),
        (":not_callable", "is not callable"),
        (":bad_forward", "forward failed while tracing"),
    ],
)
def test_bad_factories_exit_2_without_traceback(factory_file: Path, suffix: str, message: str) -> None:
    result = run_qrt("inspect", "--model", f"{factory_file}{suffix}")
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    import re

    assert re.search(message, result.stderr), result.stderr


def test_factory_error_points_at_the_users_line(factory_file: Path) -> None:
    result = run_qrt("inspect", "--model", f"{factory_file}:broken")
    assert f"{factory_file}:23" in result.stderr  # the `raise` line


def test_debug_shows_the_traceback(factory_file: Path) -> None:
    result = run_qrt("inspect", "--model", f"{factory_file}:broken", "--debug")
    assert result.returncode == 2
    assert "Traceback" in result.stderr


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("nosuchmodel", "cannot tell what model"),
        ("two_ad", "cannot tell what model"),
        ("builtin:two_ad", "did you mean 'two_add'"),
        ("no.such.module:make", "cannot import module 'no.such.module'"),
        ("missing.py:make", "no such file: missing.py"),
    ],
)
def test_bad_specs(spec: str, message: str) -> None:
    result = run_qrt("inspect", "--model", spec)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_hf_config_on_meta(tmp_path: Path) -> None:
    pytest.importorskip("transformers")
    cfg = {
        "model_type": "llama",
        "architectures": ["LlamaForCausalLM"],
        "vocab_size": 64,
        "hidden_size": 32,
        "intermediate_size": 64,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
    }
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    inv = load_model_inventory(str(tmp_path / "config.json"))
    assert inv.model["device"] == "meta"
    assert "model.layers.1.mlp.down_proj.linear" in inv.op_names
    # a model directory works the same
    inv2 = load_model_inventory(str(tmp_path), input_shapes=[(2, 5)])
    assert inv2.model["inputs"][0]["shape"] == [2, 5]


def test_inventory_spec_needs_no_torch(tmp_path: Path) -> None:
    out = tmp_path / "inv.json"
    result = run_qrt("inspect", "--model", "two_add", "--format", "json", "-o", str(out))
    assert result.returncode == 0, result.stderr
    code = (
        "import sys, qrt\n"
        f"inv = qrt.load_model_inventory({str(out)!r})\n"
        "assert 'torch' not in sys.modules\n"
        "print(len(inv.sites))\n"
    )
    import subprocess
    import sys

    from tests.conftest import ROOT

    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "18"


def _types(inv_json: str) -> set[str]:
    data = json.loads(inv_json)
    return {m["type"] for m in data["modules"]}


def test_a_file_factory_names_its_classes_after_the_file_in_every_process(factory_file: Path) -> None:
    """docs/semantics.md §1: ``path/to/mymodels.py:factory`` is imported as module ``mymodels``, so a
    rule can say ``type mymodels.Net`` and two processes write the same inventory."""
    runs = [run_qrt("inspect", "--model", f"{factory_file}:with_inputs", "--format", "json", fresh=True)
            for _ in range(2)]
    assert [r.returncode for r in runs] == [0, 0], runs[0].stderr
    assert runs[0].stdout == runs[1].stdout
    assert "mymodels.Net" in _types(runs[0].stdout)
    rules = factory_file.parent / "rules.qrt"
    rules.write_text("type mymodels.Net op linear weight -> int8 per_channel(axis=0)\n")
    result = run_qrt("resolve", str(rules), "--model", f"{factory_file}:with_inputs", "--summary")
    assert result.returncode == 0, result.stderr
    assert "fc.weight_quantizer" in run_qrt("resolve", str(rules), "--model", f"{factory_file}:with_inputs").stdout


def test_a_file_named_like_an_imported_module_is_refused(tmp_path: Path) -> None:
    clash = tmp_path / "json.py"
    clash.write_text(FACTORY)
    with pytest.raises(ModelSourceError, match="already the module") as err:
        load_model_inventory(f"{clash}:with_inputs")
    assert "rename the file" in (err.value.hint or "")
    odd = tmp_path / "my-models.py"
    odd.write_text(FACTORY)
    with pytest.raises(ModelSourceError, match="not a Python module name"):
        load_model_inventory(f"{odd}:with_inputs")


def test_a_changed_file_is_loaded_again(tmp_path: Path) -> None:
    path = tmp_path / "reloaded.py"
    path.write_text(FACTORY)
    assert [op.name for op in load_model_inventory(f"{path}:with_inputs").ops] == ["fc.linear"]
    path.write_text(FACTORY.replace("y = self.fc(x)", "y = self.fc(x).relu()"))
    assert [op.name for op in load_model_inventory(f"{path}:with_inputs").ops] == ["fc.linear", "relu"]


TINY_HF = {
    "t5": {"model_type": "t5", "vocab_size": 64, "d_model": 32, "d_kv": 8, "d_ff": 64, "num_layers": 1, "num_heads": 2},
    "vit": {"model_type": "vit", "hidden_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2,
            "intermediate_size": 64, "image_size": 32, "patch_size": 8},
    "bert": {"model_type": "bert", "vocab_size": 64, "hidden_size": 32, "num_hidden_layers": 1,
             "num_attention_heads": 2, "intermediate_size": 64},
    "whisper": {"model_type": "whisper", "vocab_size": 64, "d_model": 32, "encoder_layers": 1, "decoder_layers": 1,
                "encoder_attention_heads": 2, "decoder_attention_heads": 2, "encoder_ffn_dim": 64,
                "decoder_ffn_dim": 64, "num_mel_bins": 16, "max_source_positions": 16, "max_target_positions": 16,
                "pad_token_id": 0, "bos_token_id": 1, "eos_token_id": 2, "decoder_start_token_id": 1},
}


@pytest.mark.parametrize(
    ("name", "cls", "inputs"),
    [
        ("t5", "T5ForConditionalGeneration", [[0, [1, 8], "int64"], ["decoder_input_ids", [1, 4], "int64"]]),
        ("vit", "ViTForImageClassification", [[0, [1, 3, 32, 32], "float32"]]),
        ("bert", "BertForMaskedLM", [[0, [1, 8], "int64"]]),
        ("whisper", "WhisperForConditionalGeneration", [[0, [1, 16, 32], "float32"], ["decoder_input_ids", [1, 4], "int64"]]),
    ],
)
def test_hf_configs_of_every_shape_get_the_inputs_their_forward_takes(
    tmp_path: Path, name: str, cls: str, inputs: list[list[object]]
) -> None:
    """Encoder-decoder, vision and speech configs (no ``architectures``) build with their head
    and example inputs read from the forward signature and the config."""
    pytest.importorskip("transformers")
    (tmp_path / "config.json").write_text(json.dumps(TINY_HF[name]))
    inv = load_model_inventory(str(tmp_path))
    assert inv.model["class"].endswith("." + cls)
    assert [[i["key"], i["shape"], i["dtype"]] for i in inv.model["inputs"]] == inputs
    assert any(s.quantizer_path.endswith("weight_quantizer") for s in inv.sites)


@pytest.mark.parametrize("name", ["t5", "vit"])
def test_qrt_run_on_an_encoder_decoder_and_a_vision_config(tmp_path: Path, name: str) -> None:
    pytest.importorskip("transformers")
    (tmp_path / "config.json").write_text(json.dumps(TINY_HF[name]))
    done = run_qrt("run", "rules/w8a8.qrt", "--model", str(tmp_path), "--batches", "2", "--random-weights",
                   cwd=Path(__file__).parent.parent)
    assert done.returncode == 0, done.stderr
    assert "cosine" in done.stdout


def test_a_hostile_hf_config_is_a_clean_error(tmp_path: Path) -> None:
    """Issue 19's doors into the model source: a config.json that is /dev/zero (read without
    bound before), binary, or JSON that is not an object."""
    zero = tmp_path / "zero" / "config.json"
    zero.parent.mkdir()
    zero.symlink_to("/dev/zero")
    binary = tmp_path / "binary.json"
    binary.write_bytes(b'{"model_type": "llama"\0}')
    listed = tmp_path / "list.json"
    listed.write_text("[1, 2]")
    for spec, message in ((zero.parent, "character device"), (binary, "NUL byte"), (listed, "neither a qrt inventory nor a Hugging Face config")):
        done = run_qrt("inspect", "--model", str(spec))
        assert done.returncode == 2 and message in done.stderr, done.stderr
        assert "Traceback" not in done.stderr
