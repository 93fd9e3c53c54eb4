"""Real low-bit storage for a fake-quantized tensor: codes, packing, scales, and back.

``quantize_packed`` turns a tensor and its quantizer's qparams into what a deployment keeps:

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
the finalized model computes with.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from qrt.errors import FinalizeError  # re-exported: qrt.runtime.finalize.pack.FinalizeError stays importable
from qrt.ir.spec import QuantizationSpec
from qrt.runtime.quant.numerics import Format, _expand, _grouped, group_min_max, nvfp4_scales, qparams

__all__ = ["FinalizeError", "Packed", "check_packable", "dequantize", "quantize_packed"]




@dataclass
class Packed:
    """A tensor's real low-bit form."""

    data: torch.Tensor
    """codes (packed for 2- and 4-bit integers, float8 values, packed FP4)"""
    scale: torch.Tensor
    zero_point: torch.Tensor | None
    shape: tuple[int, ...]
    block: tuple[int, ...]
    kind: str
    bits: int
    signed: bool
    qmin: int = 0
    global_scale: torch.Tensor | None = None
    """NVFP4-style: the fp32 per-tensor scale the float8 block scales are relative to"""

    @property
    def nbytes(self) -> int:
        return self.data.numel() * self.data.element_size() + self.scale.numel() * self.scale.element_size() + (
            self.zero_point.numel() * self.zero_point.element_size() if self.zero_point is not None else 0
        ) + (self.global_scale.numel() * self.global_scale.element_size() if self.global_scale is not None else 0)

    def tensors(self) -> dict[str, torch.Tensor]:
        """The stored tensors by field name (``data``, ``scale``, and ``zero_point`` /
        ``global_scale`` where the format has them)."""
        out = {"data": self.data, "scale": self.scale}
        if self.zero_point is not None:
            out["zero_point"] = self.zero_point
        if self.global_scale is not None:
            out["global_scale"] = self.global_scale
        return out

    def layout(self) -> dict[str, object]:
        """Everything but the tensors: what a manifest records to rebuild this form."""
        return {"kind": self.kind, "shape": list(self.shape), "block": list(self.block), "bits": self.bits,
                "signed": self.signed, "qmin": self.qmin}

    @classmethod
    def from_stored(cls, layout: dict[str, object], tensors: dict[str, torch.Tensor]) -> Packed:
        """The inverse of :meth:`layout` + :meth:`tensors`; stored tensors that do not hold what
        the layout says (an edited manifest's ``bits``, a shard of another model) are an error."""
        _check_stored(layout, tensors)
        return cls(tensors["data"], tensors["scale"], tensors.get("zero_point"), tuple(layout["shape"]),  # type: ignore[arg-type]
                   tuple(layout["block"]), str(layout["kind"]), int(layout["bits"]), bool(layout["signed"]),  # type: ignore[arg-type]
                   int(layout["qmin"]), tensors.get("global_scale"))  # type: ignore[call-overload]


_KINDS = {"int": None, "float8": 8, "mxfp8": 8, "mxfp4": 4, "nvfp4": 4}
"""Packed kinds and their bits per stored value (``int``: the layout's own, packed below 8 only
for 2 and 4 bits, one byte per value otherwise: :func:`Packed` via ``_pack``)."""


def _check_stored(layout: dict[str, object], tensors: dict[str, torch.Tensor]) -> None:
    """Cheap structural check of a stored packed weight against its layout: the kind is known,
    ``data`` holds exactly the bytes ``shape`` and ``bits`` take, ``scale`` one value per group
    (int, float8). Catches an edited manifest (``bits`` 8 → 4) or a shard that is not the one
    written, which would otherwise load and give other numbers, or fail in the first forward."""
    try:
        kind, bits = str(layout["kind"]), int(layout["bits"])  # type: ignore[call-overload]
        shape = tuple(int(n) for n in layout["shape"])  # type: ignore[attr-defined]
        block = tuple(int(n) for n in layout["block"])  # type: ignore[attr-defined]
    except (KeyError, TypeError, ValueError) as exc:
        raise FinalizeError(f"a packed weight's layout is incomplete or malformed ({exc})",
                            hint="the manifest was edited or damaged; save the model again") from None
    if kind not in _KINDS or not 1 <= bits <= 8 or (_KINDS[kind] is not None and bits != _KINDS[kind]):
        raise FinalizeError(f"a packed weight's layout says {kind} with {bits} bits, which qrt never writes",
                            hint="the manifest was edited or damaged; save the model again")
    data = tensors.get("data")
    if data is None or tensors.get("scale") is None:
        raise FinalizeError("a packed weight lacks its data or scale tensor",
                            hint="the shards and the manifest no longer belong together; save the model again")
    count = 1
    for n in shape:
        count *= n
    packed = (kind == "int" and bits in (2, 4)) or kind in ("mxfp4", "nvfp4")
    expected = -(-count * bits // 8) if packed else count
    held = data.numel() * data.element_size()
    if held != expected:
        raise FinalizeError(
            f"a packed weight's data holds {held} bytes, but its layout ({kind}, {bits} bits, shape "
            f"{list(shape)}) takes {expected}",
            hint="the manifest was edited, or a shard is not the one qrt wrote; save the model again",
        )
    if kind in ("int", "float8") and len(block) == len(shape) and all(b > 0 for b in block):
        groups = 1
        for n, b in zip(shape, block):
            groups *= max(n // b, 1)
        if tensors["scale"].numel() != groups:
            raise FinalizeError(
                f"a packed weight's scale holds {tensors['scale'].numel()} values, but its layout "
                f"(shape {list(shape)}, blocks {list(block)}) has {groups} groups",
                hint="the manifest was edited, or a shard is not the one qrt wrote; save the model again",
            )


def _pack_bits(codes: torch.Tensor, bits: int) -> torch.Tensor:
    """Unsigned codes (< 2**bits) → bytes, ``8 // bits`` per byte, low bits first."""
    per = 8 // bits
    flat = codes.reshape(-1).to(torch.uint8)
    pad = (-flat.numel()) % per
    if pad:
        flat = torch.cat([flat, torch.zeros(pad, dtype=torch.uint8)])
    flat = flat.reshape(-1, per)
    out = torch.zeros(flat.shape[0], dtype=torch.uint8)
    for i in range(per):
        out |= flat[:, i] << (bits * i)
    return out


def _unpack_bits(data: torch.Tensor, bits: int, count: int) -> torch.Tensor:
    per = 8 // bits
    mask = (1 << bits) - 1
    parts = [(data >> (bits * i)) & mask for i in range(per)]
    return torch.stack(parts, dim=1).reshape(-1)[:count]


def check_packable(spec: QuantizationSpec, fmt: Format, block: tuple[int, ...], rank: int) -> None:
    """Raise :class:`FinalizeError` (saying why, and what would pack) when a tensor of rank
    ``rank`` under ``spec`` has no packed form — checked for every weight before any is
    packed, so a finalize that cannot finish changes nothing."""
    if spec.then:
        raise FinalizeError(
            f"{spec.dtype} followed by {len(spec.then)} further stage(s) (then=…) has no single packed form",
            hint="finalize weights whose spec has one stage; a sequential quantizer stays fake-quantized",
        )
    if fmt.kind == "mx":
        axis = next((d for d, b in enumerate(block) if b > 1), rank - 1)
        if axis != rank - 1:
            raise FinalizeError(
                f"{spec.dtype} MX blocks along axis {axis} of a rank-{rank} tensor have no packed form",
                hint="MX weights pack with their blocks along the last axis (per_block(32, axis=-1))",
            )


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
    if fmt.kind in ("int", "float8") and (scale is None or scale.numel() == 0):
        lo, hi = group_min_max(x if x.dtype == torch.float32 else x.float(), block)
        scale, zero_point = qparams(spec, fmt, lo, hi, block)
    if not (fmt.kind == "nvfp4" and spec.scale_dtype == "float8_e4m3fn"):
        global_scale = None
    elif global_scale is None:  # its own, unless shared with fused layers (qrt.runtime.fused_layers)
        from qrt.runtime.quant.numerics import nvfp4_global_scale

        global_scale = nvfp4_global_scale(x)
    rows = x.shape[0] if x.dim() == 2 else 0
    step = max(8, (_CHUNK_BYTES // max(1, 4 * x.shape[-1])) // 8 * 8) if rows else 0
    if not rows or block[0] != 1 or rows <= step:
        return _pack(spec, fmt, x, block, scale, zero_point, global_scale)
    parts = [
        _pack(spec, fmt, x[r:r + step], block, None if scale is None else scale[r:r + step],
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


def _pack(spec: QuantizationSpec, fmt: Format, x: torch.Tensor, block: tuple[int, ...],
          scale: torch.Tensor | None, zero_point: torch.Tensor | None, global_scale: torch.Tensor | None) -> Packed:
    if fmt.kind == "int":
        v, s, z = _grouped(x, block, scale, zero_point)
        q = torch.round(v * (1.0 / s))
        if z is not None:
            q = q + z
        q = q.clamp(fmt.qmin, fmt.qmax).reshape(x.shape)
        unsigned = (q - fmt.qmin).to(torch.uint8)  # 0 … 2**bits - 1
        data = _pack_bits(unsigned, fmt.bits) if fmt.bits in (2, 4) else unsigned.reshape(x.shape)
        if zero_point is not None and spec.qscheme == "symmetric" and not bool(zero_point.any()):
            zero_point = None  # symmetric: all zero, nothing to store
        elif zero_point is not None:
            zero_point = zero_point.to(torch.int8 if fmt.signed else torch.uint8)
        return Packed(data, scale.float(), zero_point, tuple(x.shape), block, "int", fmt.bits, fmt.signed, fmt.qmin)
    if fmt.kind == "float8":
        v, s, _ = _grouped(x, block, scale, None)
        fmax = torch.finfo(fmt.float_dtype).max  # type: ignore[arg-type]
        data = (v / s).clamp(-fmax, fmax).to(fmt.float_dtype).reshape(x.shape)
        return Packed(data, scale.float(), None, tuple(x.shape), block, "float8", 8, True)
    if fmt.kind == "mx":
        from torchao.prototype.mx_formats.mx_tensor import MXTensor

        flat = x.float().reshape(-1, x.shape[-1]).contiguous()
        mx = MXTensor.to_mx(flat, fmt.float_dtype, 32)
        scale = mx.scale.view(torch.float8_e8m0fnu).contiguous().reshape(_groups(x.shape, block))
        if fmt.float_dtype == torch.float4_e2m1fn_x2:
            return Packed(mx.qdata.view(torch.uint8).contiguous(), scale, None, tuple(x.shape), block, "mxfp4", 4, True)
        return Packed(mx.qdata.reshape(x.shape).contiguous(), scale, None, tuple(x.shape), block, "mxfp8", 8, True)
    if fmt.kind == "nvfp4":
        from torchao.prototype.mx_formats.kernels import f32_to_f4_unpacked, pack_uint4

        full, stored, global_scale = nvfp4_scales(spec, x, block, global_scale)
        codes = f32_to_f4_unpacked((x.float() / full).reshape(-1).contiguous())
        if codes.numel() % 2:
            codes = torch.cat([codes, torch.zeros(1, dtype=codes.dtype)])
        return Packed(pack_uint4(codes.reshape(-1, 2)).reshape(-1), stored, None, tuple(x.shape), block, "nvfp4", 4,
                      True, 0, global_scale)
    raise FinalizeError(  # pragma: no cover  (format_of admits no other kind)
        f"{spec.dtype} with {spec.scale_dtype or 'default'} scales in {spec.granularity.type} has no packed form",
        hint="packed forms: int2–int8, uint2–uint8, float8_e4m3fn/e5m2, MXFP4/MXFP8, NVFP4-style fp4",
    )


def _groups(shape: tuple[int, ...], block: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(n // b for n, b in zip(shape, block)) if block else ()


def dequantize(p: Packed, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """The values a packed tensor stands for."""
    if p.kind == "int":
        count = 1
        for n in p.shape:
            count *= n
        codes = _unpack_bits(p.data, p.bits, count) if p.bits in (2, 4) else p.data.reshape(-1)
        q = (codes.to(torch.float32) + p.qmin).reshape(p.shape)
        v, s, z = _grouped(q, p.block, p.scale, p.zero_point)
        if z is not None:
            v = v - z
        return (v * s).reshape(p.shape).to(dtype)
    if p.kind == "float8":
        v, s, _ = _grouped(p.data.float(), p.block, p.scale, None)
        return (v * s).reshape(p.shape).to(dtype)
    if p.kind in ("mxfp4", "mxfp8"):
        from torchao.prototype.mx_formats.kernels import f4_unpacked_to_f32, unpack_uint4

        values = f4_unpacked_to_f32(unpack_uint4(p.data)) if p.kind == "mxfp4" else p.data.float()
        scales = p.scale.view(torch.float8_e8m0fnu).to(torch.float32).reshape(-1, 1)
        return (values.reshape(-1, 32) * scales).reshape(p.shape).to(dtype)
    if p.kind == "nvfp4":
        from torchao.prototype.mx_formats.kernels import f4_unpacked_to_f32, unpack_uint4

        count = 1
        for n in p.shape:
            count *= n
        values = f4_unpacked_to_f32(unpack_uint4(p.data)).reshape(-1)[:count].reshape(p.shape)
        scale = p.scale.float() * p.global_scale if p.global_scale is not None else p.scale.float()
        full = _expand(torch.where(scale > 0, scale, torch.ones_like(scale)), p.block)
        return (values * full).to(dtype)
    raise FinalizeError(f"unknown packed kind {p.kind!r}")  # pragma: no cover
