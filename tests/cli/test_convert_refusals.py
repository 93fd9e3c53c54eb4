"""``qrt convert`` refusals a user can read, and no silent overwrite (issue 16, item 5)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import ROOT, run_qrt

PRESETS = sorted((ROOT / "rules" / "presets").glob("*.yaml"))


def _readable(stderr: str, where: Path, *, max_lines: int) -> None:
    """A few lines, each fitting a terminal (the first after the file's path)."""
    lines = stderr.splitlines()
    assert "Traceback" not in stderr
    assert len(lines) <= max_lines, stderr
    assert len(lines[0]) - len(str(where)) <= 100 and max(len(line) for line in lines[1:]) <= 100, stderr


def test_all_seven_presets_are_shipped() -> None:
    assert len(PRESETS) == 7


@pytest.mark.parametrize("preset", PRESETS, ids=lambda p: p.name)
def test_a_preset_without_a_model_is_refused_in_a_few_short_lines(preset: Path) -> None:
    """A hierarchical config selects by role; a quant_cfg entry by quantizer name: without a
    model there is no list to write. The refusal says that once, not once per compiled rule."""
    done = run_qrt("convert", str(preset), "--to", "quant-cfg")
    assert done.returncode == 2
    _readable(done.stderr, preset, max_lines=4)
    assert "only on a given model" in done.stderr and "--model SPEC" in done.stderr


@pytest.mark.parametrize("preset", ["w8a8.yaml", "mxfp4_a_fp8.yaml"])
def test_a_preset_on_a_model_names_each_reason_once(preset: str) -> None:
    path = ROOT / "rules" / "presets" / preset
    done = run_qrt("convert", str(path), "--to", "quant-cfg", "--model", "two_add")
    assert done.returncode == 2
    _readable(done.stderr, path, max_lines=12)
    assert "moving_average" in done.stderr and done.stderr.count("why:") == 1
    assert "submodule_a.add.input_quantizer_0" in done.stderr


LINEAR_MAX = """\
quantization_spec:
  act: &act {dtype: int8, qscheme: symmetric, granularity: {type: per_tensor},
             qparam_calculator: minmax, range_calculator: minmax}
  weight: &weight {dtype: int8, qscheme: symmetric, granularity: {type: per_channel},
                   qparam_calculator: static, range_calculator: minmax}
quantization_config:
  global_config: null
  module_type_configs:
    torch.nn.modules.linear.Linear:
      op_input_spec: {"*": *act}
      op_state_spec: {weight: *weight}
      op_output_spec: {}
"""


def test_a_hierarchical_config_with_modelopt_calibration_converts_on_a_model(tmp_path: Path) -> None:
    """What ModelOpt can say converts: Linear inputs and weights with its max calibration."""
    config = tmp_path / "linear_max.yaml"
    config.write_text(LINEAR_MAX)
    out = tmp_path / "linear_max.quant_cfg.yaml"
    done = run_qrt("convert", str(config), "--to", "quant-cfg", "--model", "tiny_llama", "-o", str(out))
    assert done.returncode == 0, done.stderr
    text = out.read_text()
    assert "quant_cfg:" in text and "input_quantizer" in text and "weight_quantizer" in text


def test_output_file_is_not_replaced_without_overwrite(tmp_path: Path) -> None:
    out = tmp_path / "config.qrt"
    out.write_text("# my own rules\n")
    refused = run_qrt("convert", "modelopt:FP8_DEFAULT_CFG", "--to", "dsl", "-o", str(out))
    assert refused.returncode == 2
    assert f"{out}: {out} exists" in refused.stderr and "--overwrite" in refused.stderr
    assert "Traceback" not in refused.stderr
    assert out.read_text() == "# my own rules\n"
    done = run_qrt("convert", "modelopt:FP8_DEFAULT_CFG", "--to", "dsl", "-o", str(out), "--overwrite")
    assert done.returncode == 0, done.stderr
    assert "quantizer" in out.read_text()
    fresh = tmp_path / "new.qrt"
    assert run_qrt("convert", "modelopt:FP8_DEFAULT_CFG", "--to", "dsl", "-o", str(fresh)).returncode == 0
    assert fresh.read_text() == out.read_text()
