"""Fake quantization (quantize → dequantize) for every format a ``QuantizationSpec`` names.

The runtime's numerical contract, as one door: each call looks the spec's format family up
(:func:`format_of` → :class:`qrt.formats.Format`, whose ``kind`` keys
:data:`qrt.runtime.formats.ARITHMETIC`) and runs that family's arithmetic, on torchao's
primitives where they exist:

* **Groups** (every format): the whole tensor, one index of an axis, or blocks along an axis
  share a scale (:func:`group_shape`, :func:`group_min_max`; ``qrt/runtime/formats/groups.py``).
* **Integers** (``int2``–``int8``, ``uint2``–``uint8``): ``qrt/runtime/formats/integer.py``.
* **float8** (``e4m3fn``, ``e5m2``): ``qrt/runtime/formats/float8.py``.
* **MX** (``float8_e8m0fnu`` scales, blocks of 32): ``qrt/runtime/formats/mx.py``.
* **NVFP4-style** (``float4_e2m1fn_x2`` with other block scales): ``qrt/runtime/formats/nvfp4.py``.

The facts of each format (bits, ranges, block and scale dtypes, names) are in
:mod:`qrt.formats`, torch-free. Gradients are straight-through (:func:`ste`). Anything a spec
says that these numerics cannot honour raises :class:`NumericsError` when the quantizer is
built, naming what would be valid.
"""

from __future__ import annotations

import torch

from qrt import formats
from qrt.formats import Format
from qrt.ir.spec import QuantizationSpec
from qrt.runtime.formats import arithmetic
from qrt.runtime.formats.gradient import ste
from qrt.runtime.formats.groups import NumericsError, group_min_max, group_shape
from qrt.runtime.formats.nvfp4 import global_from_amax as nvfp4_global_from_amax
from qrt.runtime.formats.nvfp4 import global_scale as nvfp4_global_scale
from qrt.runtime.formats.nvfp4 import scales as nvfp4_scales

__all__ = [
    "Format",
    "NumericsError",
    "fake_quantize",
    "format_of",
    "group_min_max",
    "group_shape",
    "nvfp4_global_from_amax",
    "nvfp4_global_scale",
    "nvfp4_scales",
    "qparams",
    "ste",
]


def format_of(spec: QuantizationSpec) -> Format:
    """The computation a spec needs; :class:`NumericsError` for combinations without one."""
    try:
        return formats.format_of(spec)
    except formats.UnsupportedFormat as exc:
        raise NumericsError(exc.message) from None


def qparams(
    spec: QuantizationSpec, fmt: Format, lo: torch.Tensor, hi: torch.Tensor, block: tuple[int, ...]
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Scale and zero point of each group from its observed range."""
    return arithmetic(fmt.kind).qparams(spec, fmt, lo, hi, block)


def fake_quantize(
    spec: QuantizationSpec,
    fmt: Format,
    x: torch.Tensor,
    block: tuple[int, ...],
    scale: torch.Tensor | None,
    zero_point: torch.Tensor | None,
    global_scale: torch.Tensor | None = None,
) -> torch.Tensor:
    """``x`` quantized and dequantized (no gradient handling: see :func:`ste`). ``global_scale``:
    an NVFP4 per-tensor scale shared with other tensors (fused layers), instead of ``x``'s own."""
    return arithmetic(fmt.kind).fake_quantize(spec, fmt, x, block, scale, zero_point, global_scale)

