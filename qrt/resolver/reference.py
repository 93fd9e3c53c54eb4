"""The literal docs/semantics.md §2 fold, kept as the oracle of the fast resolver.

For each site: take every rule whose selector matches, sort by ``(priority, order)``, apply
the effects in that order. Nothing else — no indexes, no caches — so it is obviously right
and the property tests can compare the fast resolver with it on every site.
"""

from __future__ import annotations

from collections.abc import Iterable

from qrt.ir.rule import RuleSet
from qrt.ir.site import Site
from qrt.resolver.decision import Decision, fold

__all__ = ["resolve_reference"]


def resolve_reference(rules: RuleSet, sites: Iterable[Site]) -> list[Decision]:
    out = []
    for site in sites:
        matched = tuple(sorted((r for r in rules if r.selector.matches(site)), key=lambda r: r.sort_key))
        out.append(Decision(site, fold(matched, site.role), matched))
    return out
