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

Entries live in ``$QRT_CACHE_DIR`` (else ``$XDG_CACHE_HOME/qrt``, else ``~/.cache/qrt``),
under ``inventories/<key>.qinv`` with a small ``<key>.meta.json`` beside it for ``qrt cache
info``. An entry is the inventory's tables as plain rows in :mod:`marshal`'s format (what
Python's own ``__pycache__`` files hold), after a header line and the sha256 of the rows (the
seal). Why not the inventory's JSON: reading a 70B-shaped Llama's 8 MB of JSON and building its
objects took 0.45 s, most of a warm ``qrt explain``; the rows load in a tenth of that, carry
the sites' ModelOpt names (computed by the trace, not again on every read) and the
inventory's digest, and the ``ops`` and ``tensors`` tables are built only when a command
reads them (:meth:`Inventory.with_lazy_tables`). The key holds the Python version, whose
``marshal`` wrote the rows. Each entry is written to a temporary file and renamed into place
(``os.replace``), so processes running at once see either no entry or a whole one; an entry
whose seal is broken (truncated, edited) or that holds anything else than the rows of this
qrt's tables is a miss and is rewritten. The cache is bounded (:data:`MAX_BYTES`, or
``$QRT_CACHE_MAX_BYTES``): after each write the least recently used entries go.
"""

from __future__ import annotations

import hashlib
import json
import marshal
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
from qrt.inventory.canonical import inventory_rows, module_fields, site_fields

if TYPE_CHECKING:
    from qrt.inventory.model import Inventory
    from qrt.model_spec import ModelSpec

__all__ = [
    "MAX_BYTES", "cache_dir", "cache_info", "clear_cache", "environment", "inventory_from_rows", "inventory_key",
    "inventory_rows", "load_cached", "read_entry", "seal", "source_stamp", "store_cached", "unseal", "write_entry",
]

CACHE_FORMAT = 2
"""Bumped when what an entry holds, or how its key is made, changes (1: sealed JSON)."""

MAX_BYTES = 512 * 1024 * 1024
"""Total size the entries may take (a 70B-shaped Llama's inventory is 8.4 MB)."""

_ENTRIES = "inventories"
_SUFFIX = ".qinv"
_OLD_SUFFIXES = (".json",)
"""Entries of earlier formats (never read: their keys differ), still counted, pruned, cleared."""
_RULES = "rules"
_RULES_SUFFIX = ".qrules"
"""Compiled rules (:mod:`qrt.frontends.rules_cache`) live in ``rules/`` beside the inventories:
bounded, listed and cleared with them."""
_TEMPLATES = "templates"
_TEMPLATES_SUFFIX = ".qtpl"
"""Inventory templates (:mod:`qrt.inventory.templates`) live in ``templates/``: bounded,
listed and cleared with the rest."""
_ENTRY_SUFFIXES = (_SUFFIX, _RULES_SUFFIX, _TEMPLATES_SUFFIX, *_OLD_SUFFIXES)
_TOUCH_AFTER_S = 600
"""An entry read is marked used (its mtime) when it was last marked longer ago than this."""
_MAGIC = b"qrt inventory cache 2\n"
_MARSHAL_VERSION = 4
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


_STAMPS: dict[tuple[str, ...], str] = {}


_TRACE_SOURCES = ("runtime", "inventory", "ops", "ir", "model_spec.py", "model_inventory.py", "_version.py")
"""The parts of qrt whose code decides an inventory: tracing and model building, the
inventory's assembly, the op registry, sites. (Not the front ends, resolver or tools: a
change there changes plans, not inventories.)"""


def source_stamp(parts: tuple[str, ...]) -> str:
    """qrt's version and the sizes and times of its source files under ``parts`` (folders and
    files of the ``qrt`` package): an editable install changes its code without changing its
    version, and changed code must not read what older code cached. Computed once a process
    for each ``parts`` (the rules cache asks for the front ends')."""
    if parts not in _STAMPS:
        root = Path(__file__).resolve().parent.parent
        rows = []
        for folder, dirs, files in (
            step for part in parts for step in
            (os.walk(root / part) if (root / part).is_dir() else [(str(root), [], [part])])
        ):
            dirs[:] = sorted(d for d in dirs if not d.startswith((".", "__pycache__")))
            for name in sorted(files):
                if name.endswith(".py"):
                    st = os.stat(os.path.join(folder, name))
                    rows.append(f"{os.path.relpath(os.path.join(folder, name), root)}:{st.st_size}:{st.st_mtime_ns}")
        _STAMPS[parts] = hashlib.sha256("\n".join([__version__, *rows]).encode()).hexdigest()
    return _STAMPS[parts]


def _qrt_sources() -> str:
    """The stamp of the source files that trace a model (:func:`source_stamp`)."""
    return source_stamp(_TRACE_SOURCES)


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
        **environment(hf=spec.kind == "hf"),
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()


def environment(*, hf: bool) -> dict[str, Any]:
    """What besides the model decides a trace: qrt's tracing code, the op registry, the
    Python, torch and (``hf``) transformers versions — part of every inventory key and of
    every template key (:mod:`qrt.inventory.templates`)."""
    return {
        "qrt": _qrt_sources(),
        "ops": _registry(),
        "python": list(sys.version_info[:3]),
        "torch": _package_version("torch", "version.py"),
        "transformers": _package_version("transformers", "__init__.py") if hf else None,
    }


def _entry(key: str) -> Path:
    return cache_dir() / _ENTRIES / f"{key}{_SUFFIX}"


def _meta(entry: Path) -> Path:
    return entry.with_name(entry.stem + ".meta.json")


def _shared(tables: tuple[tuple[Any, ...], ...], shared: dict[Any, Any]) -> tuple[tuple[Any, ...], ...]:
    """The rows with equal names, and equal tuples of names, made one object each (kept in
    ``shared``): ``marshal`` writes an object once and refers to it after, so a 70B-shaped
    Llama's entry shrinks from 3.4 to 2.8 MB and reads back a quarter faster (0.3 s once, when
    the entry is written). The caller keeps ``shared`` until the rows are written: ``marshal``
    marks an object for reference only while something else holds it too, so the bytes would
    otherwise depend on what else the process holds."""
    get = shared.setdefault

    def value(v: Any) -> Any:
        kind = v.__class__
        if kind is str:
            return get(v, v)
        if kind is tuple:
            made = tuple([value(x) for x in v])
            for x in made:
                if x.__class__ is not str:  # names only: 1 == True must not merge values
                    return made
            return get(made, made)
        return v

    return tuple(tuple(tuple([value(x) for x in row]) for row in table) for table in tables)


def _pack(inv: Inventory) -> bytes:
    """The entry's bytes: header, seal, then the rows. Raises ``ValueError`` where the
    inventory holds a value ``marshal`` cannot write (then nothing is cached)."""
    tables = inventory_rows(inv)
    shared: dict[Any, Any] = {}
    rows = (
        CACHE_FORMAT,
        site_fields(),
        module_fields(),
        _plain(inv.model),  # torch's version is a str subclass there
        # a template's rows share their values already (qrt.inventory.template.instantiate)
        *(tables if inv.__dict__.get("_rows_shared") else _shared(tables, shared)),
        inv.sha256,
    )
    try:
        body = marshal.dumps(rows, _MARSHAL_VERSION)
    except ValueError:  # a str or tuple subclass elsewhere (a torch.Size from some tracer)
        body = marshal.dumps(_plain(rows), _MARSHAL_VERSION)
    del shared  # held until here (see _shared)
    return seal(_MAGIC, body)


def seal(magic: bytes, body: bytes) -> bytes:
    """An entry's bytes: ``magic``, the sha256 of ``body`` and ``body`` — the one layout of
    every cache entry (inventories here, compiled rules in :mod:`qrt.frontends.rules_cache`)."""
    return magic + hashlib.sha256(body).hexdigest().encode("ascii") + b"\n" + body


def unseal(magic: bytes, data: bytes) -> memoryview | None:
    """The body of an entry :func:`seal` wrote with ``magic``, or ``None`` where the magic or
    the digest does not match (another format, a damaged or planted entry)."""
    start = len(magic) + 65
    if not data.startswith(magic) or data[start - 1 : start] != b"\n":
        return None
    body = memoryview(data)[start:]
    if hashlib.sha256(body).hexdigest().encode("ascii") != data[len(magic) : start - 1]:
        return None
    return body


_PLAIN: tuple[type[Any], ...] = (bool, int, float, str, bytes, type(None))


def _plain(value: Any) -> Any:
    """``value`` with every subclass of a plain type as that type (``TorchVersion`` → ``str``,
    ``torch.Size`` → ``tuple``): the values the JSON form of the inventory holds too. Anything
    else raises ``ValueError``."""
    if type(value) in _PLAIN:
        return value
    for kind in _PLAIN:
        if isinstance(value, kind):
            return kind(value)
    if isinstance(value, tuple):
        return tuple(_plain(v) for v in value)
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {_plain(k): _plain(v) for k, v in value.items()}
    raise ValueError(f"{type(value).__name__} cannot be cached")


def _unpack(data: bytes) -> Inventory | None:
    """The inventory in an entry's bytes, or ``None`` where the seal or the layout is not
    this qrt's (a damaged entry, another format)."""
    body = unseal(_MAGIC, data)
    if body is None:
        return None
    rows = marshal.loads(body)
    if (
        not isinstance(rows, tuple) or len(rows) != 9 or rows[0] != CACHE_FORMAT
        or rows[1] != site_fields() or rows[2] != module_fields()
    ):
        return None
    _, _, _, model, modules, ops, tensors, sites, sha256 = rows
    return inventory_from_rows(model, modules, ops, tensors, sites, sha256=sha256)


def inventory_from_rows(model: dict[str, object], modules: tuple[Any, ...], ops: tuple[Any, ...],
                        tensors: tuple[Any, ...], sites: tuple[Any, ...], *, sha256: str | None = None) -> Inventory:
    """The inventory of :func:`inventory_rows`' rows, its ``ops``, ``tensors`` and ``sites``
    tables built when first read. ``sha256``: the digest the rows' inventory is known to have
    (else computed when asked)."""
    from qrt.inventory.model import Inventory, ModuleInfo, OpRecord, TensorInfo, TensorUse
    from qrt.ir.site import Site

    def build_ops() -> tuple[OpRecord, ...]:
        return tuple(
            OpRecord(name, op_type, module, registered, tuple(TensorUse(k, t) for k, t in inputs),
                     tuple(TensorUse(k, t) for k, t in outputs), source)
            for name, op_type, module, registered, inputs, outputs, source in ops
        )

    def build_tensors() -> tuple[TensorInfo, ...]:
        return tuple(TensorInfo(*row) for row in tensors)

    inv = Inventory.with_lazy_tables(
        modules=tuple(ModuleInfo(*row) for row in modules),
        sites=None,
        model=model,
        tables={"ops": build_ops, "tensors": build_tensors, "sites": lambda: tuple(Site(*row) for row in sites)},
        columns={"op_names": lambda: tuple(o[0] for o in ops), "op_types": lambda: tuple(o[1] for o in ops),
                 "site_rows": lambda: sites},
    )
    if sha256 is not None:
        inv.__dict__["sha256"] = sha256  # the digest the stored inventory had: its cached_property
    inv.__dict__["_rows"] = (modules, ops, tensors, sites)
    return inv


def read_entry(path: Path) -> bytes | None:
    """An entry's bytes: a regular file of at most the cache's bound (another kind of file, a
    larger one, an unreadable one: ``None``, a miss). Opened without blocking, so a FIFO
    planted in the cache cannot hang a command."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    except OSError:
        return None
    try:
        import stat

        limit = _max_bytes()
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        with os.fdopen(fd, "rb", closefd=False) as handle:
            data = handle.read(limit + 1)
        return data if len(data) <= limit else None
    except OSError:
        return None
    finally:
        os.close(fd)


def load_cached(key: str) -> Inventory | None:
    """The cached inventory under ``key``, or ``None``: absent, or unreadable in any way.
    A damaged entry (a crash mid-copy, a full disk, a hand edit: its seal is broken) is a
    miss, never an error — the caller traces again and overwrites it."""
    import gc

    was_enabled = gc.isenabled()
    gc.disable()  # ~100,000 small objects and no cycle among them: no GC passes meanwhile
    try:
        path = _entry(key)
        data = read_entry(path)
        inv = _unpack(data) if data is not None else None
    except Exception:  # noqa: BLE001 — any damage makes a miss; the entry is rewritten
        return None
    finally:
        if was_enabled:
            gc.enable()
    if inv is None:
        return None
    try:  # recently used: kept longest when the cache is pruned (touched at most every 10 minutes:
        # a write to the file's inode can wait on a busy disk's journal, 0.03-0.13 s seen)
        if time.time() - os.stat(path).st_mtime > _TOUCH_AFTER_S:
            os.utime(path)
    except OSError:
        pass
    return inv


def _write_atomic(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def write_entry(path: Path, data: bytes) -> bool:
    """Write one entry of any kind (the inventories here, compiled rules:
    :mod:`qrt.frontends.rules_cache`) atomically, then prune its folder to the cache's bound.
    Whether it was written: a cache that cannot be written only costs the next run its speed."""
    if len(data) > _max_bytes():
        return False
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        _write_atomic(path, data)
        _prune(path.parent, _max_bytes())
    except (OSError, RuntimeError):
        return False
    return True


def store_cached(key: str, inv: Inventory, *, spec: str) -> bool:
    """Write ``inv`` under ``key`` (atomically), then prune the cache to its bound. Returns
    whether it was stored: a cache that cannot be written (read-only home, full disk) only
    costs the next run its speed."""
    try:
        data = _pack(inv)
    except ValueError:  # a value marshal cannot write (a model dict holding an object)
        return False
    if len(data) > _max_bytes():
        return False
    meta = {"spec": spec, "created": time.time(), "qrt": __version__, "sites": len(inv.sites),
            "class": inv.model.get("class")}
    try:
        path = _entry(key)  # no home directory: RuntimeError
        path.parent.mkdir(parents=True, exist_ok=True)
        _write_atomic(path, data)
        _write_atomic(_meta(path), json.dumps(meta).encode("utf-8"))
        _prune(path.parent, _max_bytes())
    except (OSError, RuntimeError):
        return False
    return True


def _entries(folder: Path) -> list[tuple[Path, os.stat_result]]:
    out = []
    for path in folder.iterdir():
        if path.name.startswith(".") or path.name.endswith(".meta.json") or path.suffix not in _ENTRY_SUFFIXES:
            continue
        try:
            out.append((path, path.stat()))
        except OSError:  # removed by another process meanwhile
            continue
    return out


def _remove(path: Path) -> int:
    freed = 0
    for p in (path, _meta(path)):
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
    """Where the cache is, its bound, and its entries (newest use first); ``rules`` and
    ``templates``: how many compiled rule files and inventory templates it holds, and their
    bytes."""
    folder = cache_dir() / _ENTRIES
    rows = []
    for path, st in sorted(_entries(folder), key=lambda e: -e[1].st_mtime_ns) if folder.is_dir() else []:
        try:
            meta = json.loads(_meta(path).read_text(encoding="utf-8"))
            meta = meta if isinstance(meta, dict) else {}
        except (OSError, ValueError):
            meta = {}
        rows.append({
            "key": path.stem, "bytes": st.st_size, "used": st.st_mtime,
            "spec": meta.get("spec"), "class": meta.get("class"), "sites": meta.get("sites"),
        })
    rules_folder = cache_dir() / _RULES
    rules = _entries(rules_folder) if rules_folder.is_dir() else []
    templates_folder = cache_dir() / _TEMPLATES
    templates = _entries(templates_folder) if templates_folder.is_dir() else []
    families = []
    for path, st in sorted(templates, key=lambda e: -e[1].st_mtime_ns):
        try:
            meta = json.loads(_meta(path).read_text(encoding="utf-8"))
            meta = meta if isinstance(meta, dict) else {}
        except (OSError, ValueError):
            meta = {}
        families.append({"key": path.stem, "bytes": st.st_size, "used": st.st_mtime,
                         **{k: meta.get(k) for k in ("model_type", "architectures", "sizes", "learned", "why", "from")}})
    return {
        "qrt_cache": 1,
        "directory": str(cache_dir()),
        "max_bytes": _max_bytes(),
        "bytes": sum(r["bytes"] for r in rows),
        "entries": rows,
        "rules": {"entries": len(rules), "bytes": sum(st.st_size for _, st in rules)},
        "templates": {"entries": len(templates), "bytes": sum(st.st_size for _, st in templates),
                      "families": families},
    }


def clear_cache() -> dict[str, Any]:
    """Remove every entry (and stray temporary files); returns how many inventories and how
    many bytes (compiled rules and templates too)."""
    removed = freed = 0
    for name in (_ENTRIES, _RULES, _TEMPLATES):
        folder = cache_dir() / name
        if not folder.is_dir():
            continue
        for path in folder.iterdir():
            if path.name.endswith(".meta.json"):
                continue
            entry = path.suffix in _ENTRY_SUFFIXES and not path.name.startswith(".")
            if path.is_file() and (entry or path.name.endswith(".tmp")):
                freed += _remove(path)
                removed += entry and name == _ENTRIES
    return {"qrt_cache": 1, "directory": str(cache_dir()), "removed": removed, "bytes": freed}
