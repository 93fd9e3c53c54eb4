"""The inventory: everything qrt knows about a model's structure, without torch.

Produced by tracing (``qrt.runtime.trace``) or read from a saved file (``qrt.inventory.io``);
consumed by the resolver, lint, explain and the runtimes. It holds four tables:

* ``modules``: every module the trace ran, with its class and forward argument names;
* ``ops``: every op call site, registered or not, in execution order (unregistered ops are
  kept because they carry tensors between quantized ops and show in ``qrt inspect``);
* ``tensors``: each tensor identity with its producer and its readers — how a module
  boundary site is tied to the op sites on the same tensor (docs/semantics.md §3, one quantizer per
  tensor) and how back-to-back quantizers are found later;
* ``sites``: the quantizable tensor positions (docs/semantics.md §1).
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import cache, cached_property
from typing import Any

from qrt.errors import QueryError, did_you_mean
from qrt.ir.site import Key, Site

__all__ = ["Inventory", "ModuleInfo", "OpRecord", "TensorInfo", "TensorUse"]


@dataclass(frozen=True, slots=True)
class ModuleInfo:
    name: str
    type: str
    leaf: bool
    called: int = 0
    """How many times its forward ran during the trace (0: never called)."""
    forward_args: tuple[str, ...] = ()
    scope: tuple[str, ...] = ()
    """Names of the module call stack at its first call, root first, itself last."""
    forward_bases: tuple[str, ...] = ()
    """The fully-qualified base classes (in MRO order) whose ``forward`` is the very one its
    class runs: empty when its class defines ``forward`` itself, ``("torch.nn.modules.linear.
    Linear",)`` for a subclass of ``nn.Linear`` that inherits it. Recorded by the trace, where
    the classes are at hand; it decides whether ModelOpt converts the module
    (:func:`qrt.inventory.modelopt.converted_as`)."""

    @property
    def forward_classes(self) -> tuple[str, ...]:
        """Its own class, then :attr:`forward_bases`: every class whose ``forward`` it runs."""
        return (self.type, *self.forward_bases)


@dataclass(frozen=True, slots=True)
class TensorUse:
    """One tensor argument or result of an op: its key and tensor identity."""

    key: Key
    tensor: str


@dataclass(frozen=True, slots=True)
class OpRecord:
    name: str
    op_type: str
    module: str
    registered: bool
    inputs: tuple[TensorUse, ...] = ()
    outputs: tuple[TensorUse, ...] = ()
    source: str | None = None


@dataclass(frozen=True, slots=True)
class TensorInfo:
    id: str
    shape: tuple[int, ...] | None
    dtype: str | None
    producer: str | None
    """``op:<name>:<k>``, ``param:<fqn>``, ``input:<key>`` or ``const:<n>``."""
    readers: tuple[str, ...] = ()
    """``op:<op_name>:<key>`` and ``module_input:<module>:<key>`` /
    ``module_output:<module>:<key>`` for module boundaries that pass it."""


@dataclass(frozen=True)
class Inventory:
    """A model's modules, ops, tensors and sites. Immutable; build a new one to change it."""

    modules: tuple[ModuleInfo, ...]
    ops: tuple[OpRecord, ...]
    tensors: tuple[TensorInfo, ...]
    sites: tuple[Site, ...]
    model: dict[str, object] = field(default_factory=dict)
    """Where it came from: ``spec``, ``class``, ``inputs``, ``device``, versions."""

    # --- tables built on first use ---------------------------------------------------------
    @classmethod
    def with_lazy_tables(
        cls,
        *,
        modules: tuple[ModuleInfo, ...],
        sites: tuple[Site, ...] | None,
        model: dict[str, object],
        tables: dict[str, Callable[[], tuple[Any, ...]]],
        columns: dict[str, Callable[[], tuple[Any, ...]]] | None = None,
    ) -> Inventory:
        """An inventory whose tables named in ``tables`` (``ops``, ``tensors``) are built by
        their function the first time they are read. Why: the inventory cache holds them as
        plain rows, and explain of one site never reads them — 20,000 objects a 70B-shaped
        Llama need not pay for. Equal, in every way one can observe, to the inventory built
        with all its tables at once. ``columns`` gives :attr:`op_names` and :attr:`op_types`
        from the rows while the ``ops`` table is not built (lint reads only those). ``sites`` may
        be ``None`` with a ``sites`` table and a ``site_rows`` column (each row a ``Site``'s
        fields in order): explaining a few sites then builds only those (:meth:`site_by_path`,
        :meth:`find`), not the 11,727 of a 70B-shaped Llama."""
        inv = object.__new__(cls)
        state = inv.__dict__
        state.update(modules=modules, model=model)
        if sites is not None:
            state["sites"] = sites
        state["_lazy_tables"] = dict(tables)
        state["_lazy_columns"] = dict(columns or {})
        return inv

    def _ops_column(self, name: str, field: str) -> tuple[str, ...]:
        """One field of every op, in order: from the rows where the ``ops`` table is still
        unbuilt and the rows give it, else from the table."""
        column: Callable[[], tuple[str, ...]] | None = self.__dict__.get("_lazy_columns", {}).get(name)
        if column is not None and "ops" not in self.__dict__:
            return column()
        return tuple(getattr(op, field) for op in self.ops)

    def __getattr__(self, name: str) -> Any:
        # reached only for what the instance does not hold: a lazy table not yet built
        lazy: dict[str, Callable[[], Any]] | None = self.__dict__.get("_lazy_tables")
        build = lazy.get(name) if lazy is not None else None
        if lazy is None or build is None:
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
        value = self.__dict__.setdefault(name, build())  # two threads at once: the first wins
        lazy.pop(name, None)
        return value

    def __getstate__(self) -> dict[str, Any]:
        """Pickled (a copy, a worker process) with every table built."""
        for name in tuple(self.__dict__.get("_lazy_tables", ())):
            getattr(self, name)
        return {k: v for k, v in self.__dict__.items() if k not in ("_lazy_tables", "_lazy_columns", "_rows", "_rows_shared")}

    # --- lookups -------------------------------------------------------------------------
    @cached_property
    def sha256(self) -> str:
        """The digest of the inventory's canonical text: equal inventories, equal digests.
        Plans and lock files record it, so a changed model is told from a changed config."""
        from qrt.inventory.canonical import inventory_digest

        return inventory_digest(self)

    @cached_property
    def module_types(self) -> dict[str, str]:
        return {m.name: m.type for m in self.modules}

    @cached_property
    def tensor_table(self) -> dict[str, TensorInfo]:
        return {t.id: t for t in self.tensors}

    @cached_property
    def sites_by_tensor(self) -> dict[str, tuple[Site, ...]]:
        table: dict[str, list[Site]] = {}
        for site in self.sites:
            table.setdefault(site.tensor, []).append(site)
        return {k: tuple(v) for k, v in table.items()}

    @cached_property
    def op_names(self) -> tuple[str, ...]:
        return self._ops_column("op_names", "name")

    @cached_property
    def op_types(self) -> tuple[str, ...]:
        """Each op's type, in op order."""
        return self._ops_column("op_types", "op_type")

    def registered_ops(self) -> Iterator[OpRecord]:
        return (op for op in self.ops if op.registered)

    def _unbuilt_site_rows(self) -> Sequence[tuple[Any, ...]] | None:
        """The raw site rows (``Site`` fields in order) while the ``sites`` table is unbuilt."""
        if "sites" in self.__dict__:
            return None
        column = self.__dict__.get("_lazy_columns", {}).get("site_rows")
        return column() if column is not None else None

    def site_rows(self) -> Sequence[tuple[Any, ...]]:
        """Every site as its row (``Site``'s fields in order), in order: the rows the
        inventory was read from while the ``sites`` table is unbuilt — resolving and linting a
        cached 70B-shaped Llama never builds its 11,727 sites —, else the built sites'."""
        rows = self._unbuilt_site_rows()
        if rows is not None:
            return rows
        from qrt.inventory.canonical import site_row

        return [site_row(s) for s in self.sites]

    def tensor_rows(self) -> Sequence[tuple[Any, ...]]:
        """Every tensor as ``(id, shape, dtype, producer, readers)``, in order: from the rows the
        inventory was read from where it was (its ``tensors`` table need not be built)."""
        known = self.__dict__.get("_rows")
        if known is not None:
            return known[2]  # type: ignore[no-any-return]
        from qrt.inventory.canonical import tensor_row

        return [tensor_row(t) for t in self.tensors]

    @cached_property
    def _sites_by_path(self) -> dict[str, Site]:
        return {s.quantizer_path: s for s in self.sites}

    def site_by_path(self, path: str) -> Site | None:
        """The site whose quantizer path is ``path``, or ``None``; while the sites are still
        rows, only that one is built."""
        rows = self._unbuilt_site_rows()
        if rows is None:
            return self._sites_by_path.get(path)
        at = _site_field("quantizer_path")
        return next((Site(*row) for row in rows if row[at] == path), None)

    def tied_sites(self, site: Site) -> tuple[Site, ...]:
        """Other sites on the same tensor (module boundary ↔ op input/output, shared params)."""
        return tuple(s for s in self.sites_by_tensor.get(site.tensor, ()) if s is not site)

    def find(self, query: str) -> list[Site]:
        """Sites named by a query: a quantizer path, ``op_name[:role[key]]``, or a glob of either.

        Raises :class:`QueryError` listing the closest names when nothing matches.
        """
        found = [s for s in self._candidates(query) if _site_matches(s, query)]
        if not found:
            names = sorted({s.quantizer_path for s in self.sites} | set(self.op_names))
            hint = did_you_mean(query.split(":")[0], names) or (
                "run `qrt inspect` to list the names; globs use * and ?"
            )
            raise QueryError(f"no site matches {query!r}", hint=hint)
        return found

    def _candidates(self, query: str) -> Sequence[Site]:
        """The sites a query can match (:func:`_site_matches`), in inventory order, found with
        string compares (a 70B-shaped Llama's 11,727 sites through ``fnmatch`` took 0.1 s).
        ``fnmatch`` reads a part without ``*``, ``?`` or ``[`` literally, so where the part
        before the first ``:`` (the op or module) has none, only a site of that op or module,
        or a name (path or alias) spelled out whole (no glob at all) or starting with that part
        and ``:``, can match. A glob in that part goes through every site."""
        owner = query.partition(":")[0]
        if _GLOB.search(owner):
            return self.sites
        if _GLOB.search(query):  # a glob after the colon: op:input[0], op:*
            prefix = owner + ":"
            return [
                s for s in self.sites
                if s.op_name == owner or (s.op_name is None and s.module == owner)
                or s.quantizer_path.startswith(prefix) or any(a.startswith(prefix) for a in s.aliases)
            ]
        rows = self._unbuilt_site_rows()
        if rows is not None:  # the same test on the rows; only the matches become sites
            path, scope, op, aliases = (_site_field(f) for f in ("quantizer_path", "scope", "op_name", "aliases"))
            return [
                Site(*row) for row in rows
                if row[path] == query or row[op] == owner
                or (row[op] is None and (row[scope][-1][0] if row[scope] else "") == owner)
                or (row[aliases] and query in row[aliases])
            ]
        return [
            s for s in self.sites
            if s.quantizer_path == query or s.op_name == owner
            or (s.op_name is None and s.module == owner) or (s.aliases and query in s.aliases)
        ]

    def summary(self) -> dict[str, int]:
        roles: dict[str, int] = {}
        for s in self.sites:
            roles[s.role] = roles.get(s.role, 0) + 1
        return {
            "modules": len(self.modules),
            "ops": len(self.ops),
            "registered_ops": sum(1 for _ in self.registered_ops()),
            "tensors": len(self.tensors),
            "sites": len(self.sites),
            **{f"sites.{k}": v for k, v in sorted(roles.items())},
        }


_GLOB = re.compile(r"[*?\[]")


@cache
def _site_field(name: str) -> int:
    """The position of ``Site`` field ``name`` in a site row."""
    from dataclasses import fields

    return [f.name for f in fields(Site)].index(name)


def _site_matches(site: Site, query: str) -> bool:
    names: Sequence[str] = (site.quantizer_path, *site.aliases)
    if any(fnmatch.fnmatchcase(n, query) for n in names):
        return True
    owner, _, rest = query.partition(":")
    subject = site.op_name if site.op_name is not None else site.module
    if subject is None or not fnmatch.fnmatchcase(subject, owner):
        return False
    if not rest:
        return True
    role, _, key = rest.partition("[")
    if role and not fnmatch.fnmatchcase(site.role, role):
        return False
    if key:
        key = key.rstrip("]")
        return key == "*" or key == str(site.key) or key == site.arg_name
    return True
