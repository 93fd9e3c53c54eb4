"""What ``qrt.Quantizer`` asks of the runtime that runs a plan: the eager or the graph backend.

``qrt.Quantizer`` (:mod:`.quantizer`) is the workflow — prepare, calibrate, train with QAT
schedules, finalize — and the same for both execution modes (docs/graph.md). What differs is
where the quantizers are and how they are switched, calibrated, finalized and summarized:
qrt's own :class:`~.fake_quantizer.FakeQuantizer` modules in the model
(:class:`~.eager_backend.EagerBackend`), or torchao's fake-quantize modules in an exported
graph (:class:`~.graph_backend.GraphBackend`). ``prepare`` picks one; every later step asks it,
with no mode test in the workflow.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from torch import nn

if TYPE_CHECKING:
    from qrt.runtime.quant.quantizer import Quantizer

__all__ = ["Backend"]


class Backend(Protocol):
    """One execution mode of a prepared ``qrt.Quantizer``."""

    mode: str
    """``"eager"`` or ``"graph"``"""
    state: Any
    """what prepare installed (the eager runtime's :class:`~.eager.EagerState`; the graph
    backend itself)"""
    schedules: dict[int, Any]
    """QAT schedules by ``id`` of the quantizer module they drive"""

    def is_quantizer(self, module: nn.Module) -> bool:
        """Whether ``module`` is one of this mode's quantizer modules."""

    def switch(self, quantizer: Any, *, observer: bool | None, fake_quant: bool | None) -> None:
        """Turn one quantizer's observer and fake quantization on or off (``None``: as is)."""

    def begin_calibration(self, all_experts: bool) -> None:
        """Entering ``calibration_mode``; refuses what this mode cannot calibrate."""

    def calibrated(self) -> None:
        """``calibration_mode``'s body ended without an error: check what it observed."""

    def end_calibration(self, all_experts: bool) -> None:
        """Leaving ``calibration_mode``, whatever happened."""

    def routed_tokens(self) -> dict[str, list[int]]:
        """Tokens routed to each expert during the last calibration, by module name."""

    def finalize(self, owner: Quantizer, model: nn.Module | None, mmap_dir: Any, overwrite: bool) -> nn.Module:
        """Make the quantized weights real; sets ``owner.finalize_report``."""

    def summary(self, owner: Quantizer) -> str:
        """The prepared model's quantizers, as text."""
