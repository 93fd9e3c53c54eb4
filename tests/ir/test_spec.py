"""QuantizationSpec: accepted spellings, one clear error per bad input, explicit fields,
patches, the JSON round trip (hypothesis), immutability and the two role defaults."""

from __future__ import annotations

import enum
import json
import subprocess
import sys
from typing import Any

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from qrt.ir.spec import (
    FAKE_QUANTIZERS,
    FLOAT_QUANT_DTYPES,
    INT_QUANT_DTYPES,
    QPARAM_CALCULATORS,
    QSCHEMES,
    QUANT_DTYPES,
    RANGE_CALCULATORS,
    SCALE_DTYPES,
    SPEC_FIELDS,
    PerBlock,
    PerChannel,
    PerTensor,
    QuantizationSpec,
    default_activation_spec,
    default_weight_spec,
    spec_error_message,
)
from tests.conftest import ROOT

BLOCK32 = {"type": "per_block", "block_size": 32}


def spec_for_dtype(dtype: object) -> QuantizationSpec:
    """float4 only exists per block; every other dtype is fine with the default granularity."""
    name = str(dtype).strip().lower().removeprefix("torch.")
    granularity = BLOCK32 if name == "float4_e2m1fn_x2" else "per_tensor"
    return QuantizationSpec(dtype=dtype, granularity=granularity)


def error_of(**fields: Any) -> tuple[ValidationError, str]:
    with pytest.raises(ValidationError) as info:
        QuantizationSpec(**fields)
    return info.value, spec_error_message(info.value)


# -- spellings -------------------------------------------------------------------------------


@pytest.mark.parametrize("name", QUANT_DTYPES)
def test_dtype_spellings_all_give_the_canonical_name(name: str) -> None:
    spellings = [name, f"torch.{name}", name.upper(), f" {name} ", getattr(torch, name)]
    for spelling in spellings:
        assert spec_for_dtype(spelling).dtype == name, spelling


@pytest.mark.parametrize("name", SCALE_DTYPES)
def test_scale_dtype_spellings(name: str) -> None:
    for spelling in (name, f"torch.{name}", getattr(torch, name)):
        spec = QuantizationSpec(scale_dtype=spelling, granularity=BLOCK32)
        assert spec.scale_dtype == name


def test_torch_aliases_of_scale_dtypes_read_by_their_str() -> None:
    # torch.half and torch.float are the same objects as float16/float32.
    assert QuantizationSpec(scale_dtype=torch.half).scale_dtype == "float16"
    assert QuantizationSpec(scale_dtype=torch.float).scale_dtype == "float32"
    assert QuantizationSpec(scale_dtype=None).scale_dtype is None


class QuantizationScheme(enum.Enum):  # the reference library's spelling: a plain enum
    SYMMETRIC = enum.auto()
    ASYMMETRIC = enum.auto()


class StrScheme(str, enum.Enum):
    SYMMETRIC = "symmetric"
    ASYMMETRIC = "asymmetric"


@pytest.mark.parametrize(
    ("spelling", "expected"),
    [
        ("symmetric", "symmetric"),
        ("asymmetric", "asymmetric"),
        ("SYMMETRIC", "symmetric"),
        ("QuantizationScheme.SYMMETRIC", "symmetric"),
        ("quantizationscheme.Asymmetric", "asymmetric"),
        (QuantizationScheme.SYMMETRIC, "symmetric"),
        (QuantizationScheme.ASYMMETRIC, "asymmetric"),
        (StrScheme.ASYMMETRIC, "asymmetric"),
    ],
)
def test_qscheme_spellings(spelling: object, expected: str) -> None:
    assert QuantizationSpec(qscheme=spelling).qscheme == expected


@pytest.mark.parametrize(
    ("field", "choices"),
    [
        ("qparam_calculator", QPARAM_CALCULATORS),
        ("range_calculator", RANGE_CALCULATORS),
        ("fake_quantize", FAKE_QUANTIZERS),
    ],
)
def test_algorithm_spellings_and_cls_aliases(field: str, choices: tuple[str, ...]) -> None:
    for choice in choices:
        assert getattr(QuantizationSpec(**{field: choice}), field) == choice
        assert getattr(QuantizationSpec(**{field: choice.upper()}), field) == choice
        assert getattr(QuantizationSpec(**{field: choice.replace("_", "-")}), field) == choice
        aliased = QuantizationSpec.from_json({f"{field}_cls": choice})
        assert getattr(aliased, field) == choice
        assert aliased.explicit_fields() == {field}
    # The reference library writes "default": the runtime picks, which qrt stores as None.
    assert getattr(QuantizationSpec(**{field: "default"}), field) is None
    assert getattr(QuantizationSpec(**{field: None}), field) is None


@pytest.mark.parametrize(
    ("spelling", "expected"),
    [
        ("per_tensor", PerTensor()),
        ("per_channel", PerChannel()),
        ("PER_CHANNEL", PerChannel()),
        ({"type": "per_tensor"}, PerTensor()),
        ({"type": "per_channel"}, PerChannel()),
        ({"type": "per_channel", "axis": 1}, PerChannel(axis=1)),
        ({"type": "per_channel", "axis": -1}, PerChannel(axis=-1)),
        ({"type": "per_block", "block_size": 32}, PerBlock(block_size=32)),
        ({"type": "Per_Block", "axis": 1, "block_size": 16}, PerBlock(axis=1, block_size=16)),
        (PerBlock(block_size=64), PerBlock(block_size=64)),
        (PerChannel(axis=0), PerChannel(axis=0)),
    ],
)
def test_granularity_spellings(spelling: object, expected: object) -> None:
    assert QuantizationSpec(granularity=spelling).granularity == expected


def test_seed_001_yaml_examples_read_as_written() -> None:
    mxfp4 = QuantizationSpec.from_json(
        {"dtype": "float4_e2m1fn_x2", "granularity": BLOCK32, "scale_dtype": "float8_e8m0fnu"}
    )
    assert mxfp4.to_json()["granularity"] == {"type": "per_block", "block_size": 32}
    assert QuantizationSpec.from_json({"dtype": "float8_e4m3fn"}).dtype == "float8_e4m3fn"
    override = QuantizationSpec.from_json(
        {"dtype": "int4", "granularity": {"type": "per_block", "block_size": 32, "axis": 1}}
    )
    assert override.granularity == PerBlock(axis=1, block_size=32)


# -- errors ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "kind", "must_mention"),
    [
        ({"dtype": "int9"}, "unknown_dtype", ["'int9'", "int8", "uint4", "float8_e4m3fn", "did you mean"]),
        ({"dtype": "torch.float32"}, "unknown_dtype", ["'torch.float32'", "int8", "float4_e2m1fn_x2"]),
        ({"dtype": torch.float32}, "unknown_dtype", ["torch.float32", "int8"]),
        ({"dtype": 8}, "unknown_dtype", ["8", "int8"]),
        ({"scale_dtype": "float64"}, "unknown_dtype", ["'float64'", "float32", "float8_e8m0fnu"]),
        ({"qscheme": "symetric"}, "unknown_choice", ["'symetric'", "symmetric, asymmetric", "did you mean 'symmetric'"]),
        ({"qscheme": None}, "unknown_choice", ["None", "symmetric, asymmetric"]),
        ({"qparam_calculator": "moving_avg"}, "unknown_choice", ["'moving_avg'", "static, minmax, moving_average", "did you mean 'moving_average'"]),
        ({"range_calculator": "percentil"}, "unknown_choice", ["'percentil'", "minmax, percentile, mse, histogram", "did you mean 'percentile'"]),
        ({"fake_quantize": "lqs"}, "unknown_choice", ["'lqs'", "ste, lsq", "did you mean 'lsq'"]),
        ({"fake_quantize": 3}, "unknown_choice", ["3", "ste, lsq"]),
        ({"granularity": "per_row"}, "invalid_granularity", ["'per_row'", "per_tensor, per_channel, per_block"]),
        ({"granularity": "per_chanel"}, "invalid_granularity", ["'per_chanel'", "did you mean 'per_channel'"]),
        ({"granularity": "per_block"}, "invalid_granularity", ["per_block", "block_size", "'block_size': 32"]),
        ({"granularity": {"type": "per_blok", "block_size": 4}}, "invalid_granularity", ["'per_blok'", "per_tensor, per_channel, per_block", "did you mean 'per_block'"]),
        ({"granularity": {"axis": 1}}, "invalid_granularity", ["{'axis': 1}", "'type'", "per_tensor, per_channel, per_block"]),
        ({"granularity": {"type": "per_block"}}, "invalid_granularity", ["block_size", "{'type': 'per_block'}"]),
        ({"granularity": 5}, "invalid_granularity", ["got 5", "per_tensor, per_channel, per_block"]),
        ({"granularity": {"type": "per_block", "block_size": 0}}, "invalid_value", ["block_size", "positive", "got 0"]),
        ({"granularity": {"type": "per_block", "block_size": -4}}, "invalid_value", ["block_size", "got -4"]),
        ({"granularity": {"type": "per_block", "block_size": True}}, "invalid_value", ["block_size", "got True"]),
        ({"granularity": {"type": "per_block", "block_size": "32"}}, "invalid_value", ["block_size", "got '32'"]),
        ({"granularity": {"type": "per_channel", "axis": "0"}}, "invalid_value", ["axis", "got '0'", "integer", "null"]),
        ({"dtype": "float8_e4m3fn", "qscheme": "asymmetric"}, "invalid_combination", ["'float8_e4m3fn'", "'asymmetric'", "valid qscheme for float dtypes: symmetric"]),
        ({"dtype": "float4_e2m1fn_x2", "granularity": "per_channel", "qscheme": "symmetric"}, "invalid_combination", ["'float4_e2m1fn_x2'", "per_block", "'per_channel'"]),
        ({"scale_dtype": "float8_e8m0fnu", "granularity": "per_channel"}, "invalid_combination", ["'float8_e8m0fnu'", "per_block", "'per_channel'", "float8_e4m3fn, float16, bfloat16, float32"]),
        ({"qparam_calculator": "static", "qparam_calculator_cls": "minmax"}, "invalid_value", ["'qparam_calculator'", "'qparam_calculator_cls'", "twice"]),
    ],
)  # fmt: skip
def test_each_error_names_the_input_and_the_valid_choices(
    fields: dict[str, Any], kind: str, must_mention: list[str]
) -> None:
    err, message = error_of(**fields)
    assert [e["type"] for e in err.errors()] == [kind]
    for text in must_mention:
        assert text in message, (text, message)


def test_error_message_names_the_field_path() -> None:
    _, message = error_of(granularity={"type": "per_block", "block_size": 0})
    # The union's tag is not part of the path a user wrote.
    assert message.startswith("field `granularity.block_size`: ")
    _, message = error_of(dtype="int9")
    assert message.startswith("field `dtype`: ")
    _, message = error_of(dtype="float8_e5m2", qscheme="asymmetric")
    assert message.startswith("spec: ")


def test_unknown_field_lists_the_valid_fields_and_the_closest() -> None:
    err, message = error_of(qparam_calc="static")
    assert [e["type"] for e in err.errors()] == ["extra_forbidden"]
    assert message.startswith("field `qparam_calc`: unknown field")
    assert "did you mean 'qparam_calculator'" in message
    assert "valid fields of a spec: " + ", ".join(SPEC_FIELDS) in message


def test_unknown_granularity_field_lists_that_granularity_fields() -> None:
    _, message = error_of(granularity={"type": "per_tensor", "axis": 0})
    assert message == "field `granularity.axis`: unknown field; valid fields of a per_tensor granularity: type"
    _, message = error_of(granularity={"type": "per_block", "block_size": 8, "blocksize": 8})
    assert "did you mean 'block_size'" in message
    assert "valid fields of a per_block granularity: type, axis, block_size" in message


def test_several_errors_give_one_line_each() -> None:
    _, message = error_of(dtype="int9", qscheme="sym", colour="red")
    lines = message.splitlines()
    assert [line.split(":")[0] for line in lines] == ["field `dtype`", "field `qscheme`", "field `colour`"]


def test_a_spec_must_be_a_mapping() -> None:
    with pytest.raises(ValidationError) as info:
        QuantizationSpec.from_json(["int8"])  # type: ignore[arg-type]
    message = spec_error_message(info.value)
    assert "['int8']" in message and ", ".join(SPEC_FIELDS) in message


def test_pydantic_own_errors_show_the_input() -> None:
    with pytest.raises(ValidationError) as info:
        PerBlock()  # type: ignore[call-arg]
    assert "block_size" in spec_error_message(info.value)


# -- explicit fields -------------------------------------------------------------------------


def test_explicit_fields_are_what_the_author_wrote() -> None:
    assert QuantizationSpec().explicit_fields() == frozenset()
    spec = QuantizationSpec.from_json({"dtype": "int4", "granularity": BLOCK32})
    assert spec.explicit_fields() == {"dtype", "granularity"}
    # Writing a default value is still writing it: explain must say "set", not "default".
    same = QuantizationSpec.from_json({"dtype": "int8"})
    assert same == QuantizationSpec() and same.explicit_fields() == {"dtype"}
    assert QuantizationSpec(scale_dtype=None).explicit_fields() == {"scale_dtype"}


def test_equality_and_hash_look_at_values_only() -> None:
    a = QuantizationSpec()
    b = QuantizationSpec(dtype="torch.int8", qscheme="symmetric", granularity="per_tensor")
    assert a == b and hash(a) == hash(b)
    assert a.explicit_fields() != b.explicit_fields()


# -- merged and with_axis --------------------------------------------------------------------


def test_merged_replaces_fields_and_unions_explicit_fields() -> None:
    base = QuantizationSpec.from_json({"dtype": "int4", "granularity": BLOCK32})
    patched = base.merged({"qscheme": "asymmetric", "fake_quantize": "lsq"})
    assert patched.dtype == "int4" and patched.granularity == PerBlock(block_size=32)
    assert patched.qscheme == "asymmetric" and patched.fake_quantize == "lsq"
    assert patched.explicit_fields() == {"dtype", "granularity", "qscheme", "fake_quantize"}
    assert base.qscheme == "symmetric"  # the original is untouched
    assert base.merged({}) == base and base.merged({}).explicit_fields() == base.explicit_fields()


def test_merged_validates_again() -> None:
    base = QuantizationSpec(dtype="float4_e2m1fn_x2", granularity=BLOCK32)
    with pytest.raises(ValidationError) as info:
        base.merged({"granularity": "per_tensor"})
    assert "float4_e2m1fn_x2" in spec_error_message(info.value)
    with pytest.raises(ValidationError):
        base.merged({"qscheme": "asymmetric"})
    with pytest.raises(ValidationError) as info:
        base.merged({"blocksize": 64})
    assert "unknown field" in spec_error_message(info.value)


def test_merged_replaces_granularity_whole_and_reads_aliases() -> None:
    base = QuantizationSpec(granularity={"type": "per_block", "axis": 1, "block_size": 32})
    assert base.merged({"granularity": {"type": "per_block", "block_size": 64}}).granularity == PerBlock(
        block_size=64
    )
    calc = QuantizationSpec(qparam_calculator="static").merged({"qparam_calculator_cls": "minmax"})
    assert calc.qparam_calculator == "minmax" and calc.explicit_fields() == {"qparam_calculator"}
    with pytest.raises(TypeError):
        base.merged([("dtype", "int4")])  # type: ignore[arg-type]


def test_with_axis() -> None:
    weight = default_weight_spec()
    assert weight.with_axis(0).granularity == PerChannel(axis=0)
    assert weight.with_axis(0).explicit_fields() == weight.explicit_fields()
    assert weight.with_axis(0).with_axis(None) == weight
    block = QuantizationSpec(dtype="int4", granularity=BLOCK32)
    assert block.with_axis(1).granularity == PerBlock(axis=1, block_size=32)
    with pytest.raises(ValueError, match="per_tensor granularity has no axis"):
        default_activation_spec().with_axis(0)
    with pytest.raises(ValidationError):
        weight.with_axis(True)  # type: ignore[arg-type]


# -- JSON ------------------------------------------------------------------------------------


def test_to_json_is_canonical_and_json_safe() -> None:
    spec = QuantizationSpec(dtype=torch.int4, qscheme=QuantizationScheme.ASYMMETRIC, granularity=BLOCK32)
    data = spec.to_json()
    assert data == {
        "dtype": "int4",
        "qscheme": "asymmetric",
        "granularity": {"type": "per_block", "block_size": 32},
        "scale_dtype": None,
        "qparam_calculator": None,
        "range_calculator": None,
        "fake_quantize": None,
    }
    # extras and then appear only when a spec has them
    assert list(data) == [f for f in SPEC_FIELDS if f not in ("extras", "then")]
    assert json.loads(json.dumps(data)) == data
    assert spec.to_json(explicit_only=True) == {
        "dtype": "int4",
        "qscheme": "asymmetric",
        "granularity": {"type": "per_block", "block_size": 32},
    }
    assert PerTensor().to_json() == {"type": "per_tensor"}
    assert PerChannel().to_json() == {"type": "per_channel"}
    assert PerChannel(axis=0).to_json() == {"type": "per_channel", "axis": 0}
    assert PerBlock(axis=1, block_size=8).to_json() == {"type": "per_block", "axis": 1, "block_size": 8}


@st.composite
def valid_specs(draw: st.DrawFn) -> QuantizationSpec:
    """Any valid spec, built from a random subset of fields (so explicitness varies too)."""
    dtype = draw(st.sampled_from(QUANT_DTYPES))
    axis = st.none() | st.integers(-4, 4)
    block = st.builds(PerBlock, axis=axis, block_size=st.integers(1, 1024))
    per_block_needed = dtype == "float4_e2m1fn_x2"
    scale_dtype = draw(st.none() | st.sampled_from(SCALE_DTYPES))
    if scale_dtype == "float8_e8m0fnu":
        per_block_needed = True
    granularity = draw(
        block if per_block_needed else st.just(PerTensor()) | st.builds(PerChannel, axis=axis) | block
    )
    fields: dict[str, Any] = {
        "dtype": dtype,
        "qscheme": "symmetric" if dtype in FLOAT_QUANT_DTYPES else draw(st.sampled_from(QSCHEMES)),
        "granularity": granularity,
        "scale_dtype": scale_dtype,
        "qparam_calculator": draw(st.none() | st.sampled_from(QPARAM_CALCULATORS)),
        "range_calculator": draw(st.none() | st.sampled_from(RANGE_CALCULATORS)),
        "fake_quantize": draw(st.none() | st.sampled_from(FAKE_QUANTIZERS)),
    }
    # A field may be left out only where its value is the class default.
    defaults = QuantizationSpec()
    optional = [name for name, value in fields.items() if value == getattr(defaults, name)]
    left_out = draw(st.sets(st.sampled_from(optional))) if optional else set()
    return QuantizationSpec(**{k: v for k, v in fields.items() if k not in left_out})


@given(valid_specs())
def test_json_round_trip(spec: QuantizationSpec) -> None:
    data = spec.to_json()
    assert QuantizationSpec.from_json(data) == spec
    assert QuantizationSpec.from_json(json.loads(json.dumps(data))) == spec
    explicit = spec.to_json(explicit_only=True)
    back = QuantizationSpec.from_json(explicit)
    assert back == spec and back.explicit_fields() == spec.explicit_fields()


@given(valid_specs(), valid_specs())
def test_merging_everything_of_another_spec_gives_that_spec(a: QuantizationSpec, b: QuantizationSpec) -> None:
    merged = a.merged(b.to_json())
    assert merged == b and merged.explicit_fields() == set(b.to_json())


@given(valid_specs())
def test_torch_spelling_gives_the_same_spec(spec: QuantizationSpec) -> None:
    data = spec.to_json()
    data["dtype"] = getattr(torch, spec.dtype)
    if spec.scale_dtype is not None:
        data["scale_dtype"] = f"torch.{spec.scale_dtype}"
    data["qscheme"] = f"QuantizationScheme.{spec.qscheme.upper()}"
    assert QuantizationSpec.from_json(data) == spec


# -- immutability ----------------------------------------------------------------------------


def test_specs_are_frozen() -> None:
    spec = QuantizationSpec(granularity=BLOCK32)
    with pytest.raises(ValidationError, match="frozen"):
        spec.dtype = "int4"  # type: ignore[misc]
    with pytest.raises(ValidationError, match="frozen"):
        spec.granularity.block_size = 64  # type: ignore[misc]
    assert spec.granularity.block_size == 32
    assert {spec: 1}[QuantizationSpec(granularity=PerBlock(block_size=32))] == 1


# -- defaults --------------------------------------------------------------------------------


def test_class_defaults() -> None:
    spec = QuantizationSpec()
    assert spec.to_json() == {
        "dtype": "int8",
        "qscheme": "symmetric",
        "granularity": {"type": "per_tensor"},
        "scale_dtype": None,
        "qparam_calculator": None,
        "range_calculator": None,
        "fake_quantize": None,
    }


def test_default_activation_spec() -> None:
    spec = default_activation_spec()
    assert (spec.dtype, spec.qscheme, spec.granularity) == ("int8", "symmetric", PerTensor())
    assert spec.qparam_calculator == "moving_average"
    assert (spec.scale_dtype, spec.range_calculator, spec.fake_quantize) == (None, None, None)
    assert spec.explicit_fields() == {"dtype", "qscheme", "granularity", "qparam_calculator"}


def test_default_weight_spec() -> None:
    spec = default_weight_spec()
    assert (spec.dtype, spec.qscheme) == ("int8", "symmetric")
    assert spec.granularity == PerChannel(axis=None)  # axis filled by op/module type later
    assert spec.qparam_calculator == "static"
    assert (spec.scale_dtype, spec.range_calculator, spec.fake_quantize) == (None, None, None)
    assert default_weight_spec() == spec and default_weight_spec() is not spec


def test_int_and_float_dtype_sets_partition_the_dtypes() -> None:
    assert set(INT_QUANT_DTYPES) | set(FLOAT_QUANT_DTYPES) == set(QUANT_DTYPES)
    assert not set(INT_QUANT_DTYPES) & set(FLOAT_QUANT_DTYPES)


def test_the_spec_module_does_not_import_torch() -> None:
    code = "import qrt.ir.spec, sys; assert 'torch' not in sys.modules, 'torch imported'"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stderr
