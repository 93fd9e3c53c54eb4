"""A plan's decisions as a torchao ``FqnToConfig`` (``qrt convert --to torchao``).

torchao quantizes a Linear's weight, and — with the dynamic-activation configs — its input;
nothing else. Each ``nn.Linear`` whose weight the plan quantizes becomes one key, its exact
module name, mapped to the torchao config whose reading (:func:`.configs.map_config`) gives
exactly the plan's weight and input specs; Linears left float get no key (``quantize_`` does
not visit them). No regex, no ``_default``, no parameter key: none of torchao's precedence
quirks can come into play. Every other decision the plan makes that torchao cannot hold is a
reason, by site: a quantized site that is no Linear's weight or input, an input quantized on
a Linear whose weight is not, a pair of specs no supported config gives.
"""

from __future__ import annotations

from typing import Any

from qrt.frontends.compressed_tensors.match import module_views
from qrt.frontends.torchao.compile import specs_of
from qrt.frontends.torchao.config import Entry
from qrt.frontends.torchao.configs import map_config
from qrt.frontends.torchao.errors import TorchAoConfigError
from qrt.ir.origin import Origin
from qrt.ir.spec import PerBlock, QuantizationSpec

__all__ = ["config_from_plan"]


def _gran(kind: str, **data: Any) -> dict[str, Any]:
    return {"_type": kind, "_version": 1, "_data": data}


def _enum(kind: str, value: str) -> dict[str, Any]:
    return {"_type": kind, "_data": value}


def _candidates(weight: QuantizationSpec) -> list[dict[str, Any]]:
    """Every supported config that could give ``weight`` (its group size taken from it)."""
    weights = [_gran("PerTensor"), _gran("PerRow", dim=-1), _gran("PerRow", dim=0)]
    if isinstance(weight.granularity, PerBlock):
        weights.append(_gran("PerGroup", group_size=weight.granularity.block_size))
    acts = [_gran("PerTensor"), _gran("PerRow", dim=-1)]
    out: list[dict[str, Any]] = []
    for w in weights:
        out.append({"_type": "Int8WeightOnlyConfig", "_version": 2, "_data": {"granularity": w}})
        for dtype in ("float8_e4m3fn", "float8_e5m2"):
            out.append({"_type": "Float8WeightOnlyConfig", "_version": 2,
                        "_data": {"granularity": w, "weight_dtype": {"_type": "torch.dtype", "_data": dtype}}})
        for a in acts:
            for mapping in ("SYMMETRIC", "ASYMMETRIC"):
                out.append({"_type": "Int8DynamicActivationInt8WeightConfig", "_version": 2,
                            "_data": {"granularity": [a, w], "act_mapping_type": _enum("MappingType", mapping)}})
            if a["_type"] == w["_type"]:
                for wd in ("float8_e4m3fn", "float8_e5m2"):
                    for ad in ("float8_e4m3fn", "float8_e5m2"):
                        out.append({"_type": "Float8DynamicActivationFloat8WeightConfig", "_version": 2, "_data": {
                            "granularity": [a, w], "weight_dtype": {"_type": "torch.dtype", "_data": wd},
                            "activation_dtype": {"_type": "torch.dtype", "_data": ad}}})
    if isinstance(weight.granularity, PerBlock):
        out.append({"_type": "Int4WeightOnlyConfig", "_version": 2,
                    "_data": {"group_size": weight.granularity.block_size}})
    return out


def _never(message: str, path: tuple[Any, ...], hint: str | None) -> TorchAoConfigError:
    return TorchAoConfigError(message)


def _config_for(weight: QuantizationSpec, act: QuantizationSpec | None,
                shape: tuple[int, ...] | None) -> dict[str, Any] | None:
    for raw in _candidates(weight):
        try:
            mapped = map_config(raw, "candidate", (), _never)
        except TorchAoConfigError:
            continue
        if specs_of(Entry("", mapped, 0, Origin()), shape) == (weight, act):
            return raw
    return None


def config_from_plan(plan: Any) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """The ``FqnToConfig`` (``config_to_dict`` form) of a plan's decisions, and ``(quantizer
    path, reason)`` for every decision it cannot hold."""
    inv = plan.inventory
    linear_sites: dict[str, dict[tuple[str, Any], Any]] = {}
    for site in inv.sites:
        if site.op_type == "linear" and (site.role, site.key) in (("state", "weight"), ("input", 0)):
            linear_sites.setdefault(site.module, {})[(site.role, site.key)] = site
    linears = {v.name for v in module_views(inv) if v.kind == "linear"}
    covered: set[str] = set()
    reasons: list[tuple[str, str]] = []
    entries: dict[str, Any] = {}
    for module in sorted(linears):
        sites = linear_sites.get(module, {})
        w_site, in_site = sites.get(("state", "weight")), sites.get(("input", 0))
        if w_site is None:
            continue
        covered.add(w_site.quantizer_path)
        weight = plan.spec(plan.decision(w_site.quantizer_path))
        act = None
        if in_site is not None:
            covered.add(in_site.quantizer_path)
            act = plan.spec(plan.decision(in_site.quantizer_path))
        if weight is None:
            if act is not None:
                reasons.append((in_site.quantizer_path, "an input quantized on a Linear whose weight is not: torchao "
                                "quantizes inputs only through the weight's dynamic-activation config"))
            continue
        raw = _config_for(weight, act, w_site.shape)
        if raw is None:
            reasons.append((w_site.quantizer_path, f"no torchao config gives weight `{weight.to_json(explicit_only=False)}`"
                            f" with input `{act.to_json(explicit_only=False) if act else None}` (qrt writes "
                            "Int8WeightOnly, Int8DynamicActivationInt8Weight, Float8WeightOnly, "
                            "Float8DynamicActivationFloat8Weight and Int4WeightOnly configs, docs/torchao.md)"))
            continue
        entries[module] = raw
    for decision in plan.decisions:
        path = decision.site.quantizer_path
        if path not in covered and plan.spec(decision) is not None:
            reasons.append((path, "torchao quantizes the weights of nn.Linear modules (and their inputs) only"))
    return {"_type": "FqnToConfig", "_version": 1, "_data": {"fqn_to_config": entries}}, reasons
