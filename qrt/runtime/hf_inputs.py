"""Example inputs for a Hugging Face model built from its config alone.

A decoder takes token ids; an encoder-decoder (T5, BART, Whisper) also needs the decoder's
ids; a vision model takes ``pixel_values``; a speech model ``input_features`` or
``input_values``. Which one a model needs is read from its ``forward`` signature, and the
sizes from its config, so ``--model DIR`` works for any architecture transformers builds from
a config, and says what to do when it does not know the input.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from typing import Any

import torch

from qrt.errors import ModelSourceError

__all__ = ["hf_example_inputs"]

_TOKENS = ("input_ids",)
_MAIN = ("input_ids", "pixel_values", "input_features", "input_values")


def _image_size(config: Any) -> tuple[int, int]:
    size = getattr(config, "image_size", None) or 224
    if isinstance(size, (list, tuple)):
        return int(size[0]), int(size[-1])
    return int(size), int(size)


def _default_shape(name: str, config: Any) -> tuple[int, ...]:
    if name == "input_ids":
        return (1, 8)
    if name == "pixel_values":
        return (1, int(getattr(config, "num_channels", 3) or 3), *_image_size(config))
    if name == "input_features":  # log-mel frames: Whisper wants 2 x max_source_positions of them
        frames = 2 * int(getattr(config, "max_source_positions", 1500) or 1500)
        return (1, int(getattr(config, "num_mel_bins", 80) or 80), frames)
    return (1, 16000)  # input_values: one second of 16 kHz audio


def hf_example_inputs(
    model: torch.nn.Module, config: Any, shapes: Sequence[Sequence[int]] | None, device: str, where: str
) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """``(args, kwargs)`` for one forward of ``model``: the main input positionally (as a
    user calls the model), the decoder's ids and ``use_cache=False`` (no KV-cache ops in the
    inventory) by keyword. ``shapes[0]``, when given, is the main input's shape."""
    params = inspect.signature(model.forward).parameters
    main = next((name for name in params if name in _MAIN), None)
    if main is None:
        raise ModelSourceError(
            f"cannot tell which input {type(model).__name__} takes: its forward has none of "
            f"{', '.join(_MAIN)} (it takes {', '.join(list(params)[:6])})",
            location=where,
            hint="build it with a factory that returns (model, example_inputs): --model path/to/file.py:factory",
        )
    if shapes and len(shapes) > 1:
        raise ModelSourceError(
            f"a Hugging Face model takes one --input-shape (of its {main}); got {len(shapes)}",
            location=where,
        )
    shape = tuple(int(d) for d in shapes[0]) if shapes else _default_shape(main, config)
    vocab = int(getattr(config, "vocab_size", 32) or 32)
    if main in _TOKENS:
        first = torch.randint(0, vocab, shape, device=device)
    else:
        first = torch.randn(shape, device=device)
    kwargs: dict[str, Any] = {}
    if getattr(config, "is_encoder_decoder", False) and "decoder_input_ids" in params:
        decoder_vocab = int(getattr(config, "decoder_vocab_size", None) or vocab)
        kwargs["decoder_input_ids"] = torch.randint(0, decoder_vocab, (shape[0], 4), device=device)
    if "use_cache" in params:
        kwargs["use_cache"] = False
    return (first,), kwargs
