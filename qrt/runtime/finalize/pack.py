"""Real low-bit storage for a fake-quantized tensor: codes, packing, scales, and back.

``quantize_packed`` turns a tensor and its quantizer's qparams into what a deployment keeps,
in the form its format family writes (``qrt/runtime/formats/<family>.py``, found by the
spec's format kind; the packed kinds and their bits are :data:`qrt.formats.PACKED_BITS`):

* integers as codes in the spec's range — int8/uint8 one per byte, int3–int7/uint3–uint7 in a
  byte each too (no portable packing), int4/uint4 two per byte, int2/uint2 four per byte
  (low nibble/bits first), with the zero point applied;
* float8 as torch's float8 dtype;
* FP4 (E2M1) as torch's packed ``float4_e2m1fn_x2`` layout, two values per byte (torchao's
  ``f32_to_f4_unpacked`` + ``pack_uint4``, low nibble first), with MX block scales as
  ``float8_e8m0fnu`` (``mxfp4``) or NVFP4-style block scales as ``float8_e4m3fn`` under one fp32
  ``global_scale`` (``nvfp4``; other scale dtypes keep their own);
* MX float8 elements as the float8 dtype with ``float8_e8m0fnu`` block scales (``mxfp8``);

with scales (in the spec's scale dtype) and zero points per group. ``dequantize`` gives the
fake-quantized values back exactly (up to the float32 arithmetic both share), which is what
the finalized model computes with. This module keeps what is the same for every format: the
single-stage check, static qparams computed on the way, and packing a large weight a chunk of
rows at a time.
"""

from __future__ import annotations

import torch

from qrt.errors import FinalizeError  # re-exported: qrt.runtime.finalize.pack.FinalizeError stays importable
from qrt.formats import Format
from qrt.ir.spec import QuantizationSpec
from qrt.runtime.formats import arithmetic, packed_arithmetic
from qrt.runtime.formats.groups import group_min_max
from qrt.runtime.formats.nvfp4 import global_scale as nvfp4_global_scale
from qrt.runtime.formats.packed import Packed

__all__ = ["FinalizeError", "Packed", "check_packable", "dequantize", "quantize_packed"]


def check_packable(spec: QuantizationSpec, fmt: Format, block: tuple[int, ...], rank: int) -> None:
    """Raise :class:`FinalizeError` (saying why, and what would pack) when a tensor of rank
    ``rank`` under ``spec`` has no packed form — checked for every weight before any is
    packed, so a finalize that cannot finish changes nothing."""
    if spec.then:
        raise FinalizeError(
            f"{spec.dtype} followed by {len(spec.then)} further stage(s) (then=…) has no single packed form",
            hint="finalize weights whose spec has one stage; a sequential quantizer stays fake-quantized",
        )
    arithmetic(fmt.kind).check_packable(spec, fmt, block, rank)


_CHUNK_BYTES = 32 << 20
"""rows of a large weight are packed this many float32 bytes at a time, so packing needs a
few chunk-sized temporaries instead of a few copies of the whole weight"""


def quantize_packed(spec: QuantizationSpec, fmt: Format, x: torch.Tensor, block: tuple[int, ...],
                    scale: torch.Tensor | None, zero_point: torch.Tensor | None,
                    global_scale: torch.Tensor | None = None) -> Packed:
    """The packed form of ``x`` under its quantizer's spec and qparams (computed from ``x``
    when the quantizer has none: static weight qparams). A large 2-D weight whose groups lie
    within rows is packed a chunk of rows at a time (the same result)."""
    x = x.detach()
    check_packable(spec, fmt, block, x.dim())
    family = arithmetic(fmt.kind)
    if not fmt.dynamic and (scale is None or scale.numel() == 0):
        lo, hi = group_min_max(x if x.dtype == torch.float32 else x.float(), block)
        scale, zero_point = family.qparams(spec, fmt, lo, hi, block)
    if not fmt.global_scale:
        global_scale = None
    elif global_scale is None:  # its own, unless shared with fused layers (qrt.runtime.fused_layers)
        global_scale = nvfp4_global_scale(x)
    rows = x.shape[0] if x.dim() == 2 else 0
    step = max(8, (_CHUNK_BYTES // max(1, 4 * x.shape[-1])) // 8 * 8) if rows else 0
    if not rows or block[0] != 1 or rows <= step:
        return family.pack(spec, fmt, x, block, scale, zero_point, global_scale)
    parts = [
        family.pack(spec, fmt, x[r:r + step], block, None if scale is None else scale[r:r + step],
                    None if zero_point is None else zero_point[r:r + step], global_scale)
        for r in range(0, rows, step)
    ]
    first = parts[0]
    joined = torch.cat([p.data for p in parts], dim=0)
    scales = torch.cat([p.scale for p in parts], dim=0)
    # symmetric zero points are dropped in every chunk alike, asymmetric ones kept in every chunk
    zps = torch.cat([p.zero_point for p in parts], dim=0) if first.zero_point is not None else None  # type: ignore[misc]
    return Packed(joined, scales, zps, tuple(x.shape), block, first.kind, first.bits, first.signed, first.qmin,
                  first.global_scale)


def dequantize(p: Packed, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """The values a packed tensor stands for."""
    return packed_arithmetic(p.kind).dequantize(p, dtype)
