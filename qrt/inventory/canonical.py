"""The inventory's canonical JSON form: the rows an inventory file holds, and the digest of
their text.

Apart from reading (:mod:`.io`) because :class:`~qrt.inventory.model.Inventory` digests itself
with it (``Inventory.sha256``): this module needs the inventory's fields, not its class, so the
model module can call it without an import circle.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from qrt.sealed_json import digest, dumps_rows, dumps_sealed

if TYPE_CHECKING:
    from qrt.inventory.model import Inventory

__all__ = ["INVENTORY_VERSION", "dumps_inventory", "inventory_digest", "inventory_to_json"]

INVENTORY_VERSION = 1


def inventory_to_json(inv: Inventory) -> dict[str, Any]:
    return {
        "qrt_inventory": INVENTORY_VERSION,
        "model": inv.model,
        "modules": [
            {
                "name": m.name,
                "type": m.type,
                "leaf": m.leaf,
                "called": m.called,
                "forward_args": list(m.forward_args),
                "scope": list(m.scope),
                # only where a class inherits forward: most modules define their own
                **({"forward_bases": list(m.forward_bases)} if m.forward_bases else {}),
            }
            for m in inv.modules
        ],
        "ops": [
            {
                "name": op.name,
                "op_type": op.op_type,
                "module": op.module,
                "registered": op.registered,
                "inputs": [[u.key, u.tensor] for u in op.inputs],
                "outputs": [[u.key, u.tensor] for u in op.outputs],
                "source": op.source,
            }
            for op in inv.ops
        ],
        "tensors": [
            {
                "id": t.id,
                "shape": list(t.shape) if t.shape is not None else None,
                "dtype": t.dtype,
                "producer": t.producer,
                "readers": list(t.readers),
            }
            for t in inv.tensors
        ],
        "sites": [
            {
                "quantizer_path": s.quantizer_path,
                "scope": [name for name, _ in s.scope],
                "role": s.role,
                "key": s.key,
                "op_type": s.op_type,
                "op_name": s.op_name,
                "tensor": s.tensor,
                "shape": list(s.shape) if s.shape is not None else None,
                "dtype": s.dtype,
                "arg_name": s.arg_name,
                "source": s.source,
                "aliases": list(s.aliases),
                # only on fused experts' sites, so other inventories keep their text
                **({"fused": s.fused} if s.fused is not None else {}),
                **({"expert": s.expert} if s.expert is not None else {}),
            }
            for s in inv.sites
        ],
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
