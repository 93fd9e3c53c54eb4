"""The inventory cache: a model spec's traced inventory kept on disk, so that the next
``qrt explain``/``lint``/``resolve``/``diff``/``lock`` on the same model reads it back instead
of importing torch and transformers and tracing again (5–10 s on a 70B-shaped Llama config).

An entry is keyed by everything that decides what the trace produces (:func:`inventory_key`):

* the spec as written and its kind; its *content*: a Hugging Face ``config.json``'s bytes and
  the weight files beside it (their presence decides the dtype), a ``file.py:factory``'s
  bytes, a ``package.module:factory``'s source file bytes (found on ``sys.path`` without
  importing anything);
* ``--input-shape``, ``--device``, ``--dtype``, and ``--seed`` where the model is built with
  values (not on ``meta``, where nothing random is drawn);
* qrt's version and its own source files (sizes and modification times: an editable install
  keeps its version while its tracing code changes), the op types registered in this process,
  the Python, torch and transformers versions (read from their files, not imported).

What the key does not see: modules a factory file imports (edit one and pass ``--no-cache``,
or ``qrt cache clear``). A spec whose content cannot be read without running it (a module
that is not a plain file on ``sys.path``) is not cached.

Entries are the inventory's own sealed JSON (:func:`qrt.inventory.io.dumps_inventory`) in
``$QRT_CACHE_DIR`` (else ``$XDG_CACHE_HOME/qrt``, else ``~/.cache/qrt``), under
``inventories/<key>.json`` with a small ``<key>.meta.json`` beside it for ``qrt cache info``.
Each is written to a temporary file and renamed into place (``os.replace``), so processes
running at once see either no entry or a whole one; an entry whose seal is broken (truncated,
edited) is a miss and is rewritten. The cache is bounded (:data:`MAX_BYTES`, or
``$QRT_CACHE_MAX_BYTES``): after each write the least recently used entries go.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from qrt._version import __version__
from qrt.files import file_digest

if TYPE_CHECKING:
    from qrt.inventory.model import Inventory
    from qrt.model_spec import ModelSpec

__all__ = ["MAX_BYTES", "cache_dir", "cache_info", "clear_cache", "inventory_key", "load_cached", "store_cached"]

CACHE_FORMAT = 1
"""Bumped when what an entry holds, or how its key is made, changes."""

MAX_BYTES = 512 * 1024 * 1024
"""Total size the entries may take (a 70B-shaped Llama's inventory is 8.4 MB)."""

_ENTRIES = "inventories"
_WEIGHT_GLOBS = ("*.safetensors", "*.safetensors.index.json", "*.bin", "*.pt", "*.pth", "*.ckpt")


def cache_dir() -> Path:
    """``$QRT_CACHE_DIR``, else ``$XDG_CACHE_HOME/qrt``, else ``~/.cache/qrt``."""
    explicit = os.environ.get("QRT_CACHE_DIR")
    if explicit:
        return Path(explicit)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "qrt"


def _max_bytes() -> int:
    try:
        return int(os.environ.get("QRT_CACHE_MAX_BYTES", MAX_BYTES))
    except ValueError:
        return MAX_BYTES


def _stat(path: Path) -> list[Any]:
    st = path.stat()
    return [path.name, st.st_size, st.st_mtime_ns]


_QRT_SOURCES: str | None = None


_TRACE_SOURCES = ("runtime", "inventory", "ops", "ir", "model_spec.py", "_version.py")
"""The parts of qrt whose code decides an inventory: tracing and model building, the
inventory's assembly, the op registry, sites. (Not the front ends, resolver or tools: a
change there changes plans, not inventories.)"""


def _qrt_sources() -> str:
    """qrt's version and the sizes and times of the source files that trace a model: an
    editable install changes its code without changing its version, and a changed tracer must
    not read old entries."""
    global _QRT_SOURCES
    if _QRT_SOURCES is None:
        root = Path(__file__).resolve().parent.parent
        rows = []
        for folder, dirs, files in (
            step for part in _TRACE_SOURCES for step in
            (os.walk(root / part) if (root / part).is_dir() else [(str(root), [], [part])])
        ):
            dirs[:] = sorted(d for d in dirs if not d.startswith((".", "__pycache__")))
            for name in sorted(files):
                if name.endswith(".py"):
                    st = os.stat(os.path.join(folder, name))
                    rows.append(f"{os.path.relpath(os.path.join(folder, name), root)}:{st.st_size}:{st.st_mtime_ns}")
        _QRT_SOURCES = hashlib.sha256("\n".join([__version__, *rows]).encode()).hexdigest()
    return _QRT_SOURCES


_VERSION_LINE = re.compile(rb"""^__version__\s*(?::\s*str\s*)?=\s*['"]([^'"]+)['"]""", re.M)


def _package_version(name: str, version_file: str) -> list[Any]:
    """A package's version and where it lives, read from its files without importing it
    (``importlib.metadata`` costs 50–90 ms; importing torch, seconds). Its version file's size
    and time change with any reinstall."""
    import importlib.util

    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        spec = None
    if spec is None or not spec.origin:
        return [name, None]
    path = Path(spec.origin).parent / version_file
    try:
        head = path.read_bytes()[:65536]
    except OSError:
        return [name, spec.origin]
    found = _VERSION_LINE.search(head)
    return [name, spec.origin, found.group(1).decode() if found else None, *_stat(path)[1:]]


def _registry() -> str:
    from qrt.ops.registry import default_registry

    return hashlib.sha256(
        "\n".join(repr(default_registry.get(n)) for n in default_registry.names()).encode()
    ).hexdigest()


def _module_file(target: str) -> Path | None:
    """The source file of ``package.module`` on ``sys.path``, found without importing it or
    its packages (their ``__init__`` may import torch). ``None`` where it is not a plain
    ``.py`` file (a namespace package, an extension, a zip): such specs are not cached."""
    parts = target.split(".")
    for entry in [os.getcwd() if p == "" else p for p in sys.path]:
        base = Path(entry, *parts)
        for candidate in (base.with_suffix(".py"), base / "__init__.py"):
            if candidate.is_file():
                return candidate
    return None


def _spec_content(spec: ModelSpec) -> list[Any] | None:
    if spec.kind == "builtin":
        return [spec.target]  # its code is qrt's own: in _qrt_sources
    if spec.kind == "file":
        path = Path(spec.target).resolve()
        return [str(path), file_digest(path), spec.attr]
    if spec.kind == "module":
        found = _module_file(spec.target)
        if found is None:
            return None
        return [str(found.resolve()), file_digest(found), spec.attr]
    if spec.kind == "hf":
        path = Path(spec.target)
        config = path / "config.json" if path.is_dir() else path
        weights = (
            sorted(_stat(p) for pattern in _WEIGHT_GLOBS for p in path.glob(pattern))
            if path.is_dir() else []
        )
        return [str(config.resolve()), file_digest(config), weights]
    return None


def inventory_key(
    spec: ModelSpec,
    *,
    input_shapes: Sequence[Sequence[int]] | None = None,
    device: str | None = None,
    seed: int | None = None,
    dtype: str | None = None,
) -> str | None:
    """The cache key of the inventory a spec traces to (see the module's docstring), or
    ``None`` when it cannot be cached (a saved inventory, a module qrt cannot read unrun)."""
    try:
        content = _spec_content(spec)
    except OSError:
        return None
    if content is None:
        return None
    device = device or ("meta" if spec.kind == "hf" else "cpu")
    parts = {
        "format": CACHE_FORMAT,
        "spec": [spec.kind, spec.text, content],
        "input_shapes": [list(s) for s in input_shapes or ()],
        "device": device,
        "dtype": dtype or "auto",
        "seed": None if device == "meta" else seed,
        "qrt": _qrt_sources(),
        "ops": _registry(),
        "python": list(sys.version_info[:3]),
        "torch": _package_version("torch", "version.py"),
        "transformers": _package_version("transformers", "__init__.py") if spec.kind == "hf" else None,
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()


def _entry(key: str) -> Path:
    return cache_dir() / _ENTRIES / f"{key}.json"


def load_cached(key: str) -> Inventory | None:
    """The cached inventory under ``key``, or ``None``: absent, or unreadable in any way.
    A damaged entry (a crash mid-copy, a full disk, a hand edit: its seal is broken) is a
    miss, never an error — the caller traces again and overwrites it."""
    from qrt.files import DATA_LIMIT, parse_json, read_text
    from qrt.inventory.io import inventory_from_json
    from qrt.sealed_json import is_sealed

    import gc

    was_enabled = gc.isenabled()
    gc.disable()  # ~100,000 small objects and no cycle among them: no GC passes meanwhile
    try:
        path = _entry(key)
        if not path.is_file():
            return None
        text = read_text(path, what="cached inventory", limit=DATA_LIMIT)
        if not is_sealed(text):  # checked once (read_json would hash the text a second time)
            return None
        data = parse_json(text, file=str(path), walk=False)
        inv = inventory_from_json(data, source=str(path), trusted=True)
    except Exception:  # noqa: BLE001 — any damage makes a miss; the entry is rewritten
        return None
    finally:
        if was_enabled:
            gc.enable()
    try:
        os.utime(path)  # recently used: kept longest when the cache is pruned
    except OSError:
        pass
    return inv


def _write_atomic(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def store_cached(key: str, inv: Inventory, *, spec: str) -> bool:
    """Write ``inv`` under ``key`` (atomically), then prune the cache to its bound. Returns
    whether it was stored: a cache that cannot be written (read-only home, full disk) only
    costs the next run its speed."""
    from qrt.inventory.io import dumps_inventory

    text = dumps_inventory(inv)
    if len(text.encode("utf-8")) > _max_bytes():
        return False
    meta = {"spec": spec, "created": time.time(), "qrt": __version__, "sites": len(inv.sites),
            "class": inv.model.get("class")}
    try:
        path = _entry(key)  # no home directory: RuntimeError
        path.parent.mkdir(parents=True, exist_ok=True)
        _write_atomic(path, text)
        _write_atomic(path.with_suffix(".meta.json"), json.dumps(meta))
        _prune(path.parent, _max_bytes())
    except (OSError, RuntimeError):
        return False
    return True


def _entries(folder: Path) -> list[tuple[Path, os.stat_result]]:
    out = []
    for path in folder.glob("*.json"):
        if path.name.endswith(".meta.json"):
            continue
        try:
            out.append((path, path.stat()))
        except OSError:  # removed by another process meanwhile
            continue
    return out


def _remove(path: Path) -> int:
    freed = 0
    for p in (path, path.with_suffix(".meta.json")):
        try:
            freed += p.stat().st_size
            p.unlink()
        except OSError:
            pass
    return freed


def _prune(folder: Path, limit: int) -> None:
    """Drop least recently used entries until the inventories fit in ``limit`` bytes, and
    temporary files a killed writer left (older than an hour: a live writer's are younger)."""
    stale = time.time() - 3600
    for tmp in folder.glob(".*.tmp"):
        try:
            if tmp.stat().st_mtime < stale:
                tmp.unlink()
        except OSError:
            pass
    entries = sorted(_entries(folder), key=lambda e: e[1].st_mtime_ns)
    total = sum(st.st_size for _, st in entries)
    for path, st in entries:
        if total <= limit:
            break
        _remove(path)
        total -= st.st_size


def cache_info() -> dict[str, Any]:
    """Where the cache is, its bound, and its entries (newest use first)."""
    folder = cache_dir() / _ENTRIES
    rows = []
    for path, st in sorted(_entries(folder), key=lambda e: -e[1].st_mtime_ns) if folder.is_dir() else []:
        try:
            meta = json.loads(path.with_suffix(".meta.json").read_text(encoding="utf-8"))
            meta = meta if isinstance(meta, dict) else {}
        except (OSError, ValueError):
            meta = {}
        rows.append({
            "key": path.stem, "bytes": st.st_size, "used": st.st_mtime,
            "spec": meta.get("spec"), "class": meta.get("class"), "sites": meta.get("sites"),
        })
    return {
        "qrt_cache": 1,
        "directory": str(cache_dir()),
        "max_bytes": _max_bytes(),
        "bytes": sum(r["bytes"] for r in rows),
        "entries": rows,
    }


def clear_cache() -> dict[str, Any]:
    """Remove every entry (and stray temporary files); returns how many and how many bytes."""
    folder = cache_dir() / _ENTRIES
    removed = freed = 0
    if folder.is_dir():
        for path in folder.iterdir():
            if path.name.endswith(".meta.json"):
                continue
            if path.is_file() and (path.suffix == ".json" or path.name.endswith(".tmp")):
                freed += _remove(path)
                removed += path.suffix == ".json"
    return {"qrt_cache": 1, "directory": str(cache_dir()), "removed": removed, "bytes": freed}
