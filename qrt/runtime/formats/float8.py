"""float8 arithmetic (``float8_e4m3fn``, ``float8_e5m2``): scale = group amax / the format's
max, values rounded by a cast to the float8 dtype (what torchao's ``_quantize_affine_float8``
does); packed as the float8 dtype itself; compressed-tensors holds e4m3fn only."""

from __future__ import annotations

import torch

from qrt.errors import FinalizeError
from qrt.formats import Format
from qrt.ir.spec import QuantizationSpec
from qrt.runtime.formats.base import FormatArithmetic
from qrt.runtime.formats.groups import grouped, torch_dtype
from qrt.runtime.formats.packed import Packed

__all__ = ["FLOAT8", "Float8Arithmetic", "check_e4m3"]


def check_e4m3(p: Packed, what: str) -> None:
    """compressed-tensors' float formats have no exponent width: e4m3fn only."""
    if p.data.dtype != torch.float8_e4m3fn:
        raise FinalizeError(
            f"{what}: compressed-tensors' float8 formats "
            f"store float8_e4m3fn only (QuantizationArgs num_bits=8, type='float' has no exponent width)",
            hint="quantize the weight to float8_e4m3fn",
        )


class Float8Arithmetic(FormatArithmetic):
    kind = "float8"

    def qparams(
        self, spec: QuantizationSpec, fmt: Format, lo: torch.Tensor, hi: torch.Tensor, block: tuple[int, ...]
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        lo = torch.minimum(lo, torch.zeros_like(lo))
        hi = torch.maximum(hi, torch.zeros_like(hi))
        amax = torch.maximum(lo.abs(), hi.abs()).float()
        scale = amax / float(torch.finfo(torch_dtype(fmt.dtype)).max)
        return torch.where(scale > 0, scale, torch.ones_like(scale)), None

    def fake_quantize(
        self, spec: QuantizationSpec, fmt: Format, x: torch.Tensor, block: tuple[int, ...],
        scale: torch.Tensor | None, zero_point: torch.Tensor | None, global_scale: torch.Tensor | None,
    ) -> torch.Tensor:
        assert scale is not None
        dtype = torch_dtype(fmt.dtype)
        v, s, _ = grouped(x, block, scale, None)
        fmax = torch.finfo(dtype).max
        q = (v / s).clamp_(-fmax, fmax).to(dtype).float()
        return q.mul_(s).reshape(x.shape).to(x.dtype)

    def pack(
        self, spec: QuantizationSpec, fmt: Format, x: torch.Tensor, block: tuple[int, ...],
        scale: torch.Tensor | None, zero_point: torch.Tensor | None, global_scale: torch.Tensor | None,
    ) -> Packed:
        assert scale is not None
        dtype = torch_dtype(fmt.dtype)
        v, s, _ = grouped(x, block, scale, None)
        fmax = torch.finfo(dtype).max
        data = (v / s).clamp(-fmax, fmax).to(dtype).reshape(x.shape)
        return Packed(data, scale.float(), None, tuple(x.shape), block, "float8", 8, True)

    def dequantize(self, p: Packed, dtype: torch.dtype) -> torch.Tensor:
        v, s, _ = grouped(p.data.float(), p.block, p.scale, None)
        return (v * s).reshape(p.shape).to(dtype)

    def dtype_name(self, p: Packed) -> str:
        return str(p.data.dtype).removeprefix("torch.")

    def compressed_tensors_check(self, p: Packed, what: str) -> None:
        check_e4m3(p, what)

    def compressed_tensors_weight(
        self, p: Packed, format: str, strategy: str, scale_shape: tuple[int, ...]
    ) -> dict[str, torch.Tensor]:
        return {"weight": p.data.reshape(p.shape), "weight_scale": p.scale.float().reshape(scale_shape)}


FLOAT8 = Float8Arithmetic()
