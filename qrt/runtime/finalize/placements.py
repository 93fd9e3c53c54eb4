"""The manifest's ``placements``: the quantizers a saved model's plan places, in the compact form
a trusted load rebuilds them from.

A trusted load (:mod:`.load`: the seal intact, this qrt's version) used to rebuild the whole
plan — the inventory's every site, the rules parsed, each decision folded — only to place a
quantizer at the few sites that get one. Those sites and their specs are decided once, when
the model is saved: :func:`qrt.runtime.quant.planned.planned_quantizers` lists them as
``(site, spec, enabled)``, exactly what :meth:`~qrt.runtime.quant.eager_backend.EagerBackend.place`
builds the quantizers from, and this module writes that list (each distinct spec once) and
reads it back with no parser, resolver, inventory or pydantic — the load places from it by the
same code. The plan itself is rebuilt only when something asks for it
(:class:`~.load.SavedPlan`).

The record (``{"version": 1, "site_fields": [...], "specs": [...], "sites": [...]}``):
``site_fields`` names the :class:`~qrt.ir.site.Site` fields of each ``sites`` row, in order,
followed by the row's spec (an index into ``specs``) and its ``enabled`` flag. A spec is written
as the fields its author wrote (a field not written holds its default), its granularity as
``{"class": type, ...its own written fields}`` and its stages likewise, so that it reads back
as the same value with the same written fields at every level. Writing checks that every site
and spec reads back so and writes no record where one would not: such a model loads through
the plan, as a manifest of an older qrt (no record) or of another record version does.
"""

from __future__ import annotations

import json
from dataclasses import fields
from typing import Any

from qrt.ir.site import Site
from qrt.ir.spec import GRANULARITY_CLASSES, QuantizationSpec

__all__ = ["PLACEMENTS_VERSION", "placements_from_json", "placements_json"]

PLACEMENTS_VERSION = 1

_SITE_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(Site))
_TUPLES = frozenset({"shape", "aliases"})
"""Site fields that are tuples (JSON lists); ``scope`` is a tuple of ``(name, class)`` pairs."""


def placements_json(planned: list[tuple[Site, QuantizationSpec, bool]]) -> dict[str, Any] | None:
    """The record of ``planned`` (:func:`~qrt.runtime.quant.planned.planned_quantizers`
    of the saved plan); ``None`` when a site or spec would not read back as it is."""
    specs: list[dict[str, Any]] = []
    index: dict[int, int] = {}
    rows: list[list[Any]] = []
    for site, spec, enabled in planned:
        at = index.get(id(spec))
        if at is None:
            data = _spec_json(spec)
            if not _same(_spec(json.loads(json.dumps(data))), spec):
                return None
            at = index[id(spec)] = len(specs)
            specs.append(data)
        row = [_site_value(name, getattr(site, name)) for name in _SITE_FIELDS]
        if _site(row) != site:
            return None
        rows.append([*row, at, bool(enabled)])
    return {"version": PLACEMENTS_VERSION, "site_fields": list(_SITE_FIELDS), "specs": specs, "sites": rows}


def placements_from_json(record: Any) -> list[tuple[Site, QuantizationSpec, bool]] | None:
    """The planned quantizers a record lists; ``None`` for a record this qrt does not read (another
    version, other site fields, a malformed one), which the load then takes as absent. The
    record comes from a sealed manifest of this qrt version: it is read, not checked again."""
    if (not isinstance(record, dict) or record.get("version") != PLACEMENTS_VERSION
            or tuple(record.get("site_fields", ())) != _SITE_FIELDS):
        return None
    width = len(_SITE_FIELDS)
    try:
        specs = [_spec(data) for data in record["specs"]]
        return [(_site(row), specs[row[width]], row[width + 1]) for row in record["sites"]]
    except (KeyError, TypeError, ValueError, IndexError, AttributeError):  # not a record this qrt wrote
        return None


def _spec_json(spec: QuantizationSpec) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in spec.model_fields:
        if name not in spec.model_fields_set:
            continue
        value = getattr(spec, name)
        if name == "granularity":
            out[name] = {"class": value.type, **{k: getattr(value, k) for k in value.model_fields_set}}
        elif name == "extras":
            out[name] = spec.extra_values()
        elif name == "then":
            out[name] = [_spec_json(stage) for stage in value]
        else:
            out[name] = value
    return out


def _spec(data: dict[str, Any]) -> QuantizationSpec:
    values = dict(data)
    if "granularity" in values:
        fields = dict(values["granularity"])
        values["granularity"] = GRANULARITY_CLASSES[fields.pop("class")].model_validate(fields)
    if "then" in values:
        values["then"] = [_spec(stage) for stage in values["then"]]
    return QuantizationSpec.model_validate(values)


def _site_value(name: str, value: Any) -> Any:
    if name == "scope":
        return [list(entry) for entry in value]
    return list(value) if name in _TUPLES and value is not None else value


def _site(row: list[Any]) -> Site:
    values = dict(zip(_SITE_FIELDS, row))
    values["scope"] = tuple((name, kind) for name, kind in values["scope"])
    for name in _TUPLES:
        if values[name] is not None:
            values[name] = tuple(values[name])
    return Site(**values)


def _same(a: Any, b: Any) -> bool:
    """Equal values with the same explicit fields, nested values and stages included (``==``
    on specs compares values only)."""
    if isinstance(a, tuple) and isinstance(b, tuple):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if not hasattr(a, "model_fields"):
        return type(a) is type(b) and a == b
    return (type(a) is type(b) and a.model_fields_set == b.model_fields_set
            and all(_same(getattr(a, name), getattr(b, name)) for name in a.model_fields))
