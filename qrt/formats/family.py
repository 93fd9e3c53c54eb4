"""What a number format is, without torch: the :class:`Format` value and the family interface.

Why a package of its own: the facts of a format (its bits and code range, its element range,
its block and scale dtypes, how it is packed and what compressed-tensors, ModelOpt and lint
call it) were written as string switches in fake quantization, packing, the torchao PT2E spec,
the compressed-tensors writer, coverage and lint, and had begun to drift. Each family
(:mod:`.integer`, :mod:`.float8`, :mod:`.mx`, :mod:`.nvfp4`) now states its facts once, and
:mod:`.registry` finds a spec's family by lookup. The arithmetic on tensors lives in
``qrt/runtime/formats/`` (one module per family, keyed by the same :data:`FormatKind`), because
only ``qrt/runtime`` imports torch; what is here runs in ``qrt lint`` and ``qrt explain``
without it.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from collections.abc import Mapping
from typing import Any, ClassVar, Literal

from qrt.ir.spec import PerBlock, QuantizationSpec

__all__ = ["Format", "FormatFamily", "FormatKind", "PackedKind", "UnsupportedFormat"]

FormatKind = Literal["int", "float8", "mx", "nvfp4"]
"""How a spec is computed: affine integers, scaled float8, MX blocks (power-of-two scales),
NVFP4-style FP4 blocks. The key of both registries (facts here, arithmetic in the runtime)."""

PackedKind = Literal["int", "float8", "mxfp8", "mxfp4", "nvfp4"]
"""How a finalized weight is stored (``Packed.kind``, a saved manifest's ``layout.kind``): MX
splits by element type because its FP4 and FP8 elements are stored differently."""


class UnsupportedFormat(ValueError):
    """A spec whose combination of dtype, scales and granularity no runtime computes.

    Torch-free on purpose: the runtime turns it into its ``NumericsError`` (QRT301), graph
    mode into ``GraphSpecError``; lint and coverage never raise it.
    """

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class Format:
    """How one spec is computed: the facts the arithmetic needs, torch-free.

    ``dtype`` is the element dtype's name as a spec writes it (the runtime looks the torch
    dtype up by that name); ``qmin``/``qmax`` are the integer code range (0 for floats);
    ``element_max`` is the largest element magnitude of a float format (0 for integers).
    """

    kind: FormatKind
    dtype: str
    bits: int
    signed: bool = True
    qmin: int = 0
    qmax: int = 0
    element_max: float = 0.0
    block_size: int | None = None
    """a block size the format fixes (MX: 32); ``None`` where the spec's own is used"""
    global_scale: bool = False
    """NVFP4 with float8_e4m3fn block scales: a fp32 per-tensor scale the block scales are
    relative to (calibrated for activations, from the tensor for weights)"""

    @property
    def dynamic(self) -> bool:
        """Block scales computed from each tensor as it comes (MX, NVFP4): nothing to observe."""
        return self.kind in ("mx", "nvfp4")


class FormatFamily(ABC):
    """One family of formats: which specs it computes and the facts every caller shares.

    ``claims`` decides on ``dtype`` and ``scale_dtype`` alone (so a plan's JSON decisions can
    be classified as well as specs) and exactly one family claims each pair
    (tests/formats checks it); ``format`` then checks the rest of the spec.
    """

    kind: ClassVar[FormatKind]
    packed_bits: ClassVar[dict[str, int | None]]
    """the packed kinds this family writes and their bits per stored value (``None``: the
    layout's own, as for integers)"""
    compressed_tensors_formats: ClassVar[dict[str, tuple[str, ...]]]
    """per packed kind, the compressed-tensors ``format`` names a weight may be written in,
    default first (what compressed-tensors 0.20 infers for weight-only quantization)"""
    compressed_tensors_type: ClassVar[str]
    """``QuantizationArgs.type``: ``int`` or ``float``"""
    compressed_tensors_args: ClassVar[dict[str, Any] | None] = None
    """the ``QuantizationArgs`` fields the family fixes (MX, NVFP4: group size, strategy, scale
    dtype); ``None``: the strategy follows the weight's groups"""
    compressed_tensors_with_inputs: ClassVar[str | None] = None
    """the format compressed-tensors writes an 8-bit weight of this family in when the
    Linear's inputs are quantized too (W8A8: ``int-quantized``, ``float-quantized``)"""
    has_zero_point: ClassVar[bool] = False
    """whether the family's specs may be asymmetric (integers only)"""
    one_scale_per_group: ClassVar[bool] = False
    """whether a packed weight stores exactly one scale per group of its layout's block
    (integers, float8), which reading a stored weight checks; MX and NVFP4 block scales are
    shaped by their kernels"""

    @abstractmethod
    def claims(self, dtype: str, scale_dtype: str | None) -> bool:
        """Whether specs of this element dtype and scale dtype belong to this family."""

    @abstractmethod
    def format(self, spec: QuantizationSpec) -> Format:
        """The :class:`Format` of a claimed spec; :class:`UnsupportedFormat` saying what would be
        valid when the spec is one the runtime cannot compute."""

    @abstractmethod
    def display_name(self, dtype: str, scale_dtype: str | None) -> str:
        """The name users say for a claimed pair (``int4``, ``fp8_e4m3``, ``mxfp4``, ``nvfp4``)."""

    def lint_problem(self, spec: QuantizationSpec) -> str | None:
        """Why no backend runs this one-stage spec (lint QRT007, block-scale-combination), or
        ``None``; the facts lint checks are a subset of what :meth:`format` refuses."""
        return None

    def compressed_tensors_input_args(self, spec: Mapping[str, Any], where: str) -> dict[str, Any] | None:
        """compressed-tensors' ``QuantizationArgs`` JSON for a Linear's input quantizer with
        this (JSON) spec, ``None`` when the family has no form for it (the export's generic
        refusal follows), or a ``FinalizeError`` naming ``where`` with a family's own reason."""
        return None

    @staticmethod
    def block_size_of(spec: QuantizationSpec) -> int | None:
        g = spec.granularity
        return g.block_size if isinstance(g, PerBlock) else None
