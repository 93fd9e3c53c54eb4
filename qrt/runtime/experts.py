"""Fused mixture-of-experts modules: which modules they are, and their experts' tensors.

In transformers 5.x, Mixtral, Qwen2-MoE, Qwen3-MoE (and OLMoE, DeepSeek-V3, Jamba …) keep a
layer's experts in one module with 3-D parameters — ``gate_up_proj`` of shape
``(experts, 2 * intermediate, hidden)`` and ``down_proj`` of shape ``(experts, hidden,
intermediate)`` — and run them by whichever implementation the config picks: a grouped matrix
product (``grouped_mm``), a batched one (``bmm`` on gathered matrices) or a per-expert loop of
``F.linear`` on ``gate_up_proj[i]``. qrt gives such a module the same sites whatever runs
(one input site per fused parameter, one state site per expert and parameter, named as
ModelOpt 0.47 names its quantizers there — ``docs/moe.md``), so this is the one place that
knows the layout; the trace and the eager runtime both ask it.

The test is ModelOpt 0.47's (``_fused_experts_wrapper_class`` in
``modelopt/torch/quantization/plugins/huggingface.py``): a ``num_experts`` attribute, a 3-D
``down_proj``, and a 3-D ``gate_up_proj`` (gated experts) or a 3-D ``up_proj`` with neither
``gate_proj`` nor ``gate_up_proj`` (non-gated, NemotronH). Modules that store the matrices
transposed (``is_transposed``, ``(experts, in, out)``) are left to the ordinary trace: their
per-expert axes would index another frame than ModelOpt's, and ModelOpt registers those
classes (GPT-OSS, Llama 4) with quantizers of their own.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

__all__ = ["FusedExperts", "fused_experts", "MATMUL_OPS"]

MATMUL_OPS: frozenset[str] = frozenset({"linear", "grouped_mm", "bmm", "matmul", "mm", "baddbmm", "addmm"})
"""The op types that multiply an activation (operand 0, operand 1 for ``addmm``/``baddbmm``)
by expert matrices: where an experts implementation reads its weights, the other operand is
the activation the fused parameter's input quantizer sees."""


@dataclass(frozen=True)
class FusedExperts:
    """The layout of one fused experts module."""

    params: tuple[str, ...]
    """the fused parameters in the order the forward runs them: the first projection
    (``gate_up_proj``, or ``up_proj`` when not gated), then ``down_proj``"""
    num_experts: int

    def op_name(self, module: str, index: int) -> str:
        """The op name of the ``index``-th fused product: ``<m>.grouped_mm``, ``<m>.grouped_mm_1``,
        as the grouped implementation's trace names them, whichever implementation runs."""
        prefix = f"{module}." if module else ""
        return f"{prefix}grouped_mm" + (f"_{index}" if index else "")


def _three_d(module: nn.Module, name: str) -> torch.Tensor | None:
    value = getattr(module, name, None)
    return value if isinstance(value, torch.Tensor) and value.dim() == 3 else None


def fused_experts(module: nn.Module) -> FusedExperts | None:
    """The layout of ``module`` if it is a fused experts module qrt handles, else ``None``."""
    num = getattr(module, "num_experts", None)
    if not isinstance(num, int) or isinstance(num, bool) or num <= 0:
        return None
    if getattr(module, "is_transposed", False):
        return None
    down = _three_d(module, "down_proj")
    if down is None or down.shape[0] != num:
        return None
    first = _three_d(module, "gate_up_proj")
    if first is not None:
        name = "gate_up_proj"
    else:
        first = _three_d(module, "up_proj")
        if first is None or getattr(module, "gate_proj", None) is not None or getattr(module, "gate_up_proj", None) is not None:
            return None
        name = "up_proj"
    if first.shape[0] != num:
        return None
    return FusedExperts(params=(name, "down_proj"), num_experts=num)
