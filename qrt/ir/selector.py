"""Selectors: a conjunction of predicates on a site's fields (docs/semantics.md §2).

Every field left ``None`` accepts every site. Regexes use ``re.fullmatch`` semantics on the
whole name, globs ``fnmatchcase``; both are checked when the selector is built, so a bad
pattern is reported where the user wrote it, not in the middle of resolution.

Two predicates need care:

* ``scope``: the site runs *inside* a module whose name (regex) and/or type matches, at an
  optional exact ``depth`` on the call stack (0 = the root). The site's own module counts.
  The hierarchical front end uses ``depth`` to give a more deeply nested config priority.
* ``tensor``: an exact tensor identity, for rules about every site on one tensor.
* ``op_name`` with ``op_name_relative``: the regex is matched against the op name relative
  to the scope entry that matched (``self_attn\\.softmax`` inside ``model.layers.0``), which
  is how an ``op_name_config`` inside a module config reads (docs/semantics.md §3).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Literal

from qrt.ir.patterns import PatternError, check_regex, glob_match, modelopt_match_names, regex_fullmatch
from qrt.ir.site import ROLES, Key, Site

__all__ = ["QuantizerNames", "Selector", "ScopeMatch", "in_range", "type_matches"]

QuantizerNames = Literal["qrt", "modelopt"]
"""Which names a selector's ``quantizer_path`` glob reads: qrt's quantizer path and aliases,
or only the site's ModelOpt name (a site without one never matches)."""


def type_matches(pattern: str, fqn: str) -> bool:
    """Does a class name written in a rule name the class ``fqn``?

    A fully-qualified name must be equal. A bare name (``Linear``) compares with the last
    component (lint reports where that is ambiguous in a model). ModelOpt's registry style
    ``nn.Linear`` names the ``torch.nn`` class of that name.
    """
    if pattern == fqn:
        return True
    bare = fqn.rpartition(".")[2]
    if "." not in pattern:
        return pattern == bare
    if pattern.startswith("nn.") and pattern.count(".") == 1:
        return fqn.startswith("torch.nn.") and pattern[3:] == bare
    return False


def _check_regex(value: str, what: str) -> None:
    problem = check_regex(value)
    if problem:
        raise PatternError(f"{what} /{value}/: {problem}", offending=value)


@dataclass(frozen=True, slots=True)
class ScopeMatch:
    name: str | None = None
    """regex on a module name on the call stack"""
    type: str | None = None
    """class of a module on the call stack"""
    depth: int | None = None
    """only the entry at this position on the stack (0 = root)"""

    def __post_init__(self) -> None:
        if self.name is None and self.type is None:
            raise PatternError("a scope predicate needs a module name or a module type")
        if self.name is not None:
            _check_regex(self.name, "scope name")
        if self.depth is not None and self.depth < 0:
            raise PatternError(f"scope depth must be >= 0, got {self.depth}")

    def entry_matches(self, name: str, type_: str) -> bool:
        if self.type is not None and not type_matches(self.type, type_):
            return False
        return self.name is None or regex_fullmatch(self.name, name)

    def matching_entries(self, site: Site) -> list[str]:
        """Names of the scope entries this predicate accepts, outermost first."""
        if self.depth is not None:
            if self.depth >= len(site.scope):
                return []
            name, type_ = site.scope[self.depth]
            return [name] if self.entry_matches(name, type_) else []
        return [name for name, type_ in site.scope if self.entry_matches(name, type_)]


@dataclass(frozen=True, slots=True)
class Selector:
    module_name: str | None = None
    module_type: str | None = None
    scope: ScopeMatch | None = None
    op_type: str | None = None
    op_name: str | None = None
    op_name_relative: bool = False
    role: str | None = None
    key: Key | None = None
    """an int position, a name, or ``"*"`` (any key; the same as ``None``)"""
    quantizer_path: str | None = None
    quantizer_names: QuantizerNames = "qrt"
    """``"qrt"``: the glob matches the site's quantizer path or any of its aliases (the DSL's
    ``quantizer "…"``); ``"modelopt"``: only the site's ModelOpt name, so sites ModelOpt would
    put no quantizer on are out of reach (a wildcard list's entries, docs/semantics.md §4; the DSL's
    ``modelopt_name "…"``)."""
    parent_class: str | None = None
    """ModelOpt's ``parent_class``: the owning module's class exactly (no subclasses); with
    ``quantizer_names="modelopt"``, the class ModelOpt's converted module is an instance of
    (:attr:`~qrt.ir.site.Site.modelopt_class`)"""
    experts: tuple[int, int] | None = None
    """an inclusive range of expert indices: only the sites of those experts' matrices in
    fused mixture-of-experts modules (:attr:`~qrt.ir.site.Site.expert`; the DSL's
    ``expert 0..3``)"""
    layers: tuple[int, int] | None = None
    """an inclusive range of layer indices (:attr:`~qrt.ir.site.Site.layer`; the DSL's
    ``layer 0..3``)"""
    tensor: str | None = None
    """the site's tensor identity exactly (``op:<op>:<k>``, ``param:<fqn>``, ``input:<key>``):
    every site on one tensor, e.g. a module-level quantizer overriding the op-level sites on
    the tensor it quantizes (docs/semantics.md §3)"""

    def __post_init__(self) -> None:
        if self.module_name is not None:
            _check_regex(self.module_name, "module name")
        if self.op_name is not None:
            _check_regex(self.op_name, "op name")
        if self.role is not None and self.role not in ROLES:
            raise PatternError(
                f"unknown role {self.role!r}", hint="valid roles: " + ", ".join(ROLES)
            )
        if self.op_name_relative and self.op_name is None:
            raise PatternError("op_name_relative needs an op_name pattern")
        if self.quantizer_names not in ("qrt", "modelopt"):
            raise PatternError(
                f"unknown quantizer_names {self.quantizer_names!r}", hint="valid: 'qrt', 'modelopt'"
            )
        for what, span in (("expert", self.experts), ("layer", self.layers)):
            if span is not None and not (0 <= span[0] <= span[1]):
                raise PatternError(
                    f"{what} range {span[0]}..{span[1]} is empty or negative",
                    hint=f"write {what} N or {what} LOW..HIGH with 0 <= LOW <= HIGH",
                )
        if self.quantizer_names == "modelopt" and self.quantizer_path is None:
            raise PatternError(
                "quantizer_names='modelopt' needs a quantizer_path glob (the ModelOpt names to match)",
                hint="'*' matches every site ModelOpt would put a quantizer on",
            )

    def is_empty(self) -> bool:
        return all(
            getattr(self, f.name) in (None, False) for f in fields(self) if f.name != "quantizer_names"
        )

    def owner_class_of(self, site: Site) -> str:
        """The class this selector's ``parent_class`` is compared with on ``site``."""
        if self.quantizer_names == "modelopt" and site.modelopt_class is not None:
            return site.modelopt_class
        return site.module_type

    def quantizer_names_of(self, site: Site) -> tuple[str, ...]:
        """The names of ``site`` this selector's ``quantizer_path`` glob is matched against."""
        if self.quantizer_names == "modelopt":
            # one expert's ``…_weight_quantizers.3`` is also matched as ``…_weight_quantizer``
            return () if site.modelopt_name is None else modelopt_match_names(site.modelopt_name)
        return (site.quantizer_path, *site.aliases)

    def matches(self, site: Site) -> bool:
        if self.role is not None and site.role != self.role:
            return False
        if self.tensor is not None and site.tensor != self.tensor:
            return False
        if self.op_type is not None and site.op_type != self.op_type:
            return False
        if self.experts is not None and not in_range(self.experts, site.expert):
            return False
        if self.layers is not None and not in_range(self.layers, site.layer):
            return False
        if self.key is not None and self.key != "*" and not site.matches_key(self.key):
            return False
        if self.module_type is not None and not type_matches(self.module_type, site.module_type):
            return False
        if self.parent_class is not None and not type_matches(self.parent_class, self.owner_class_of(site)):
            return False
        if self.module_name is not None and not regex_fullmatch(self.module_name, site.module):
            return False
        if self.quantizer_path is not None and not any(
            glob_match(self.quantizer_path, p) for p in self.quantizer_names_of(site)
        ):
            return False
        entries: list[str] | None = None
        if self.scope is not None:
            entries = self.scope.matching_entries(site)
            if not entries:
                return False
        if self.op_name is not None:
            if site.op_name is None:
                return False
            if not self.op_name_relative:
                return regex_fullmatch(self.op_name, site.op_name)
            bases = entries if entries is not None else [""]
            return any(
                regex_fullmatch(self.op_name, _relative(site.op_name, base)) for base in bases
            )
        return True


def in_range(span: tuple[int, int], index: int | None) -> bool:
    """Whether ``index`` lies in the inclusive ``span`` (``None``, no index, never does)."""
    return index is not None and span[0] <= index <= span[1]


def _relative(op_name: str, base: str) -> str:
    if not base:
        return op_name
    prefix = base + "."
    return op_name[len(prefix) :] if op_name.startswith(prefix) else op_name
