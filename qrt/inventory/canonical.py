"""The inventory's canonical JSON form: the rows an inventory file holds, and the digest of
their text.

Apart from reading (:mod:`.io`) because :class:`~qrt.inventory.model.Inventory` digests itself
with it (``Inventory.sha256``): this module needs the inventory's fields, not its class, so the
model module can call it without an import circle.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import fields
from operator import attrgetter
from typing import TYPE_CHECKING, Any

from qrt.ir.site import Site

from qrt.sealed_json import digest, dumps_rows, dumps_sealed

if TYPE_CHECKING:
    from qrt.inventory.model import Inventory, TensorInfo

__all__ = [
    "INVENTORY_VERSION", "MODULE_FIELDS", "dumps_inventory", "inventory_digest", "inventory_rows", "inventory_to_json",
    "SITE_FIELDS", "module_fields", "site_fields", "site_row", "tensor_row",
]

INVENTORY_VERSION = 1


SITE_FIELDS = tuple(f.name for f in fields(Site))
"""A site row's fields, in order: ``Site``'s."""

site_row: Callable[[Site], tuple[Any, ...]] = attrgetter(*SITE_FIELDS)
"""A site's row: its fields in order (``Site(*row)`` is the site)."""


def tensor_row(t: TensorInfo) -> tuple[Any, ...]:
    """A tensor's row: ``(id, shape, dtype, producer, readers)``."""
    return (t.id, t.shape, t.dtype, t.producer, t.readers)


def site_fields() -> tuple[str, ...]:
    return SITE_FIELDS


MODULE_FIELDS = ("name", "type", "leaf", "called", "forward_args", "scope", "forward_bases")
"""A module row's fields, in order: ``ModuleInfo``'s (named here, not read from the class: the
model module imports this one; a test holds them equal)."""


def module_fields() -> tuple[str, ...]:
    return MODULE_FIELDS


def inventory_rows(inv: Inventory) -> tuple[tuple[Any, ...], ...]:
    """The inventory's four tables as plain rows — ``(modules, ops, tensors, sites)``, each row
    a tuple of the record's fields in order (an op's uses as ``(key, tensor)`` pairs): what a
    cache entry holds (:mod:`.cache`), what a template is learned from (:mod:`.template`), and
    what the canonical JSON is written from. Made once an inventory: an inventory read from
    rows (the cache's, a template's) keeps them, and its tables need not be built to write or
    digest it. Values of a subclass of a plain type (a ``torch.Size``) stay as they are."""
    known: tuple[tuple[Any, ...], ...] | None = inv.__dict__.get("_rows")
    if known is None:
        modules = MODULE_FIELDS
        known = (
            tuple(tuple(getattr(m, f) for f in modules) for m in inv.modules),
            tuple(
                (o.name, o.op_type, o.module, o.registered, tuple((u.key, u.tensor) for u in o.inputs),
                 tuple((u.key, u.tensor) for u in o.outputs), o.source)
                for o in inv.ops
            ),
            tuple(map(tensor_row, inv.tensors)),
            tuple(map(site_row, inv.sites)),
        )
        inv.__dict__["_rows"] = known
    return known


def inventory_to_json(inv: Inventory) -> dict[str, Any]:
    """The inventory file's document (``schemas/inventory.schema.json``), from the rows.
    Tuples stand for JSON arrays (the encoder writes them alike)."""
    modules, ops, tensors, sites = inventory_rows(inv)
    at = {name: i for i, name in enumerate(site_fields())}
    scope, shape, aliases, fused, expert = at["scope"], at["shape"], at["aliases"], at["fused"], at["expert"]
    plain = [(name, at[name]) for name in ("quantizer_path",)]
    middle = [(name, at[name]) for name in ("role", "key", "op_type", "op_name", "tensor")]
    after = [(name, at[name]) for name in ("dtype", "arg_name", "source")]

    def site(row: tuple[Any, ...]) -> dict[str, Any]:
        out = {name: row[i] for name, i in plain}
        out["scope"] = [entry[0] for entry in row[scope]]
        out.update((name, row[i]) for name, i in middle)
        out["shape"] = list(row[shape]) if row[shape] is not None else None
        out.update((name, row[i]) for name, i in after)
        out["aliases"] = list(row[aliases])
        # only on fused experts' sites, so other inventories keep their text
        if row[fused] is not None:
            out["fused"] = row[fused]
        if row[expert] is not None:
            out["expert"] = row[expert]
        return out

    return {
        "qrt_inventory": INVENTORY_VERSION,
        "model": inv.model,
        "modules": [
            {
                "name": name, "type": type_, "leaf": leaf, "called": called,
                "forward_args": list(forward_args), "scope": list(scope_),
                # only where a class inherits forward: most modules define their own
                **({"forward_bases": list(bases)} if bases else {}),
            }
            for name, type_, leaf, called, forward_args, scope_, bases in modules
        ],
        "ops": [
            {
                "name": name, "op_type": op_type, "module": module, "registered": registered,
                "inputs": [[k, t] for k, t in inputs], "outputs": [[k, t] for k, t in outputs], "source": source,
            }
            for name, op_type, module, registered, inputs, outputs, source in ops
        ],
        "tensors": [
            {"id": id_, "shape": list(shape_) if shape_ is not None else None, "dtype": dtype, "producer": producer,
             "readers": list(readers)}
            for id_, shape_, dtype, producer, readers in tensors
        ],
        "sites": [site(row) for row in sites],
    }


def dumps_inventory(inv: Inventory | dict[str, Any]) -> str:
    """JSON text with one table row per line: readable, diffable, and compact for big models;
    sealed (:mod:`qrt.sealed_json`), so reading it back skips the schema check."""
    data = inv if isinstance(inv, dict) else inventory_to_json(inv)
    return dumps_sealed(data)


def inventory_digest(inv: Inventory) -> str:
    """The sha256 of the inventory's canonical text: equal for equal inventories (lock files
    record it to tell a changed model)."""
    return digest(dumps_rows(inventory_to_json(inv)))
