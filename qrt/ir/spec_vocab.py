"""The closed sets a quantization spec's fields take their values from: the ``Literal`` types
and their tuples, in a module of their own so that :mod:`qrt.ir.spec` (the values) and
:mod:`qrt.ir.spec_model` (their pydantic twin) share one definition without importing each
other."""

from __future__ import annotations

from typing import Literal, get_args

__all__ = [
    "QuantDType", "ScaleDType", "QScheme", "QParamCalculator", "RangeCalculator", "FakeQuantize",
    "QUANT_DTYPES", "INT_QUANT_DTYPES", "FLOAT_QUANT_DTYPES", "SCALE_DTYPES", "QSCHEMES",
    "QPARAM_CALCULATORS", "RANGE_CALCULATORS", "FAKE_QUANTIZERS",
]

QuantDType = Literal[
    "int2", "int3", "int4", "int5", "int6", "int7", "int8",
    "uint2", "uint3", "uint4", "uint5", "uint6", "uint7", "uint8",
    "float8_e4m3fn", "float8_e5m2", "float4_e2m1fn_x2",
]  # fmt: skip
"""The dtype of the quantized values; the names are torch's (``torch.int4`` → ``"int4"``)."""

QUANT_DTYPES: tuple[str, ...] = get_args(QuantDType)
FLOAT_QUANT_DTYPES: tuple[str, ...] = ("float8_e4m3fn", "float8_e5m2", "float4_e2m1fn_x2")
INT_QUANT_DTYPES: tuple[str, ...] = tuple(d for d in QUANT_DTYPES if d not in FLOAT_QUANT_DTYPES)

ScaleDType = Literal["float8_e8m0fnu", "float8_e4m3fn", "float16", "bfloat16", "float32"]
"""The dtype scales are stored in. ``float8_e8m0fnu`` holds powers of two only (MX formats)."""

SCALE_DTYPES: tuple[str, ...] = get_args(ScaleDType)

QScheme = Literal["symmetric", "asymmetric"]
QSCHEMES: tuple[str, ...] = get_args(QScheme)

QParamCalculator = Literal["static", "minmax", "moving_average"]
QPARAM_CALCULATORS: tuple[str, ...] = get_args(QParamCalculator)

RangeCalculator = Literal["minmax", "percentile", "mse", "histogram"]
RANGE_CALCULATORS: tuple[str, ...] = get_args(RangeCalculator)

FakeQuantize = Literal["ste", "lsq"]
FAKE_QUANTIZERS: tuple[str, ...] = get_args(FakeQuantize)
