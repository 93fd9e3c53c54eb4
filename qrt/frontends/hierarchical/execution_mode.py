"""``ExecutionMode``: graph or eager, and the deprecated name ``PT2E`` that still reads as graph.

The reference library (docs/semantics.md §3) renamed ``PT2E`` to ``graph``; old configs and old code must keep working, with a
warning that points at the user's line. Three spellings have to be caught, by two
hooks: ``ExecutionMode("PT2E")`` (and any case of a valid value) goes through
``_missing_``, while ``ExecutionMode.PT2E`` and ``ExecutionMode["PT2E"]`` go through the
metaclass. A plain enum alias (``PT2E = "graph"``) would resolve silently, with no warning.
"""

from __future__ import annotations

import enum
import warnings
from typing import Any

from qrt.frontends.hierarchical.callsite import user_stacklevel
from qrt.frontends.hierarchical.errors import listing, suggest

__all__ = ["ExecutionMode"]

_DEPRECATED_MODES: dict[str, str] = {"PT2E": "GRAPH"}
"""docs/semantics.md §3: ``PT2E`` was the old name of graph mode; it still works, with a warning."""


def _warn_deprecated_mode(alias: str, target: str) -> None:
    warnings.warn(
        f"execution mode {alias!r} is deprecated; use {target.lower()!r} "
        f"(ExecutionMode.{target}) instead",
        DeprecationWarning,
        stacklevel=user_stacklevel(),
    )


class _ExecutionModeMeta(enum.EnumMeta):
    """Resolves the deprecated member names (``ExecutionMode.PT2E``) with a warning."""

    def __getattr__(cls, name: str) -> Any:
        target = _DEPRECATED_MODES.get(name)
        if target is not None:
            _warn_deprecated_mode(name, target)
            return cls._member_map_[target]
        parent = getattr(super(), "__getattr__", None)  # EnumMeta has one before 3.12
        if parent is None:
            raise AttributeError(name)
        return parent(name)

    def __getitem__(cls, name: str) -> Any:
        target = _DEPRECATED_MODES.get(name)
        if target is not None:
            _warn_deprecated_mode(name, target)
            name = target
        return super().__getitem__(name)


class ExecutionMode(str, enum.Enum, metaclass=_ExecutionModeMeta):
    """How a quantizer runs the model.

    ``graph`` (default): ops are the nodes of an exported graph. ``eager``: ops are the torch
    calls the module's forward makes. qrt names ops the same way in both (docs/semantics.md §1).
    ``"PT2E"`` is read as ``graph`` with a :class:`DeprecationWarning`. Strings are matched
    case-insensitively.
    """

    GRAPH = "graph"
    EAGER = "eager"

    @classmethod
    def _missing_(cls, value: object) -> ExecutionMode:
        if isinstance(value, str):
            text = value.strip()
            for member in cls:
                if member.value == text.lower():
                    return member
            target = _DEPRECATED_MODES.get(text.upper())
            if target is not None:
                _warn_deprecated_mode(text, target)
                return cls._member_map_[target]  # type: ignore[return-value]
        valid = [m.value for m in cls]
        raise ValueError(
            f"unknown execution mode {value!r}; valid execution modes: {listing(valid)}"
            f"{suggest(str(value).lower(), valid)}"
        )

    def __str__(self) -> str:
        return self.value
