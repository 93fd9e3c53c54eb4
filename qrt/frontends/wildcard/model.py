"""A wildcard config as typed, immutable values: :class:`Entry` and :class:`WildcardConfig`.

What the readers (:mod:`.document`, :mod:`.entry_check`) produce and everything after them
(the compiler, the literal loop, the writers) consumes: an entry as written (a legacy dict
converted, nothing more), frozen so configs hash and compare, with its origin.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from qrt.frontends.wildcard.attributes import validate_attributes
from qrt.ir.origin import Origin

__all__ = [
    "CONFIG_KEYS",
    "DATA_FILE",
    "ENTRY_KEYS",
    "KEY_NAMES",
    "Entry",
    "FrozenDict",
    "KeyName",
    "WildcardConfig",
    "entry_label",
    "freeze",
    "thaw",
]

KeyName = Literal["quantizer_name", "quantizer_path"]
KEY_NAMES: tuple[KeyName, ...] = ("quantizer_name", "quantizer_path")
ENTRY_KEYS = ("quantizer_name", "quantizer_path", "parent_class", "cfg", "enable")
"""The keys an entry may have: one of the two name keys, and ``cfg`` and/or ``enable``."""
CONFIG_KEYS = ("quant_cfg", "algorithm", "effective_bits")
"""The keys of a full ModelOpt 0.47 config (``QuantizeConfig``)."""
DATA_FILE = "<data>"


def entry_label(index: int, config_path: str | None) -> str:
    """How messages name an entry: ``quant_cfg[3]``, or for a legacy dict
    ``entry 3 (quant_cfg['nn.Linear']['*'])``."""
    if config_path is None or config_path == f"quant_cfg[{index}]":
        return f"quant_cfg[{index}]"
    return f"entry {index} ({config_path})"


class FrozenDict(Mapping[Any, Any]):
    """A read-only, hashable mapping that keeps the order it was written in."""

    __slots__ = ("_data", "_hash")

    def __init__(self, items: Mapping[Any, Any] | Sequence[tuple[Any, Any]] = ()) -> None:
        self._data = dict(items)
        self._hash: int | None = None

    def __getitem__(self, key: Any) -> Any:
        return self._data[key]

    def __iter__(self) -> Iterator[Any]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __hash__(self) -> int:
        if self._hash is None:
            self._hash = hash(frozenset(self._data.items()))
        return self._hash

    def __repr__(self) -> str:
        return repr(self._data)


def freeze(value: Any) -> Any:
    """Mappings → :class:`FrozenDict`, lists/tuples → tuples, all the way down."""
    if isinstance(value, Mapping):
        return FrozenDict((k, freeze(v)) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return tuple(freeze(v) for v in value)
    return value


def thaw(value: Any) -> Any:
    """The plain data of a frozen value: dicts and lists, as JSON and YAML write them."""
    if isinstance(value, Mapping):
        return {k: thaw(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [thaw(v) for v in value]
    return value


@dataclass(frozen=True)
class Entry:
    """One entry of a wildcard list, as written (a legacy dict is converted, nothing more).

    ``cfg`` is ``None`` for a toggle; an empty ``cfg`` occurs only with ``enable: false`` and
    is a toggle too (:attr:`is_toggle`). ``origin`` and ``index`` say where it came from;
    ``origin`` takes no part in equality.
    """

    pattern: str
    key_name: KeyName
    cfg: Mapping[str, Any] | tuple[Mapping[str, Any], ...] | None
    enable: bool | None
    parent_class: str | None
    origin: Origin = field(compare=False)
    index: int

    @property
    def is_toggle(self) -> bool:
        """``True`` when the entry only switches quantizers on or off, keeping attributes."""
        return self.cfg is None or not any(self._stages())

    @property
    def effective_enable(self) -> bool:
        """Whether matched quantizers end up enabled: ``enable``, else true (only a ``cfg``)."""
        return True if self.enable is None else self.enable

    @property
    def is_sequential(self) -> bool:
        """``True`` when ``cfg`` is a list of stages (a sequential quantizer)."""
        return isinstance(self.cfg, tuple) and not self.is_toggle

    def _stages(self) -> tuple[Mapping[str, Any], ...]:
        if self.cfg is None:
            return ()
        return self.cfg if isinstance(self.cfg, tuple) else (self.cfg,)

    def attributes(self) -> dict[str, Any] | list[dict[str, Any]] | None:
        """The ``cfg`` attributes, checked and normalised (``[4, 3]`` → ``(4, 3)``, ``"-1"`` →
        ``-1``), without defaults filled in; a list for a sequential ``cfg``; ``None`` for a
        toggle."""
        if self.is_toggle:
            return None
        where = f"{entry_label(self.index, self.origin.config_path)}.cfg"
        if isinstance(self.cfg, tuple):
            return [
                validate_attributes(thaw(stage), where=f"{where}[{i}]")
                for i, stage in enumerate(self.cfg)
            ]
        return validate_attributes(thaw(self.cfg), where=where)

    def to_dict(self, key_name: KeyName | None = None, *, normalised: bool = False) -> dict[str, Any]:
        """The entry in list form: the name key, then ``parent_class``, ``cfg``, ``enable`` as
        far as they are set. ``key_name`` overrides the name key it was written with;
        ``normalised`` writes ``cfg`` as ModelOpt reads it (tuples, integer block axes)."""
        out: dict[str, Any] = {key_name or self.key_name: self.pattern}
        if self.parent_class is not None:
            out["parent_class"] = self.parent_class
        if self.cfg is not None:
            attributes = self.attributes() if normalised else None
            out["cfg"] = attributes if attributes is not None else thaw(self.cfg)
        if self.enable is not None:
            out["enable"] = self.enable
        return out


@dataclass(frozen=True)
class WildcardConfig:
    """A wildcard config read and checked: its entries in order, and the rest of a full config.

    ``form`` is how it was written (``list``, ``entry``, ``quant_cfg`` or ``config``);
    ``legacy`` whether the entries came from a legacy dict. ``algorithm`` and
    ``effective_bits`` are kept as written for a full config (``None`` otherwise).
    """

    entries: tuple[Entry, ...]
    form: Literal["list", "entry", "quant_cfg", "config"] = "list"
    legacy: bool = False
    algorithm: Any = None
    effective_bits: float | None = None
    has_algorithm: bool = False
    file: str = DATA_FILE

    def __iter__(self) -> Iterator[Entry]:
        return iter(self.entries)

    def __len__(self) -> int:
        return len(self.entries)

    def __getitem__(self, index: int) -> Entry:
        return self.entries[index]

    def to_list(self, key_name: KeyName = "quantizer_name", *, normalised: bool = False) -> list[dict[str, Any]]:
        """The list form (a legacy dict is always written as a list), naming quantizers with
        ``key_name``: ``quantizer_name`` (what ModelOpt 0.47 reads) or ``quantizer_path``.
        ``normalised`` gives each ``cfg`` as ModelOpt reads it (``[4, 3]`` → ``(4, 3)``,
        ``"-1"`` → ``-1``: 0.47 refuses the JSON spellings)."""
        if key_name not in KEY_NAMES:
            raise ValueError(f"key_name must be one of {KEY_NAMES}, got {key_name!r}")
        return [entry.to_dict(key_name, normalised=normalised) for entry in self.entries]

    def to_config(self, key_name: KeyName = "quantizer_name", *, normalised: bool = False) -> dict[str, Any]:
        """``{"quant_cfg": [...]}`` plus ``algorithm`` / ``effective_bits`` if they were given."""
        out: dict[str, Any] = {"quant_cfg": self.to_list(key_name, normalised=normalised)}
        if self.has_algorithm:
            out["algorithm"] = thaw(self.algorithm)
        if self.effective_bits is not None:
            out["effective_bits"] = self.effective_bits
        return out
