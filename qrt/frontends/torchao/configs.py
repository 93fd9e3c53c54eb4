"""torchao 0.18's common workflow configs → qrt specs, field by field, in their JSON form.

A torchao config is read in the form ``torchao.core.config.config_to_dict`` writes (what
transformers' ``TorchAoConfig`` stores under ``quant_type`` in a checkpoint's
``config.json``): ``{"_type": NAME, "_version": N, "_data": {field: value}}``, nested values
(granularities, enums, ``torch.dtype``) in the same shape. A Python object is first turned
into that form (:func:`qrt.frontends.torchao.config.torchao_from_object`), so both read here.

What each config does to an ``nn.Linear`` (``torchao/quantization/quant_api.py``: the
``_*_transform`` handler registered for the config, and the tensor subclass it builds):

=============================================  ================================================
torchao 0.18                                   qrt specs
=============================================  ================================================
``Int8WeightOnlyConfig(granularity)``          weight ``int8`` symmetric (``Int8Tensor.from_hp``,
                                               ``choose_qparams_affine`` on [-128, 127])
``Int8DynamicActivationInt8WeightConfig``      weight as above; input ``int8`` dynamic
(``granularity``, ``act_mapping_type``)        (``qparam_calculator: static``), symmetric or
                                               asymmetric by ``act_mapping_type``
``Float8WeightOnlyConfig(weight_dtype,         weight ``float8_e4m3fn`` / ``float8_e5m2``
granularity)``                                 (``Float8Tensor.from_hp``: scale = amax / max)
``Float8DynamicActivationFloat8WeightConfig``  weight and input float8, input dynamic
``Int4WeightOnlyConfig(group_size)``           weight ``int4`` asymmetric ``per_block(G,
                                               axis=1)`` with the extra ``zero_point_domain:
                                               float`` (mslk's ``int4_row_quantize_zp``: scale
                                               (max-min)/15, a float zero point, min and max not
                                               widened to 0 — no qrt field says that)
=============================================  ================================================

Granularities (``torchao/quantization/granularity.py``, applied by ``utils.get_block_size``):
``PerTensor`` → ``per_tensor``; ``PerRow(dim=-1)`` (or 1) on a weight → one scale per output
row, ``per_channel(axis=0)``; ``PerRow(dim=0)`` → ``per_channel(axis=1)``; ``PerGroup(G)`` →
``per_block(G, axis=1)``; on an activation ``PerRow(dim=-1)`` is one scale per token, which
qrt has no granularity for: ``per_tensor`` with the extra ``strategy: token`` (the same extra
the compressed-tensors reader writes, so the two convert into each other). Weights compute
their qparams from the weight itself: ``qparam_calculator: static``.

Every other field must hold torchao's default (kernel and packing choices included), except
``set_inductor_config`` (a ``torch.compile`` tuning switch that changes nothing quantized);
anything else is a :class:`~.errors.TorchAoConfigError` naming the field, its value and what
qrt reads. So is every other config class.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from qrt.errors import did_you_mean
from qrt.frontends.torchao.errors import TorchAoConfigError
from qrt.ir.spec import PerBlock, PerChannel, PerTensor, QuantizationSpec

__all__ = ["CONFIG_DEFAULTS", "MappedConfig", "SUPPORTED", "map_config"]

Fail = Callable[[str, tuple[Any, ...], str | None], TorchAoConfigError]


def _gran(name: str, **data: Any) -> dict[str, Any]:
    return {"_type": name, "_version": 1, "_data": data}


def _enum(name: str, value: str) -> dict[str, Any]:
    return {"_type": name, "_data": value}


def _dtype(name: str) -> dict[str, Any]:
    return {"_type": "torch.dtype", "_data": name}


_PER_ROW = _gran("PerRow", dim=-1)
_PER_TENSOR = _gran("PerTensor")

CONFIG_DEFAULTS: dict[str, tuple[int, dict[str, Any]]] = {
    "Int8WeightOnlyConfig": (2, {"group_size": None, "granularity": _PER_ROW, "set_inductor_config": True}),
    "Int4WeightOnlyConfig": (2, {
        "group_size": 128, "set_inductor_config": True,
        "int4_packing_format": _enum("Int4PackingFormat", "PLAIN"),
        "int4_choose_qparams_algorithm": _enum("Int4ChooseQParamsAlgorithm", "TINYGEMM"),
        "int4_tile_packed_ntile": 8}),
    "Int8DynamicActivationInt8WeightConfig": (2, {
        "act_mapping_type": _enum("MappingType", "SYMMETRIC"), "weight_only_decode": False,
        "granularity": _PER_ROW, "set_inductor_config": True, "reduce_range": False}),
    "Float8WeightOnlyConfig": (2, {
        "weight_dtype": _dtype("float8_e4m3fn"), "set_inductor_config": True, "granularity": _PER_ROW}),
    "Float8DynamicActivationFloat8WeightConfig": (2, {
        "activation_dtype": _dtype("float8_e4m3fn"), "weight_dtype": _dtype("float8_e4m3fn"),
        "granularity": [_PER_TENSOR, _PER_TENSOR], "packing_format": _enum("Float8PackingFormat", "PLAIN"),
        "mm_config": {"_type": "Float8MMConfig", "_version": 1,
                      "_data": {"emulate": False, "use_fast_accum": True, "pad_inner_dim": False}},
        "activation_value_lb": None, "activation_value_ub": None,
        "kernel_preference": _enum("KernelPreference", "AUTO"), "set_inductor_config": True, "alg_id": 0}),
}
"""Each supported config: its current ``version`` (``_version`` must equal it: torchao passes
another one to the constructor, which refuses version 1 of these) and every field's default
as ``config_to_dict`` writes it (torchao 0.18; checked against the library by the tests)."""

SUPPORTED: tuple[str, ...] = tuple(CONFIG_DEFAULTS)
_MAPPED = {"granularity", "group_size", "weight_dtype", "activation_dtype", "act_mapping_type",
           "set_inductor_config"}
_FLOAT8 = {"float8_e4m3fn": "float8_e4m3fn", "float8_e5m2": "float8_e5m2"}


@dataclass(frozen=True)
class MappedConfig:
    """One torchao config as qrt reads it: what it does to a Linear's weight and input."""

    type: str
    weight: QuantizationSpec
    input: QuantizationSpec | None
    group_size: int | None
    """A weight whose last dimension ``group_size`` does not divide: ``Int4WeightOnlyConfig``
    leaves it float (``_int4_weight_only_quantize_tensor`` logs and returns it), a ``PerGroup``
    of the other configs fails in ``get_block_size``."""
    skips_indivisible: bool
    text: str
    """A short rendering for explanations, ``Int8WeightOnlyConfig(granularity=PerGroup(32))``."""


def _render(name: str, data: dict[str, Any], defaults: dict[str, Any]) -> str:
    def value(v: Any) -> str:
        if isinstance(v, dict) and "_type" in v:
            inner = v.get("_data")
            if v["_type"] == "torch.dtype":
                return f"torch.{inner}"
            if isinstance(inner, dict):
                return f"{v['_type']}({', '.join(f'{k}={value(x)}' for k, x in inner.items())})"
            return f"{v['_type']}.{inner}"
        if isinstance(v, list):
            return "[" + ", ".join(value(x) for x in v) + "]"
        return repr(v)

    shown = [f"{k}={value(v)}" for k, v in data.items() if k in defaults and v != defaults[k]]
    return f"{name}({', '.join(shown)})"


def map_config(raw: Any, where: str, path: tuple[Any, ...], fail: Fail) -> MappedConfig:
    """One config in its JSON form → :class:`MappedConfig`; every problem a located error."""
    if not isinstance(raw, dict) or "_type" not in raw or "_data" not in raw:
        raise fail(f"{where}: a torchao config is written as {{'_type': NAME, '_version': N, '_data': {{…}}}} "
                   f"(torchao.core.config.config_to_dict), or null to leave the module float; got {raw!r}", path, None)
    name = raw["_type"]
    if name not in CONFIG_DEFAULTS:
        raise fail(f"{where}: {name!r} has no qrt mapping", (*path, "_type"),
                   (did_you_mean(str(name), SUPPORTED) + " " if did_you_mean(str(name), SUPPORTED) else "")
                   + "qrt reads " + ", ".join(SUPPORTED) + " and null")
    version, defaults = CONFIG_DEFAULTS[name]
    stored = raw.get("_version", 1)
    if stored != version:
        raise fail(f"{where}: {name} _version {stored!r}: torchao 0.18 rebuilds it as version={stored!r}, which "
                   f"it refuses or reads differently; qrt reads version {version}", (*path, "_version"), None)
    for key in raw:
        if key not in ("_type", "_version", "_data"):
            raise fail(f"{where}: unknown key {key!r} beside _type/_version/_data", (*path, key), None)
    data = raw["_data"]
    if not isinstance(data, dict):
        raise fail(f"{where}._data: must be a mapping of {name}'s fields, got {data!r}", (*path, "_data"), None)
    for key in data:
        if key not in defaults:
            raise fail(f"{where}: {name} has no field {key!r} (torchao would raise TypeError)", (*path, "_data", key),
                       did_you_mean(str(key), defaults) or "fields: " + ", ".join(defaults))
    full = {**defaults, **data}
    for key, value in full.items():
        if key in _MAPPED:
            continue
        if value != defaults[key]:
            raise fail(f"{where}.{key}: {json.dumps(value)} has no exact qrt equivalent; qrt reads {name} with "
                       f"{key}={json.dumps(defaults[key])} only", (*path, "_data", key), None)
    if not isinstance(full["set_inductor_config"], bool):
        raise fail(f"{where}.set_inductor_config: must be true or false", (*path, "_data", "set_inductor_config"), None)
    at = _At(where, path, fail)
    text = _render(name, data, defaults)
    if name == "Int4WeightOnlyConfig":
        g = full["group_size"]
        if not isinstance(g, int) or isinstance(g, bool) or g <= 0:
            raise at.bad("group_size", f"must be a positive integer, got {g!r}")
        weight = QuantizationSpec(dtype="int4", qscheme="asymmetric", granularity=PerBlock(axis=1, block_size=g),
                                  qparam_calculator="static", extras=(("zero_point_domain", '"float"'),))
        return MappedConfig(name, weight, None, g, True, text)
    if name == "Int8WeightOnlyConfig":
        if full["group_size"] is not None:
            raise at.bad("group_size", "torchao 0.18 refuses group_size (version 2): write granularity PerGroup(G)")
        gran, group = at.weight_granularity(full["granularity"], ("PerTensor", "PerRow", "PerGroup"))
        weight = QuantizationSpec(dtype="int8", granularity=gran, qparam_calculator="static")
        return MappedConfig(name, weight, None, group, False, text)
    if name == "Int8DynamicActivationInt8WeightConfig":
        act_raw, weight_raw = at.pair(full["granularity"], "PerRow")
        gran, group = at.weight_granularity(weight_raw, ("PerTensor", "PerRow"))
        weight = QuantizationSpec(dtype="int8", granularity=gran, qparam_calculator="static")
        scheme = at.mapping(full["act_mapping_type"])
        act = at.activation(act_raw, "int8", scheme)
        return MappedConfig(name, weight, act, group, False, text)
    if name == "Float8WeightOnlyConfig":
        dtype = at.float8(full["weight_dtype"], "weight_dtype")
        gran, group = at.weight_granularity(full["granularity"], ("PerTensor", "PerRow", "PerGroup"))
        weight = QuantizationSpec(dtype=dtype, granularity=gran, qparam_calculator="static")
        return MappedConfig(name, weight, None, group, False, text)
    # Float8DynamicActivationFloat8WeightConfig: torchao.float8.inference._normalize_granularity
    act_raw, weight_raw = at.pair(full["granularity"], "PerTensor")
    if act_raw.get("_type") != weight_raw.get("_type"):
        raise at.bad("granularity", "torchao refuses different granularities for activation and weight "
                     "(float8.inference._normalize_granularity)")
    gran, group = at.weight_granularity(weight_raw, ("PerTensor", "PerRow"))
    weight = QuantizationSpec(dtype=at.float8(full["weight_dtype"], "weight_dtype"), granularity=gran,
                              qparam_calculator="static")
    act = at.activation(act_raw, at.float8(full["activation_dtype"], "activation_dtype"), "symmetric")
    return MappedConfig(name, weight, act, group, False, text)


class _At:
    """Field readers that fail at ``where.field``."""

    def __init__(self, where: str, path: tuple[Any, ...], fail: Fail) -> None:
        self.where, self.path, self.fail = where, path, fail

    def bad(self, key: str, message: str, hint: str | None = None) -> TorchAoConfigError:
        return self.fail(f"{self.where}.{key}: {message}", (*self.path, "_data", key), hint)

    def _granularity(self, raw: Any, allowed: tuple[str, ...]) -> tuple[str, dict[str, Any]]:
        if not isinstance(raw, dict) or raw.get("_type") not in allowed or not isinstance(raw.get("_data", {}), dict):
            raise self.bad("granularity", f"{json.dumps(raw)}: qrt reads {', '.join(allowed)} here (the granularities "
                           "torchao 0.18 accepts for this config that qrt has an equal for)")
        data = raw.get("_data", {})
        keys = {"PerTensor": (), "PerRow": ("dim",), "PerGroup": ("group_size",)}[raw["_type"]]
        for key in data:
            if key not in keys:
                raise self.bad("granularity", f"{raw['_type']} has no field {key!r}")
        return raw["_type"], data

    def weight_granularity(self, raw: Any, allowed: tuple[str, ...]) -> tuple[Any, int | None]:
        kind, data = self._granularity(raw, allowed)
        if kind == "PerTensor":
            return PerTensor(), None
        if kind == "PerRow":
            dim = data.get("dim", -1)
            if dim in (-1, 1):
                return PerChannel(axis=0), None
            if dim in (0, -2):
                return PerChannel(axis=1), None
            raise self.bad("granularity", f"PerRow(dim={dim!r}) on a 2-D Linear weight: torchao indexes no such dim")
        g = data.get("group_size")
        if not isinstance(g, int) or isinstance(g, bool) or g <= 0:
            raise self.bad("granularity", f"PerGroup group_size must be a positive integer, got {g!r}")
        return PerBlock(axis=1, block_size=g), g

    def pair(self, raw: Any, default: str) -> tuple[dict[str, Any], dict[str, Any]]:
        """A single granularity (both) or ``[activation, weight]`` (``_normalize_granularity``)."""
        if raw is None:
            raw = {"_type": default, "_version": 1, "_data": {"dim": -1} if default == "PerRow" else {}}
        if isinstance(raw, list):
            if len(raw) != 2 or not all(isinstance(r, dict) for r in raw):
                raise self.bad("granularity", f"a list must be [activation, weight], got {json.dumps(raw)}")
            return raw[0], raw[1]
        if not isinstance(raw, dict):
            raise self.bad("granularity", f"must be a granularity or [activation, weight], got {json.dumps(raw)}")
        return raw, raw

    def activation(self, raw: dict[str, Any], dtype: str, scheme: str) -> QuantizationSpec:
        kind, data = self._granularity(raw, ("PerTensor", "PerRow"))
        extras: tuple[tuple[str, str], ...] = ()
        if kind == "PerRow":
            if data.get("dim", -1) != -1:
                raise self.bad("granularity", f"activation PerRow(dim={data.get('dim')!r}): torchao refuses any "
                               "but dim=-1 (one scale per token)")
            extras = (("strategy", '"token"'),)
        return QuantizationSpec(dtype=dtype, qscheme=scheme, granularity=PerTensor(), qparam_calculator="static",
                                extras=extras)

    def mapping(self, raw: Any) -> str:
        value = raw.get("_data") if isinstance(raw, dict) and raw.get("_type") == "MappingType" else None
        if value == "SYMMETRIC":
            return "symmetric"
        if value == "ASYMMETRIC":
            return "asymmetric"
        raise self.bad("act_mapping_type", f"{json.dumps(raw)}: torchao accepts MappingType SYMMETRIC or ASYMMETRIC")

    def float8(self, raw: Any, key: str) -> str:
        value = raw.get("_data") if isinstance(raw, dict) and raw.get("_type") == "torch.dtype" else None
        if value not in _FLOAT8:
            raise self.bad(key, f"{json.dumps(raw)}: qrt reads torch.float8_e4m3fn and torch.float8_e5m2")
        return _FLOAT8[value]
