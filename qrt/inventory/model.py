"""The inventory: everything qrt knows about a model's structure, without torch.

Produced by tracing (``qrt.runtime.trace``) or read from a saved file (``qrt.inventory.io``);
consumed by the resolver, lint, explain and the runtimes. It holds four tables:

* ``modules``: every module the trace ran, with its class and forward argument names;
* ``ops``: every op call site, registered or not, in execution order (unregistered ops are
  kept because they carry tensors between quantized ops and show in ``qrt inspect``);
* ``tensors``: each tensor identity with its producer and its readers — how a module
  boundary site is tied to the op sites on the same tensor (SEMANTICS §3, one quantizer per
  tensor) and how back-to-back quantizers are found later;
* ``sites``: the quantizable tensor positions (SEMANTICS §1).
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from functools import cached_property

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

    # --- lookups -------------------------------------------------------------------------
    @cached_property
    def sha256(self) -> str:
        """The digest of the inventory's canonical text: equal inventories, equal digests.
        Plans and lock files record it, so a changed model is told from a changed config."""
        from qrt.inventory.io import inventory_digest

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
        return tuple(op.name for op in self.ops)

    def registered_ops(self) -> Iterator[OpRecord]:
        return (op for op in self.ops if op.registered)

    def tied_sites(self, site: Site) -> tuple[Site, ...]:
        """Other sites on the same tensor (module boundary ↔ op input/output, shared params)."""
        return tuple(s for s in self.sites_by_tensor.get(site.tensor, ()) if s is not site)

    def find(self, query: str) -> list[Site]:
        """Sites named by a query: a quantizer path, ``op_name[:role[key]]``, or a glob of either.

        Raises :class:`QueryError` listing the closest names when nothing matches.
        """
        found = [s for s in self.sites if _site_matches(s, query)]
        if not found:
            names = sorted({s.quantizer_path for s in self.sites} | set(self.op_names))
            hint = did_you_mean(query.split(":")[0], names) or (
                "run `qrt inspect` to list the names; globs use * and ?"
            )
            raise QueryError(f"no site matches {query!r}", hint=hint)
        return found

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
