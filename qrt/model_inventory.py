"""A ``--model SPEC``'s inventory: read from a file, from the inventory cache, or built and
traced by the runtime.

A face of qrt (beside ``qrt/api.py`` and ``qrt/cli``), not part of :mod:`qrt.model_spec`: it
joins the spec's syntax (layer 5), the cache (layer 2) and the runtime (layer 7), so it sits
above all three; ``docs/architecture.md`` has the layer order. Torch is imported only when a
model must really be built.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from qrt.model_spec import parse_model_spec

if TYPE_CHECKING:
    from qrt.inventory.model import Inventory
    from qrt.runtime.trace import TraceProgress

__all__ = ["load_model_inventory"]


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
