"""Reading compressed-tensors configs: the preset table, the args → spec mapping, validation
as compressed-tensors 0.20 validates (differential where it is installed), located errors."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qrt.frontends.compressed_tensors import (
    PRESET_SCHEMES,
    CompressedTensorsConfigError,
    compressed_tensors_from_data,
    compressed_tensors_from_text,
)
from qrt.frontends.compressed_tensors.args import check_args
from qrt.frontends.source import load_rule_source
from qrt.ir.spec import PerBlock, PerChannel, PerTensor


def _group(preset: str) -> Any:
    return compressed_tensors_from_data({"config_groups": {preset: ["Linear"]}}).groups[0]


def test_presets_map_to_qrt_specs_exactly() -> None:
    nvfp4 = _group("NVFP4")
    assert nvfp4.weights is not None and nvfp4.weights.dtype == "float4_e2m1fn_x2"
    assert nvfp4.weights.granularity == PerBlock(axis=1, block_size=16)
    assert nvfp4.weights.scale_dtype == "float8_e4m3fn"
    assert nvfp4.input_activations is not None
    assert nvfp4.input_activations.extra_values() == {"dynamic": "local", "observer": "static_minmax"}
    mxfp4 = _group("mxfp4")  # upper-cased, as compressed-tensors does
    assert mxfp4.weights is not None and mxfp4.weights.scale_dtype == "float8_e8m0fnu"
    assert mxfp4.weights.granularity == PerBlock(axis=1, block_size=32)
    assert mxfp4.input_activations.granularity == PerBlock(axis=-1, block_size=32)
    assert mxfp4.input_activations is not None and mxfp4.input_activations.qparam_calculator == "static"
    w4 = _group("W4A16")
    assert w4.weights is not None and (w4.weights.dtype, w4.weights.granularity) == ("int4", PerBlock(axis=1, block_size=128))
    assert w4.weights.qparam_calculator == "static"
    assert w4.input_activations is None and w4.output_activations is None
    fp8 = _group("FP8_DYNAMIC")
    assert fp8.weights is not None and fp8.weights.granularity == PerChannel(axis=0)
    assert fp8.input_activations is not None and fp8.input_activations.granularity == PerTensor()
    assert fp8.input_activations.extra_values() == {"strategy": "token"}
    block = _group("FP8_BLOCK")
    assert block.weights is not None and block.weights.extra_values() == {"block_structure": [128, 128]}
    asym = _group("W4A16_ASYM")
    assert asym.weights is not None and asym.weights.qscheme == "asymmetric"


def test_fp6_has_no_qrt_dtype_and_the_error_names_the_key() -> None:
    with pytest.raises(CompressedTensorsConfigError, match=r"preset MXFP6A16\.weights\.num_bits: 6-bit floats"):
        _group("MXFP6A16")


def test_preset_table_equals_compressed_tensors() -> None:
    quant_scheme = pytest.importorskip("compressed_tensors.quantization.quant_scheme")
    from compressed_tensors.quantization import QuantizationArgs

    theirs = quant_scheme.PRESET_SCHEMES
    assert list(theirs) == list(PRESET_SCHEMES)
    for name, scheme in theirs.items():
        ours = PRESET_SCHEMES[name]
        assert set(scheme) == set(ours), name
        for role, args in scheme.items():
            mine = QuantizationArgs.model_validate(ours[role])
            assert mine.model_dump(mode="json") == args.model_dump(mode="json"), (name, role)


_ARG_VALUES: dict[str, Any] = {
    "num_bits": st.sampled_from([2, 4, 6, 8, 16]),
    "type": st.sampled_from(["int", "float", "INT"]),
    "symmetric": st.booleans(),
    "group_size": st.sampled_from([None, -1, 0, 16, 128, -2]),
    "strategy": st.sampled_from([None, "tensor", "channel", "group", "block", "token", "tensor_group", "attn_head", "Tensor"]),
    "block_structure": st.sampled_from([None, [128, 128], "64x64", [0, 4], [1, 2, 3]]),
    "dynamic": st.sampled_from([False, True, "local", "LOCAL"]),
    "actorder": st.sampled_from([None, "weight", "static", "group", True, False]),
}


@settings(max_examples=150)
@given(st.fixed_dictionaries({}, optional=_ARG_VALUES))
def test_args_are_accepted_exactly_when_compressed_tensors_accepts_them(raw: dict[str, Any]) -> None:
    pytest.importorskip("compressed_tensors")
    from compressed_tensors.quantization import QuantizationArgs

    try:
        QuantizationArgs.model_validate(raw)
        theirs = None
    except Exception as exc:  # noqa: BLE001 - any refusal
        theirs = exc
    try:
        ours = check_args(raw, "args", lambda p: None, ())
        mine = None
    except CompressedTensorsConfigError as exc:
        mine = exc
    assert (theirs is None) == (mine is None), (raw, theirs, mine)
    if theirs is None:
        assert ours["strategy"] == QuantizationArgs.model_validate(raw).strategy


def test_errors_name_the_key_and_where_it_was_written() -> None:
    text = json.dumps({"quantization_config": {
        "config_groups": {"group_0": {"targets": ["Linear"], "weights": {"num_bits": 4, "strategy": "group"}}},
        "quant_method": "compressed-tensors"}}, indent=2)
    with pytest.raises(CompressedTensorsConfigError) as err:
        compressed_tensors_from_text(text, file="config.json")
    assert "config_groups['group_0'].weights.group_size" in str(err.value)
    assert "config.json:" in str(err.value) and err.value.code == "QRT220"
    with pytest.raises(CompressedTensorsConfigError, match=r"unknown key 'ignores'.*\n.*ignore"):
        compressed_tensors_from_text('config_groups:\n  W4A16: [Linear]\nignores: [lm_head]\n', file="c.yaml")
    with pytest.raises(CompressedTensorsConfigError, match="c.yaml:3:1"):
        compressed_tensors_from_text('config_groups:\n  W4A16: [Linear]\nignores: [lm_head]\n', file="c.yaml")
    with pytest.raises(CompressedTensorsConfigError, match="sparsity"):
        compressed_tensors_from_data({"config_groups": {"W4A16": ["Linear"]}, "sparsity_config": {"format": "x"}})
    with pytest.raises(CompressedTensorsConfigError, match="'W4A61' is none"):
        compressed_tensors_from_data({"config_groups": {"W4A61": ["Linear"]}})
    with pytest.raises(CompressedTensorsConfigError, match="tensor_group of int4"):
        compressed_tensors_from_data({"config_groups": {"g": {"targets": ["Linear"], "weights": {
            "num_bits": 4, "strategy": "tensor_group", "group_size": 16}}}})


def test_one_detector_picks_the_front_end_by_content(tmp_path: Any) -> None:
    from qrt.frontends.compressed_tensors.source import CompressedTensorsSource

    bare = tmp_path / "ct.json"
    bare.write_text(json.dumps({"config_groups": {"W8A8": ["Linear"]}, "ignore": ["lm_head"]}))
    hf = tmp_path / "config.json"
    hf.write_text(json.dumps({"model_type": "llama", "quantization_config": {
        "config_groups": {"FP8": ["Linear"]}, "quant_method": "compressed-tensors"}}))
    yaml_file = tmp_path / "ct.yaml"
    yaml_file.write_text("config_groups:\n  NVFP4: [Linear]\nignore: ['re:.*lm_head']\n")
    for path in (bare, hf, yaml_file):
        assert isinstance(load_rule_source(path), CompressedTensorsSource)
    assert isinstance(load_rule_source({"config_groups": {"W8A8": ["Linear"]}}), CompressedTensorsSource)
    assert type(load_rule_source("rules/w4a16.qrt")).__name__ == "DslSource"


def test_lint_reads_them_through_the_same_detector(tmp_path: Any) -> None:
    from qrt.lint.run import lint

    bad = tmp_path / "bad.yaml"
    bad.write_text("config_groups:\n  W4A16: [Linear]\nignores: [lm_head]\n")
    good = tmp_path / "recipe.yaml"
    good.write_text("quant_stage:\n  quant_modifiers:\n    QuantizationModifier: {scheme: FP8_DYNAMIC, ignore: [lm_head]}\n")
    result = lint([str(bad), str(good)])
    assert [(f.code, f.file, f.line) for f in result.findings] == [("QRT220", str(bad), 3)]
    assert result.unreadable == [str(bad)]
