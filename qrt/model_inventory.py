"""A ``--model SPEC``'s inventory: read from a file, from the inventory cache, or built and
traced by the runtime.

A face of qrt (beside ``qrt/api.py`` and ``qrt/cli``), not part of :mod:`qrt.model_spec`: it
joins the spec's syntax (layer 5), the cache (layer 2) and the runtime (layer 7), so it sits
above all three; ``docs/architecture.md`` has the layer order. Torch is imported only when a
model must really be built.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from qrt.errors import QrtError
from qrt.model_spec import parse_model_spec

if TYPE_CHECKING:
    from qrt.inventory.model import Inventory
    from qrt.runtime.trace import TraceProgress

__all__ = ["checkpoint_inventory", "load_model_inventory"]


def load_model_inventory(
    text: str,
    *,
    input_shapes: Sequence[Sequence[int]] | None = None,
    device: str | None = None,
    progress: Callable[[TraceProgress], None] | None = None,
    seed: int | None = None,
    dtype: str | None = None,
    cache: bool = False,
) -> Inventory:
    """The inventory for a ``--model`` spec: read a saved one, or build and trace the model
    (its random weights and inputs seeded by ``seed``, in ``dtype``: ``build_model``'s).

    ``cache``: read the inventory from the inventory cache (:mod:`qrt.inventory.cache`) when
    an entry for exactly this spec, its content and these options is there — no torch is
    imported then — and store it there after tracing. The commands pass it unless
    ``--no-cache``; a library caller opts in."""
    spec = parse_model_spec(text)
    if spec.kind == "inventory":
        from qrt.inventory.io import load_inventory_file

        return load_inventory_file(spec.target)
    key = None
    if cache:
        from qrt.inventory.cache import inventory_key, load_cached

        key = inventory_key(spec, input_shapes=input_shapes, device=device, seed=seed, dtype=dtype)
        found = load_cached(key) if key is not None else None
        if found is not None:
            return found
    from qrt.runtime.sources import build_model
    from qrt.runtime.trace import trace_model

    built = build_model(spec, input_shapes=input_shapes, device=device, seed=seed, dtype=dtype)
    inv = trace_model(
        built.model, built.args, built.kwargs, progress=progress, model_info=built.info
    )
    if key is not None:
        from qrt.inventory.cache import store_cached

        store_cached(key, inv, spec=spec.text)
    return inv


def checkpoint_inventory(
    directory: str | Path,
    *,
    input_shapes: Sequence[Sequence[int]] | None = None,
    progress: Callable[[Any], None] | None = None,
    seed: int | None = None,
    dtype: str | None = None,
) -> Inventory:
    """The inventory of the float model a checkpoint's ``config.json`` describes, built on
    ``meta`` (no weights read) from the config without its ``quantization_config``."""
    from qrt.frontends.checkpoint import checkpoint_config_file, read_checkpoint_config
    from qrt.frontends.compressed_tensors.errors import CompressedTensorsConfigError

    directory = Path(directory)
    _, data = read_checkpoint_config(directory)
    if not isinstance(data, dict):
        raise CompressedTensorsConfigError(f"{checkpoint_config_file(directory)}: not a JSON object",
                                           location=str(checkpoint_config_file(directory)))
    float_config = {k: v for k, v in data.items() if k != "quantization_config"}
    if "model_type" not in float_config and "architectures" not in float_config:
        file = checkpoint_config_file(directory)
        raise CompressedTensorsConfigError(
            "it holds a quantization_config but no model (no model_type or architectures): the "
            "model cannot be built from it",
            location=str(file),
            hint="pass --model SPEC: the model the checkpoint was made from (a qrt export of a built-in "
            "model writes the quantization_config alone; export with --hf-config to keep the model's config)")
    with tempfile.TemporaryDirectory(prefix="qrt-checkpoint-") as tmp:
        config = Path(tmp) / "config.json"
        config.write_text(json.dumps(float_config), encoding="utf-8")
        try:
            inv = load_model_inventory(str(config), input_shapes=input_shapes, device="meta", progress=progress,
                                       seed=seed, dtype=dtype)
        except QrtError as exc:  # name the user's file, not the scratch copy
            real = str(checkpoint_config_file(directory))
            exc.message = exc.message.replace(str(config), real)
            exc.location = exc.location.replace(str(config), real) if exc.location else real
            exc.args = (exc.render(),)
            raise
    return replace(inv, model={**inv.model, "spec": str(directory)})
