"""Compile a hierarchical config into the engine's ordered rules (docs/semantics.md §3 → §2).

Priorities. docs/semantics.md §3 gives ``(tier, level, depth, op_level, key_level)``. Two more
components are needed for the compiled fold to equal the direct reading, and qrt adds them:

* ``key_order`` after ``depth``: two ``module_name_configs`` keys (or two type keys) that
  match the same scope entry are ranked by their order in the dict, and the winner governs
  *entirely* — without ``key_order`` in the tuple an earlier key's ``op_name_config``
  (op_level 2) would beat a later key's module default (op_level 0);
* ``op_key_order`` after ``op_level``: of several matching ``op_name_config`` regexes the last
  governs entirely, so an earlier regex's explicit key must not beat a later regex's ``"*"``.

So a rule's priority is ``(tier, level, depth, key_order, op_level, op_key_order, key_level)``
with tier op-level 0 < module-level 1; level global 0 < type 1 < name 2; depth the position
of the governing module on the call stack; op_level module default 0 < op_type_config 1 <
op_name_config 2; key_level ``"*"``/unlisted 0 < explicit 1. The direct reader
(``direct.py``) walks the config per site with no rules; hypothesis checks both agree.

What each governing configuration emits, at its own ``(level, depth, key_order)``:

* ``off`` for every op-level role in its scope — "a key that is not listed is not quantized"
  and "a ``None`` config leaves its scope unquantized";
* its module default specs, then each ``op_type_config`` and ``op_name_config`` entry, each
  again starting with ``off`` so that the most specific op configuration governs alone.

Module-level settings (tier 1) apply to the module's own boundary and state sites. Where a
module-level decision quantizes a tensor, the op-level sites on that same tensor are
overridden: those rules use the ``tensor`` predicate, so compiling them needs the model's
inventory. Without one, depths up to ``max_depth`` are compiled and the overrides are
listed in ``CompileResult.unexpressed``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from qrt.inventory.model import Inventory
from qrt.ir.effect import Off, Set
from qrt.ir.origin import Origin
from qrt.ir.patterns import regex_fullmatch
from qrt.ir.regex_set import RegexSet
from qrt.ir.rule import Rule, RuleSet
from qrt.ir.selector import ScopeMatch, Selector, type_matches
from qrt.ir.spec import QuantizationSpec

if TYPE_CHECKING:
    from qrt.frontends.hierarchical.config import ModuleQuantizerConfig, OpQuantizerConfig, QuantizerConfig

__all__ = ["CompileResult", "compile_config", "Candidate", "candidates", "key_text"]

OP_ROLES = ("input", "output", "state")
MODULE_ROLES = ("module_input", "module_output", "module_state")
_OP_SPEC_FIELD = {"input": "op_input_spec", "output": "op_output_spec", "state": "op_state_spec"}
_MODULE_SPEC_FIELD = {
    "module_input": "module_input_spec",
    "module_output": "module_output_spec",
    "module_state": "module_state_spec",
}
LEVELS = {"global": 0, "type": 1, "name": 2}


def key_text(key: Any) -> str:
    """A dict key as a config path writes it: strings quoted, ints bare."""
    if isinstance(key, str):
        return "'" + key.replace("\\", "\\\\").replace("'", "\\'") + "'"
    return str(key)


@dataclass(frozen=True)
class Candidate:
    """One module configuration that may govern a scope: global, a type key or a name key."""

    kind: str  # "global" | "type" | "name"
    key: str | None
    order: int
    config: ModuleQuantizerConfig | None

    @property
    def level(self) -> int:
        return LEVELS[self.kind]

    @property
    def path(self) -> str:
        if self.kind == "global":
            return "global_config"
        field = "module_type_configs" if self.kind == "type" else "module_name_configs"
        return f"{field}[{key_text(self.key)}]"

    def matches_entry(self, name: str, type_: str, depth: int) -> bool:
        if self.kind == "global":
            return depth == 0
        if self.kind == "type":  # a bare class name is allowed where unambiguous (docs/semantics.md §2)
            return type_matches(self.key or "", type_)
        return regex_fullmatch(self.key or "", name)


def candidates(cfg: QuantizerConfig) -> list[Candidate]:
    out = [Candidate("global", None, 0, cfg.global_config)]
    out += [Candidate("type", k, i, v) for i, (k, v) in enumerate(cfg.module_type_configs.items())]
    out += [Candidate("name", k, i, v) for i, (k, v) in enumerate(cfg.module_name_configs.items())]
    return out


@dataclass
class CompileResult:
    rules: RuleSet
    unexpressed: list[str] = field(default_factory=list)
    """settings the rules could not express (module-level overrides without an inventory)"""


class _Emitter:
    def __init__(self, cfg: QuantizerConfig) -> None:
        self.cfg = cfg
        self.rules: list[Rule] = []
        self._origins: dict[str, Origin] = {}
        """origins by config path: a setting compiles to several rules (one per op type,
        role …) that share its path — 198,009 rules of 18,009 paths for a 2,000-key config —
        and finding a path's YAML position parses and walks it (Origin is immutable)"""

    def origin(self, path: str) -> Origin:
        cached = self._origins.get(path)
        if cached is not None:
            return cached
        found = self.cfg.origin_of(path)
        origin = Origin(config_path=path) if found is None else Origin(found.file, found.line, found.column, path)
        self._origins[path] = origin
        return origin

    def emit(self, selector: Selector, effect: Any, priority: tuple[int, ...], path: str) -> None:
        self.rules.append(Rule(selector, effect, priority, origin=self.origin(path)))

    def spec_rules(
        self,
        base: dict[str, Any],
        specs: Mapping[Any, QuantizationSpec | None] | None,
        role: str,
        priority: tuple[int, ...],
        path: str,
    ) -> None:
        """``off`` for the role, then the ``"*"`` spec, then explicit keys (key_level 1)."""
        self.emit(Selector(**base, role=role), Off(), (*priority, 0), path)
        if specs is None:
            return
        if "*" in specs:
            self.emit(Selector(**base, role=role), _effect(specs["*"]), (*priority, 0), f"{path}['*']")
        for key, spec in specs.items():
            if key == "*":
                continue
            self.emit(Selector(**base, role=role, key=key), _effect(spec), (*priority, 1), f"{path}[{key_text(key)}]")


def _effect(spec: QuantizationSpec | None) -> Any:
    return Off() if spec is None else Set(spec)


def _op_config_rules(
    em: _Emitter,
    base: dict[str, Any],
    opc: OpQuantizerConfig | None,
    priority: tuple[int, ...],
    path: str,
) -> None:
    for role in OP_ROLES:
        field_name = _OP_SPEC_FIELD[role]
        if opc is None:
            em.emit(Selector(**base, role=role), Off(), (*priority, 0), path)
        else:
            em.spec_rules(base, getattr(opc, field_name), role, priority, f"{path}.{field_name}")


def _depth_table(cands: list[Candidate], inv: Inventory | None, max_depth: int) -> list[list[int]]:
    """For each candidate, the scope depths at which it matches a module of the model.

    One pass over the distinct call-stack entries; name keys are matched together with an
    RE2 set, so a config with thousands of regex keys compiles in one sweep.
    """
    if inv is None:
        return [[0] if c.kind == "global" else list(range(max_depth)) for c in cands]
    entries: set[tuple[str, str, int]] = set()
    for scope in {s.scope for s in inv.sites}:
        entries.update((name, type_, depth) for depth, (name, type_) in enumerate(scope))
    found: list[set[int]] = [set() for _ in cands]
    names = [(i, c.key or "") for i, c in enumerate(cands) if c.kind == "name"]
    types = [(i, c.key or "") for i, c in enumerate(cands) if c.kind == "type"]
    name_set = RegexSet([key for _, key in names]) if names else None
    type_hits: dict[str, list[int]] = {}
    for name, type_, depth in entries:
        if name_set is not None:
            for hit in name_set.match(name):
                found[names[hit][0]].add(depth)
        if type_ not in type_hits:
            type_hits[type_] = [i for i, key in types if type_matches(key, type_)]
        for i in type_hits[type_]:
            found[i].add(depth)
    for i, c in enumerate(cands):
        if c.kind == "global":
            found[i] = {0}
    return [sorted(f) for f in found]


def _scope_base(cand: Candidate, depth: int) -> dict[str, Any]:
    if cand.kind == "global":
        return {}
    if cand.kind == "type":
        return {"scope": ScopeMatch(type=cand.key, depth=depth)}
    return {"scope": ScopeMatch(name=cand.key, depth=depth)}


def _op_level(em: _Emitter, cand: Candidate, depth: int) -> None:
    pri = (0, cand.level, depth, cand.order)
    base = _scope_base(cand, depth)
    cfg = cand.config
    if cfg is None:
        for role in OP_ROLES:
            em.emit(Selector(**base, role=role), Off(), (*pri, 0, 0, 0), cand.path)
        return
    _op_config_rules(em, base, cfg, (*pri, 0, 0), cand.path)
    for op_type, opc in cfg.op_type_config.items():
        _op_config_rules(
            em, {**base, "op_type": op_type}, opc, (*pri, 1, 0), f"{cand.path}.op_type_config[{key_text(op_type)}]"
        )
    for j, (regex, opc) in enumerate(cfg.op_name_config.items()):
        _op_config_rules(
            em,
            {**base, "op_name": regex, "op_name_relative": True},
            opc,
            (*pri, 2, j),
            f"{cand.path}.op_name_config[{key_text(regex)}]",
        )


def _module_base(cand: Candidate) -> dict[str, Any]:
    if cand.kind == "global":
        return {"module_name": ""}
    if cand.kind == "type":
        return {"module_type": cand.key}
    return {"module_name": cand.key}


def _module_level(em: _Emitter, cand: Candidate) -> None:
    pri = (1, cand.level, 0, cand.order, 0, 0)
    base = _module_base(cand)
    cfg = cand.config
    for role in MODULE_ROLES:
        if cfg is None:
            em.emit(Selector(**base, role=role), Off(), (*pri, 0), cand.path)
            continue
        field_name = _MODULE_SPEC_FIELD[role]
        em.spec_rules(base, getattr(cfg, field_name), role, pri, f"{cand.path}.{field_name}")


def _overrides(em: _Emitter, module_rules: RuleSet, inv: Inventory) -> None:
    """Module-level quantizers override the op-level sites on the tensor they quantize."""
    from qrt.resolver.fast import FastResolver

    resolver = FastResolver(module_rules)
    done: set[str] = set()
    for site in inv.sites:
        if site.role not in MODULE_ROLES or site.tensor in done:
            continue
        decision = resolver.decide(site)
        if decision.spec is None:
            continue
        done.add(site.tensor)
        rule = decision.decided_by
        assert rule is not None
        path = (rule.origin.config_path or "") + f" (module-level quantizer {site.quantizer_path})"
        for role in OP_ROLES:
            em.rules.append(
                Rule(
                    Selector(tensor=site.tensor, role=role),
                    Off(),
                    (*rule.priority[:-1], 2),
                    origin=Origin(rule.origin.file, rule.origin.line, rule.origin.column, path),
                )
            )


def compile_config(cfg: QuantizerConfig, inv: Inventory | None = None, *, max_depth: int = 16) -> CompileResult:
    """The ordered rules of ``cfg``; with ``inv``, exact for that model (depths, overrides)."""
    em = _Emitter(cfg)
    cands = candidates(cfg)
    for cand, depths in zip(cands, _depth_table(cands, inv, max_depth)):
        for depth in depths:
            _op_level(em, cand, depth)
    op_rules = list(em.rules)
    em.rules = []
    for cand in cands:
        _module_level(em, cand)
    module_rules = list(em.rules)
    unexpressed: list[str] = []
    if inv is not None:
        _overrides(em, RuleSet.of(module_rules), inv)
    elif any(
        c.config is not None and any(getattr(c.config, f) for f in _MODULE_SPEC_FIELD.values())
        for c in candidates(cfg)
    ):
        unexpressed.append(
            "module-level specs override the op-level sites on the same tensor; that needs the "
            "model's inventory (pass --model)"
        )
    return CompileResult(RuleSet.of(op_rules + em.rules), unexpressed)
