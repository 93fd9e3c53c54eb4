"""ModelOpt attributes ↔ QuantizationSpec: exact both ways where an equivalent exists.

The property that matters: for every valid ``cfg`` (generated, and every ``cfg`` of the 39
presets), mapping it to a spec and back gives the same full attributes — nothing a user wrote
is dropped. And for a spec qrt can write, mapping it to ModelOpt and back gives the same spec,
or the mapping refuses with a reason naming the field.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from qrt.errors import QrtError
from qrt.frontends.wildcard.spec_map import (
    NoModelOptEquivalent,
    attributes_from_spec,
    json_attributes,
    normalise_attributes,
    spec_from_attributes,
)
from qrt.ir.spec import QuantizationSpec
from tests.frontends.wildcard.test_entries import presets

# ---------------------------------------------------------------------------------------------
# Strategies: valid 0.47 attribute dicts (every one is checked by validate_attributes)

NUM_BITS = st.one_of(
    st.integers(1, 16), st.sampled_from([(4, 3), (5, 2), (2, 1), (3, 2), (2, 3), (1, 2)])
)


@st.composite
def block_sizes(draw: st.DrawFn) -> dict[Any, Any] | None:
    if draw(st.booleans()):
        return None
    axes = draw(st.lists(st.sampled_from([-1, -2, 0, 1]), unique=True, min_size=1, max_size=2))
    out: dict[Any, Any] = {a: draw(st.none() | st.sampled_from([16, 32, 128])) for a in axes}
    if draw(st.booleans()):
        out["type"] = draw(st.sampled_from(["static", "dynamic"]))
    if draw(st.booleans()):
        out["scale_bits"] = draw(st.sampled_from([(4, 3), (8, 0), 8]))
    return out


@st.composite
def attribute_dicts(draw: st.DrawFn) -> dict[str, Any]:
    out: dict[str, Any] = {}
    optional = {
        "num_bits": NUM_BITS,
        "axis": st.none() | st.sampled_from([0, -1, 1, (0, 1)]),
        "unsigned": st.booleans(),
        "narrow_range": st.booleans(),
        "fake_quant": st.booleans(),
        "type": st.sampled_from(["static", "dynamic"]),
        "calibrator": st.sampled_from(["max", "histogram"]),
        "pass_through_bwd": st.booleans(),
        "trt_high_precision_dtype": st.sampled_from(["Float", "Half", "BFloat16"]),
        "block_sizes": block_sizes(),
        "rotate": st.booleans(),
    }
    for name in draw(st.lists(st.sampled_from(sorted(optional)), unique=True)):
        out[name] = draw(optional[name])
    if out.get("block_sizes") is not None:
        out.pop("axis", None)
    dynamic = isinstance(out.get("block_sizes"), dict) and out["block_sizes"].get("type") == "dynamic"
    if isinstance(out.get("num_bits"), tuple) and out["num_bits"] not in ((4, 3), (2, 1)) and not dynamic:
        out["num_bits"] = (4, 3)
    assume(out != {} or True)
    try:
        normalise_attributes(out)
    except QrtError:
        assume(False)
    return out


# ---------------------------------------------------------------------------------------------
# ModelOpt → spec → ModelOpt is the identity


@given(attribute_dicts())
def test_attributes_survive_a_trip_through_a_spec(cfg: dict[str, Any]) -> None:
    spec = spec_from_attributes(cfg)
    assert attributes_from_spec(spec) == normalise_attributes(cfg)
    # and the spec is a plain value: JSON and back
    assert QuantizationSpec.from_json(spec.to_json()) == spec


@given(st.lists(attribute_dicts(), min_size=1, max_size=3))
def test_stages_survive_a_trip_through_a_spec(stages: list[dict[str, Any]]) -> None:
    spec = spec_from_attributes(stages)
    assert len(spec.stages) == len(stages)
    assert attributes_from_spec(spec) == [normalise_attributes(s) for s in stages]


def _preset_cfgs() -> list[tuple[str, Any]]:
    out = []
    for name, preset in sorted(presets().items()):
        for i, entry in enumerate(preset["quant_cfg"]):
            if entry.get("cfg"):
                out.append((f"{name}[{i}]", entry["cfg"]))
    return out


@pytest.mark.parametrize(("where", "cfg"), _preset_cfgs())
def test_every_preset_cfg_survives_a_trip_through_a_spec(where: str, cfg: Any) -> None:
    spec = spec_from_attributes(cfg)
    back = attributes_from_spec(spec)
    if isinstance(cfg, list):
        assert back == [normalise_attributes(s) for s in cfg]
    else:
        assert back == normalise_attributes(cfg)


# ---------------------------------------------------------------------------------------------
# What maps to what


def test_the_table_of_exact_equivalents() -> None:
    fp8 = spec_from_attributes({"num_bits": (4, 3), "axis": None})
    assert (fp8.dtype, fp8.granularity.type, fp8.extras) == ("float8_e4m3fn", "per_tensor", ())
    assert (fp8.qparam_calculator, fp8.range_calculator) == ("minmax", "minmax")
    int8_row = spec_from_attributes({"num_bits": 8, "axis": 0})
    assert int8_row.granularity.to_json() == {"type": "per_channel", "axis": 0}
    nvfp4 = spec_from_attributes(
        {"num_bits": (2, 1), "block_sizes": {-1: 16, "type": "dynamic", "scale_bits": (4, 3)}, "axis": None}
    )
    assert nvfp4.dtype == "float4_e2m1fn_x2"
    assert nvfp4.granularity.to_json() == {"type": "per_block", "axis": -1, "block_size": 16}
    assert nvfp4.scale_dtype == "float8_e4m3fn" and nvfp4.qparam_calculator == "static"
    assert nvfp4.extras == ()
    mx = spec_from_attributes({"num_bits": (2, 1), "block_sizes": {-1: 32, "type": "dynamic", "scale_bits": (8, 0)}})
    assert mx.scale_dtype == "float8_e8m0fnu" and mx.extras == ()
    uint4 = spec_from_attributes({"num_bits": 4, "unsigned": True})
    assert uint4.dtype == "uint4" and uint4.extras == ()


def test_what_has_no_field_travels_as_extras() -> None:
    spec = spec_from_attributes({"num_bits": 8, "narrow_range": True, "trt_high_precision_dtype": "Half"})
    assert spec.extra_values() == {"narrow_range": True, "trt_high_precision_dtype": "Half"}
    # a 2-D block (FP8 2-D blockwise) is no single-axis per_block: the blocks are an extra
    blocks = spec_from_attributes({"num_bits": (4, 3), "block_sizes": {-1: 128, -2: 128}})
    assert blocks.extra_values() == {"block_sizes": {"-1": 128, "-2": 128}}
    # an fp4 per tensor is not qrt's float4_e2m1fn_x2 (which needs blocks)
    fp4 = spec_from_attributes({"num_bits": (2, 1)})
    assert fp4.extra_values() == {"num_bits": [2, 1]}


def test_a_list_of_one_stage_stays_a_list() -> None:
    spec = spec_from_attributes([{"num_bits": 4}])
    assert attributes_from_spec(spec) == [normalise_attributes({"num_bits": 4})]


def test_json_form_writes_tuples_as_lists_and_int_keys_as_strings() -> None:
    a = normalise_attributes({"num_bits": (4, 3), "block_sizes": {-1: 16}})
    data = json_attributes(a)
    assert data["num_bits"] == [4, 3] and data["block_sizes"] == {"-1": 16}


# ---------------------------------------------------------------------------------------------
# qrt specs ModelOpt cannot say


@pytest.mark.parametrize(
    ("spec", "reason"),
    [
        (QuantizationSpec(dtype="int8", qscheme="asymmetric", qparam_calculator="minmax", range_calculator="minmax"), "zero point"),
        (QuantizationSpec(dtype="int8", qparam_calculator="moving_average", range_calculator="minmax"), "running max"),
        (QuantizationSpec(dtype="int8"), "qparam_calculator=default"),
        (QuantizationSpec(dtype="int8", granularity="per_channel", qparam_calculator="minmax", range_calculator="minmax"), "axis comes from the model"),
        (QuantizationSpec(dtype="int8", qparam_calculator="minmax", range_calculator="minmax", fake_quantize="lsq"), "fake_quantize"),
        (QuantizationSpec(dtype="int8", qparam_calculator="minmax", range_calculator="minmax", extras={"foo": 1}), "'foo' is not a ModelOpt"),
    ],
)
def test_a_spec_without_modelopt_equivalent_is_refused_with_the_reason(spec: QuantizationSpec, reason: str) -> None:
    with pytest.raises(NoModelOptEquivalent) as info:
        attributes_from_spec(spec)
    assert reason in str(info.value)


def test_an_expressible_spec_converts_exactly() -> None:
    spec = QuantizationSpec(
        dtype="float8_e4m3fn", granularity={"type": "per_channel", "axis": 0},
        qparam_calculator="minmax", range_calculator="minmax",
    )
    cfg = attributes_from_spec(spec)
    assert cfg["num_bits"] == (4, 3) and cfg["axis"] == 0
    assert spec_from_attributes(cfg) == spec
