"""MX arithmetic: torchao's ``MXTensor.to_mx`` along the blocked axis (blocks of 32,
``float8_e8m0fnu`` scales floored to a power of two), for FP4 E2M1 and float8 elements —
dynamic, from the tensor each call. Packed along the last axis only: FP4 two codes a byte
(``mxfp4``), float8 as its dtype (``mxfp8``), scales as E8M0."""

from __future__ import annotations

import torch

from qrt.errors import FinalizeError
from qrt.formats import Format
from qrt.formats.mx import BLOCK_SIZE
from qrt.ir.spec import QuantizationSpec
from qrt.runtime.formats.base import FormatArithmetic
from qrt.runtime.formats.float8 import check_e4m3
from qrt.runtime.formats.groups import groups, move_last, torch_dtype
from qrt.runtime.formats.packed import Packed

__all__ = ["MX", "MXArithmetic"]


def _axis(block: tuple[int, ...], rank: int) -> int:
    """The blocked axis (the last when no dimension is blocked: a tensor of one block)."""
    return next((d for d, b in enumerate(block) if b > 1), rank - 1)


class MXArithmetic(FormatArithmetic):
    kind = "mx"

    def fake_quantize(
        self, spec: QuantizationSpec, fmt: Format, x: torch.Tensor, block: tuple[int, ...],
        scale: torch.Tensor | None, zero_point: torch.Tensor | None, global_scale: torch.Tensor | None,
    ) -> torch.Tensor:
        from torchao.prototype.mx_formats.mx_tensor import MXTensor

        axis = _axis(block, x.dim())
        moved = move_last(x.float(), axis)
        flat = moved.reshape(-1, moved.shape[-1]).contiguous()
        out = MXTensor.to_mx(flat, torch_dtype(fmt.dtype), BLOCK_SIZE).dequantize(torch.float32).reshape(moved.shape)
        return (out.movedim(-1, axis) if axis != x.dim() - 1 else out).to(x.dtype)

    def check_packable(self, spec: QuantizationSpec, fmt: Format, block: tuple[int, ...], rank: int) -> None:
        axis = _axis(block, rank)
        if axis != rank - 1:
            raise FinalizeError(
                f"{spec.dtype} MX blocks along axis {axis} of a rank-{rank} tensor have no packed form",
                hint="MX weights pack with their blocks along the last axis (per_block(32, axis=-1))",
            )

    def pack(
        self, spec: QuantizationSpec, fmt: Format, x: torch.Tensor, block: tuple[int, ...],
        scale: torch.Tensor | None, zero_point: torch.Tensor | None, global_scale: torch.Tensor | None,
    ) -> Packed:
        from torchao.prototype.mx_formats.mx_tensor import MXTensor

        flat = x.float().reshape(-1, x.shape[-1]).contiguous()
        mx = MXTensor.to_mx(flat, torch_dtype(fmt.dtype), BLOCK_SIZE)
        scales = mx.scale.view(torch.float8_e8m0fnu).contiguous().reshape(groups(tuple(x.shape), block))
        if fmt.dtype == "float4_e2m1fn_x2":
            return Packed(mx.qdata.view(torch.uint8).contiguous(), scales, None, tuple(x.shape), block, "mxfp4", 4, True)
        return Packed(mx.qdata.reshape(x.shape).contiguous(), scales, None, tuple(x.shape), block, "mxfp8", 8, True)

    def dequantize(self, p: Packed, dtype: torch.dtype) -> torch.Tensor:
        from torchao.prototype.mx_formats.kernels import f4_unpacked_to_f32, unpack_uint4

        values = f4_unpacked_to_f32(unpack_uint4(p.data)) if p.kind == "mxfp4" else p.data.float()
        scales = p.scale.view(torch.float8_e8m0fnu).to(torch.float32).reshape(-1, 1)
        return (values.reshape(-1, BLOCK_SIZE) * scales).reshape(p.shape).to(dtype)

    def dtype_name(self, p: Packed) -> str:
        return str(p.data.dtype).removeprefix("torch.") if p.kind == "mxfp8" else "float4_e2m1fn_x2"

    def compressed_tensors_check(self, p: Packed, what: str) -> None:
        if p.kind == "mxfp8":
            check_e4m3(p, what)
        if tuple(p.block) != (1, BLOCK_SIZE):
            raise FinalizeError(f"{what}: MX formats have blocks of 32 along the last axis",
                                hint="per_block(32, axis=-1) with float8_e8m0fnu scales")

    def compressed_tensors_weight(
        self, p: Packed, format: str, strategy: str, scale_shape: tuple[int, ...]
    ) -> dict[str, torch.Tensor]:
        rows, cols = p.shape
        if p.kind == "mxfp8":
            return {"weight": p.data.reshape(rows, cols), "weight_scale": p.scale.view(torch.uint8).reshape(scale_shape)}
        return {"weight_packed": p.data.view(torch.uint8).reshape(rows, cols // 2),
                "weight_scale": p.scale.view(torch.uint8).reshape(scale_shape)}


MX = MXArithmetic()
