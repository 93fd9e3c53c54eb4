"""Integer arithmetic (``int2``–``int8``, ``uint2``–``uint8``): affine fake quantization,
packing, compressed-tensors' signed codes, and torchao's own PT2E spec.

* **qparams** from min/max with torchao's ``choose_qparams_affine_with_min_max`` (symmetric or
  asymmetric); a ``float16``/``bfloat16``/``float8_e4m3fn`` scale dtype rounds the scale to it.
* **Values** with the arithmetic of torchao's ``_fake_quantize_affine`` (x·(1/s), round half to
  even, clamp to the spec's bits) written as one in-place chain on a grouped view — four times
  faster on CPU than torchao's and torch's fused kernels, and tested equal to a reference.
* **Packed**: codes minus ``qmin``, two a byte for 4 bits, four for 2 bits (low bits first),
  one a byte otherwise; symmetric zero points (all zero) are not stored.
* **compressed-tensors**: codes in its signed range (unsigned dtypes shifted by
  ``-2**(bits-1)``), ``pack-quantized`` int32 words (:func:`pack_to_int32`) or one int8 a byte.
* **torchao PT2E**: per-tensor and per-channel specs with float32 scales use torchao's
  ``FakeQuantize`` around a min/max or moving-average observer, with this module's arithmetic
  for the values (:func:`_fake_quantize_class`).
"""

from __future__ import annotations

import math
from typing import Any

import torch

from qrt.errors import FinalizeError
from qrt.formats import Format
from qrt.formats.integer import PACKED_BELOW_A_BYTE
from qrt.ir.spec import PerBlock, PerChannel, QuantizationSpec
from qrt.runtime.formats.base import FormatArithmetic
from qrt.runtime.formats.gradient import ste
from qrt.runtime.formats.groups import grouped
from qrt.runtime.formats.packed import Packed

__all__ = ["INTEGER", "IntegerArithmetic", "int_codes", "pack_bits", "pack_to_int32", "unpack_bits"]

_E4M3_MAX = float(torch.finfo(torch.float8_e4m3fn).max)


def pack_bits(codes: torch.Tensor, bits: int) -> torch.Tensor:
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


def unpack_bits(data: torch.Tensor, bits: int, count: int) -> torch.Tensor:
    """The inverse of :func:`pack_bits`: the first ``count`` codes."""
    per = 8 // bits
    mask = (1 << bits) - 1
    parts = [(data >> (bits * i)) & mask for i in range(per)]
    return torch.stack(parts, dim=1).reshape(-1)[:count]


def _stored_codes(p: Packed, count: int) -> torch.Tensor:
    return unpack_bits(p.data, p.bits, count) if p.bits in PACKED_BELOW_A_BYTE else p.data.reshape(-1)


class IntegerArithmetic(FormatArithmetic):
    kind = "int"

    def qparams(
        self, spec: QuantizationSpec, fmt: Format, lo: torch.Tensor, hi: torch.Tensor, block: tuple[int, ...]
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        from torchao.quantization.quant_primitives import MappingType, choose_qparams_affine_with_min_max

        lo = torch.minimum(lo, torch.zeros_like(lo))
        hi = torch.maximum(hi, torch.zeros_like(hi))
        mapping = MappingType.SYMMETRIC if spec.qscheme == "symmetric" else MappingType.ASYMMETRIC
        target = torch.int8 if fmt.signed else torch.uint8
        scale, zero_point = choose_qparams_affine_with_min_max(
            lo.float(), hi.float(), mapping, block, target, fmt.qmin, fmt.qmax,
            eps=torch.finfo(torch.float32).eps, scale_dtype=torch.float32, zero_point_dtype=torch.int32,
        )
        if spec.scale_dtype in ("float16", "bfloat16"):
            scale = scale.to(getattr(torch, spec.scale_dtype)).float()
        elif spec.scale_dtype == "float8_e4m3fn":
            scale = scale.clamp(max=_E4M3_MAX).to(torch.float8_e4m3fn).float().clamp(min=torch.finfo(torch.float32).eps)
        return scale, zero_point

    def fake_quantize(
        self, spec: QuantizationSpec, fmt: Format, x: torch.Tensor, block: tuple[int, ...],
        scale: torch.Tensor | None, zero_point: torch.Tensor | None, global_scale: torch.Tensor | None,
    ) -> torch.Tensor:
        """``clamp(round(x / s) + z) - z) · s`` per group, computed on a view that splits every
        dimension into (groups, elements per group) so the group's scale broadcasts. The same
        arithmetic as torchao's ``_fake_quantize_affine`` (x·(1/s), round half to even), in
        place on one temporary: four times faster than torch's fused kernel on CPU."""
        assert scale is not None
        v, s, z = grouped(x, block, scale, zero_point)
        q = torch.round(v * (1.0 / s))
        if z is not None:
            q = q.add_(z).clamp_(fmt.qmin, fmt.qmax).sub_(z)
        else:
            q = q.clamp_(fmt.qmin, fmt.qmax)
        return q.mul_(s).reshape(x.shape).to(x.dtype)

    def pack(
        self, spec: QuantizationSpec, fmt: Format, x: torch.Tensor, block: tuple[int, ...],
        scale: torch.Tensor | None, zero_point: torch.Tensor | None, global_scale: torch.Tensor | None,
    ) -> Packed:
        assert scale is not None
        v, s, z = grouped(x, block, scale, zero_point)
        q = torch.round(v * (1.0 / s))
        if z is not None:
            q = q + z
        q = q.clamp(fmt.qmin, fmt.qmax).reshape(x.shape)
        unsigned = (q - fmt.qmin).to(torch.uint8)  # 0 … 2**bits - 1
        data = pack_bits(unsigned, fmt.bits) if fmt.bits in PACKED_BELOW_A_BYTE else unsigned.reshape(x.shape)
        if zero_point is not None and spec.qscheme == "symmetric" and not bool(zero_point.any()):
            zero_point = None  # symmetric: all zero, nothing to store
        elif zero_point is not None:
            zero_point = zero_point.to(torch.int8 if fmt.signed else torch.uint8)
        return Packed(data, scale.float(), zero_point, tuple(x.shape), block, "int", fmt.bits, fmt.signed, fmt.qmin)

    def dequantize(self, p: Packed, dtype: torch.dtype) -> torch.Tensor:
        codes = _stored_codes(p, math.prod(p.shape))
        q = (codes.to(torch.float32) + p.qmin).reshape(p.shape)
        v, s, z = grouped(q, p.block, p.scale, p.zero_point)
        if z is not None:
            v = v - z
        return (v * s).reshape(p.shape).to(dtype)

    # -- compressed-tensors --------------------------------------------------------------------

    def dtype_name(self, p: Packed) -> str:
        return f"{'int' if p.signed else 'uint'}{p.bits}"

    def compressed_tensors_symmetric(self, p: Packed) -> bool:
        return int_codes(p)[1] is None

    def compressed_tensors_weight(
        self, p: Packed, format: str, strategy: str, scale_shape: tuple[int, ...]
    ) -> dict[str, torch.Tensor]:
        rows, cols = p.shape
        out: dict[str, torch.Tensor] = {}
        codes, zero_point = int_codes(p)
        if format == "pack-quantized":
            out["weight_packed"] = pack_to_int32(codes, p.bits)
            out["weight_shape"] = torch.tensor([rows, cols], dtype=torch.int64)
        else:
            out["weight"] = codes
        out["weight_scale"] = p.scale.float().reshape(scale_shape)
        if zero_point is not None and format == "pack-quantized" and strategy in ("group", "channel"):
            out["weight_zero_point"] = pack_to_int32(zero_point, p.bits, packed_dim=0)
        elif zero_point is not None:
            out["weight_zero_point"] = zero_point.reshape(scale_shape)
        return out

    # -- torchao PT2E --------------------------------------------------------------------------

    def torchao_affine_spec(self, spec: QuantizationSpec, fmt: Format) -> Any:
        if isinstance(spec.granularity, PerBlock) or spec.then or spec.scale_dtype not in (None, "float32"):
            return None
        from torchao.quantization.pt2e import (
            FakeQuantize,
            MinMaxObserver,
            MovingAverageMinMaxObserver,
            MovingAveragePerChannelMinMaxObserver,
            PerChannelMinMaxObserver,
        )
        from torchao.quantization.pt2e.quantizer import QuantizationSpec as TorchaoSpec

        qmin, qmax = fmt.qmin, fmt.qmax
        symmetric = spec.qscheme == "symmetric"
        per_channel = isinstance(spec.granularity, PerChannel)
        moving = spec.qparam_calculator == "moving_average"
        axis: int | None
        if isinstance(spec.granularity, PerChannel):
            qscheme = torch.per_channel_symmetric if symmetric else torch.per_channel_affine
            observer = _any_rank(MovingAveragePerChannelMinMaxObserver if moving else PerChannelMinMaxObserver)
            axis = spec.granularity.axis
        else:
            qscheme = torch.per_tensor_symmetric if symmetric else torch.per_tensor_affine
            observer = MovingAverageMinMaxObserver if moving else MinMaxObserver
            axis = None
        kwargs: dict[str, Any] = dict(observer=observer, quant_min=qmin, quant_max=qmax,
                                      dtype=torch.int8 if fmt.signed else torch.uint8, qscheme=qscheme)
        if per_channel:
            kwargs["ch_axis"] = axis
        return TorchaoSpec(
            dtype=torch.int8 if fmt.signed else torch.uint8,
            observer_or_fake_quant_ctr=_fake_quantize_class(FakeQuantize).with_args(**kwargs),
            quant_min=qmin,
            quant_max=qmax,
            qscheme=qscheme,
            ch_axis=axis,
        )


def int_codes(p: Packed) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Codes and zero points in compressed-tensors' signed convention (int8, the weight's and
    the groups' shapes); the zero point is None when every one is 0 (symmetric)."""
    count = math.prod(p.shape)
    stored = _stored_codes(p, count)
    # qrt stores code - qmin; compressed-tensors' range is [-2**(bits-1), 2**(bits-1) - 1]
    shift = 0 if p.signed else -(1 << (p.bits - 1))
    codes = (stored.to(torch.int16) + p.qmin + shift).reshape(p.shape)
    lo, hi = -(1 << (p.bits - 1)), (1 << (p.bits - 1)) - 1
    zero_point = None
    if p.zero_point is not None:
        rows, cols = p.shape
        zp = p.zero_point.to(torch.int16).reshape(rows // p.block[0], cols // p.block[1]) + shift
        if bool(zp.any()):
            zero_point = zp
    for what, t in (("codes", codes), ("zero points", zero_point)):
        if t is not None and (int(t.min()) < lo or int(t.max()) > hi):
            raise FinalizeError(
                f"{p.bits}-bit {what} outside [{lo}, {hi}] once shifted to compressed-tensors' signed range",
                hint=f"zero points of int{p.bits} / uint{p.bits} weights lie in the dtype's range",
            )
    return codes.to(torch.int8), zero_point.to(torch.int8) if zero_point is not None else None


def pack_to_int32(codes: torch.Tensor, bits: int, packed_dim: int = 1) -> torch.Tensor:
    """compressed-tensors' ``pack_to_int32`` for a 2-D tensor of signed ``bits``-bit codes
    (int8): each code plus ``2**(bits-1)`` at bit ``i*bits`` of its row's bit stream (rows
    along ``packed_dim``), 32 codes to ``bits`` int32 words, rows padded to a multiple of 32
    codes and cut to ``ceil(n*bits/32)`` words."""
    if codes.dim() != 2 or packed_dim not in (0, 1):
        raise ValueError("pack_to_int32 packs 2-D tensors along dimension 0 or 1")
    if not 1 <= bits <= 8:
        raise ValueError(f"pack_to_int32 packs 1- to 8-bit codes, not {bits}")
    rows_of = codes.t() if packed_dim == 0 else codes
    rows, cols = rows_of.shape
    out = torch.empty(rows, -(-cols * bits // 32), dtype=torch.int32)
    step = max(1, (1 << 20) // max(cols, 1))  # rows at a time: int64 temporaries of ~8 MiB
    for start in range(0, rows, step):
        out[start:start + step] = _pack_rows(rows_of[start:start + step], bits)
    return (out.t() if packed_dim == 0 else out).contiguous()


def _pack_rows(codes: torch.Tensor, bits: int) -> torch.Tensor:
    rows, cols = codes.shape
    padded = -(-cols // 32) * 32
    value = codes.to(torch.int64) + (1 << (bits - 1))
    value = torch.nn.functional.pad(value, (0, padded - cols)).reshape(rows, padded // 32, 32)
    start = torch.arange(32, dtype=torch.int64) * bits
    word = (start // 32).expand(rows, padded // 32, 32)
    shifted = value << (start % 32)  # below 2**39: what passes bit 31 spills into the next word
    words = torch.zeros(rows, padded // 32, bits + 1, dtype=torch.int64)
    words.scatter_add_(2, word, shifted & 0xFFFFFFFF).scatter_add_(2, word + 1, shifted >> 32)  # no bits overlap
    out = words[:, :, :bits].reshape(rows, -1)[:, : -(-cols * bits // 32)]
    return torch.where(out >= 1 << 31, out - (1 << 32), out).to(torch.int32)  # the word's bits, as int32


# -- torchao PT2E classes ----------------------------------------------------------------------

_ANY_RANK: dict[type, type] = {}


def _any_rank(observer: type) -> type:
    """torchao's per-channel observers flatten from dimension 1, which a 1-D tensor (a norm's
    weight, one scale per element) does not have; observe it as a column instead."""
    cls = _ANY_RANK.get(observer)
    if cls is None:
        def forward(self: Any, x: torch.Tensor) -> torch.Tensor:
            if x.dim() == 1:
                observer.forward(self, x.unsqueeze(-1))
                return x
            return observer.forward(self, x)  # type: ignore[no-any-return]

        cls = type(f"{observer.__name__}AnyRank", (observer,), {"forward": forward})
        _ANY_RANK[observer] = cls
    return cls


_FAST: dict[type, type] = {}


def _fake_quantize_class(base: type) -> type:
    """torchao's ``FakeQuantize`` with this module's arithmetic for the values (one in-place
    chain, four times faster on CPU than torch's fused kernels) and its straight-through
    gradient, so graph and eager mode compute the same numbers."""
    cls = _FAST.get(base)
    if cls is None:
        def forward(self: Any, x: torch.Tensor) -> torch.Tensor:
            if self.observer_enabled[0] == 1:
                self.activation_post_process(x.detach())
                scale, zero_point = self.calculate_qparams()
                if self.scale.shape != scale.shape:
                    self.scale.resize_(scale.shape)
                    self.zero_point.resize_(zero_point.shape)
                self.scale.copy_(scale)
                self.zero_point.copy_(zero_point)
            if self.fake_quant_enabled[0] != 1:
                return x
            scale, zero_point = self.scale.float(), self.zero_point.float()
            if self.is_per_channel:
                shape = [1] * x.dim()
                shape[self.ch_axis] = -1
                scale, zero_point = scale.reshape(shape), zero_point.reshape(shape)
            qmin, qmax = self.activation_post_process.quant_min, self.activation_post_process.quant_max
            q = torch.round(x.detach().float() * (1.0 / scale)).add_(zero_point).clamp_(qmin, qmax)
            return ste(x, q.sub_(zero_point).mul_(scale).to(x.dtype))

        cls = type(f"Qrt{base.__name__}", (base,), {"forward": forward})
        _FAST[base] = cls
    return cls


INTEGER = IntegerArithmetic()
