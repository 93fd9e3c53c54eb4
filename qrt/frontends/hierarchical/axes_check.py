"""docs/semantics.md §3, default axes: a per-channel or per-block spec with no axis must get one.

The resolver fills the axis from the default-axis tables of docs/semantics.md §3 where a table row applies (Linear,
Conv1–3d, ConvTranspose1–3d, Embedding weights, by the op that reads them or the module that
owns them). For a hierarchical config anything else without an axis is an error naming the
site, the spec and the setting it came from — a runtime could not prepare it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from qrt.frontends.hierarchical.errors import ConfigError

if TYPE_CHECKING:
    from qrt.resolver.plan import Plan

__all__ = ["check_axes"]


def check_axes(config: Any, plan: Plan) -> None:
    problems = []
    for decision in plan:
        spec = plan.spec(decision)
        if spec is None or spec.granularity.type == "per_tensor":
            continue
        if getattr(spec.granularity, "axis", None) is None:
            problems.append(decision)
    if not problems:
        return
    first = problems[0]
    rule = first.decided_by
    where = rule.origin.position if rule is not None else None
    path = rule.origin.config_path if rule is not None else None
    more = f" (and {len(problems) - 1} more sites)" if len(problems) > 1 else ""
    raise ConfigError(
        f"{first.site.label} ({first.site.quantizer_path}) gets a {first.spec.granularity.type} "  # type: ignore[union-attr]
        f"spec with no axis{more}, and no default-axis table applies to it"
        + (f"; the spec comes from {path}" if path else ""),
        location=where,
        hint="give the granularity an explicit axis (e.g. {type: per_channel, axis: 0}); default "
        "axes exist only for weights of Linear, Conv1d-3d, ConvTranspose1d-3d and Embedding, "
        "and for one-dimensional tensors (axis 0)",
    )
