"""Capture a model with ``torch.export`` for the graph runtime, with errors a user can act on."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import torch

from qrt.errors import ExportError

__all__ = ["ExportError", "export_model", "without_kv_cache"]


@contextlib.contextmanager
def without_kv_cache(model: torch.nn.Module, kwargs: dict[str, Any] | None) -> Iterator[bool]:
    """A Hugging Face model's forward, captured without its KV cache; yields whether it did.

    A causal LM returns a ``DynamicCache`` unless told otherwise, and ``torch.export`` cannot
    return one. Passing ``use_cache=False`` as an example keyword would work, but the exported
    graph then takes ``use_cache`` as an input at every call (export keeps the signature it was
    called with). Transformers reads ``config.use_cache`` when the keyword is absent, so
    switching that off while the model is traced and exported gives a graph that takes the
    caller's inputs and returns no cache (decoding with a cache stays an eager-mode use). The
    caller's config is restored afterwards. A ``use_cache`` the caller passed is theirs: kept."""
    config = getattr(model, "config", None)
    if kwargs and "use_cache" in kwargs or getattr(config, "use_cache", None) is not True:
        yield False
        return
    config.use_cache = False
    try:
        yield True
    finally:
        config.use_cache = True


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
