"""``qrt.quantize(model, config, forward_loop)``: prepare and calibrate in one call.

ModelOpt's ``mtq.quantize(model, config, forward_loop)`` is how most users already write a
calibration: a function that runs the model over their data. qrt takes the same shape, or any
iterable of batches. qrt's prepare traces one example call to name the sites; when no
``example_inputs`` are given, that call is the first one ``forward_loop`` makes (captured
and stopped before the model runs), so the loop is all a user writes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import nn

from qrt.errors import CalibrationLoopError
from qrt.runtime.quant.quantizer import Quantizer

__all__ = ["quantize"]

ForwardLoop = Callable[[nn.Module], Any]


class _Captured(Exception):
    def __init__(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        super().__init__()
        self.args_, self.kwargs_ = args, kwargs


def _as_loop(data: ForwardLoop | Iterable[Any]) -> ForwardLoop:
    """A batch iterable as a forward loop: a tensor is the input, a tuple or list the
    positional inputs, a dict the keyword inputs."""
    if callable(data):
        return data
    if not isinstance(data, Iterable):
        raise CalibrationLoopError(
            f"forward_loop is a {type(data).__name__}",
            hint="pass a function that runs the model (forward_loop(model)) or an iterable of batches",
        )

    def loop(model: nn.Module) -> None:
        for batch in data:
            if isinstance(batch, dict):
                model(**batch)
            elif isinstance(batch, (tuple, list)):
                model(*batch)
            else:
                model(batch)

    return loop


def _first_call(model: nn.Module, loop: ForwardLoop) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """The arguments of the first call ``loop`` makes to ``model``, which does not run."""

    def stop(_module: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        raise _Captured(args, kwargs)

    handle = model.register_forward_pre_hook(stop, with_kwargs=True)
    try:
        loop(model)
    except _Captured as call:
        return call.args_, call.kwargs_
    finally:
        handle.remove()
    raise CalibrationLoopError(
        "forward_loop never called the model",
        hint="the loop must call model(...) on at least one batch, or pass example_inputs",
    )


def quantize(
    model: nn.Module,
    config: Any = None,
    forward_loop: ForwardLoop | Iterable[Any] | None = None,
    *,
    example_inputs: tuple[Any, ...] | Any = None,
    example_kwargs: dict[str, Any] | None = None,
    execution_mode: str | None = None,
) -> nn.Module:
    """Prepare ``model`` under ``config`` and calibrate it with ``forward_loop`` (a function
    ``forward_loop(model)``, or an iterable of batches); returns the prepared model, observers
    off and fake quantization on. Without ``example_inputs`` the loop's first call is the
    example that names the sites. For finalize, save and QAT, use :class:`qrt.Quantizer`."""
    loop = _as_loop(forward_loop) if forward_loop is not None else None
    if example_inputs is None:
        if loop is None:
            raise CalibrationLoopError(
                "quantize needs example inputs or a forward_loop",
                hint="pass forward_loop=lambda m: [m(b) for b in batches], or example_inputs=(x,)",
            )
        args, kwargs = _first_call(model, loop)
        kwargs = {**kwargs, **(example_kwargs or {})}
    else:
        args = example_inputs if isinstance(example_inputs, tuple) else (example_inputs,)
        kwargs = dict(example_kwargs or {})
    quantizer = Quantizer(model, config, execution_mode=execution_mode)
    prepared = quantizer.prepare(args, example_kwargs=kwargs)
    if loop is not None:
        with torch.no_grad(), quantizer.calibration_mode():
            loop(prepared)
    return prepared
