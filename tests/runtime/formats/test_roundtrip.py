"""Every registered format, drawn with hypothesis: quantize → pack → store → unpack →
dequantize gives exactly the fake-quantized values (what a finalized model computes is what
the prepared one computed), and every family of :mod:`qrt.formats` has its arithmetic."""

from __future__ import annotations

from typing import Any

import torch
from hypothesis import given
from hypothesis import strategies as st

from qrt.formats import FAMILIES, format_of
from qrt.formats.float8 import FLOAT8_DTYPES
from qrt.formats.mx import ELEMENT_DTYPES as MX_ELEMENTS
from qrt.ir.spec import INT_QUANT_DTYPES, QuantizationSpec
from qrt.runtime.finalize.pack import Packed, dequantize, quantize_packed
from qrt.runtime.formats import ARITHMETIC
from qrt.runtime.quant.numerics import fake_quantize, group_min_max, group_shape, qparams


def _granularity(draw: Any, cols: int, rows: int) -> dict[str, Any]:
    kind = draw(st.sampled_from(["per_tensor", "per_channel", "per_block"]))
    if kind == "per_tensor":
        return {"type": kind}
    if kind == "per_channel":
        return {"type": kind, "axis": draw(st.sampled_from([0, 1]))}
    axis = draw(st.sampled_from([-1, 0]))
    size = cols if axis == -1 else rows
    return {"type": kind, "axis": axis, "block_size": draw(st.sampled_from([b for b in (1, 2, 4, 8, 16, 32) if size % b == 0]))}


@st.composite
def _int(draw: Any, rows: int, cols: int) -> dict[str, Any]:
    return {"dtype": draw(st.sampled_from(INT_QUANT_DTYPES)), "qscheme": draw(st.sampled_from(["symmetric", "asymmetric"])),
            "granularity": _granularity(draw, cols, rows),
            "scale_dtype": draw(st.sampled_from([None, "float32", "float16", "bfloat16", "float8_e4m3fn"]))}


@st.composite
def _float8(draw: Any, rows: int, cols: int) -> dict[str, Any]:
    return {"dtype": draw(st.sampled_from(FLOAT8_DTYPES)), "granularity": _granularity(draw, cols, rows)}


@st.composite
def _mx(draw: Any, rows: int, cols: int) -> dict[str, Any]:
    return {"dtype": draw(st.sampled_from(MX_ELEMENTS)), "scale_dtype": "float8_e8m0fnu",
            "granularity": {"type": "per_block", "block_size": 32, "axis": -1}}


@st.composite
def _nvfp4(draw: Any, rows: int, cols: int) -> dict[str, Any]:
    g = _granularity(draw, cols, rows)
    if g["type"] != "per_block":
        g = {"type": "per_block", "block_size": 16, "axis": -1}
    return {"dtype": "float4_e2m1fn_x2", "granularity": g,
            "scale_dtype": draw(st.sampled_from([None, "float8_e4m3fn", "float32", "float16", "bfloat16"]))}


SPECS = {"int": _int, "float8": _float8, "mx": _mx, "nvfp4": _nvfp4}
"""a strategy per registered format family: a new family needs one here"""


def test_every_family_has_its_arithmetic_and_a_strategy_here() -> None:
    assert set(ARITHMETIC) == set(FAMILIES) == set(SPECS)


@st.composite
def _cases(draw: Any) -> tuple[QuantizationSpec, torch.Tensor]:
    rows = draw(st.sampled_from([1, 2, 4, 8, 16]))
    cols = draw(st.sampled_from([32, 64, 96]))
    kind = draw(st.sampled_from(sorted(SPECS)))
    spec = QuantizationSpec(**draw(SPECS[kind](rows, cols)))
    gen = torch.Generator().manual_seed(draw(st.integers(0, 2**16)))
    x = torch.randn(rows, cols, generator=gen) * draw(st.sampled_from([1e-3, 1.0, 50.0]))
    if draw(st.booleans()):
        x[0, 0] = 0.0  # an all-zero or constant group somewhere is common in real weights
    return spec, x.to(draw(st.sampled_from([torch.float32, torch.bfloat16])))


@given(_cases())
def test_every_format_packs_and_unpacks_to_its_fake_quantized_values(case: tuple[QuantizationSpec, torch.Tensor]) -> None:
    spec, x = case
    fmt = format_of(spec)
    block = group_shape(spec, tuple(x.shape))
    scale = zero_point = None
    if not fmt.dynamic:
        lo, hi = group_min_max(x.float(), block)
        scale, zero_point = qparams(spec, fmt, lo, hi, block)
    fake = fake_quantize(spec, fmt, x, block, scale, zero_point)
    packed = quantize_packed(spec, fmt, x, block, scale, zero_point)
    stored = Packed.from_stored(packed.layout(), packed.tensors())  # what a saved model reads back
    assert stored.kind in FAMILIES[fmt.kind].packed_bits
    assert torch.equal(dequantize(stored, x.dtype), fake), spec
