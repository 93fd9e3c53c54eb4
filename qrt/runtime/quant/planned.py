"""The quantizers a plan places: ``(site, spec, enabled)`` for each, in the plan's order.

What the eager backend builds its quantizers from (:meth:`.eager_backend.EagerBackend.place`)
and what a saved model records of its plan (:mod:`qrt.runtime.finalize.placements`), so that
a trusted load places the same quantizers without the resolver. A module of its own: the
saving side and the backend (which finalizes into a directory through the saving side) both
import it, and neither the other.
"""

from __future__ import annotations

from typing import Any

__all__ = ["planned_quantizers"]


def _disabled_spec(decision: Any, plan: Any) -> Any:
    """The spec of a site the plan leaves off but configured (a ModelOpt entry's ``enable:
    false``, a DSL ``disabled`` set): it gets a quantizer, switched off, as ModelOpt keeps one,
    so ``set_quantizer_by_cfg`` can turn it on later. A site nothing but the ModelOpt list's
    baseline (every ModelOpt quantizer starts off) set gets none."""
    from qrt.ir.effect import Set

    state = decision.state
    if state.spec is None or state.enabled:
        return None
    setters = [r for r in decision.matched if isinstance(r.effect, Set)]
    if not setters or setters[-1].baseline:
        return None
    from qrt.resolver.axes import resolve_axes
    from qrt.resolver.plan import owner_type

    return resolve_axes(state.spec, decision.site, owner_type(decision.site, plan.inventory))


def planned_quantizers(plan: Any) -> list[tuple[Any, Any, bool]]:
    """The quantizers ``plan`` places, in its order: ``(site, spec, enabled)`` for every site
    it quantizes (its spec with default axes) or configures and leaves off
    (:func:`_disabled_spec`). What :meth:`.eager_backend.EagerBackend.place` builds quantizers from, and what a
    saved model records so that loading it needs no resolver (:mod:`qrt.runtime.finalize.placements`)."""
    out: list[tuple[Any, Any, bool]] = []
    for decision in plan.decisions:
        spec = plan.spec(decision)
        enabled = spec is not None
        if spec is None:
            spec = _disabled_spec(decision, plan)
            if spec is None:
                continue
        out.append((decision.site, spec, enabled))
    return out
