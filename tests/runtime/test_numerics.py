"""Fake-quant numerics against independent reference computations, one per format.

The references are written here from the formats' definitions (round to nearest on a grid of
``scale``; float8 by its mantissa; FP4 by its eight magnitudes), not with the torchao calls the
runtime uses, so a mistake in wiring torchao (a wrong block shape, a swapped zero point) shows.
"""

from __future__ import annotations

import pytest
import torch

from qrt.ir.spec import QuantizationSpec
from qrt.runtime.quant.numerics import (
    NumericsError,
    fake_quantize,
    format_of,
    group_min_max,
    group_shape,
    qparams,
)

torch.manual_seed(0)
X = torch.randn(8, 64) * 3


def run(spec: QuantizationSpec, x: torch.Tensor = X) -> torch.Tensor:
    fmt = format_of(spec)
    block = group_shape(spec, tuple(x.shape))
    if fmt.kind in ("mx", "nvfp4"):
        return fake_quantize(spec, fmt, x, block, None, None)
    lo, hi = group_min_max(x, block)
    scale, zp = qparams(spec, fmt, lo, hi, block)
    return fake_quantize(spec, fmt, x, block, scale, zp)


def ref_int(x: torch.Tensor, bits: int, signed: bool, symmetric: bool, dims: tuple[int, ...]) -> torch.Tensor:
    """Reference: the group's range on a grid of 2**bits levels, round half to even."""
    qmin, qmax = (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1) if signed else (0, 2**bits - 1)
    lo = torch.minimum(x.amin(dim=dims, keepdim=True), torch.zeros(()))
    hi = torch.maximum(x.amax(dim=dims, keepdim=True), torch.zeros(()))
    if symmetric:
        scale = torch.maximum(-lo, hi) / ((qmax - qmin) / 2)
        zp = torch.zeros_like(scale) if signed else torch.full_like(scale, (qmax + qmin + 1) // 2)
    else:
        scale = (hi - lo) / (qmax - qmin)
        zp = qmin - torch.round(lo / scale)
    scale = torch.clamp(scale, min=torch.finfo(torch.float32).eps)
    q = torch.clamp(torch.round(x * (1.0 / scale)) + zp, qmin, qmax)  # x·(1/s), as kernels compute it
    return (q - zp) * scale


@pytest.mark.parametrize("dtype", ["int8", "int4", "int2", "uint8", "uint4"])
@pytest.mark.parametrize("qscheme", ["symmetric", "asymmetric"])
def test_integers_per_tensor_and_per_channel(dtype: str, qscheme: str) -> None:
    bits, signed = int(dtype.lstrip("uint")), dtype.startswith("int")
    per_tensor = QuantizationSpec(dtype=dtype, qscheme=qscheme)
    torch.testing.assert_close(run(per_tensor), ref_int(X, bits, signed, qscheme == "symmetric", (0, 1)))
    per_row = QuantizationSpec(dtype=dtype, qscheme=qscheme, granularity={"type": "per_channel", "axis": 0})
    torch.testing.assert_close(run(per_row), ref_int(X, bits, signed, qscheme == "symmetric", (1,)))


def test_integers_per_block_along_the_last_axis() -> None:
    spec = QuantizationSpec(dtype="int4", granularity={"type": "per_block", "block_size": 16, "axis": -1})
    want = ref_int(X.reshape(8, 4, 16), 4, True, True, (2,)).reshape(8, 64)
    torch.testing.assert_close(run(spec), want)
    # and along axis 0: blocks of 4 rows, per column
    spec0 = QuantizationSpec(dtype="int8", granularity={"type": "per_block", "block_size": 4, "axis": 0})
    want0 = ref_int(X.reshape(2, 4, 64), 8, True, True, (1,)).reshape(8, 64)
    torch.testing.assert_close(run(spec0), want0)


@pytest.mark.parametrize(("dtype", "torch_dtype"), [("float8_e4m3fn", torch.float8_e4m3fn), ("float8_e5m2", torch.float8_e5m2)])
def test_float8_per_tensor_and_per_channel(dtype: str, torch_dtype: torch.dtype) -> None:
    fmax = torch.finfo(torch_dtype).max
    scale = X.abs().max() / fmax
    torch.testing.assert_close(run(QuantizationSpec(dtype=dtype)), (X / scale).to(torch_dtype).float() * scale)
    rows = X.abs().amax(dim=1, keepdim=True) / fmax
    spec = QuantizationSpec(dtype=dtype, granularity={"type": "per_channel", "axis": 0})
    torch.testing.assert_close(run(spec), (X / rows).to(torch_dtype).float() * rows)


FP4 = torch.tensor([0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0])


def ref_fp4(v: torch.Tensor) -> torch.Tensor:
    """Nearest FP4 (E2M1) magnitude, ties to the even mantissa, saturating at 6."""
    mag = v.abs().clamp(max=6.0)
    dist = (mag.unsqueeze(-1) - FP4).abs()
    best = dist.min(dim=-1, keepdim=True).values
    ties = (dist == best)
    # prefer even mantissa: indexes 0,2,4,6 (0, 1, 2, 4) have mantissa 0
    even = torch.tensor([True, False, True, False, True, False, True, False])
    choice = torch.where((ties & even).any(-1, keepdim=True), ties & even, ties).float().argmax(-1)
    return FP4[choice] * v.sign()


def test_mxfp4_blocks_of_32_with_power_of_two_scales() -> None:
    spec = QuantizationSpec(dtype="float4_e2m1fn_x2", granularity={"type": "per_block", "block_size": 32, "axis": -1},
                            scale_dtype="float8_e8m0fnu")
    blocks = X.reshape(8, 2, 32)
    amax = blocks.abs().amax(dim=-1, keepdim=True)
    scale = torch.exp2(torch.floor(torch.log2(amax)) - 2)  # e8m0 scale; FP4's largest exponent is 2
    want = (ref_fp4(blocks / scale) * scale).reshape(8, 64)
    got = run(spec)
    assert (got == want).float().mean() > 0.999, (got - want).abs().max()


def test_nvfp4_style_blocks_of_16_with_e4m3_scales() -> None:
    spec = QuantizationSpec(dtype="float4_e2m1fn_x2", granularity={"type": "per_block", "block_size": 16, "axis": -1},
                            scale_dtype="float8_e4m3fn")
    blocks = X.reshape(8, 4, 16)
    glob = X.abs().max() / (448 * 6)
    scale = ((blocks.abs().amax(dim=-1, keepdim=True) / 6) / glob).to(torch.float8_e4m3fn).float() * glob
    want = (ref_fp4(blocks / scale) * scale).reshape(8, 64)
    got = run(spec)
    assert (got == want).float().mean() > 0.999, (got - want).abs().max()


def test_error_bounds_of_the_weight_formats() -> None:
    w = torch.randn(64, 128)
    w4 = run(QuantizationSpec(dtype="int4", granularity={"type": "per_block", "block_size": 32, "axis": -1}), w)
    amax = w.reshape(64, 4, 32).abs().amax(-1, keepdim=True)
    assert ((w4 - w).reshape(64, 4, 32).abs() <= amax / 7.5 / 2 + 1e-6).all()  # half a step
    mx = run(QuantizationSpec(dtype="float4_e2m1fn_x2", granularity={"type": "per_block", "block_size": 32, "axis": -1},
                              scale_dtype="float8_e8m0fnu"), w)
    rel = ((mx - w).reshape(64, 4, 32).abs() / w.reshape(64, 4, 32).abs().amax(-1, keepdim=True))
    assert rel.max() <= 0.5  # FP4's widest gap (4 → 6 → saturation) under a power-of-two scale


def test_a_block_that_does_not_divide_the_axis_is_refused() -> None:
    spec = QuantizationSpec(dtype="int4", granularity={"type": "per_block", "block_size": 48, "axis": -1})
    with pytest.raises(NumericsError, match="does not divide dimension 1"):
        group_shape(spec, (8, 64))


def test_mx_scales_need_blocks_of_32() -> None:
    with pytest.raises(NumericsError, match="per_block\\(32\\)"):
        format_of(QuantizationSpec(dtype="float8_e4m3fn", granularity={"type": "per_block", "block_size": 16}, scale_dtype="float8_e8m0fnu"))


def test_nvfp4_activations_calibrate_their_global_scale() -> None:
    """NVFP4 activations (float8 block scales): block scales per call, the global scale from
    calibration — the largest magnitude observed, as ModelOpt's max calibration and
    compressed-tensors' static ``input_global_scale`` have it — not from each tensor."""
    from qrt.runtime.quant.fake_quantizer import FakeQuantizer
    from qrt.runtime.quant.numerics import format_of, nvfp4_global_from_amax

    spec = QuantizationSpec(dtype="float4_e2m1fn_x2", scale_dtype="float8_e4m3fn",
                            granularity={"type": "per_block", "block_size": 16, "axis": -1})
    q = FakeQuantizer(spec, (4, 32), role="input", path="x.input_quantizer")
    torch.manual_seed(0)
    q.observer_enabled, q.fake_quant_enabled = True, False
    for peak in (2.0, 5.0, 3.0):
        x = torch.randn(4, 32)
        q(x / x.abs().max() * peak)
    assert float(q.max_val) == pytest.approx(5.0)
    q.observer_enabled, q.fake_quant_enabled = False, True
    x = torch.randn(4, 32)
    out = q(x)
    block = (1, 16)
    calibrated = fake_quantize(spec, format_of(spec), x, block, None, None, nvfp4_global_from_amax(q.max_val))
    torch.testing.assert_close(out, calibrated, rtol=0, atol=0)
    assert not torch.equal(out, fake_quantize(spec, format_of(spec), x, block, None, None))  # not its own amax
    weight = FakeQuantizer(spec, (4, 32), role="state", path="x.weight_quantizer")
    torch.testing.assert_close(weight(x), fake_quantize(spec, format_of(spec), x, block, None, None), rtol=0, atol=0)
