"""Loading a model qrt saved (:mod:`.saved` writes it): ``load_quantized(directory, model)``.

The model is built from its class or config with no weights — on the meta device is best:
nothing is allocated —, checked to be the model the directory was saved from, its quantizers
placed from the saved plan (no tracing, no example inputs, a ``Quantizer`` over the eager
backend), and every tensor mapped from the shards: the loaded model reads its weights from the
files, which must stay in place (see :mod:`.files`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from qrt._version import __version__
from qrt.runtime.finalize.files import read_shard
from qrt.runtime.finalize.manifest import plan_from_manifest, read_manifest_sealed, read_trusted_manifest
from qrt.runtime.finalize.pack import FinalizeError, Packed
from qrt.runtime.finalize.placements import placements_from_json
from qrt.runtime.finalize.saved import _PACKED, _fingerprint, _model_names, _under
from qrt.runtime.quant.eager_backend import EagerBackend
from qrt.runtime.quant.quantizer import Quantizer

__all__ = ["SavedPlan", "load_quantized"]


class SavedPlan:
    """The plan of a model a trusted load placed from its manifest's ``placements``, rebuilt
    from the manifest's rules, inventory and recorded matches when something first asks for
    it (``quantizer.plan``, saving the model again, ``set_quantizer_by_cfg``): the same plan a
    load that rebuilds it at once installs (:func:`.manifest.plan_from_manifest`, trusted).
    Holds those fields' JSON text (views of the manifest's bytes) until then."""

    def __init__(self, head: dict[str, Any], texts: dict[str, memoryview], source: str) -> None:
        self._head, self._texts, self._source = head, texts, source
        self._made: tuple[Any, Any] | None = None

    def get(self) -> tuple[Any, Any]:
        """``(plan, inventory)``."""
        if self._made is None:
            import json

            from qrt.frontends import rules_cache

            manifest = {**self._head, **{k: json.loads(bytes(v)) for k, v in self._texts.items()}}
            with rules_cache.using(True):
                plan = plan_from_manifest(manifest, source=self._source, trusted=True)
            self._made, self._texts = (plan, plan.inventory), {}
        return self._made


def load_quantized(directory: str | Path, model: nn.Module, *, verify: bool = False,
                   allow_version_mismatch: bool = False) -> nn.Module:
    """Load a model saved by qrt into ``model`` — built from its class or config with no
    weights (``with torch.device("meta"): model = Model(config)``). The tensors are mapped
    from the directory's files, which must stay in place while the model is used. Returns the
    model, finalized.

    The saved plan is trusted when the manifest's seal is intact and this qrt wrote it: the
    quantizers are placed from the manifest's ``placements`` (:mod:`.placements`: each placed
    site and its spec, as the plan decided them), reading none of the plan's fields — no rule
    parsed or matched, no inventory read, neither the parser, the resolver nor pydantic
    imported; ``quantizer.plan`` (and its inventory, rules and source) is rebuilt from the
    rules the manifest records for each decision when first asked (:class:`SavedPlan`). A
    sealed manifest of this qrt without ``placements`` rebuilds the plan so at once (each
    decision folded from its recorded rules, which it reads from the compiled-rules cache,
    :mod:`qrt.frontends.rules_cache`, after the first load). Anything else — a broken seal (an
    edited manifest), another qrt version (``allow_version_mismatch``), a manifest of an older
    qrt — resolves the rules again and checks every decision against the recorded plan, as
    does ``verify``, which also checks every file's sha256 (reads the files once)."""
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
    where = str(directory)
    read = None if verify else read_trusted_manifest(directory)
    planned = placements_from_json(read[0]["placements"]) if read is not None else None
    if read is not None and planned is not None:
        manifest: dict[str, Any] = read[0]
        trusted = True
    else:  # verification, or a manifest the load may not trust or cannot place from: read in full
        manifest, sealed = read_manifest_sealed(directory, allow_version_mismatch=allow_version_mismatch)
        trusted = sealed and not verify and manifest["qrt_version"] == __version__
    modules = list(model.named_modules(remove_duplicate=False))  # one walk for the check and _assign
    mine = _fingerprint(model, {}, modules)
    if mine["sha256"] != manifest["model"]["sha256"]:
        saved = manifest["model"]
        raise FinalizeError(
            f"{where}: saved from another model ({saved['class']}, {saved['parameters']} parameters), "
            f"not this {mine['class']} ({mine['parameters']} parameters)",
            hint="build the model from the same class and config the saved one was made from",
        )
    plan = None
    if planned is None:
        from qrt.frontends import rules_cache

        with rules_cache.using(trusted):  # the manifest's rule text parsed once, then read from the cache
            plan = plan_from_manifest(manifest, source=where, trusted=trusted)
    tensors: dict[str, torch.Tensor] = {}
    for record in manifest["files"]:
        tensors.update(read_shard(directory / record["name"], record, verify=verify))
    packed = manifest["packed"]
    freed = {r["parameter"]: r["dtype"] for r in packed.values() if not r["dense"]}
    aliases = manifest["aliases"]
    _assign(modules, tensors, freed, aliases, where)
    if plan is not None:
        quantizer = Quantizer(model, plan.rules)
        quantizer._install_plan(plan, plan.inventory)
    else:  # placed from the manifest's placements: the plan is rebuilt when something asks for it
        assert planned is not None and read is not None
        saved_plan = SavedPlan(manifest, read[1], where)
        backend, fused_groups = EagerBackend.place_planned(model, planned)
        backend.state.saved_plan = saved_plan
        quantizer = Quantizer._placed(model, backend, fused_groups, saved_plan)
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


def _assign(modules: list[tuple[str, nn.Module]], tensors: dict[str, torch.Tensor], freed: dict[str, str],
            aliases: dict[str, str], where: str) -> None:
    """Point every parameter and buffer of the model whose ``named_modules(remove_duplicate=False)``
    are ``modules`` at its saved tensor (tied names at the same one); freed weights become
    empty. Works on meta-device models: nothing is copied."""
    replaced: dict[int, Any] = {}
    missing: list[str] = []
    for module_name, module in modules:
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

