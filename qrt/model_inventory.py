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
    from qrt.inventory.templates import Family
    from qrt.model_spec import ModelSpec
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
    family = None
    if cache:
        from qrt.inventory.cache import inventory_key, load_cached, store_cached

        key = inventory_key(spec, input_shapes=input_shapes, device=device, seed=seed, dtype=dtype)
        found = load_cached(key) if key is not None else None
        if found is not None:
            return found
        family = _family(spec, input_shapes=input_shapes, device=device, dtype=dtype)
        if family is not None:
            from qrt.inventory.templates import from_template

            found = from_template(family, spec)
            if found is not None:
                if key is not None:
                    store_cached(key, found, spec=spec.text)
                return found
    from qrt.runtime.sources import build_model
    from qrt.runtime.trace import trace_model

    built = build_model(spec, input_shapes=input_shapes, device=device, seed=seed, dtype=dtype)
    inv = trace_model(
        built.model, built.args, built.kwargs, progress=progress, model_info=built.info
    )
    if key is not None:
        store_cached(key, inv, spec=spec.text)
    if family is not None:
        _learn_template(family, inv, input_shapes=input_shapes, device=device, dtype=dtype)
    return inv


_PICKLES = ("*.bin", "*.pt", "*.pth", "*.ckpt")


def _family(spec: ModelSpec, *, input_shapes: Sequence[Sequence[int]] | None, device: str | None,
            dtype: str | None) -> Family | None:
    """The template family of a Hugging Face config traced on ``meta`` (where nothing random is
    drawn), or ``None``: another kind of spec or device, a folder whose weights are pickles (its
    trace is an error a template must not hide), a quantized config (likewise), an unreadable
    file (the trace says why)."""
    if spec.kind != "hf" or (device or "meta") != "meta":
        return None
    from qrt.files import parse_json, read_text
    from qrt.inventory.templates import family_of

    path = Path(spec.target)
    folder = path.is_dir()
    try:
        config = parse_json(read_text(path / "config.json" if folder else path), file=spec.target)
    except (QrtError, OSError):
        return None
    weights = folder and any(path.glob("*.safetensors"))
    if folder and not weights and any(p for g in _PICKLES for p in path.glob(g)):
        return None
    if not isinstance(config, dict) or "quantization_config" in config:
        return None
    return family_of(config, has_weights=weights, options={
        "input_shapes": [list(s) for s in input_shapes or ()], "device": "meta", "dtype": dtype or "auto"})


def _learn_template(family: Family, inv: Inventory, *, input_shapes: Sequence[Sequence[int]] | None,
                    device: str | None, dtype: str | None) -> None:
    """Trace the family's probes (four models of 3-4 layers and a few dozen features: a tenth
    of a second each) and keep the template they teach where it gives ``inv`` exactly
    (:func:`qrt.inventory.templates.prove_and_store`). Never fails the command: a probe that
    cannot be built or traced records that the family has no template."""
    from qrt.inventory.canonical import inventory_rows
    from qrt.inventory.templates import PROBE_LAYERS, PROBES, prove_and_store, store_none, template_known

    if template_known(family):
        return
    spec_text = str(inv.model.get("spec"))
    from qrt.runtime.sources import build_model
    from qrt.runtime.trace import trace_model

    with tempfile.TemporaryDirectory(prefix="qrt-probe-") as tmp:
        def probe(n: int, layers: int) -> tuple[dict[str, Any], tuple[Any, ...]]:
            config = Path(tmp) / f"probe{n}-{layers}.json"
            config.write_text(json.dumps(family.probe_config(n, layers)), encoding="utf-8")
            # the traced model's dtype (a checkpoint's own, beside it; the probes have no weights)
            built = build_model(parse_model_spec(str(config)), input_shapes=input_shapes, device=device,
                                dtype=dtype if dtype not in (None, "auto") else str(inv.model.get("dtype")))
            traced = trace_model(built.model, built.args, built.kwargs, model_info=built.info)
            return traced.model, inventory_rows(traced)

        try:
            probes = [probe(n, PROBE_LAYERS[0]) for n in range(PROBES)]
            longer = probe(0, PROBE_LAYERS[1])
        except Exception as exc:  # noqa: BLE001 — a probe's failure costs only the template
            store_none(family, f"a probe failed: {type(exc).__name__}: {exc}"[:500], learned_from=spec_text)
            return
    try:
        prove_and_store(family, probes, longer, inv)
    except Exception as exc:  # noqa: BLE001 — the command traced its model: learning costs it nothing else
        store_none(family, f"learning failed: {type(exc).__name__}: {exc}"[:500], learned_from=spec_text)


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
