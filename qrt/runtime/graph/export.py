"""Capture a model with ``torch.export`` for the graph runtime, with errors a user can act on."""

from __future__ import annotations

import contextlib
from typing import Any

import torch

from qrt.errors import QrtError

__all__ = ["ExportError", "export_model"]


class ExportError(QrtError):
    """``torch.export`` could not capture the model."""

    code = "QRT401"


def export_model(
    model: torch.nn.Module,
    args: tuple[Any, ...],
    kwargs: dict[str, Any] | None = None,
    *,
    dynamic_shapes: Any = None,
    no_grad: bool = True,
) -> torch.fx.GraphModule:
    """The model's training-IR graph (``torch.export.export(...).module()``).

    ``no_grad`` exports under ``torch.no_grad()`` so ``@torch.no_grad`` helpers (Hugging Face
    rotary embeddings) stay plain nodes instead of ``wrap_with_set_grad_enabled`` wrappers.
    """
    try:
        with torch.no_grad() if no_grad else contextlib.nullcontext():
            program = torch.export.export(model, tuple(args), kwargs or {}, dynamic_shapes=dynamic_shapes)
    except Exception as exc:  # export's own reason is the useful part
        reason = str(exc).strip().splitlines()
        raise ExportError(
            f"torch.export could not capture the model: {type(exc).__name__}: {reason[0] if reason else ''}",
            hint="graph mode needs a model torch.export can capture (no data-dependent control "
            "flow); set execution_mode: eager to quantize it with the eager runtime instead",
        ) from exc
    return program.module()
