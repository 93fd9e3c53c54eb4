"""The fast resolver: the same decisions as ``reference.py``, without re-scanning rules per site.

How (each step is memoised on the *distinct* value, not on the site):

1. Every rule is a bit. For each predicate kind, a site value maps to the bitmask of rules
   that accept it (rules without that predicate accept everything):
   equality predicates (role, op type, key) are dict lookups; type predicates are decided
   once per distinct class name; regex/glob predicates are matched with one RE2 ``Set`` per
   kind — one pass over a name finds every matching pattern, so the cost does not grow with
   the number of rules — once per distinct module name, scope, op name and quantizer path.
2. A site's matching rules are the AND of its masks.
3. The fold is computed once per distinct (mask, role) and shared by every site with it.

``tests/properties`` checks it against the literal fold on generated rule sets and sites.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

from qrt.ir.rule import Rule, RuleSet
from qrt.ir.selector import Selector, _relative, in_range, type_matches
from qrt.inventory.canonical import SITE_FIELDS, site_row
from qrt.ir.site import Site
from qrt.ir.patterns import glob_to_regex, modelopt_match_names
from qrt.ir.regex_set import RegexSet
from qrt.resolver.decision import Decision, fold

if TYPE_CHECKING:
    pass

__all__ = ["FastResolver", "Outcome", "SiteRow", "resolve", "row_index"]

SiteRow = tuple[Any, ...]
"""A site as the tuple of its fields in :class:`Site`'s order (``Site(*row)`` is the site): what
the inventory cache holds until something reads the sites table."""

Outcome = tuple[tuple[Rule, ...], Any]
"""What resolving a site gives: the matching rules in fold order and the fold's final state
(:class:`~qrt.ir.effect.FoldState`); one shared tuple per distinct (matching rules, role)."""

_FIELDS = SITE_FIELDS
(_PATH, _SCOPE, _ROLE, _KEY, _OP_TYPE, _OP_NAME, _TENSOR, _ARG_NAME, _ALIASES, _MODELOPT_NAME, _MODELOPT_CLASS,
 _EXPERT) = (_FIELDS.index(f) for f in ("quantizer_path", "scope", "role", "key", "op_type", "op_name", "tensor",
                                        "arg_name", "aliases", "modelopt_name", "modelopt_class", "expert"))


def row_index(field: str) -> int:
    """The position of :class:`Site` field ``field`` in a row."""
    return _FIELDS.index(field)


class _PatternSet:
    """Many regexes (fullmatch) over one name in one RE2 pass → bitmask of their rules.

    The RE2 side is :class:`~qrt.ir.regex_set.RegexSet`: tens of thousands of patterns
    compile there (split into several sets when one would pass RE2's memory budget) instead of
    failing with "failed to compile Set"."""

    def __init__(self, patterns: Sequence[tuple[int, str]]) -> None:
        self.bits = [1 << i for i, _ in patterns]
        self._set: RegexSet | None = RegexSet([p for _, p in patterns]) if patterns else None

    def __bool__(self) -> bool:
        return self._set is not None

    def mask(self, text: str) -> int:
        if self._set is None:
            return 0
        out = 0
        for h in self._set.match(text):
            out |= self.bits[h]
        return out


def _bits(indices: Iterable[int]) -> int:
    out = 0
    for i in indices:
        out |= 1 << i
    return out


class FastResolver:
    """Resolve many sites against one rule set; build once, call :meth:`resolve` often."""

    def __init__(self, rules: RuleSet) -> None:
        self.rules: tuple[Rule, ...] = rules.rules
        n = len(self.rules)
        self.all = (1 << n) - 1
        sel = [r.selector for r in self.rules]

        def without(pred: Callable[[Selector], bool]) -> int:
            return self.all & ~_bits(i for i, s in enumerate(sel) if pred(s))

        self._tensor_free = without(lambda s: s.tensor is not None)
        self._tensor: dict[str, int] = {}
        self._role_free = without(lambda s: s.role is not None)
        self._role: dict[str, int] = {}
        self._op_free = without(lambda s: s.op_type is not None)
        self._op: dict[str, int] = {}
        def keyed(s: Selector) -> bool:
            return s.key is not None and s.key != "*"

        self._key_free = without(keyed)
        self._key: dict[object, int] = {}
        for i, s in enumerate(sel):
            if s.role is not None:
                self._role[s.role] = self._role.get(s.role, 0) | 1 << i
            if s.tensor is not None:
                self._tensor[s.tensor] = self._tensor.get(s.tensor, 0) | 1 << i
            if s.op_type is not None:
                self._op[s.op_type] = self._op.get(s.op_type, 0) | 1 << i
            if keyed(s):
                k = (type(s.key), s.key)
                self._key[k] = self._key.get(k, 0) | 1 << i

        # parent_class reads the module's class, or (ModelOpt names) the class ModelOpt's
        # converted module is an instance of: two memos, keyed by the class each one reads
        def qrt_parent(s: Selector) -> bool:
            return s.parent_class is not None and s.quantizer_names == "qrt"

        def mo_parent(s: Selector) -> bool:
            return s.parent_class is not None and s.quantizer_names == "modelopt"

        self._typed = [(i, s) for i, s in enumerate(sel) if s.module_type or qrt_parent(s)]
        self._type_free = self.all & ~_bits(i for i, _ in self._typed)
        self._type_memo: dict[str, int] = {}
        self._mo_typed = [(i, s) for i, s in enumerate(sel) if mo_parent(s)]
        self._mo_type_free = self.all & ~_bits(i for i, _ in self._mo_typed)
        self._mo_type_memo: dict[str, int] = {}

        self._mname = _PatternSet([(i, s.module_name) for i, s in enumerate(sel) if s.module_name is not None])
        self._mname_free = without(lambda s: s.module_name is not None)
        self._mname_memo: dict[str, int] = {}

        self._scoped = [(i, s.scope) for i, s in enumerate(sel) if s.scope is not None]
        self._scope_names = _PatternSet([(i, sc.name) for i, sc in self._scoped if sc.name is not None])
        self._scope_typeonly = [(i, sc) for i, sc in self._scoped if sc.name is None]
        self._scope_free = without(lambda s: s.scope is not None)
        self._scope_by_idx = dict(self._scoped)
        self._entry_memo: dict[tuple[str, str, int], int] = {}
        self._type_depth_memo: dict[tuple[str, int], int] = {}
        self._scope_memo: dict[tuple[Any, ...], int] = {}

        self._abs_op = _PatternSet(
            [(i, s.op_name) for i, s in enumerate(sel) if s.op_name is not None and not s.op_name_relative]
        )
        self._rel_op = [(i, s.op_name) for i, s in enumerate(sel) if s.op_name is not None and s.op_name_relative]
        self._rel_op_set = _PatternSet(self._rel_op)
        self._rel_bits = _bits(i for i, _ in self._rel_op)
        self._op_name_free = without(lambda s: s.op_name is not None)
        self._opname_memo: dict[tuple[Any, ...], int] = {}

        # a quantizer_path glob reads qrt's names (path and aliases) or only the ModelOpt name
        self._paths = _PatternSet(
            [(i, glob_to_regex(s.quantizer_path)) for i, s in enumerate(sel)
             if s.quantizer_path is not None and s.quantizer_names == "qrt"]
        )
        self._modelopt_paths = _PatternSet(
            [(i, glob_to_regex(s.quantizer_path)) for i, s in enumerate(sel)
             if s.quantizer_path is not None and s.quantizer_names == "modelopt"]
        )
        self._path_free = without(lambda s: s.quantizer_path is not None)

        # expert / layer index ranges: decided once per distinct index
        self._ranged = [(i, s.experts, s.layers) for i, s in enumerate(sel) if s.experts is not None or s.layers is not None]
        self._range_free = without(lambda s: s.experts is not None or s.layers is not None)
        self._range_memo: dict[tuple[int | None, int | None], int] = {}

        self._fold_memo: dict[tuple[int, str], tuple[tuple[Rule, ...], Any]] = {}
        # site → outcome, for resolving the same inventory again (explain, lint, diff); keyed by
        # id() with the site kept alive in the value, so an id is never reused while cached
        self._site_memo: dict[int, tuple[Site, Outcome]] = {}
        self._layer_memo: dict[str, int | None] = {}
        self._plain_memo: dict[tuple[str, str | None, str], int] = {}

    # --- per-kind masks (memoised on distinct values) -------------------------------------
    def _type_mask(self, module_type: str) -> int:
        mask = self._type_memo.get(module_type)
        if mask is None:
            mask = self._type_free
            for i, s in self._typed:
                if (s.module_type is None or type_matches(s.module_type, module_type)) and (
                    s.parent_class is None or s.quantizer_names == "modelopt"
                    or type_matches(s.parent_class, module_type)
                ):
                    mask |= 1 << i
            self._type_memo[module_type] = mask
        return mask

    def _mo_type_mask(self, owner_class: str) -> int:
        mask = self._mo_type_memo.get(owner_class)
        if mask is None:
            mask = self._mo_type_free
            for i, s in self._mo_typed:
                if type_matches(s.parent_class, owner_class):  # type: ignore[arg-type]
                    mask |= 1 << i
            self._mo_type_memo[owner_class] = mask
        return mask

    def _mname_mask(self, module: str) -> int:
        mask = self._mname_memo.get(module)
        if mask is None:
            mask = self._mname_free | self._mname.mask(module)
            self._mname_memo[module] = mask
        return mask

    def _entry_mask(self, name: str, type_: str, depth: int) -> int:
        """Scope rules accepting one call-stack entry (memoised per distinct entry)."""
        key = (name, type_, depth)
        mask = self._entry_memo.get(key)
        if mask is None:
            mask = 0
            by_idx = self._scope_by_idx
            for i in _iter_bits(self._scope_names.mask(name)):
                sc = by_idx[i]
                if (sc.depth is None or sc.depth == depth) and (
                    sc.type is None or type_matches(sc.type, type_)
                ):
                    mask |= 1 << i
            tkey = (type_, depth)
            tmask = self._type_depth_memo.get(tkey)
            if tmask is None:
                tmask = _bits(
                    i for i, sc in self._scope_typeonly
                    if (sc.depth is None or sc.depth == depth) and type_matches(sc.type, type_)  # type: ignore[arg-type]
                )
                self._type_depth_memo[tkey] = tmask
            mask |= tmask
            self._entry_memo[key] = mask
        return mask

    def _scope_mask(self, scope: tuple[Any, ...]) -> int:
        mask = self._scope_memo.get(scope)
        if mask is None:
            mask = self._scope_free
            for depth, (name, type_) in enumerate(scope):
                mask |= self._entry_mask(name, type_, depth)
            self._scope_memo[scope] = mask
        return mask

    def _opname_mask(self, row: SiteRow) -> int:
        op_name = row[_OP_NAME]
        if op_name is None:
            return self._op_name_free
        scope = row[_SCOPE]
        memo_key = (op_name, scope)
        mask = self._opname_memo.get(memo_key)
        if mask is None:
            mask = self._op_name_free | self._abs_op.mask(op_name)
            rel_hits: dict[str, int] = {}
            site: Site | None = None
            # only relative rules whose scope predicate accepts this call stack can match
            in_scope = self._rel_bits & (self._scope_mask(scope) if self._scoped else self.all)
            for i in _iter_bits(in_scope):
                scope_pred = self.rules[i].selector.scope
                if scope_pred is None:
                    bases = [""]
                else:
                    site = site or Site(*row)
                    bases = scope_pred.matching_entries(site)
                for base in bases:
                    if base not in rel_hits:
                        rel_hits[base] = self._rel_op_set.mask(_relative(op_name, base))
                    if rel_hits[base] >> i & 1:
                        mask |= 1 << i
                        break
            self._opname_memo[memo_key] = mask
        return mask

    def _range_mask(self, expert: int | None, layer: int | None) -> int:
        key = (expert, layer)
        cached = self._range_memo.get(key)
        if cached is None:
            cached = self._range_free
            for i, experts, layers in self._ranged:
                if (experts is None or in_range(experts, expert)) and (layers is None or in_range(layers, layer)):
                    cached |= 1 << i
            self._range_memo[key] = cached
        return cached

    def _path_mask(self, row: SiteRow) -> int:
        if not self._paths and not self._modelopt_paths:
            return self.all
        mask = self._path_free
        if self._paths:
            mask |= self._paths.mask(row[_PATH])
            for alias in row[_ALIASES]:
                mask |= self._paths.mask(alias)
        modelopt_name = row[_MODELOPT_NAME]
        if self._modelopt_paths and modelopt_name is not None:
            for name in modelopt_match_names(modelopt_name):
                mask |= self._modelopt_paths.mask(name)
        return mask

    def _layer(self, module: str, row: SiteRow) -> int | None:
        """:attr:`Site.layer`, once per module name (the only field it reads)."""
        if module not in self._layer_memo:
            self._layer_memo[module] = Site(*row).layer
        return self._layer_memo[module]

    # --- resolution ------------------------------------------------------------------------
    def _plain_mask(self, role: str, op_type: str | None, module_type: str) -> int:
        """The role, op-type and class predicates together, once per distinct triple (a model
        has a few dozen; these three lookups were most of a site's cost)."""
        key = (role, op_type, module_type)
        mask = self._plain_memo.get(key)
        if mask is None:
            mask = (
                (self._role_free | self._role.get(role, 0))
                & (self._op_free | self._op.get(op_type, 0) if op_type is not None else self._op_free)
                & self._type_mask(module_type)
            )
            self._plain_memo[key] = mask
        return mask

    def matching_mask(self, site: Site) -> int:
        """The bits of the rules whose selector accepts ``site``."""
        return self.row_mask(site_row(site))

    def row_mask(self, row: SiteRow) -> int:
        """:meth:`matching_mask` of a site given as its row (:func:`qrt.inventory.canonical.site_row`): the one
        implementation, so an inventory whose sites are still rows is resolved without
        building them. The memos are read inline (a 70B-shaped Llama runs this 11,727 times)."""
        scope = row[_SCOPE]
        module, module_type = scope[-1] if scope else ("", "")
        role, op_type = row[_ROLE], row[_OP_TYPE]
        mask = self._plain_memo.get((role, op_type, module_type))
        if mask is None:
            mask = self._plain_mask(role, op_type, module_type)
        if self._mo_typed:
            mask &= self._mo_type_mask(row[_MODELOPT_CLASS] or module_type)
        if self._tensor:
            mask &= self._tensor_free | self._tensor.get(row[_TENSOR], 0)
        if self._key:
            key, arg_name = row[_KEY], row[_ARG_NAME]
            km = self._key_free | self._key.get((type(key), key), 0)
            if arg_name is not None:
                km |= self._key.get((str, arg_name), 0)
            mask &= km
        if self._ranged:
            mask &= self._range_mask(row[_EXPERT], self._layer(module, row))
        if not mask:
            return 0
        if self._mname:
            by_name = self._mname_memo.get(module)
            mask &= by_name if by_name is not None else self._mname_mask(module)
        if self._scoped:
            by_scope = self._scope_memo.get(scope)
            mask &= by_scope if by_scope is not None else self._scope_mask(scope)
        if mask and self._op_name_free != self.all:
            mask &= self._opname_mask(row)
        if mask and (self._paths or self._modelopt_paths):
            mask &= self._path_mask(row)
        return mask

    def _outcome_of(self, mask: int, role: str) -> Outcome:
        memo_key = (mask, role)
        found = self._fold_memo.get(memo_key)
        if found is None:
            matched = tuple(sorted((self.rules[i] for i in _iter_bits(mask)), key=lambda r: r.sort_key))
            found = (matched, fold(matched, role))
            self._fold_memo[memo_key] = found
        return found

    def outcome(self, site: Site) -> Outcome:
        """``(matched rules in fold order, final fold state)`` of ``site``: the very tuple every
        site with the same matching rules and role shares (so callers that only count or
        check per distinct outcome can group sites by its ``id``, :mod:`qrt.lint.model_checks`)."""
        cached = self._site_memo.get(id(site))
        if cached is not None and cached[0] is site:
            return cached[1]
        found = self._outcome_of(self.matching_mask(site), site.role)
        self._site_memo[id(site)] = (site, found)
        return found

    def decide(self, site: Site) -> Decision:
        matched, state = self.outcome(site)
        return Decision(site, state, matched)

    def row_outcomes(self, rows: Iterable[SiteRow]) -> list[Outcome]:
        """The outcome of every site given as its row (:meth:`Inventory.site_rows`), in order:
        no :class:`Site` and no :class:`Decision` per site."""
        row_mask, outcome_of, memo, plain = self.row_mask, self._outcome_of, self._fold_memo, self._plain_memo

        def all_of() -> list[Outcome]:
            out = []
            for row in rows:
                role, scope = row[_ROLE], row[_SCOPE]
                # most sites no rule's role, op type and class admit (the first test of
                # :meth:`row_mask`, read from its memo): their mask is 0 without the rest
                if plain.get((role, row[_OP_TYPE], scope[-1][1] if scope else "")) == 0:
                    mask = 0
                else:
                    mask = row_mask(row)
                out.append(memo.get((mask, role)) or outcome_of(mask, role))  # an outcome is never empty
            return out

        return _paused_gc(all_of)

    def resolve(self, sites: Iterable[Site]) -> list[Decision]:
        decide = self.decide
        return _paused_gc(lambda: [decide(s) for s in sites])


def _paused_gc(make: Callable[[], list[Any]]) -> list[Any]:
    """``make()`` with the cyclic GC paused: one object per site triggers it over and over on
    large inventories, and none of these objects form cycles."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        return make()
    finally:
        if was_enabled:
            gc.enable()


def _iter_bits(mask: int) -> Iterable[int]:
    while mask:
        low = mask & -mask
        yield low.bit_length() - 1
        mask ^= low


def resolve(rules: RuleSet, sites: Iterable[Site]) -> list[Decision]:
    """Decide every site (same result as :func:`qrt.resolver.reference.resolve_reference`)."""
    return FastResolver(rules).resolve(sites)
