"""The compiled-rules cache: a rule file's compiled :class:`~qrt.ir.rule.RuleSet` kept on disk
beside the inventory cache, so that the next ``qrt explain``/``lint``/``resolve`` on the same
file neither imports nor runs its front end (the DSL's lark parser, YAML, the ModelOpt list's
reader and compiler: 0.1–0.3 s of a command that otherwise takes 0.3 s; issue 24).

What it caches: rules that do not depend on the model — a DSL file's (includes followed), a
ModelOpt list's (a ``modelopt:NAME`` preset or a YAML/JSON wildcard file). A hierarchical,
compressed-tensors or torchao config compiles against the model's inventory and is read as
before.

An entry is keyed by what decides the rules: the file's bytes and the name it is read under
(origins carry it), the folder its includes resolve against, qrt's version and the sizes and
times of the source files that compile rules (``qrt/frontends``, ``qrt/ir``, ``qrt/ops``: an
editable install changes its code without changing its version) and the Python version. The
files a DSL file includes are listed in the entry with the sha256 of their text, and read
again on every hit: an edited include is a miss. Entries are sealed by the sha256 of their
body and read with a restricted unpickler that builds only ``qrt.ir`` classes, so a damaged or
planted entry is a miss, never code run. Like the inventory cache, the cache is used only
where a command turns it on (:func:`use`, the CLI does for every command with ``--no-cache``
off, for the reading of its rule files: :func:`using`); a library call parses as it always did.
The commands' door to it is :func:`qrt.frontends.cached_source.cached_rule_source`; this module
is the store, below every front end (the DSL's loader uses it).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import marshal
import pickle
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

__all__ = ["RULES_FOLDER", "active", "digest", "load", "store", "use", "using"]

CACHE_FORMAT = 1
RULES_FOLDER = "rules"
_SUFFIX = ".qrules"
_MAGIC = b"qrt rules cache 1\n"
_SOURCES = ("frontends", "ir", "ops", "_version.py")
"""The parts of qrt whose code decides compiled rules."""

_ACTIVE = False


def use(on: bool) -> None:
    """Turn the cache on (the commands) or off (``--no-cache``; the default for a library)."""
    global _ACTIVE
    _ACTIVE = bool(on)


def active() -> bool:
    return _ACTIVE


@contextlib.contextmanager
def using(on: bool) -> Iterator[None]:
    """The cache on (or off) for what runs inside, as it was after: a command's reading of
    its rule files, not every later call in the same process (a test, a notebook)."""
    before = _ACTIVE
    use(on)
    try:
        yield
    finally:
        use(before)


def digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def _key(kind: str, parts: Sequence[Any]) -> str:
    import json

    from qrt.inventory.cache import source_stamp

    whole = [CACHE_FORMAT, kind, source_stamp(_SOURCES), list(sys.version_info[:3]), *parts]
    return hashlib.sha256(json.dumps(whole, sort_keys=True, default=str).encode()).hexdigest()


def _entry(key: str) -> Path:
    from qrt.inventory.cache import cache_dir

    return cache_dir() / RULES_FOLDER / f"{key}{_SUFFIX}"


class _IrUnpickler(pickle.Unpickler):
    """Builds only qrt's IR classes (rules, selectors, effects, specs, origins)."""

    def find_class(self, module: str, name: str) -> Any:
        if module.startswith("qrt.ir.") and not name.startswith("__"):
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"{module}.{name} is not an IR class")


Dep = tuple[str, str, str]
"""A file an entry's rules were read from besides the named one: ``(how, where, sha256)``
with ``how`` ``"path"`` (a file) or ``"preset"`` (a rule preset shipped with qrt)."""


def _dep_text(how: str, where: str) -> str:
    if how == "path":
        from qrt.files import read_text

        return read_text(Path(where), what="rule file")
    if how == "preset":
        from qrt.resources import data_dir

        return (data_dir("rules") / f"{where}.qrt").read_text(encoding="utf-8-sig")
    raise ValueError(how)


def load(kind: str, parts: Sequence[Any]) -> Any | None:
    """The value stored under ``(kind, parts)``, or ``None``: absent, damaged, of another
    format, or an include that changed. Never raises."""
    if not _ACTIVE:
        return None
    try:
        from qrt.inventory.cache import read_entry, unseal

        path = _entry(_key(kind, parts))
        data = read_entry(path)
        body = unseal(_MAGIC, data) if data is not None else None
        if body is None:
            return None
        fmt, deps, pickled = marshal.loads(body)
        if fmt != CACHE_FORMAT:
            return None
        for how, where, sha in deps:
            if digest(_dep_text(how, where)) != sha:
                return None
        return _IrUnpickler(io.BytesIO(pickled)).load()
    except Exception:  # noqa: BLE001 — any damage is a miss; the caller compiles again
        return None


def store(kind: str, parts: Sequence[Any], value: Any, deps: Sequence[Dep] = ()) -> bool:
    """Keep ``value`` under ``(kind, parts)`` (atomically; the cache is pruned to its bound
    with the inventories). A value the restricted reader could not build back, or a cache
    that cannot be written, is not stored: it only costs the next command its speed."""
    if not _ACTIVE:
        return False
    try:
        pickled = pickle.dumps(value, protocol=5)
        _IrUnpickler(io.BytesIO(pickled)).load()  # what load would do: else never stored
        body = marshal.dumps((CACHE_FORMAT, tuple(tuple(d) for d in deps), pickled), 4)
        from qrt.inventory.cache import seal, write_entry

        return write_entry(_entry(_key(kind, parts)), seal(_MAGIC, body))
    except Exception:  # noqa: BLE001 — a value pickle cannot write, an unwritable cache
        return False
