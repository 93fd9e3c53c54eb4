"""The plain spec classes against their pydantic twin (qrt/ir/spec_model.py): for any input,
the plain check gives the value pydantic gives (fields set, repr and dump included) or the
same ValidationError; and a valid spec is built, compared, copied and pickled with no pydantic
imported (issue 24: pydantic cost a quarter of a second of every command)."""

from __future__ import annotations

import enum
import pickle
import subprocess
import sys
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from qrt.ir.spec import (
    FAKE_QUANTIZERS,
    QPARAM_CALCULATORS,
    QUANT_DTYPES,
    RANGE_CALCULATORS,
    SCALE_DTYPES,
    PerBlock,
    PerChannel,
    PerTensor,
    QuantizationSpec,
)
from qrt.ir import spec
from qrt.ir.spec_model import validate_by_twin as by_twin
from tests.conftest import ROOT


def validate_by_twin(cls: type, data: Any) -> Any:
    """pydantic's outcome for ``cls.model_validate(data)``."""
    return by_twin(spec, cls, data)


class Scheme(enum.Enum):
    SYMMETRIC = enum.auto()
    ASYMMETRIC = enum.auto()


class Flag(enum.IntEnum):
    ONE = 1


ints = st.sampled_from([None, 0, 1, -1, 16, 32, True, 2.0, "1", Flag.ONE])
granularities = st.one_of(
    st.sampled_from(["per_tensor", "per_channel", "per_block", "PER_TENSOR", "tensor", 3, None]),
    st.builds(PerChannel, axis=st.none() | st.integers(-2, 2)),
    st.builds(PerBlock, axis=st.none() | st.integers(-2, 2), block_size=st.integers(1, 64)),
    st.just(PerTensor()),
    st.fixed_dictionaries(
        {"type": st.sampled_from(["per_tensor", "per_channel", "per_block", " Per_Block", "bad", 1])},
        optional={"axis": ints, "block_size": ints, "blocksize": ints},
    ),
)
fields = st.fixed_dictionaries({}, optional={
    "dtype": st.sampled_from([*QUANT_DTYPES[::4], "torch.int4", " INT8 ", "int9", 8, None, "float4_e2m1fn_x2"]),
    "qscheme": st.sampled_from(["symmetric", "asymmetric", Scheme.ASYMMETRIC, "QuantizationScheme.SYMMETRIC", None, "sym"]),
    "granularity": granularities,
    "scale_dtype": st.sampled_from([*SCALE_DTYPES, None, "float64", "torch.float16"]),
    "qparam_calculator": st.sampled_from([*QPARAM_CALCULATORS, "default", None, "moving-average", 3]),
    "qparam_calculator_cls": st.sampled_from(["minmax", "nope"]),
    "range_calculator": st.sampled_from([*RANGE_CALCULATORS, None]),
    "fake_quantize": st.sampled_from([*FAKE_QUANTIZERS, None, "LSQ"]),
    "extras": st.sampled_from([None, {}, {"narrow_range": True}, {"1x": 1}, [("a", "1")], [("a", "{")], "x"]),
    "then": st.sampled_from([(), [{"dtype": "int4"}], [{"dtype": "int9"}], {"dtype": "int4"}, [{"then": [{}]}], "x"]),
    "colour": st.just("red"),
})


def _outcome(build: Any) -> Any:
    try:
        value = build()
    except ValidationError as err:
        return ("error", err.title, [(e["type"], e["loc"], e["msg"]) for e in err.errors()])
    return ("value", value, value.model_fields_set, repr(value), value.model_dump(), value.model_dump(mode="json"))


@settings(max_examples=100, deadline=None)
@given(fields)
def test_plain_check_gives_what_pydantic_gives(data: dict[str, Any]) -> None:
    assert _outcome(lambda: QuantizationSpec.model_validate(data)) == _outcome(
        lambda: validate_by_twin(QuantizationSpec, data)
    )


def test_granularity_classes_agree_with_their_twins() -> None:
    for cls, data in [
        (PerBlock, {}), (PerBlock, {"block_size": 0}), (PerBlock, {"block_size": 8, "axis": True}),
        (PerBlock, {"block_size": 8, "axis": -1}), (PerChannel, {"type": "per_block"}), (PerTensor, {"axis": 1}),
        (PerChannel, {"axis": Flag.ONE}),
    ]:
        plain = _outcome(lambda: cls.model_validate(data))  # noqa: B023
        assert plain == _outcome(lambda: validate_by_twin(cls, data)), (cls, data)  # noqa: B023


def test_copies_pickles_and_frozen() -> None:
    spec = QuantizationSpec(dtype="int4", granularity={"type": "per_block", "block_size": 32},
                            extras={"rotate": True}, then=[{"dtype": "int8"}])
    back = pickle.loads(pickle.dumps(spec))
    assert back == spec and back.explicit_fields() == spec.explicit_fields() and hash(back) == hash(spec)
    copy = spec.model_copy(update={"then": ()})
    assert copy.then == () and "then" in copy.explicit_fields() and spec.then
    assert str(PerBlock(block_size=8)) == "type='per_block' axis=None block_size=8"
    assert spec != spec.to_json() and PerTensor() != QuantizationSpec()


def test_valid_specs_need_no_pydantic() -> None:
    code = (
        "import sys\n"
        "from qrt.ir.spec import QuantizationSpec, default_weight_spec\n"
        "s = QuantizationSpec.from_json({'dtype': 'torch.int4', 'qscheme': 'asymmetric', "
        "'granularity': {'type': 'per_block', 'block_size': 32}, 'qparam_calculator_cls': 'default'})\n"
        "w = default_weight_spec().with_axis(0).merged({'dtype': 'int4'})\n"
        "assert s == QuantizationSpec.from_json(s.to_json()) and w.granularity.axis == 0\n"
        "assert 'pydantic' not in sys.modules and 'pydantic_core' not in sys.modules, 'pydantic imported'\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr


BASES = [
    QuantizationSpec(),
    QuantizationSpec(dtype="int4", granularity={"type": "per_block", "block_size": 32}, qparam_calculator="static"),
    QuantizationSpec(dtype="float8_e4m3fn", extras={"narrow_range": True}, then=[{"dtype": "int8"}]),
]


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(BASES), fields)
def test_merged_gives_what_pydantic_gives(base: QuantizationSpec, patch: dict[str, Any]) -> None:
    whole = {name: getattr(base, name) for name in base.explicit_fields()}
    for key in patch:
        whole.pop({"qparam_calculator_cls": "qparam_calculator"}.get(key, key), None)
    whole.update(patch)
    assert _outcome(lambda: base.merged(patch)) == _outcome(lambda: validate_by_twin(QuantizationSpec, whole))
