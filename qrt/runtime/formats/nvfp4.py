"""NVFP4-style FP4 arithmetic: block scale = block amax / 6 (stored in ``float8_e4m3fn``
relative to a per-tensor fp32 global scale of amax / (448·6), or in the spec's own scale
dtype), elements rounded with torchao's ``f32_to_f4_unpacked`` / ``f4_unpacked_to_f32`` — any
block size. Packed two codes a byte, low nibble first (torchao's ``pack_uint4``); compressed-
tensors stores the reciprocal global scale."""

from __future__ import annotations

import math

import torch

from qrt.errors import FinalizeError
from qrt.formats import Format
from qrt.formats.nvfp4 import BLOCK_SIZE, ELEMENT_MAX, SCALE_DTYPE, SCALE_MAX
from qrt.ir.spec import QuantizationSpec
from qrt.runtime.formats.base import FormatArithmetic
from qrt.runtime.formats.groups import expand, group_min_max
from qrt.runtime.formats.packed import Packed

__all__ = ["NVFP4", "NVFP4Arithmetic", "global_from_amax", "global_scale", "scales"]

_FP4_MAX = ELEMENT_MAX
_E4M3_MAX = SCALE_MAX


def global_scale(x: torch.Tensor) -> torch.Tensor:
    """The fp32 per-tensor scale NVFP4-style e4m3 block scales are relative to: amax / (448·6)."""
    amax = torch.maximum(x.detach().max(), -x.detach().min()).float()  # |x|.max() without a copy of x
    return global_from_amax(amax)


def global_from_amax(amax: torch.Tensor) -> torch.Tensor:
    """The NVFP4 global scale of a tensor whose largest magnitude is ``amax`` (a calibrated
    one, for activations): amax / (448·6)."""
    return (amax.float().reshape(()) / (_E4M3_MAX * _FP4_MAX)).clamp(min=1e-12)


def scales(spec: QuantizationSpec, x: torch.Tensor, block: tuple[int, ...],
           global_scale_: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """NVFP4-style scales of ``x``: the per-element scale values are divided by, the block
    scales as stored (float8_e4m3fn relative to the global scale, or the spec's scale dtype),
    and the fp32 global scale (float8 block scales only). Shared by fake quantization and
    packing, so the packed codes are exactly the fake-quantized values.
    ``global_scale_``: the whole tensor's, when ``x`` is a slice of it."""
    lo, hi = group_min_max(x.float(), block)
    scale = torch.maximum(lo.abs(), hi.abs()) / _FP4_MAX
    if spec.scale_dtype == SCALE_DTYPE:
        if global_scale_ is None:
            global_scale_ = global_scale(x)
        stored = (scale / global_scale_).clamp(max=_E4M3_MAX).to(torch.float8_e4m3fn)
        scale = stored.float() * global_scale_
    elif spec.scale_dtype in ("float16", "bfloat16"):
        stored = scale.to(getattr(torch, spec.scale_dtype))
        scale = stored.float()
    else:
        stored = scale
    if spec.scale_dtype != SCALE_DTYPE:
        global_scale_ = None
    return expand(torch.where(scale > 0, scale, torch.ones_like(scale)), block), stored, global_scale_


def _fp4_round(v: torch.Tensor) -> torch.Tensor:
    from torchao.prototype.mx_formats.kernels import f4_unpacked_to_f32, f32_to_f4_unpacked

    return f4_unpacked_to_f32(f32_to_f4_unpacked(v.float().contiguous()))


class NVFP4Arithmetic(FormatArithmetic):
    kind = "nvfp4"

    def fake_quantize(
        self, spec: QuantizationSpec, fmt: Format, x: torch.Tensor, block: tuple[int, ...],
        scale: torch.Tensor | None, zero_point: torch.Tensor | None, global_scale: torch.Tensor | None,
    ) -> torch.Tensor:
        full, _, _ = scales(spec, x, block, global_scale)
        return (_fp4_round(x.float() / full) * full).to(x.dtype)

    def pack(
        self, spec: QuantizationSpec, fmt: Format, x: torch.Tensor, block: tuple[int, ...],
        scale: torch.Tensor | None, zero_point: torch.Tensor | None, global_scale: torch.Tensor | None,
    ) -> Packed:
        from torchao.prototype.mx_formats.kernels import f32_to_f4_unpacked, pack_uint4

        full, stored, global_scale = scales(spec, x, block, global_scale)
        codes = f32_to_f4_unpacked((x.float() / full).reshape(-1).contiguous())
        if codes.numel() % 2:
            codes = torch.cat([codes, torch.zeros(1, dtype=codes.dtype)])
        return Packed(pack_uint4(codes.reshape(-1, 2)).reshape(-1), stored, None, tuple(x.shape), block, "nvfp4", 4,
                      True, 0, global_scale)

    def dequantize(self, p: Packed, dtype: torch.dtype) -> torch.Tensor:
        from torchao.prototype.mx_formats.kernels import f4_unpacked_to_f32, unpack_uint4

        count = math.prod(p.shape)
        values = f4_unpacked_to_f32(unpack_uint4(p.data)).reshape(-1)[:count].reshape(p.shape)
        scale = p.scale.float() * p.global_scale if p.global_scale is not None else p.scale.float()
        full = expand(torch.where(scale > 0, scale, torch.ones_like(scale)), p.block)
        return (values * full).to(dtype)

    def dtype_name(self, p: Packed) -> str:
        return "float4_e2m1fn_x2"

    def compressed_tensors_check(self, p: Packed, what: str) -> None:
        nvfp4 = p.global_scale is not None and p.scale.dtype == torch.float8_e4m3fn and tuple(p.block) == (1, BLOCK_SIZE)
        if not nvfp4:
            block_scales = SCALE_DTYPE if p.global_scale is not None else str(p.scale.dtype).removeprefix("torch.")
            raise FinalizeError(
                f"{what} and {block_scales} block scales: compressed-tensors stores FP4 as MXFP4 "
                f"(blocks of 32 along the last axis, float8_e8m0fnu scales) or NVFP4 (blocks of 16 along the "
                f"last axis, float8_e4m3fn scales under a fp32 global scale) only",
                hint="float4_e2m1fn_x2 per_block(16, axis=-1) scale_dtype=float8_e4m3fn, or "
                     "per_block(32, axis=-1) scale_dtype=float8_e8m0fnu",
            )

    def compressed_tensors_weight(
        self, p: Packed, format: str, strategy: str, scale_shape: tuple[int, ...]
    ) -> dict[str, torch.Tensor]:
        assert p.global_scale is not None  # compressed_tensors_check
        rows, cols = p.shape
        # compressed-tensors divides by its global scale: the reciprocal of qrt's multiplier
        reciprocal = 1.0 / p.global_scale.double().reshape(1)
        return {"weight_packed": p.data.view(torch.uint8).reshape(-1)[: rows * cols // 2].reshape(rows, cols // 2),
                "weight_scale": p.scale.reshape(scale_shape), "weight_global_scale": reciprocal.float()}


NVFP4 = NVFP4Arithmetic()
