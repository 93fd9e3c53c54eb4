"""``qrt lint --target vllm``: a compressed-tensors config that vLLM's loader reads differently
from compressed-tensors itself (QRT030), fused q/k/v or gate/up shards with different schemes
(QRT031), and configs vLLM refuses or qrt cannot read as vLLM does (QRT032).

The producer's reading is the config's own rule source (compressed-tensors' matching,
:mod:`qrt.frontends.compressed_tensors.compile`); the consumer's is
:mod:`qrt.frontends.compressed_tensors.vllm`. Both are resolved on the same inventory and
compared site by site on every Linear (weight, input, output).
"""

from __future__ import annotations

from typing import Any

from qrt.inventory.model import Inventory
from qrt.lint.diagnostics import Diagnostic, Location, Severity
from qrt.lint.inputs import LintInput

__all__ = ["TARGETS", "vllm_findings"]

TARGETS = ("vllm",)
"""The consumers ``qrt lint --target`` checks a config against."""

_ROLES = (("state", "weight", "weight"), ("input", 0, "input"), ("output", 0, "output"))


def _describe(spec: Any) -> str:
    from qrt.tools.plan_view import decision_text

    return decision_text(None if spec is None else spec.to_json())


def vllm_findings(item: LintInput, inv: Inventory) -> list[Diagnostic]:
    """The findings of one input against vLLM's reading (compressed-tensors configs only)."""
    from qrt.resolver.plan import resolve_source
    from qrt.frontends.compressed_tensors.errors import CompressedTensorsConfigError
    from qrt.frontends.compressed_tensors.match import module_view, scheme_match
    from qrt.frontends.compressed_tensors.source import CompressedTensorsSource, VllmSource
    from qrt.frontends.compressed_tensors.vllm import vllm_reading

    source = item.source
    if not isinstance(source, CompressedTensorsSource):
        return []
    config = source.config
    file = item.path
    try:
        reading = vllm_reading(config, inv)
    except CompressedTensorsConfigError as exc:
        line, column = _position(exc.location)
        return [Diagnostic("QRT032", Severity.ERROR, exc.message.removeprefix("--as vllm: "),
                           file=file, line=line, column=column)]
    out: list[Diagnostic] = []
    refused = {layer for layer, _, _ in reading.refusals}
    for layer, error, where in reading.refusals:
        line, column = _origin_position(where)
        out.append(Diagnostic("QRT031", Severity.ERROR, f"vLLM refuses to load {layer}: {error}",
                              file=file, line=line, column=column, fix="ignore all shards of a fused layer, or none"))
    producer = resolve_source(source, inv)
    consumer = resolve_source(VllmSource(config), inv) if not refused else None
    by_module: dict[str, list[Any]] = {}
    for site in inv.sites:
        if site.op_type == "linear" and (site.module in reading.layers or site.module in reading.notes):
            by_module.setdefault(site.module, []).append(site)
    fused_seen: set[str] = set()
    for module, sites in by_module.items():
        entry = reading.layers.get(module)
        if entry is not None and entry.shards and entry.layer not in fused_seen and entry.layer not in refused:
            fused_seen.add(entry.layer)
            out.extend(_shard_findings(entry, producer, inv, config, file, scheme_match, module_view))
        if consumer is None:
            continue
        differences = []
        for site in sites:
            ours = producer.spec(producer.decision(site.quantizer_path))
            theirs = consumer.spec(consumer.decision(site.quantizer_path))
            if ours != theirs:
                label = next((name for role, key, name in _ROLES if site.role == role and site.key == key), site.role)
                differences.append(f"{label}: compressed-tensors {_describe(ours)}, vLLM {_describe(theirs)}")
        if differences:
            why = entry.reason if entry is not None else reading.notes[module]
            line, column = _origin_position(_producer_origin(config, inv, module, scheme_match, module_view))
            out.append(Diagnostic(
                "QRT030", Severity.WARNING,
                f"{module}: vLLM reads this config differently from compressed-tensors — {'; '.join(differences)} "
                f"(vLLM: {why})", file=file, line=line, column=column,
                fix="name the module (or its fused vLLM layer) exactly in one group, so both read it alike"))
    out.extend(_kv_findings(config, inv, reading, file))
    return out


def _kv_findings(config: Any, inv: Inventory, reading: Any, file: str | None) -> list[Diagnostic]:
    """QRT030 on ``kv_cache_scheme``: vLLM quantizes the KV cache of every attention layer;
    compressed-tensors 0.20 only of the modules ``is_cached_attention_module`` accepts (none of
    transformers 5's, whose forward takes no ``past_key_value(s)``)."""
    from qrt.frontends.compressed_tensors.match import cached_attention, module_views

    if config.kv_cache is None or not reading.kv_modules:
        return []
    views = {v.name: v for v in module_views(inv)}
    names = frozenset(views)
    missing = [m for m in reading.kv_modules if not cached_attention(views[m], names)]
    if not missing:
        return []
    origin = config.kv_cache_origin
    return [Diagnostic(
        "QRT030", Severity.WARNING,
        f"kv_cache_scheme: vLLM quantizes the KV cache of {len(reading.kv_modules)} attention layer(s), but "
        f"compressed-tensors calibrates none for {len(missing)} of them ({', '.join(missing[:3])}"
        f"{' …' if len(missing) > 3 else ''}: is_cached_attention_module needs a past_key_value(s) parameter of "
        "forward), so the checkpoint holds no k/v scales for them",
        file=file, line=origin.line if origin else None, column=origin.column if origin else None,
        fix="calibrate the KV cache with a model whose attention compressed-tensors recognises, or drop kv_cache_scheme")]


def _shard_findings(entry: Any, producer: Any, inv: Inventory, config: Any, file: str | None,
                    scheme_match: Any, module_view: Any) -> list[Diagnostic]:
    """QRT031: the shards of one fused vLLM layer get different specs from compressed-tensors
    (vLLM then runs them as one layer with one scheme: the checkpoint's tensors of the others do
    not fit it)."""
    per_shard: dict[str, tuple[Any, ...]] = {}
    for module in entry.shards:
        specs = []
        for role, key, _ in _ROLES:
            site = next((s for s in inv.sites if s.module == module and s.op_type == "linear"
                         and s.role == role and s.key == key), None)
            specs.append(producer.spec(producer.decision(site.quantizer_path)) if site is not None else None)
        per_shard[module] = tuple(specs)
    if len(set(per_shard.values())) <= 1:
        return []
    first = entry.shards[0]
    odd = next(m for m in entry.shards if per_shard[m] != per_shard[first])
    line, column = _origin_position(_producer_origin(config, inv, odd, scheme_match, module_view))
    listed = "; ".join(f"{m.rpartition('.')[2]}: weight {_describe(per_shard[m][0])}" for m in entry.shards)
    return [Diagnostic(
        "QRT031", Severity.ERROR,
        f"{entry.layer}: compressed-tensors gives its shards different schemes ({listed}), but vLLM runs them as one "
        f"{entry.vllm_class} with one scheme", file=file, line=line, column=column,
        fix="give every shard of a fused layer the same scheme")]


def _producer_origin(config: Any, inv: Inventory, module: str, scheme_match: Any, module_view: Any) -> Any:
    """The origin of the target that decides ``module`` in compressed-tensors' reading."""
    info = next((m for m in inv.modules if m.name == module), None)
    if info is None:
        return None
    match = scheme_match(module_view(info), config)
    if match is None:
        return None
    return next((t.origin for t in match.group.targets if t.text == match.winner), match.group.origin)


def _origin_position(origin: Any) -> tuple[int | None, int | None]:
    if origin is None:
        return None, None
    return origin.line, origin.column


def _position(location: str | None) -> tuple[int | None, int | None]:
    where = Location.parse(location)
    return (where.line, where.column) if where is not None else (None, None)
