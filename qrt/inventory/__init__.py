"""What qrt knows about one model, without torch: its modules, ops, tensors and sites
(``docs/architecture.md``), the inventory file format and the on-disk cache. Names are
imported on first use, so ``import qrt.inventory.model`` stays cheap."""

from __future__ import annotations

from qrt._faces import lazy_names

_NAMES: dict[str, str] = {
    "Inventory": "qrt.inventory.model",
    "ModuleInfo": "qrt.inventory.model",
    "OpRecord": "qrt.inventory.model",
    "TensorInfo": "qrt.inventory.model",
    "TensorUse": "qrt.inventory.model",
    "inventory_to_json": "qrt.inventory.canonical",
    "inventory_from_json": "qrt.inventory.io",
    "load_inventory_file": "qrt.inventory.io",
    "save_inventory": "qrt.inventory.io",
}

__all__ = list(_NAMES)

__getattr__, __dir__ = lazy_names(globals(), _NAMES)
