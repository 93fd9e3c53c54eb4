"""Saving quantized models: safetensors shards plus a manifest, never pickle (loading them
back is :mod:`.load`, which builds a ``Quantizer``: kept apart so that the quantizer, which
finalizes into a directory through this module, and the loader import in one direction).

``save_quantized(model, directory)`` writes a model prepared by qrt (eager mode), finalized or
not: every quantized weight in its packed form (a weight not finalized yet is packed while
writing, the model itself unchanged), every other parameter and buffer as it is (activation
quantizers' calibrated scales included), tied tensors once, and the manifest
(:mod:`.manifest`). ``load_quantized(directory, model)`` takes the model built from its class
or config with no weights — on the meta device is best: nothing is allocated — checks it is
the model the directory was saved from, places the quantizers from the saved plan (no
tracing, no example inputs), and maps every tensor from the shards: the loaded model reads its
weights from the files, which must stay in place (see :mod:`.files`).

``Quantizer.finalize(mmap_dir=...)`` writes the same directory while it finalizes, shard by
shard, and points the model at the mapped files as each shard lands.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from qrt._version import __version__
from qrt.runtime.finalize.files import DEFAULT_SHARD_BYTES, ShardWriter
from qrt.runtime.finalize.manifest import (
    FORMAT,
    FORMAT_VERSION,
    MANIFEST_NAME,
    matched_json,
    model_fingerprint,
    rules_to_json,
)
from qrt.runtime.finalize.pack import FinalizeError, Packed
from qrt.runtime.finalize.weights import WeightTarget, check_targets, finalize_weights, is_finalized, weight_targets
from qrt.runtime.quant.fake_quantizer import FakeQuantizer

__all__ = ["ModelWriter", "finalize_to_directory", "save_quantized"]

_PACKED = ".packed."


def _eager_state(model: nn.Module, what: str) -> Any:
    state = getattr(model, "_qrt_eager", None)
    if state is None or state.plan is None:
        raise FinalizeError(
            f"{what}: the model is not prepared by qrt",
            hint="prepare it first: q = qrt.Quantizer(model, config); q.prepare(example_inputs) "
            "(eager mode; graph-mode models are finalized with Quantizer.finalize)",
        )
    return state


def _is_quantizer_module(module: nn.Module) -> bool:
    from qrt.runtime.quant.eager import _Group

    return isinstance(module, (FakeQuantizer, _Group))


def _model_names(model: nn.Module, modules: list[tuple[str, nn.Module]] | None = None,
                 ) -> tuple[set[str], list[tuple[str, nn.Module]]]:
    """Names of the quantizer modules qrt placed, and every module (``modules``: the model's
    ``named_modules(remove_duplicate=False)`` when the caller has walked it already)."""
    modules = list(model.named_modules(remove_duplicate=False)) if modules is None else modules
    return {n for n, m in modules if _is_quantizer_module(m)}, modules


def _under(name: str, prefixes: set[str]) -> bool:
    if not prefixes:
        return False
    parts = name.split(".")
    return any(".".join(parts[:i]) in prefixes for i in range(1, len(parts)))


def _fingerprint(model: nn.Module, shapes: dict[str, tuple[int, ...]],
                 modules: list[tuple[str, nn.Module]] | None = None) -> dict[str, Any]:
    quantizer_modules, modules = _model_names(model, modules)
    # named_parameters(remove_duplicate=False), from the walk at hand
    named = ((f"{m}.{k}" if m else k, p) for m, module in modules for k, p in module._parameters.items() if p is not None)
    pairs = [(n, shapes.get(n, tuple(p.shape))) for n, p in named if not _under(n, quantizer_modules)]
    return model_fingerprint(pairs, type(model).__name__)


def _prepare_directory(directory: Path, *, overwrite: bool, state: Any) -> Path:
    directory = Path(directory)
    if getattr(state, "mmap_dir", None) is not None and directory.resolve() == Path(state.mmap_dir).resolve():
        raise FinalizeError(
            f"{directory}: the model reads its weights from this directory (memory-mapped)",
            hint="save to another directory; rewriting the files under a running model would crash it",
        )
    from qrt.files import output_directory

    directory = output_directory(directory, what="directory to save the model in")
    if directory.exists() and any(directory.iterdir()):
        if not overwrite:
            raise FinalizeError(
                f"{directory}: the directory exists and is not empty",
                hint="pass an empty or new directory, or overwrite=True to replace a saved model there",
            )
        if not (directory / MANIFEST_NAME).is_file():
            raise FinalizeError(
                f"{directory}: not a saved qrt model, so overwrite=True will not empty it",
                hint="pass an empty or new directory",
            )
        for old in directory.glob("model-*.safetensors"):
            old.unlink()
        (directory / MANIFEST_NAME).unlink()
    directory.mkdir(parents=True, exist_ok=True)
    return directory


class ModelWriter:
    """Writes one saved-model directory: packed weights as they come, then the rest and the
    manifest. With ``remap`` every written tensor is handed back memory-mapped to the model
    (finalize with ``mmap_dir``)."""

    def __init__(self, directory: Path, model: nn.Module, state: Any, *, remap: bool,
                 max_shard_bytes: int = DEFAULT_SHARD_BYTES, digest: bool = True) -> None:
        self.directory = directory
        self.model = model
        self.state = state
        self.remap = remap
        self.writer = ShardWriter(directory, max_bytes=max_shard_bytes, digest=digest)
        self.records: dict[str, dict[str, Any]] = {}
        self.freed: set[int] = set()
        self.packed_quantizers: set[int] = set()
        self.shapes: dict[str, tuple[int, ...]] = {}

    def add_packed(self, target: WeightTarget, packed: Packed) -> None:
        q = target.quantizer
        names = {field: f"{q.path}{_PACKED}{field}" for field in packed.tensors()}
        dtype = target.param.dtype
        self.records[q.path] = {
            "parameter": target.parameter,
            "dtype": str(dtype).removeprefix("torch."),
            "dense": not target.freeable,
            "layout": packed.layout(),
            "tensors": names,
        }
        self.shapes[target.parameter] = target.shape() if target.expert is not None else tuple(packed.shape)
        self.packed_quantizers.add(id(q))
        if target.freeable:
            self.freed.add(id(target.param))
        layout = packed.layout()

        def remap(mapped: dict[str, torch.Tensor]) -> None:
            q.use_packed(Packed.from_stored(layout, {f: mapped[n] for f, n in names.items()}), dtype)

        on_written = remap if self.remap and packed.data.device.type == "cpu" else None
        self.writer.add({names[f]: t for f, t in packed.tensors().items()}, on_written)

    def finish(self, plan: Any) -> dict[str, Any]:
        """Write every other tensor and the manifest; returns the manifest."""
        aliases, non_persistent = self._write_rest()
        self.writer.flush()
        manifest = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "qrt_version": __version__,
            "torch_version": torch.__version__.split("+")[0],
            "model": _fingerprint(self.model, self.shapes),
            "execution_mode": "eager",
            "files": self.writer.files,
            "packed": self.records,
            "aliases": aliases,
            "non_persistent": non_persistent,
            "quantizers": {
                path: {"enabled": q.enabled, "observer": q.observer_enabled, "fake_quant": q.fake_quant_enabled}
                for path, q in sorted(self.state.quantizers.items())
            },
            **_placements(plan),
            "rules": rules_to_json(plan.rules),
            "inventory": _inventory_json(plan.inventory),
            "plan": plan.to_json(),
            "matched": matched_json(plan),
        }
        import json

        from qrt.sealed_json import seal

        # one top-level field per line, each compact: the inventory and plan of a large model
        # are megabytes, and `jq` reads them better than any indentation would. Sealed: a load
        # that finds the seal intact trusts the plan instead of resolving it again
        lines = [f"{json.dumps(k)}: {json.dumps(v, separators=(',', ':'))}" for k, v in manifest.items()]
        text = seal("{\n" + ",\n".join(lines) + "\n}\n")
        (self.directory / MANIFEST_NAME).write_text(text, encoding="utf-8")
        return manifest

    def _write_rest(self) -> tuple[dict[str, str], list[str]]:
        """Parameters and buffers (quantizers' included), each tensor once; tied names become
        aliases of the first. Freed weights are skipped (their packed form is written)."""
        first: dict[int, str] = {}
        aliases: dict[str, str] = {}
        non_persistent: list[str] = []
        owners: dict[int, list[tuple[nn.Module, str, bool]]] = {}
        for module_name, module in self.model.named_modules(remove_duplicate=False):
            if id(module) in self.packed_quantizers:
                continue  # a packed weight's observer state: its packed form has the scales
            for attr, t in list(module._parameters.items()) + list(module._buffers.items()):
                if t is None:
                    continue
                name = f"{module_name}.{attr}" if module_name else attr
                if attr in module._non_persistent_buffers_set:
                    non_persistent.append(name)
                owners.setdefault(id(t), []).append((module, attr, attr in module._parameters))
                if id(t) in self.freed:
                    continue
                if id(t) in first:
                    if first[id(t)] != name:
                        aliases[name] = first[id(t)]
                    continue
                first[id(t)] = name
                tensor = t.data if isinstance(t, nn.Parameter) else t
                on_written = None
                if self.remap and tensor.device.type == "cpu":
                    on_written = self._remapper(name, owners, id(t))
                self.writer.add({name: tensor}, on_written)
        return dict(sorted(aliases.items())), sorted(set(non_persistent))

    def _remapper(self, name: str, owners: dict[int, list[tuple[nn.Module, str, bool]]], key: int) -> Any:
        def remap(mapped: dict[str, torch.Tensor]) -> None:
            for module, attr, is_param in owners.get(key, []):
                if is_param:
                    module._parameters[attr].data = mapped[name]  # type: ignore[union-attr]
                else:
                    module._buffers[attr] = mapped[name]
        return remap


def _placements(plan: Any) -> dict[str, Any]:
    """The ``placements`` field: the plan's quantizers, which a trusted load places from without
    the plan (:mod:`.placements`); none where they would not read back as they are."""
    from qrt.runtime.finalize.placements import placements_json
    from qrt.runtime.quant.planned import planned_quantizers

    record = placements_json(planned_quantizers(plan))
    return {"placements": record} if record is not None else {}


def _inventory_json(inventory: Any) -> dict[str, Any]:
    from qrt.inventory.io import inventory_to_json

    return inventory_to_json(inventory)


def save_quantized(model: nn.Module, directory: str | Path, *, overwrite: bool = False,
                   max_shard_bytes: int = DEFAULT_SHARD_BYTES) -> Path:
    """Write ``model`` (prepared by qrt in eager mode, finalized or not) to ``directory`` as
    safetensors shards plus ``qrt-manifest.json``. Returns the directory."""
    state = _eager_state(model, "save_quantized")
    directory = _prepare_directory(Path(directory), overwrite=overwrite, state=state)
    targets = weight_targets(model, state, state.plan)
    out = ModelWriter(directory, model, state, remap=False, max_shard_bytes=max_shard_bytes)
    check_targets([t for t in targets if not is_finalized(t.quantizer)])
    for t in targets:
        packed = t.quantizer.__dict__["packed"] if is_finalized(t.quantizer) else t.quantizer.pack(t.data())
        out.add_packed(t, packed)
    out.finish(state.plan)
    return directory


def finalize_to_directory(model: nn.Module, state: Any, plan: Any, directory: str | Path, *,
                          max_shard_bytes: int = DEFAULT_SHARD_BYTES, overwrite: bool = False) -> dict[str, Any]:
    """Finalize and write at once, shard by shard, remapping the model onto the files.
    ``overwrite`` replaces a model qrt saved there before (never other files)."""
    directory = _prepare_directory(Path(directory), overwrite=overwrite, state=state)
    targets = weight_targets(model, state, plan)
    out = ModelWriter(directory, model, state, remap=True, max_shard_bytes=max_shard_bytes)
    report = finalize_weights(targets, on_packed=out.add_packed)
    out.finish(plan)
    state.mmap_dir = str(directory)
    report["files"] = [dict(f) for f in out.writer.files]
    return report
