"""Sources compile rules once per inventory object; the cache key holds the inventory, so a
later inventory can never be handed rules compiled for a collected one with the same id."""

from __future__ import annotations

import gc

from qrt.frontends.source import InventoryKey
from qrt.inventory.model import Inventory


def test_the_key_is_identity_and_keeps_its_inventory_alive() -> None:
    a, b = Inventory(modules=(), ops=(), tensors=(), sites=()), Inventory(modules=(), ops=(), tensors=(), sites=())
    assert a == b and InventoryKey(a) == InventoryKey(a) and InventoryKey(a) != InventoryKey(b)
    cache = {InventoryKey(a): "rules of a"}
    first = id(a)
    del a
    gc.collect()
    assert any(id(k.inv) == first for k in cache)  # held: its id cannot be reused meanwhile
    assert InventoryKey(b) not in cache
