"""Saving and loading quantized models: safetensors shards plus a manifest, never pickle.

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
from qrt.runtime.finalize.files import DEFAULT_SHARD_BYTES, ShardWriter, read_shard
from qrt.runtime.finalize.manifest import (
    FORMAT,
    FORMAT_VERSION,
    MANIFEST_NAME,
    matched_json,
    model_fingerprint,
    plan_from_manifest,
    read_manifest_sealed,
    rules_to_json,
)
from qrt.runtime.finalize.pack import FinalizeError, Packed
from qrt.runtime.finalize.weights import WeightTarget, check_targets, finalize_weights, is_finalized, weight_targets
from qrt.runtime.quant.fake_quantizer import FakeQuantizer

__all__ = ["ModelWriter", "finalize_to_directory", "load_quantized", "save_quantized"]

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


def _model_names(model: nn.Module) -> tuple[set[str], list[tuple[str, nn.Module]]]:
    """Names of the quantizer modules qrt placed, and every module."""
    modules = list(model.named_modules(remove_duplicate=False))
    return {n for n, m in modules if _is_quantizer_module(m)}, modules


def _under(name: str, prefixes: set[str]) -> bool:
    parts = name.split(".")
    return any(".".join(parts[:i]) in prefixes for i in range(1, len(parts)))


def _fingerprint(model: nn.Module, shapes: dict[str, tuple[int, ...]]) -> dict[str, Any]:
    quantizer_modules, _ = _model_names(model)
    pairs = [
        (n, shapes.get(n, tuple(p.shape)))
        for n, p in model.named_parameters(remove_duplicate=False)
        if not _under(n, quantizer_modules)
    ]
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


def load_quantized(directory: str | Path, model: nn.Module, *, verify: bool = False,
                   allow_version_mismatch: bool = False) -> nn.Module:
    """Load a model saved by qrt into ``model`` — built from its class or config with no
    weights (``with torch.device("meta"): model = Model(config)``). The tensors are mapped
    from the directory's files, which must stay in place while the model is used. Returns the
    model, finalized.

    The saved plan is trusted when the manifest's seal is intact and this qrt wrote it: each
    decision is rebuilt from the rules the manifest records for it, no rule is matched again.
    Anything else — a broken seal (an edited manifest), another qrt version
    (``allow_version_mismatch``), a manifest of an older qrt — resolves the rules again and
    checks every decision against the recorded plan, as does ``verify``, which also checks
    every file's sha256 (reads the files once).

    A trusted load reads the manifest's rules (DSL text) from the compiled-rules cache
    (:mod:`qrt.frontends.rules_cache`) after the first load parsed them: no parser imported,
    no spec checked again. ``verify`` and every untrusted load parse them."""
    from qrt.errors import wrong_type

    if not isinstance(directory, (str, Path)):
        raise wrong_type("qrt.load_quantized", "directory", directory, "the saved model's directory (str or Path)")
    if not isinstance(model, nn.Module):
        raise wrong_type("qrt.load_quantized", "model", model, "a torch.nn.Module of the saved model's "
                         "architecture (built from its class or config, on meta or cpu)")
    import gc

    # a load makes tens of thousands of small objects (sites, decisions, quantizers), none in
    # a cycle; the cyclic GC would walk the whole heap (torch, the model) again and again
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        return _load(Path(directory), model, verify=verify, allow_version_mismatch=allow_version_mismatch)
    finally:
        if was_enabled:
            gc.enable()


def _load(directory: Path, model: nn.Module, *, verify: bool, allow_version_mismatch: bool) -> nn.Module:
    if getattr(model, "_qrt_eager", None) is not None:
        raise FinalizeError("load_quantized: the model is prepared already", hint="pass a freshly built model")
    manifest, sealed = read_manifest_sealed(directory, allow_version_mismatch=allow_version_mismatch)
    trusted = sealed and not verify and manifest["qrt_version"] == __version__
    where = str(directory)
    mine = _fingerprint(model, {})
    if mine["sha256"] != manifest["model"]["sha256"]:
        saved = manifest["model"]
        raise FinalizeError(
            f"{where}: saved from another model ({saved['class']}, {saved['parameters']} parameters), "
            f"not this {mine['class']} ({mine['parameters']} parameters)",
            hint="build the model from the same class and config the saved one was made from",
        )
    from qrt.frontends import rules_cache

    with rules_cache.using(trusted):  # the manifest's rule text parsed once, then read from the cache
        plan = plan_from_manifest(manifest, source=where, trusted=trusted)
    tensors: dict[str, torch.Tensor] = {}
    for record in manifest["files"]:
        tensors.update(read_shard(directory / record["name"], record, verify=verify))
    packed = manifest["packed"]
    freed = {r["parameter"]: r["dtype"] for r in packed.values() if not r["dense"]}
    aliases = manifest["aliases"]
    _assign(model, tensors, freed, aliases, where)
    from qrt.runtime.quant.quantizer import Quantizer

    quantizer = Quantizer(model, plan.rules)
    quantizer._install_plan(plan, plan.inventory)
    state = quantizer.state
    assert state is not None
    quantizer_modules, _ = _model_names(model)
    for name, t in tensors.items():
        if _PACKED in name or not _under(name, quantizer_modules):
            continue
        owner, _, attr = name.rpartition(".")
        model.get_submodule(owner)._buffers[attr] = t
    for path, switches in manifest["quantizers"].items():
        q = state.quantizers.get(path)
        if q is None:
            raise FinalizeError(f"{where}: the manifest names quantizer {path}, which the saved plan does not place")
        q.enabled, q.observer_enabled, q.fake_quant_enabled = switches["enabled"], switches["observer"], switches["fake_quant"]
    for path, record in packed.items():
        q = state.quantizers[path]
        stored = {field: tensors[name] for field, name in record["tensors"].items()}
        try:
            unpacked = Packed.from_stored(record["layout"], stored)
        except FinalizeError as exc:  # the layout and the stored tensors disagree (an edited manifest)
            raise FinalizeError(f"{where}: {path}: {exc.message}", hint=exc.hint) from None
        q.use_packed(unpacked, getattr(torch, record["dtype"]))
    state.mmap_dir = str(directory)
    model._qrt_quantizer = quantizer  # type: ignore[assignment]
    return model


def _assign(model: nn.Module, tensors: dict[str, torch.Tensor], freed: dict[str, str], aliases: dict[str, str],
            where: str) -> None:
    """Point every parameter and buffer of ``model`` at its saved tensor (tied names at the
    same one); freed weights become empty. Works on meta-device models: nothing is copied."""
    replaced: dict[int, Any] = {}
    missing: list[str] = []
    for module_name, module in model.named_modules(remove_duplicate=False):
        for group in (module._parameters, module._buffers):
            for attr, t in list(group.items()):
                if t is None:
                    continue
                name = f"{module_name}.{attr}" if module_name else attr
                if id(t) in replaced:
                    group[attr] = replaced[id(t)]
                    continue
                source = aliases.get(name, name)
                if source in freed:
                    new: Any = torch.empty(0, dtype=getattr(torch, freed[source]))
                elif source in tensors:
                    new = tensors[source]
                else:
                    missing.append(name)
                    continue
                if isinstance(t, nn.Parameter):
                    new = nn.Parameter(new, requires_grad=t.requires_grad and new.is_floating_point())
                group[attr] = new
                replaced[id(t)] = new
    if missing:
        raise FinalizeError(
            f"{where}: no saved tensor for {len(missing)} of the model's tensors: {', '.join(missing[:5])}"
            + (" …" if len(missing) > 5 else ""),
            hint="build the model exactly as the saved one was built (same class, config and options)",
        )

