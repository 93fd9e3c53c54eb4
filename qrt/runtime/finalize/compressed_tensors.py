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

from collections.abc import Mapping, Sequence
from typing import Any

import torch

from qrt.formats import COMPRESSED_TENSORS_FORMATS, FormatFamily, packed_family
from qrt.ir.spec import QuantizationSpec
from qrt.runtime.formats import FormatArithmetic, packed_arithmetic
from qrt.runtime.formats.integer import pack_to_int32
from qrt.runtime.finalize.pack import FinalizeError, Packed

__all__ = [
    "FORMATS",
    "config_group",
    "format_name",
    "pack_to_int32",
    "quantization_args",
    "quantization_config",
    "weight_tensors",
]

FORMATS: dict[str, tuple[str, ...]] = COMPRESSED_TENSORS_FORMATS
"""The compressed-tensors formats each packed kind can be written in, default first: the
format compressed-tensors itself infers for weight-only quantization. ``int-quantized`` /
``float-quantized`` are what it writes when the inputs are quantized too (W8A8); they store
the same tensors as ``naive-quantized``. Each family states its own (:mod:`qrt.formats`)."""

_QUANT_METHOD = "compressed-tensors"


# ---------------------------------------------------------------------------------------------
# What compressed-tensors can express


def _describe(packed: Packed, spec: QuantizationSpec | None) -> str:
    what = spec.dtype if spec is not None else _family(packed)[1].dtype_name(packed)
    return f"{what} weight of shape {tuple(packed.shape)} with groups of {tuple(packed.block)}"


def _family(packed: Packed) -> tuple[FormatFamily, FormatArithmetic]:
    """The packed form's format family: its facts and its arithmetic."""
    family = packed_family(packed.kind)
    if family is None or packed.kind not in FORMATS:
        raise FinalizeError(f"packed kind {packed.kind!r} has no compressed-tensors format",
                            hint=f"kinds with one: {', '.join(FORMATS)}")
    return family, packed_arithmetic(packed.kind)


def _check(packed: Packed, spec: QuantizationSpec | None = None) -> tuple[FormatFamily, FormatArithmetic]:
    """FinalizeError unless compressed-tensors has a format for this packed form; its family."""
    family, arithmetic = _family(packed)
    if len(packed.shape) != 2:
        raise FinalizeError(
            f"{_describe(packed, spec)}: compressed-tensors compresses 2-D (Linear / Embedding) weights only",
            hint="write weights of rank 2 in compressed-tensors form; keep others in qrt's own form",
        )
    if not family.has_zero_point and packed.zero_point is not None:
        raise FinalizeError(f"{_describe(packed, spec)}: compressed-tensors has no asymmetric float formats",
                            hint="float weights are symmetric (no zero point)")
    arithmetic.compressed_tensors_check(packed, _describe(packed, spec))
    if spec is not None:
        expected = arithmetic.dtype_name(packed)
        if spec.dtype != expected:
            raise FinalizeError(f"the spec says {spec.dtype} but the packed weight is {expected}",
                                hint="pass the spec the weight was packed under")
    return family, arithmetic


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
    channel, ``(out, in/group)`` per group, ``(out/rows, in/cols)`` per 2-D block. Each
    family writes its own (``compressed_tensors_weight`` in ``qrt/runtime/formats/``).
    """
    fmt = _format(packed, format)
    _, arithmetic = _family(packed)
    strategy = _strategy(packed)["strategy"]
    scale_shape = (1,) if strategy == "tensor" else _groups(packed)
    out = arithmetic.compressed_tensors_weight(packed, fmt, strategy, scale_shape)
    return {f"{prefix}.{name}": t.contiguous() for name, t in out.items()}


def quantization_args(packed: Packed, spec: QuantizationSpec | None = None) -> dict[str, Any]:
    """The weight's compressed-tensors ``QuantizationArgs`` as its JSON in ``config.json``
    (``QuantizationArgs(**d).model_dump(mode="json") == d``). ``spec``, the spec the weight was
    packed under, is optional: it is checked against the packed form and names it in errors."""
    family, arithmetic = _check(packed, spec)
    args: dict[str, Any] = {"num_bits": packed.bits, "type": family.compressed_tensors_type,
                            "symmetric": arithmetic.compressed_tensors_symmetric(packed),
                            "group_size": None, "dynamic": False}
    fixed = family.compressed_tensors_args
    args.update(_strategy(packed) if fixed is None else fixed)
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
