"""The literal reading of a wildcard list (docs/semantics.md §4): a loop over entries and quantizers.

This is the oracle the wildcard compiler is checked against (docs/semantics.md §5.5), so it does the
obvious thing and nothing clever: every quantizer starts from its role default; then, for each
entry in order and each quantizer name, if the entry's glob matches the name (and its
``parent_class``, if any, is exactly the owning module's class), the entry is applied.
The quantizers are ModelOpt's: on a model, the sites that carry a ModelOpt name, by that name
(:func:`reference_site_states`); every other site keeps its start, off — a list cannot reach
it (docs/semantics.md §4). What an entry does:

* an entry with a ``cfg`` **replaces** all attributes — unset ones revert to the 0.47 defaults
  (``num_bits`` 8, ``axis`` None, …), earlier entries leave no trace — and enables the
  quantizer unless the entry says ``enable: false``;
* an entry with ``enable`` alone (or an empty ``cfg`` with ``enable: false``) only switches the
  quantizer on or off and keeps its attributes.

Matching, as ModelOpt does it and as §4 fixes it:

* the glob is anchored, ``*`` crosses dots, ``?`` and ``[kv]`` work, and it is
  **case-sensitive** (:func:`fnmatch.fnmatchcase`). ModelOpt 0.47 calls ``fnmatch.fnmatch``,
  which is the same on POSIX but ignores case on Windows (``os.path.normcase``); qrt fixes the
  POSIX behaviour everywhere.
* a stage name ``x.weight_quantizer.0`` (a quantizer named ``<…>_quantizer`` plus ``.N``) is
  also matched as ``x.weight_quantizer``, and one expert's ``x.gate_up_proj_weight_quantizers.3``
  as ``x.gate_up_proj_weight_quantizer``. ModelOpt 0.47 does this through its fused-experts
  normaliser, which only covers ``weight_quantizer(s)`` and ``input_quantizer(s)`` (anywhere in
  the name, plural included); §4 states it for any ``…_quantizer(s).N`` at the end of a name.
* ``parent_class`` (``nn.Linear`` or a fully-qualified name) matches when the owning module's
  class is exactly that class, never a subclass. (ModelOpt 0.47 tests ``isinstance`` against the
  class its registry generated for exactly ``nn.Linear``; a subclass of ``nn.Linear`` is
  converted to a class of its own, so the effect is the same exactness.)

A state is ``{"enable": bool, "attributes": dict}``, or with ``"attributes"`` a list of dicts
for a sequential quantizer. ``attributes`` holds every attribute of the 0.47 vocabulary except
``enable``, which lives only in ``"enable"``.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Mapping, Sequence
from fnmatch import fnmatchcase
from typing import Any

from qrt.frontends.wildcard.attributes import attribute_defaults, validate_attributes
from qrt.frontends.wildcard.entry_check import qualified_parent_class
from qrt.frontends.wildcard.model import Entry, WildcardConfig
from qrt.inventory.modelopt import modelopt_base_name, modelopt_match_names
from qrt.ir.site import Site

__all__ = [
    "State",
    "disabled_state",
    "full_attributes",
    "name_matches",
    "owner_matches",
    "reference_site_states",
    "reference_states",
    "stage_base",
]

State = dict[str, Any]
"""``{"enable": bool, "attributes": dict | list[dict]}``."""

RoleDefault = Callable[[str], "State | Mapping[str, Any] | None"]

def stage_base(name: str) -> str | None:
    """``x.weight_quantizer`` for the stage name ``x.weight_quantizer.0``, and
    ``x.gate_up_proj_weight_quantizer`` for one expert's ``x.gate_up_proj_weight_quantizers.3``;
    ``None`` otherwise (:func:`qrt.inventory.modelopt.modelopt_base_name`, the one rule)."""
    return modelopt_base_name(name)


def name_matches(pattern: str, name: str) -> bool:
    """Whether an entry's glob matches a quantizer name (or, for a stage or one expert's
    quantizer, the quantizer it belongs to)."""
    return any(fnmatchcase(n, pattern) for n in modelopt_match_names(name))


def owner_matches(parent_class: str | None, owner: str | None) -> bool:
    """Whether ``parent_class`` admits a quantizer whose owning module's class is ``owner``
    (fully-qualified); no ``parent_class`` admits every quantizer."""
    if parent_class is None:
        return True
    return owner is not None and owner == qualified_parent_class(parent_class)


def _without_enable(attributes: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in attributes.items() if k != "enable"}


def full_attributes(
    attributes: Mapping[str, Any] | Sequence[Mapping[str, Any]], *, where: str = "attributes"
) -> dict[str, Any] | list[dict[str, Any]]:
    """The given attributes checked, normalised and completed with the 0.47 defaults (without
    ``enable``); a list of such dicts for a list of stages."""
    if isinstance(attributes, Mapping):
        return _complete(attributes, where)
    return [_complete(stage, f"{where}[{i}]") for i, stage in enumerate(attributes)]


def _complete(attributes: Mapping[str, Any], where: str) -> dict[str, Any]:
    given = validate_attributes(attributes, where=where)
    return _without_enable({**attribute_defaults(), **given})


def disabled_state() -> State:
    """Where a quantizer with no role default starts: disabled, default attributes."""
    return {"enable": False, "attributes": _without_enable(attribute_defaults())}


def _start(name: str, default: State | Mapping[str, Any] | None) -> State:
    if default is None:
        return disabled_state()
    enable = default.get("enable")
    if not isinstance(enable, bool):
        raise TypeError(f"role default of {name!r}: 'enable' must be a bool, got {enable!r}")
    return {
        "enable": enable,
        "attributes": full_attributes(
            default.get("attributes", {}), where=f"role default of {name!r}"
        ),
    }


Quantizers = Mapping[str, "str | None"] | Iterable[tuple[str, "str | None"]]
"""Quantizer names with their owning module's fully-qualified class: a mapping or pairs."""


def _pairs(quantizers: Quantizers) -> list[tuple[str, str | None]]:
    pairs = list(quantizers.items() if isinstance(quantizers, Mapping) else quantizers)
    seen: set[str] = set()
    for name, _ in pairs:
        if name in seen:
            raise ValueError(f"quantizer {name!r} is listed twice")
        seen.add(name)
    return pairs


def reference_states(
    entries: WildcardConfig | Iterable[Entry],
    quantizers: Quantizers,
    *,
    role_default: RoleDefault | None = None,
    aliases: Mapping[str, Sequence[str]] | None = None,
) -> dict[str, State]:
    """The final state of every quantizer after applying ``entries`` in order (docs/semantics.md §4).

    ``quantizers`` gives each quantizer's name and its owning module's fully-qualified class
    (a mapping, or ``(name, class)`` pairs). ``role_default(name)`` gives the state a quantizer
    starts in — the caller decides where ModelOpt would put quantizers and how it sets them up;
    ``None`` (or no callable) means disabled with default attributes. Its ``attributes`` may be
    partial; the rest take the defaults. ``aliases`` gives further names a quantizer answers to
    (qrt's attention sites also carry ModelOpt's ``q_bmm_quantizer`` … names): an entry applies
    when its glob matches any of them. Returns ``{name: state}`` in the order given.
    """
    pairs = _pairs(quantizers)
    states: dict[str, State] = {
        name: _start(name, role_default(name) if role_default else None) for name, _ in pairs
    }
    for entry in entries:
        replacement = None
        if not entry.is_toggle:
            attributes = entry.attributes()
            assert attributes is not None
            replacement = full_attributes(attributes)
        for name, owner in pairs:
            names = (name, *(aliases or {}).get(name, ()))
            if not any(name_matches(entry.pattern, n) for n in names):
                continue
            if not owner_matches(entry.parent_class, owner):
                continue
            if replacement is None:  # enable alone: a switch; attributes stay
                states[name]["enable"] = entry.enable
            else:  # cfg: full replacement, enabled unless the entry says enable: false
                states[name] = {
                    "enable": entry.effective_enable,
                    "attributes": copy.deepcopy(replacement),
                }
    return states


def reference_site_states(entries: WildcardConfig | Iterable[Entry], sites: Sequence[Site]) -> dict[str, State]:
    """The literal reading of a list on a model's sites: ``{quantizer path: state}``.

    The quantizers of the loop are the sites that carry a ModelOpt name, under that name and
    owned by the class ModelOpt's module is an instance of (``modelopt_class``), starting from docs/semantics.md §4's role defaults
    (:func:`~qrt.frontends.wildcard.instrumented.role_default_state`); every other site is
    outside the list's reach and keeps its start (off, default attributes).
    """
    from qrt.frontends.wildcard.instrumented import role_default_state

    universe = {s.modelopt_name: s for s in sites if s.modelopt_name is not None}
    states = reference_states(
        entries,
        [(name, site.modelopt_class or site.module_type) for name, site in universe.items()],
        role_default=lambda name: role_default_state(universe[name]),
    )
    by_path = {site.quantizer_path: states[name] for name, site in universe.items()}
    return {
        s.quantizer_path: by_path.get(s.quantizer_path) or _start(s.quantizer_path, role_default_state(s))
        for s in sites
    }
