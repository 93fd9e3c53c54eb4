"""Hierarchical YAML configs through every command, as a user runs them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import run_qrt

CONFIG = """\
quantization_spec:
  w4: &w4
    dtype: int4
    granularity: {type: per_block, block_size: 4}
quantization_config:
  global_config:
    op_state_spec:
      weight: *w4
  module_name_configs:
    decoder.deconv1:
      op_state_spec:
        weight:
          dtype: int8
          granularity: {type: per_channel}
    encoder\\.1:
"""


@pytest.fixture()
def config(tmp_path: Path) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(CONFIG)
    return path


def test_explain_points_at_the_yaml_line_and_names_the_governing_config(config: Path) -> None:
    result = run_qrt("explain", str(config), "--model", "cnn", "decoder.deconv1.weight_quantizer")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "governed by module_name_configs['decoder.deconv1'] at depth 1" in out
    assert f"{config}:12:" in out  # the `weight:` key under decoder.deconv1
    assert "int8 symmetric per_channel axis=1" in out  # conv-transpose per-channel default axis


def test_null_module_config_leaves_its_scope_unquantized(config: Path) -> None:
    result = run_qrt("resolve", str(config), "--model", "cnn", "--format", "json")
    assert result.returncode == 0, result.stderr
    by = {s["quantizer_path"]: s for s in json.loads(result.stdout)["sites"]}
    assert by["encoder.1.weight_quantizer"]["decision"] is None
    assert by["encoder.0.weight_quantizer"]["decision"]["dtype"] == "int4"
    assert by["encoder.0.input_quantizer"]["decision"]["dtype"] == "int8"  # class default


def test_convert_to_dsl_resolves_identically(tmp_path: Path, config: Path) -> None:
    out = tmp_path / "converted.qrt"
    result = run_qrt("convert", str(config), "--to", "dsl", "--model", "cnn", "-o", str(out))
    assert result.returncode == 0, result.stderr
    plan_a = run_qrt("resolve", str(config), "--model", "cnn", "--format", "json")
    plan_b = run_qrt("resolve", str(out), "--model", "cnn", "--format", "json")
    decisions = lambda r: [(s["quantizer_path"], s["decision"]) for s in json.loads(r.stdout)["sites"]]  # noqa: E731
    assert decisions(plan_a) == decisions(plan_b)


def test_convert_without_a_model_refuses_module_level_overrides(tmp_path: Path) -> None:
    cfg = tmp_path / "mha.yaml"
    cfg.write_text(
        "quantization_config:\n  module_type_configs:\n    torch.nn.modules.activation.MultiheadAttention:\n"
        "      module_input_spec:\n        0: {dtype: int8}\n"
    )
    result = run_qrt("convert", str(cfg), "--to", "dsl")
    assert result.returncode == 2
    assert "needs the model's inventory" in result.stderr and "--model" in result.stderr


def test_spec_without_an_axis_where_no_table_applies_is_an_error(tmp_path: Path) -> None:
    cfg = tmp_path / "axis.yaml"
    cfg.write_text(
        "quantization_config:\n  global_config:\n    op_input_spec:\n      '*': {dtype: int8, granularity: {type: per_channel}}\n"
    )
    result = run_qrt("resolve", str(cfg), "--model", "two_add")
    assert result.returncode == 2
    assert "no axis" in result.stderr and "submodule_a.add" in result.stderr
    assert "op_input_spec" in result.stderr


def test_explain_notes_name_the_op_level_and_module_level_overrides(tmp_path: Path) -> None:
    import torch
    from torch import nn

    import qrt

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.attn = nn.MultiheadAttention(8, 2, batch_first=True)
            self.out = nn.Linear(8, 8)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.out(torch.softmax(self.attn(x, x, x, need_weights=False)[0], -1))

    cfg = qrt.QuantizerConfig(
        global_config=qrt.ModuleQuantizerConfig(op_type_config={"softmax": qrt.OpQuantizerConfig(op_output_spec=None)}),
        module_type_configs={
            "torch.nn.modules.activation.MultiheadAttention": qrt.ModuleQuantizerConfig(
                module_output_spec={0: qrt.default_activation_spec()}
            )
        },
    )
    plan = qrt.resolve(cfg, Net(), torch.randn(1, 3, 8))
    (soft_in,) = qrt.explain(plan, queries=["softmax.input_quantizer_0"])
    assert soft_in.final is None
    assert any("overridden by the module-level quantizer attn.module_output_quantizer_0" in n for n in soft_in.notes)
    assert soft_in.decided_by is not None and "module_output_spec[0]" in (soft_in.decided_by.origin.config_path or "")
    (soft_out,) = qrt.explain(plan, queries=["softmax.output_quantizer_0"])
    assert any("governed by global_config at depth 0" in n for n in soft_out.notes)
    assert any("op_type_config['softmax'].op_output_spec is None" in n for n in soft_out.notes)
    (w,) = qrt.explain(plan, queries=["out.weight_quantizer"])
    assert any("module default, explicit key" in n for n in w.notes)
    assert __file__ in str(w.decided_by.origin)  # a config built in Python points at its call site


def test_bad_yaml_exits_2_with_file_line_col_and_config_path(tmp_path: Path) -> None:
    cfg = tmp_path / "bad.yaml"
    cfg.write_text(
        "quantization_config:\n  module_name_configs:\n    decoder.deconv1:\n      op_state_spec:\n"
        "        weight: {dtype: int9}\n"
    )
    result = run_qrt("resolve", str(cfg), "--model", "cnn")
    assert result.returncode == 2
    assert f"{cfg}:5:" in result.stderr
    assert "module_name_configs['decoder.deconv1'].op_state_spec['weight']" in result.stderr
    assert "Traceback" not in result.stderr
