"""The direct reading of docs/semantics.md §3: walk the config for one site, no rules.

Kept beside the compiler as its oracle (docs/semantics.md §5.5): hypothesis checks that resolving the
compiled rules gives exactly these decisions on every site of generated models and configs.
It is also what ``explain`` uses to name the governing module configuration and the op
configuration level that applied.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from qrt.frontends.hierarchical.compile import Candidate, candidates, key_text
from qrt.inventory.model import Inventory
from qrt.ir.patterns import regex_fullmatch
from qrt.ir.selector import type_matches
from qrt.ir.site import MODULE_ROLES, Site
from qrt.ir.spec import QuantizationSpec

if TYPE_CHECKING:
    from qrt.frontends.hierarchical.config import QuantizerConfig

__all__ = ["Reading", "read_site", "governing_candidate"]

_OP_FIELD = {"input": "op_input_spec", "output": "op_output_spec", "state": "op_state_spec"}
_MODULE_FIELD = {
    "module_input": "module_input_spec",
    "module_output": "module_output_spec",
    "module_state": "module_state_spec",
}


@dataclass(frozen=True)
class Reading:
    """What §3 says for one site, and the path through the config that says it."""

    spec: QuantizationSpec | None
    governing: Candidate | None
    governing_depth: int | None
    path: str
    """config path of the setting that decided (``...op_type_config['softmax'].op_input_spec['*']``)"""
    note: str
    candidates: tuple[tuple[Candidate, int], ...] = ()
    """every candidate module configuration that matched, with its depth"""


def governing_candidate(
    cfg: QuantizerConfig, site: Site
) -> tuple[Candidate | None, int | None, tuple[tuple[Candidate, int], ...]]:
    matched: list[tuple[Candidate, int]] = []
    for cand in candidates(cfg):
        for depth, (name, type_) in enumerate(site.scope):
            if cand.matches_entry(name, type_, depth):
                matched.append((cand, depth))
    if not matched:
        return None, None, ()
    best = max(matched, key=lambda cd: (cd[0].level, cd[1], cd[0].order))
    return best[0], best[1], tuple(matched)


def _pick(specs: Mapping[Any, QuantizationSpec | None] | None, site: Site, path: str) -> tuple[QuantizationSpec | None, str, str]:
    if specs is None:
        return None, path, f"{path} is None: not quantized"
    explicit = [k for k in specs if k != "*" and site.matches_key(k)]
    if explicit:  # the last one listed, as later rules win in the compiled form
        key = explicit[-1]
        return specs[key], f"{path}[{key_text(key)}]", "explicit key"
    if "*" in specs:
        return specs["*"], f"{path}['*']", "'*'"
    return None, path, f"key {site.key!r} is not listed in {path} (and no '*'): not quantized"


def _relative(op_name: str, base: str) -> str:
    if not base:
        return op_name
    prefix = base + "."
    return op_name[len(prefix) :] if op_name.startswith(prefix) else op_name


def _module_reading(cfg: QuantizerConfig, site: Site) -> Reading:
    matched = [
        (c, len(site.scope) - 1)
        for c in candidates(cfg)
        if (c.kind == "global" and site.module == "")
        or (c.kind == "type" and type_matches(c.key or "", site.module_type))
        or (c.kind == "name" and regex_fullmatch(c.key or "", site.module))
    ]
    if not matched:
        return Reading(None, None, None, "", "no module configuration matches this module")
    cand, depth = max(matched, key=lambda cd: (cd[0].level, cd[0].order))
    if cand.config is None:
        return Reading(None, cand, depth, cand.path, f"{cand.path} is None", tuple(matched))
    field_name = _MODULE_FIELD[site.role]
    spec, path, note = _pick(getattr(cand.config, field_name), site, f"{cand.path}.{field_name}")
    return Reading(spec, cand, depth, path, note, tuple(matched))


def read_site(cfg: QuantizerConfig, site: Site, inv: Inventory) -> Reading:
    """The decision docs/semantics.md §3 gives ``site`` (before default axes are filled in)."""
    if site.role in MODULE_ROLES:
        return _module_reading(cfg, site)
    for other in inv.sites_by_tensor.get(site.tensor, ()):
        if other.role in MODULE_ROLES:
            module = _module_reading(cfg, other)
            if module.spec is not None:
                return Reading(
                    None, module.governing, module.governing_depth, module.path,
                    f"overridden by the module-level quantizer {other.quantizer_path} on this tensor",
                )
    cand, depth, matched = governing_candidate(cfg, site)
    if cand is None or depth is None:
        return Reading(None, None, None, "", "no module configuration governs this op")
    if cand.config is None:
        return Reading(None, cand, depth, cand.path, f"{cand.path} is None: its scope is not quantized", matched)
    base = site.scope[depth][0]
    opc: Any = cand.config
    path = cand.path
    level = "module default"
    rel = _relative(site.op_name or "", base)
    for regex, value in cand.config.op_name_config.items():
        if regex_fullmatch(regex, rel):
            opc, path, level = value, f"{cand.path}.op_name_config[{key_text(regex)}]", "op_name_config"
    if level == "module default" and site.op_type in cand.config.op_type_config:
        opc = cand.config.op_type_config[site.op_type]
        path, level = f"{cand.path}.op_type_config[{key_text(site.op_type)}]", "op_type_config"
    if opc is None:
        return Reading(None, cand, depth, path, f"{path} is None: not quantized", matched)
    field_name = _OP_FIELD[site.role]
    spec, spec_path, note = _pick(getattr(opc, field_name), site, f"{path}.{field_name}")
    return Reading(spec, cand, depth, spec_path, f"{level}, {note}", matched)
