"""``qrt explain`` of a few sites on a big model: resolve the sites the queries name, not all.

A site's decision depends on that site and the rule set alone (the resolver folds the rules
that match it), so explaining ``model.layers.0.mlp.down_proj.weight_quantizer`` of a
70B-shaped Llama need not decide its other 11,726 sites: that was 0.3 s of a warm
``qrt explain``. Two things could still make the other sites matter, and both are kept:

* a front end's check of the whole plan (a hierarchical config refuses a per-channel spec no
  default axis reaches, wherever it lands): the plan handed to ``source.check`` decides every
  site the moment the check reads its decisions, so a check that reads them sees them all,
  and one that reads nothing costs nothing;
* a fold that fails (a ``patch`` whose fields make an invalid spec on some site): only a
  patch that sets spec fields can fail, so a rule set with one is resolved in full, as
  before, and fails where it failed.
"""

from __future__ import annotations

from typing import Any

from qrt.inventory.model import Inventory
from qrt.ir.effect import Patch
from qrt.ir.rule import RuleSet
from qrt.resolver.decision import Decision
from qrt.resolver.fast import FastResolver
from qrt.resolver.plan import Plan, check_type_names, resolve_inventory

__all__ = ["resolve_for_queries"]


class _OnDemandPlan(Plan):
    """A :class:`Plan` that decides a site when asked for it (:meth:`decision`) and every site
    when anything reads :attr:`decisions` (iterating it, ``len``, its JSON): the same
    decisions, from the same resolver, as :func:`resolve_inventory` makes up front."""

    @classmethod
    def create(cls, inv: Inventory, rules: RuleSet, source: Any) -> _OnDemandPlan:
        plan = object.__new__(cls)
        plan.__dict__.update(inventory=inv, rules=rules, source=source, _resolver=FastResolver(rules))
        return plan

    def __getattr__(self, name: str) -> Any:
        # reached only while `decisions` is not built: the first read decides every site
        if name != "decisions" or "_resolver" not in self.__dict__:
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
        return self.__dict__.setdefault("decisions", tuple(self._resolver.resolve(self.inventory.sites)))

    def decision(self, quantizer_path: str) -> Decision:
        if "decisions" in self.__dict__:
            return super().decision(quantizer_path)
        site = self.inventory.site_by_path(quantizer_path)
        if site is None:
            return super().decision(quantizer_path)  # its error names the closest paths
        return self._resolver.decide(site)


def _fold_may_fail(rules: RuleSet) -> bool:
    """Whether folding some site could raise: only a patch that sets spec fields validates a
    new spec (:func:`qrt.ir.effect.apply_effect`); ``set``, ``off`` and enable-only patches
    cannot fail."""
    return any(isinstance(r.effect, Patch) and r.effect.fields for r in rules)


def resolve_for_queries(source: Any, inv: Inventory) -> Plan:
    """What ``qrt.resolve(source, inv)`` returns, for explaining a few of its sites: the same
    checks, errors and decisions, each site decided when it is first asked for."""
    rules = source.rules_for(inv)
    if _fold_may_fail(rules):
        plan = resolve_inventory(rules, inv, source=source)
    else:
        check_type_names(rules, inv)
        plan = _OnDemandPlan.create(inv, rules, source)
    source.check(plan)
    return plan
