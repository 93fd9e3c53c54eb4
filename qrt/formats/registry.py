"""The format registry: a spec's (or a plan decision's) family found by lookup, never by a
string switch at the call site.

Every caller that needs a format fact asks here: the runtime's fake quantization and packing
(``qrt/runtime/formats/``, keyed by the same :data:`~qrt.formats.family.FormatKind`), the
compressed-tensors writer (packed kinds and format names), coverage (element bits, the names
users say) and lint (combinations no backend runs).
"""

from __future__ import annotations

from qrt.formats.family import Format, FormatFamily, FormatKind, UnsupportedFormat
from qrt.formats.float8 import FLOAT8
from qrt.formats.integer import INTEGER, PACKED_BELOW_A_BYTE
from qrt.formats import mx, nvfp4
from qrt.formats.mx import MX
from qrt.formats.nvfp4 import NVFP4
from qrt.ir.spec import QuantizationSpec

__all__ = [
    "COMPRESSED_TENSORS_FORMATS",
    "FAMILIES",
    "PACKED_BITS",
    "display_name",
    "element_bits",
    "family_of",
    "format_of",
    "global_scale_bits",
    "packed_family",
    "packed_within_bytes",
    "scales_per_group",
    "spec_fix",
    "spec_problem",
]

FAMILIES: dict[FormatKind, FormatFamily] = {f.kind: f for f in (INTEGER, FLOAT8, MX, NVFP4)}
"""every family by kind"""

PACKED_BITS: dict[str, int | None] = {k: b for f in FAMILIES.values() for k, b in f.packed_bits.items()}
"""every packed kind qrt writes and its bits per stored value (``None``: the layout's own)"""

_PACKED_FAMILY: dict[str, FormatFamily] = {k: f for f in FAMILIES.values() for k in f.packed_bits}

COMPRESSED_TENSORS_FORMATS: dict[str, tuple[str, ...]] = {
    k: names for f in FAMILIES.values() for k, names in f.compressed_tensors_formats.items()
}
"""per packed kind, the compressed-tensors formats it can be written in, default first"""


def family_of(dtype: str, scale_dtype: str | None) -> FormatFamily | None:
    """The one family that claims this element dtype and scale dtype (``None``: no family)."""
    for family in FAMILIES.values():
        if family.claims(dtype, scale_dtype):
            return family
    return None


def format_of(spec: QuantizationSpec) -> Format:
    """The :class:`Format` a spec is computed in; :class:`UnsupportedFormat` when none is."""
    family = family_of(spec.dtype, spec.scale_dtype)
    if family is None:
        raise UnsupportedFormat(f"{spec.dtype} with {spec.scale_dtype or 'default'} scales has no implementation")
    return family.format(spec)


def packed_family(kind: str) -> FormatFamily | None:
    """The family that writes the packed kind ``kind`` (``None``: a kind qrt never writes)."""
    return _PACKED_FAMILY.get(kind)


def packed_within_bytes(kind: str, bits: int) -> bool:
    """Whether a packed kind stores several codes a byte (``ceil(count·bits/8)`` bytes) rather
    than one code (or float8 value) a byte: FP4 always, integers of 2 and 4 bits."""
    fixed = PACKED_BITS.get(kind, 8)
    return bits in PACKED_BELOW_A_BYTE if fixed is None else fixed < 8


def scales_per_group(kind: str) -> bool:
    """Whether a packed kind stores one scale per group of its layout's ``block``, checked
    when a stored weight is read (:attr:`FormatFamily.one_scale_per_group`)."""
    family = _PACKED_FAMILY.get(kind)
    return family is not None and family.one_scale_per_group


def element_bits(dtype: str) -> int:
    """Nominal bits of one quantized element (int4: 4, float8: 8, FP4: 4)."""
    if dtype.startswith(("int", "uint")) and dtype.lstrip("uint").isdigit():
        return int(dtype.lstrip("uint"))
    if dtype.startswith("float8"):
        return 8
    if dtype == "float4_e2m1fn_x2":
        return 4
    raise ValueError(f"no element size for quantized dtype {dtype!r}")


def display_name(dtype: str, scale_dtype: str | None) -> str:
    """The format name users say: ``int8``, ``uint4``, ``fp8_e4m3``, ``mxfp8``, ``mxfp4``,
    ``nvfp4``, ``fp4_e2m1`` (FP4 with other scales) …; the dtype where no family claims it."""
    family = family_of(dtype, scale_dtype)
    return family.display_name(dtype, scale_dtype) if family is not None else str(dtype)


def global_scale_bits(dtype: str, scale_dtype: str | None) -> int:
    """Bits of the per-tensor global scale a weight stores beside its block scales (NVFP4)."""
    return NVFP4.global_scale_bits(dtype, scale_dtype)


def spec_problem(spec: QuantizationSpec) -> str | None:
    """Why no backend runs this spec (lint QRT007): power-of-two (e8m0) scales only in MX
    blocks of 32; FP4 values only with fp8 scales (MX e8m0, or NVFP4's e4m3 — ModelOpt ships
    NVFP4 variants in blocks of 16 and of 32, so the block size is not checked there). Each
    stage of a sequential spec is checked."""
    for stage in spec.stages:
        family = family_of(stage.dtype, stage.scale_dtype)
        problem = family.lint_problem(stage) if family is not None else None
        if problem is not None:
            return problem
    return None


def spec_fix(spec: QuantizationSpec) -> str:
    """The combination to write instead, for :func:`spec_problem`'s finding."""
    if spec.scale_dtype == mx.SCALE_DTYPE:
        return f"per_block({mx.BLOCK_SIZE}) with {mx.SCALE_DTYPE} scales (MX)"
    return (
        f"per_block({nvfp4.BLOCK_SIZE}) with {nvfp4.SCALE_DTYPE} scales (NVFP4), or "
        f"per_block({mx.BLOCK_SIZE}) with {mx.SCALE_DTYPE} (MXFP4)"
    )
