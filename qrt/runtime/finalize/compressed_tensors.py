"""qrt's packed weights in the compressed-tensors checkpoint format.

compressed-tensors is the on-disk format vLLM and llm-compressor read: per quantized module a
few safetensors tensors (``weight_packed`` / ``weight``, ``weight_scale``, …) and, in the
model's ``config.json``, a ``quantization_config`` block naming each module's
``QuantizationArgs`` and compression ``format``. These are pure functions from a
:class:`~qrt.runtime.finalize.pack.Packed` weight to exactly those tensors and that block, as
compressed-tensors 0.20's own compressors write them, so that its decompressors — and the
engines that share its conventions — compute the values :func:`~qrt.runtime.finalize.pack.dequantize`
gives. Nothing here imports compressed-tensors; the tests check the output against it.

The conventions that differ from qrt's own packed form:

* **Integer codes are signed.** compressed-tensors quantizes every ``intN`` to the signed
  range ``[-2**(N-1), 2**(N-1) - 1]`` and dequantizes ``(code - zero_point) * scale``; qrt's
  unsigned dtypes (``uintN``, range ``[0, 2**N - 1]``) are stored shifted by ``-2**(N-1)``,
  codes and zero points alike, which leaves every value unchanged. A ``uintN`` symmetric
  spec (zero point ``2**(N-1)`` everywhere) so becomes symmetric, with no zero point stored.
* **pack-quantized** packs those codes, plus ``2**(N-1)``, densely into int32 words along the
  last axis: 32 codes fill exactly N words, code ``i`` of a row at bit ``i*N`` of the row's
  bit stream (a code may straddle two words; rows are padded to 32 codes, then the words no
  code reaches are cut). Asymmetric zero points of group/channel strategies are packed the
  same way but along axis 0; other strategies keep them as one int8 per group.
* **Scales have compressed-tensors' shapes**: ``(1,)`` per tensor, ``(out, 1)`` per channel,
  ``(out, in/group)`` per group, ``(out/rows, in/cols)`` per 2-D block.
* **NVFP4's global scale is the reciprocal of qrt's**: compressed-tensors dequantizes
  ``fp4 * (weight_scale / weight_global_scale)`` with a global scale of ``448·6 / amax``,
  qrt ``fp4 * scale * global_scale`` with ``amax / (448·6)``.
* **MX scales are their E8M0 bits as uint8** (the biased exponent; ``2**(e - 127)``).

Forms compressed-tensors cannot express raise :class:`~qrt.runtime.finalize.pack.FinalizeError`
naming the form and what would be valid: float8_e5m2 elements (its float formats are e4m3
only), FP4 other than MXFP4 (blocks of 32, E8M0 scales) and NVFP4 (blocks of 16 along the
last axis, float8_e4m3fn scales under a fp32 global scale), and weights that are not 2-D
(its compressors handle Linear and Embedding weights).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import torch

from qrt.ir.spec import QuantizationSpec
from qrt.runtime.finalize.pack import FinalizeError, Packed, _unpack_bits

__all__ = [
    "FORMATS",
    "config_group",
    "format_name",
    "pack_to_int32",
    "quantization_args",
    "quantization_config",
    "weight_tensors",
]

FORMATS: dict[str, tuple[str, ...]] = {
    "int": ("pack-quantized", "naive-quantized", "int-quantized"),
    "float8": ("naive-quantized", "float-quantized"),
    "mxfp4": ("mxfp4-pack-quantized",),
    "mxfp8": ("mxfp8-quantized",),
    "nvfp4": ("nvfp4-pack-quantized",),
}
"""The compressed-tensors formats each packed kind can be written in, default first: the
format compressed-tensors itself infers for weight-only quantization. ``int-quantized`` /
``float-quantized`` are what it writes when the inputs are quantized too (W8A8); they store
the same tensors as ``naive-quantized``."""

_QUANT_METHOD = "compressed-tensors"


# ---------------------------------------------------------------------------------------------
# What compressed-tensors can express


def _dtype_name(packed: Packed) -> str:
    """The qrt dtype a packed form holds."""
    if packed.kind == "int":
        return f"{'int' if packed.signed else 'uint'}{packed.bits}"
    if packed.kind in ("float8", "mxfp8"):
        return str(packed.data.dtype).removeprefix("torch.")
    return "float4_e2m1fn_x2"


def _describe(packed: Packed, spec: QuantizationSpec | None) -> str:
    what = spec.dtype if spec is not None else _dtype_name(packed)
    return f"{what} weight of shape {tuple(packed.shape)} with groups of {tuple(packed.block)}"


def _check(packed: Packed, spec: QuantizationSpec | None = None) -> None:
    """FinalizeError unless compressed-tensors has a format for this packed form."""
    if packed.kind not in FORMATS:
        raise FinalizeError(f"packed kind {packed.kind!r} has no compressed-tensors format",
                            hint=f"kinds with one: {', '.join(FORMATS)}")
    if len(packed.shape) != 2:
        raise FinalizeError(
            f"{_describe(packed, spec)}: compressed-tensors compresses 2-D (Linear / Embedding) weights only",
            hint="write weights of rank 2 in compressed-tensors form; keep others in qrt's own form",
        )
    if packed.kind != "int" and packed.zero_point is not None:
        raise FinalizeError(f"{_describe(packed, spec)}: compressed-tensors has no asymmetric float formats",
                            hint="float weights are symmetric (no zero point)")
    if packed.kind in ("float8", "mxfp8") and packed.data.dtype != torch.float8_e4m3fn:
        raise FinalizeError(
            f"{_describe(packed, spec)}: compressed-tensors' float8 formats "
            f"store float8_e4m3fn only (QuantizationArgs num_bits=8, type='float' has no exponent width)",
            hint="quantize the weight to float8_e4m3fn",
        )
    if packed.kind in ("mxfp4", "mxfp8") and tuple(packed.block) != (1, 32):
        raise FinalizeError(f"{_describe(packed, spec)}: MX formats have blocks of 32 along the last axis",
                            hint="per_block(32, axis=-1) with float8_e8m0fnu scales")
    if packed.kind == "nvfp4":
        nvfp4 = (packed.global_scale is not None and packed.scale.dtype == torch.float8_e4m3fn
                 and tuple(packed.block) == (1, 16))
        if not nvfp4:
            scales = "float8_e4m3fn" if packed.global_scale is not None else str(packed.scale.dtype).removeprefix("torch.")
            raise FinalizeError(
                f"{_describe(packed, spec)} and {scales} block scales: compressed-tensors stores FP4 as MXFP4 "
                f"(blocks of 32 along the last axis, float8_e8m0fnu scales) or NVFP4 (blocks of 16 along the "
                f"last axis, float8_e4m3fn scales under a fp32 global scale) only",
                hint="float4_e2m1fn_x2 per_block(16, axis=-1) scale_dtype=float8_e4m3fn, or "
                     "per_block(32, axis=-1) scale_dtype=float8_e8m0fnu",
            )
    if spec is not None:
        expected = _dtype_name(packed)
        if spec.dtype != expected:
            raise FinalizeError(f"the spec says {spec.dtype} but the packed weight is {expected}",
                                hint="pass the spec the weight was packed under")


def _strategy(packed: Packed) -> dict[str, Any]:
    """compressed-tensors' strategy for qrt's groups: ``tensor``, ``channel`` (one scale per
    output row), ``group`` (runs along the last axis) or ``block`` (any other 2-D tile)."""
    (rows, cols), (br, bc) = packed.shape, packed.block
    if (br, bc) == (rows, cols):
        return {"strategy": "tensor"}
    if br == 1 and bc == cols:
        return {"strategy": "channel"}
    if br == 1:
        return {"group_size": bc, "strategy": "group"}
    return {"strategy": "block", "block_structure": [br, bc]}


def _groups(packed: Packed) -> tuple[int, int]:
    (rows, cols), (br, bc) = packed.shape, packed.block
    return rows // br, cols // bc


# ---------------------------------------------------------------------------------------------
# Integer codes


def _int_codes(packed: Packed) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Codes and zero points in compressed-tensors' signed convention (int8, the weight's and
    the groups' shapes); the zero point is None when every one is 0 (symmetric)."""
    count = math.prod(packed.shape)
    stored = _unpack_bits(packed.data, packed.bits, count) if packed.bits in (2, 4) else packed.data.reshape(-1)
    # qrt stores code - qmin; compressed-tensors' range is [-2**(bits-1), 2**(bits-1) - 1]
    shift = 0 if packed.signed else -(1 << (packed.bits - 1))
    codes = (stored.to(torch.int16) + packed.qmin + shift).reshape(packed.shape)
    lo, hi = -(1 << (packed.bits - 1)), (1 << (packed.bits - 1)) - 1
    zero_point = None
    if packed.zero_point is not None:
        zp = packed.zero_point.to(torch.int16).reshape(_groups(packed)) + shift
        if bool(zp.any()):
            zero_point = zp
    for what, t in (("codes", codes), ("zero points", zero_point)):
        if t is not None and (int(t.min()) < lo or int(t.max()) > hi):
            raise FinalizeError(
                f"{packed.bits}-bit {what} outside [{lo}, {hi}] once shifted to compressed-tensors' signed range",
                hint=f"zero points of int{packed.bits} / uint{packed.bits} weights lie in the dtype's range",
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


# ---------------------------------------------------------------------------------------------
# The tensors, the args and the format


def format_name(packed: Packed) -> str:
    """The compressed-tensors ``format`` a weight-only quantized module of this packed form is
    written in (what compressed-tensors infers for it): ``pack-quantized`` for integers,
    ``naive-quantized`` for float8, ``mxfp4-pack-quantized``, ``mxfp8-quantized`` or
    ``nvfp4-pack-quantized``. :data:`FORMATS` lists the alternatives."""
    _check(packed)
    return FORMATS[packed.kind][0]


def _format(packed: Packed, format: str | None) -> str:
    if format is None:
        return format_name(packed)
    _check(packed)
    if format not in FORMATS[packed.kind]:
        raise FinalizeError(f"a {packed.kind} weight cannot be written in compressed-tensors format {format!r}",
                            hint=f"formats for {packed.kind} weights: {', '.join(FORMATS[packed.kind])}")
    return format


def weight_tensors(prefix: str, packed: Packed, format: str | None = None) -> dict[str, torch.Tensor]:
    """The safetensors tensors compressed-tensors stores for the weight of module ``prefix``,
    named ``f"{prefix}.{param}"``, in ``format`` (default :func:`format_name`):

    * ``pack-quantized``: ``weight_packed`` int32 (out, ceil(in·bits/32)), ``weight_scale``
      float32, ``weight_shape`` int64 ``[out, in]``, and for asymmetric weights
      ``weight_zero_point`` — int32 packed along axis 0 (ceil(out·bits/32), groups) for
      channel/group strategies, int8 per group otherwise;
    * ``naive-quantized`` / ``int-quantized`` (integers): ``weight`` int8 codes (out, in),
      ``weight_scale`` float32, and for asymmetric weights ``weight_zero_point`` int8 per group;
    * ``naive-quantized`` / ``float-quantized`` (float8): ``weight`` float8_e4m3fn (out, in),
      ``weight_scale`` float32;
    * ``mxfp8-quantized``: ``weight`` float8_e4m3fn (out, in), ``weight_scale`` uint8 E8M0
      exponents (out, in/32);
    * ``mxfp4-pack-quantized``: ``weight_packed`` uint8, two E2M1 codes a byte, first in the low
      nibble (out, in/2), ``weight_scale`` uint8 E8M0 exponents (out, in/32);
    * ``nvfp4-pack-quantized``: ``weight_packed`` uint8 as for MXFP4 (out, in/2),
      ``weight_scale`` float8_e4m3fn (out, in/16), ``weight_global_scale`` float32 (1,), the
      reciprocal of qrt's ``global_scale``.

    Integer and float8 scales keep qrt's float32 (compressed-tensors dequantizes in the scale's
    dtype), shaped as compressed-tensors shapes them: ``(1,)`` per tensor, ``(out, 1)`` per
    channel, ``(out, in/group)`` per group, ``(out/rows, in/cols)`` per 2-D block.
    """
    fmt = _format(packed, format)
    rows, cols = packed.shape
    strategy = _strategy(packed)["strategy"]
    scale_shape = (1,) if strategy == "tensor" else _groups(packed)
    out: dict[str, torch.Tensor] = {}
    if packed.kind == "int":
        codes, zero_point = _int_codes(packed)
        if fmt == "pack-quantized":
            out["weight_packed"] = pack_to_int32(codes, packed.bits)
            out["weight_shape"] = torch.tensor([rows, cols], dtype=torch.int64)
        else:
            out["weight"] = codes
        out["weight_scale"] = packed.scale.float().reshape(scale_shape)
        if zero_point is not None and fmt == "pack-quantized" and strategy in ("group", "channel"):
            out["weight_zero_point"] = pack_to_int32(zero_point, packed.bits, packed_dim=0)
        elif zero_point is not None:
            out["weight_zero_point"] = zero_point.reshape(scale_shape)
    elif packed.kind == "float8":
        out["weight"] = packed.data.reshape(rows, cols)
        out["weight_scale"] = packed.scale.float().reshape(scale_shape)
    elif packed.kind == "mxfp8":
        out["weight"] = packed.data.reshape(rows, cols)
        out["weight_scale"] = packed.scale.view(torch.uint8).reshape(scale_shape)
    elif packed.kind == "mxfp4":
        out["weight_packed"] = packed.data.view(torch.uint8).reshape(rows, cols // 2)
        out["weight_scale"] = packed.scale.view(torch.uint8).reshape(scale_shape)
    else:  # nvfp4
        assert packed.global_scale is not None  # _check
        out["weight_packed"] = packed.data.view(torch.uint8).reshape(-1)[: rows * cols // 2].reshape(rows, cols // 2)
        out["weight_scale"] = packed.scale.reshape(scale_shape)
        # compressed-tensors divides by its global scale: the reciprocal of qrt's multiplier
        reciprocal = 1.0 / packed.global_scale.double().reshape(1)
        out["weight_global_scale"] = reciprocal.float()
    return {f"{prefix}.{name}": t.contiguous() for name, t in out.items()}


def quantization_args(packed: Packed, spec: QuantizationSpec | None = None) -> dict[str, Any]:
    """The weight's compressed-tensors ``QuantizationArgs`` as its JSON in ``config.json``
    (``QuantizationArgs(**d).model_dump(mode="json") == d``). ``spec``, the spec the weight was
    packed under, is optional: it is checked against the packed form and names it in errors."""
    _check(packed, spec)
    args: dict[str, Any] = {"num_bits": packed.bits, "type": "int" if packed.kind == "int" else "float",
                            "symmetric": packed.kind != "int" or _int_codes(packed)[1] is None,
                            "group_size": None, "dynamic": False}
    if packed.kind in ("int", "float8"):
        args.update(_strategy(packed))
    elif packed.kind in ("mxfp4", "mxfp8"):
        args.update(group_size=32, strategy="group", scale_dtype="torch.uint8")
    else:  # nvfp4
        args.update(group_size=16, strategy="tensor_group", scale_dtype="torch.float8_e4m3fn")
    if not args["symmetric"]:
        args["zp_dtype"] = "torch.int8"
    return args


def config_group(targets: Sequence[str], packed: Packed, spec: QuantizationSpec | None = None,
                 format: str | None = None) -> dict[str, Any]:
    """One ``config_groups`` entry (a ``QuantizationScheme``): weight-only quantization of the
    modules ``targets`` (module names, ``re:`` regexes or class names such as ``Linear``)."""
    return {"targets": list(targets), "weights": quantization_args(packed, spec), "input_activations": None,
            "output_activations": None, "format": _format(packed, format)}


def quantization_config(config_groups: Mapping[str, Mapping[str, Any]], ignore: Sequence[str] = ()) -> dict[str, Any]:
    """The ``quantization_config`` block of ``config.json`` for compressed (packed) weights;
    its ``format`` is the groups' one format, or ``mixed-precision`` when they differ."""
    formats = {str(g["format"]) for g in config_groups.values()}
    return {
        "config_groups": {name: dict(g) for name, g in config_groups.items()},
        "format": formats.pop() if len(formats) == 1 else "mixed-precision",
        "global_compression_ratio": None,
        "ignore": list(ignore),
        "kv_cache_scheme": None,
        "quant_method": _QUANT_METHOD,
        "quantization_status": "compressed",
    }
