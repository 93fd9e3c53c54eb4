"""``qrt inspect`` run as a user runs it."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import run_qrt


def test_two_add_json_lists_exactly_the_four_adds() -> None:
    result = run_qrt("inspect", "--model", "two_add", "--format", "json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert [op["name"] for op in data["ops"]] == [
        "submodule_a.add", "submodule_a.add_1", "submodule_b.add", "submodule_b.add_1",
    ]


def test_text_tree_shows_modules_ops_and_sites() -> None:
    result = run_qrt("inspect", "--model", "cnn")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "\x1b[" not in out  # plain when piped
    assert "decoder.deconv1  torch.nn.modules.conv.ConvTranspose2d" in out
    assert "op decoder.deconv1.conv_transpose2d  conv_transpose2d" in out
    line = next(ln for ln in out.splitlines() if ln.strip().endswith("decoder.deconv1.weight_quantizer"))
    assert "state[weight]" in line and "(16, 8, 2, 2)" in line and "float32" in line
    # children appear in execution order: encoder before decoder before fc
    assert out.index("\n  encoder ") < out.index("\n  decoder.deconv1 ") < out.index("\n  fc ")


def test_filter_keeps_matching_sites_and_their_modules() -> None:
    result = run_qrt("inspect", "--model", "tiny_llama", "--filter", "*k_bmm*")
    assert result.returncode == 0, result.stderr
    site_lines = [ln for ln in result.stdout.splitlines() if "_quantizer" in ln]
    assert len(site_lines) == 2 and all("k_bmm_quantizer" in ln for ln in site_lines)
    assert "model.layers.1.self_attn" in result.stdout
    assert "mlp" not in result.stdout


def test_color_always(tmp_path: Path) -> None:
    result = run_qrt("inspect", "--model", "two_add", "--color", "always")
    assert "\x1b[1m" in result.stdout


def test_output_file_and_reading_it_back(tmp_path: Path) -> None:
    out = tmp_path / "inv.json"
    assert run_qrt("inspect", "--model", "mha", "--format", "json", "-o", str(out)).returncode == 0
    again = run_qrt("inspect", "--model", str(out), "--format", "json")
    assert json.loads(again.stdout)["sites"] == json.loads(out.read_text())["sites"]


def test_list_models() -> None:
    result = run_qrt("inspect", "--list-models")
    assert result.returncode == 0
    assert [ln.split()[0] for ln in result.stdout.splitlines()] == ["two_add", "cnn", "mha", "tiny_llama"]


def test_bad_input_shape_is_a_usage_error() -> None:
    result = run_qrt("inspect", "--model", "cnn", "--input-shape", "1,x")
    assert result.returncode == 2
    assert "invalid shape" in result.stderr
