"""The arithmetic one format family does on tensors: the interface every
``qrt/runtime/formats/<family>.py`` implements, keyed by :data:`qrt.formats.FormatKind`.

Callers (fake quantization in :mod:`qrt.runtime.quant.numerics`, packing in
:mod:`qrt.runtime.finalize.pack`, the compressed-tensors writer, graph mode's torchao spec)
look the family up (:func:`qrt.runtime.formats.arithmetic`) instead of switching on strings;
a new format is a new module and one registry line.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar

import torch

from qrt.formats import Format, FormatKind
from qrt.ir.spec import QuantizationSpec
from qrt.runtime.formats.groups import NumericsError
from qrt.runtime.formats.packed import Packed

__all__ = ["FormatArithmetic"]


class FormatArithmetic(ABC):
    """Quantize, dequantize, pack and unpack one family's formats."""

    kind: ClassVar[FormatKind]

    def qparams(
        self, spec: QuantizationSpec, fmt: Format, lo: torch.Tensor, hi: torch.Tensor, block: tuple[int, ...]
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Scale and zero point of each group from its observed range (static formats only:
        dynamic ones compute their scales from each tensor)."""
        raise NumericsError(f"{fmt.dtype} ({fmt.kind}) computes its scales from each tensor; it has no observed qparams")

    @abstractmethod
    def fake_quantize(
        self, spec: QuantizationSpec, fmt: Format, x: torch.Tensor, block: tuple[int, ...],
        scale: torch.Tensor | None, zero_point: torch.Tensor | None, global_scale: torch.Tensor | None,
    ) -> torch.Tensor:
        """``x`` quantized and dequantized, no gradient handling."""

    def check_packable(self, spec: QuantizationSpec, fmt: Format, block: tuple[int, ...], rank: int) -> None:
        """``FinalizeError`` when a tensor of rank ``rank`` has no packed form in this format."""
        return None

    @abstractmethod
    def pack(
        self, spec: QuantizationSpec, fmt: Format, x: torch.Tensor, block: tuple[int, ...],
        scale: torch.Tensor | None, zero_point: torch.Tensor | None, global_scale: torch.Tensor | None,
    ) -> Packed:
        """The packed form of ``x`` (qparams given for static formats)."""

    @abstractmethod
    def dequantize(self, p: Packed, dtype: torch.dtype) -> torch.Tensor:
        """The values a packed tensor of this family stands for."""

    # -- compressed-tensors --------------------------------------------------------------------

    @abstractmethod
    def dtype_name(self, p: Packed) -> str:
        """The qrt dtype a packed form holds."""

    def compressed_tensors_check(self, p: Packed, what: str) -> None:
        """``FinalizeError`` when compressed-tensors cannot hold this packed form (``what``
        describes the weight for the message); shape and zero-point checks are the writer's."""
        return None

    def compressed_tensors_symmetric(self, p: Packed) -> bool:
        """Whether compressed-tensors reads the weight as symmetric (no zero point stored)."""
        return True

    @abstractmethod
    def compressed_tensors_weight(
        self, p: Packed, format: str, strategy: str, scale_shape: tuple[int, ...]
    ) -> dict[str, torch.Tensor]:
        """The weight's tensors as compressed-tensors stores them in ``format`` (names without
        the module prefix); ``strategy`` and ``scale_shape`` are compressed-tensors' for the
        weight's groups."""

    # -- torchao PT2E --------------------------------------------------------------------------

    def torchao_affine_spec(self, spec: QuantizationSpec, fmt: Format) -> Any:
        """torchao's own affine PT2E spec where torchao can say this spec, else ``None`` (graph
        mode then wraps qrt's fake quantizer: :mod:`qrt.runtime.formats.torchao`)."""
        return None
