"""How a package of qrt shows its public names: each imported on first use (PEP 562).

``import qrt`` (and ``import qrt.ir``) must stay cheap — every command pays for it before it
does anything, and a command run on a saved inventory needs neither torch nor the front ends
it does not read. So a package's ``__init__`` lists its public names and the module that
defines each, and this one function gives it the ``__getattr__`` and ``__dir__`` that import
them when first asked for. A name that moved to another package (``moved``) still works from
the old one, with a ``DeprecationWarning`` naming where it lives now.
"""

from __future__ import annotations

import importlib
import warnings
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["lazy_names"]


def lazy_names(
    namespace: dict[str, Any],
    table: Mapping[str, str],
    moved: Mapping[str, str] | None = None,
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``__getattr__`` and ``__dir__`` for the package whose globals are ``namespace``:
    ``table`` maps each public name to its defining module; ``moved`` maps a name that left
    this package's face to the package that shows it now."""
    package = namespace["__name__"]
    moved = moved or {}

    def __getattr__(name: str) -> Any:  # noqa: N807 - the module hook's own name
        module = table.get(name)
        if module is not None:
            value = getattr(importlib.import_module(module), name)
            namespace[name] = value
            return value
        home = moved.get(name)
        if home is not None:
            warnings.warn(
                f"{package}.{name} is now {home}.{name}; the old name will be removed",
                DeprecationWarning,
                stacklevel=2,
            )
            return getattr(importlib.import_module(home), name)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    def __dir__() -> list[str]:  # noqa: N807
        return sorted(set(namespace) | set(namespace.get("__all__", ())))

    return __getattr__, __dir__
