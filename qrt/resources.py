"""Files qrt ships: ``grammar/``, ``schemas/`` and ``rules/``.

In an installed wheel they are the data packages ``qrt._data.<name>``; in a source checkout
(editable install, or tests run from the tree) they are the top-level folders. Both are
found here so no other module needs to know the difference.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any, Literal

__all__ = ["data_dir", "schema"]

DataName = Literal["grammar", "schemas", "rules"]


def data_dir(name: DataName) -> Traversable:
    """The folder of shipped ``name`` files, wherever qrt is installed."""
    try:
        packaged = resources.files(f"qrt._data.{name}")
        if packaged.is_dir():
            return packaged
    except ModuleNotFoundError:
        pass
    source = Path(__file__).resolve().parent.parent / name
    if source.is_dir():
        return source
    raise FileNotFoundError(
        f"qrt's {name}/ folder is missing from this installation; reinstall qrt"
    )


@cache
def schema(name: str) -> dict[str, Any]:
    """A JSON Schema from ``schemas/`` by file stem, e.g. ``schema("inventory")``."""
    text = (data_dir("schemas") / f"{name}.schema.json").read_text(encoding="utf-8")
    loaded: dict[str, Any] = json.loads(text)
    return loaded
