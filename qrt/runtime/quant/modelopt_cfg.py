"""``qrt.set_quantizer_by_cfg(model, quant_cfg)`` on a prepared model, as ModelOpt users call it.

The list is read like any ModelOpt list (every form, every check, positions in errors) and
resolved through the engine: its entries compile to rules (:mod:`qrt.frontends.wildcard.compile`,
without the role-default rules — a prepared model's quantizers already have a state) and the
fast resolver matches them against the quantizers' sites with RE2 sets, never a glob loop per
entry over the modules. Each quantizer then gets, in list order, what its matching entries
say (docs/semantics.md §4): a ``cfg`` entry replaces the spec wholesale (observations reset) and
enables it unless ``enable: false``; an ``enable`` entry only switches it.

``set_quantizer_by_cfg_context`` does the same for a ``with`` block and puts every quantizer's
spec, switches and observations back on the way out, exceptions included.

An entry whose pattern has no glob characters names one quantizer; if the model has no
quantizer of that name, that is an error with the closest names (a glob that matches nothing
is not: presets guard architectures a model may not have).
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Iterator
from typing import Any

from torch import nn

from qrt.errors import QuantizerCfgError, did_you_mean
from qrt.ir.effect import FoldState
from qrt.ir.rule import RuleSet
from qrt.resolver.decision import fold

__all__ = ["set_quantizer_by_cfg", "set_quantizer_by_cfg_context"]


def _state(model: nn.Module) -> Any:
    state = getattr(model, "_qrt_eager", None)
    if state is None:
        raise QuantizerCfgError(
            "set_quantizer_by_cfg needs a prepared model",
            hint="prepare it first: model = qrt.Quantizer(model, config).prepare(example_inputs)",
        )
    return state


def _read(quant_cfg: Any) -> Any:
    from qrt.frontends.wildcard import WildcardConfig, load_wildcard, wildcard_from_data

    if isinstance(quant_cfg, WildcardConfig):
        return quant_cfg
    if isinstance(quant_cfg, str) and not quant_cfg.lstrip().startswith(("[", "{")):
        if quant_cfg.startswith("modelopt:"):
            from qrt.frontends.wildcard.presets import load_modelopt_preset

            return load_modelopt_preset(quant_cfg)
        return load_wildcard(quant_cfg)
    return wildcard_from_data(quant_cfg)


def set_quantizer_by_cfg(model: nn.Module, quant_cfg: Any) -> None:
    """Apply a ModelOpt list (entries, ``{"quant_cfg": ...}``, a legacy dict, a file path or
    ``modelopt:NAME``) to the quantizers of a prepared model."""
    from qrt.frontends.wildcard.compile import entry_rules
    from qrt.resolver.fast import FastResolver

    state = _state(model)
    config = _read(quant_cfg)
    inventory = state.inventory
    by_path = state.quantizers
    sites = state.__dict__.get("quantized_sites")
    if sites is None:
        sites = state.__dict__["quantized_sites"] = [s for s in inventory.sites if s.quantizer_path in by_path]
    # entries match ModelOpt's names only (docs/semantics.md §4): a quantizer ModelOpt would not
    # create (a norm weight a hierarchical config quantized) is out of a list's reach
    names = {s.modelopt_name for s in sites if s.modelopt_name is not None}
    for entry in config:
        if not any(c in entry.pattern for c in "*?[") and entry.pattern not in names:
            outside = entry.pattern in by_path
            close = did_you_mean(entry.pattern, sorted(names))
            raise QuantizerCfgError(
                f"{entry.origin}: "
                + (f"{entry.pattern!r} is a quantizer ModelOpt 0.47 would not create, so a list "
                   "cannot reach it" if outside else f"no quantizer {entry.pattern!r} in this prepared model")
                + (f" ({close})" if close else ""),
                hint="a pattern without * ? [ ] names one quantizer exactly, by ModelOpt's name; "
                "qrt.summary(model) lists them",
            )
    from qrt.resolver.axes import resolve_axes
    from qrt.resolver.plan import owner_type
    from qrt.runtime.quant.numerics import NumericsError, format_of, group_shape

    cache = state.__dict__.setdefault("resolvers", {})
    key = tuple(config.entries)
    resolver = cache.get(key)
    if resolver is None:  # the same list on the same model again (a context, a sweep): reuse
        resolver = FastResolver(RuleSet.of(r for e in config for r in entry_rules(e)))
        if len(cache) >= 16:
            cache.pop(next(iter(cache)))
        cache[key] = resolver
    # first decide every change and check that its spec runs on its tensor, then apply: a
    # list that cannot be honoured changes nothing
    changes: list[tuple[Any, Any, bool | None]] = []
    checked: dict[tuple[Any, Any], Any] = {}
    for site in sites:
        matched = resolver.decide(site).matched
        if not matched:
            continue
        quantizer = by_path[site.quantizer_path]
        # the resolver's fold, started from the quantizer as it is: a cfg replaces its spec, a
        # toggle keeps it (a list has no partial-spec patches and no off rules)
        end = fold(matched, site.role, start=FoldState(quantizer.enabled, quantizer.spec))
        spec = end.spec if end.spec is not quantizer.spec else None
        enable = end.enabled
        if spec is not None:
            spec = resolve_axes(spec, site, owner_type(site, inventory))
            key = (spec, site.shape)
            if key not in checked:
                try:
                    checked[key] = (format_of(spec), group_shape(spec, site.shape) if site.shape is not None else None)
                except NumericsError as exc:
                    raise QuantizerCfgError(
                        f"{site.quantizer_path}: {exc.message}", hint="nothing was changed; fix the entry that sets this spec"
                    ) from None
        if "packed" in quantizer.__dict__:  # finalized: its weight is stored packed, the float copy is gone
            resolved = spec if spec is not None else quantizer.spec
            if (enable is False and quantizer.enabled) or resolved != quantizer.spec:
                what = "switch it off" if enable is False else f"change its spec to {resolved.dtype} {resolved.granularity.type}"
                raise QuantizerCfgError(
                    f"{site.quantizer_path}: the model is finalized, and this entry would {what}; its "
                    f"weight is stored packed as {quantizer.spec.dtype}, with no float copy to quantize again",
                    hint="on a finalized model a list may switch activation quantizers on and off only; "
                    "change weights before finalize (or load the float model again). Nothing was changed",
                )
        changes.append((quantizer, spec, enable))
    for quantizer, spec, enable in changes:
        if spec is not None and spec != quantizer.spec:
            quantizer.set_spec(spec, prepared=checked[(spec, quantizer.shape)])
        if enable != quantizer.enabled:
            quantizer.set_enabled(enable)


def _snapshot(model: nn.Module) -> list[tuple[Any, dict[str, Any]]]:
    state = _state(model)
    seen: dict[int, Any] = {}
    out = []
    for q in state.quantizers.values():
        if id(q) in seen:
            continue
        seen[id(q)] = q
        out.append((q, {
            "spec": q.spec, "enabled": q.enabled, "observer": q.observer_enabled, "fake_quant": q.fake_quant_enabled,
            "buffers": {k: v.clone() for k, v in q._buffers.items() if v is not None},
            "stages": copy.deepcopy(q.stages) if len(q.stages) else (),
        }))
    return out


def _restore(snapshot: list[tuple[Any, dict[str, Any]]]) -> None:
    for q, saved in snapshot:
        if q.spec != saved["spec"]:
            q.set_spec(saved["spec"])
        if len(saved["stages"]):
            del q._modules["stages"]
            q.stages = saved["stages"]
        q.enabled, q.observer_enabled, q.fake_quant_enabled = saved["enabled"], saved["observer"], saved["fake_quant"]
        for k, v in saved["buffers"].items():
            setattr(q, k, v)
        q._cache = None


@contextlib.contextmanager
def set_quantizer_by_cfg_context(model: nn.Module, quant_cfg: Any) -> Iterator[nn.Module]:
    """:func:`set_quantizer_by_cfg` for a ``with`` block; every quantizer's state comes back."""
    snapshot = _snapshot(model)
    try:
        set_quantizer_by_cfg(model, quant_cfg)
        yield model
    finally:
        _restore(snapshot)
