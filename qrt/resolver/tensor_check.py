"""A plan must be valid for its model: every decided spec checked against its tensor.

A per-channel or per-block spec names an axis of the tensor it quantizes, and a per-block
spec a block size; both come from a rule written without the model in view (a preset, a
ModelOpt list, a glob over every ``weight``). On a model where the axis is beyond the
tensor's rank (``per_channel(axis=7)`` on a 2-D weight) or the block size does not divide
that dimension (``per_block(10**12)``), qrt's eager runtime cannot prepare the quantizer
(QRT302) and ``qrt lint --model`` reports it (QRT022, QRT023). ``qrt resolve`` refuses what
no runtime can run, so that no plan file is written that only fails later: :func:`check_plan`
raises one :class:`~qrt.errors.ResolveError` at the first rule's ``file:line``, naming the
site, the tensor's shape and how many sites the rule breaks. A block that does not divide its
dimension is valid for ModelOpt, which pads it (see :data:`MAX_PADDED_BLOCK`): resolve refuses
only a block beyond that bound; lint and the eager runtime refuse every ragged block.

``qrt explain`` and ``qrt lint`` resolve without the check: they are the tools that show a
user what the rule did, and :func:`tensor_problem` gives them the same wording as a note.
A site whose shape is unknown (a module input the trace could not see) is not checked.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from qrt.errors import ResolveError

if TYPE_CHECKING:
    from qrt.ir.site import Site
    from qrt.ir.spec import QuantizationSpec
    from qrt.resolver.decision import Decision
    from qrt.resolver.plan import Plan

__all__ = ["TensorProblem", "tensor_problem", "tensor_problems", "check_plan", "MAX_PADDED_BLOCK"]


@dataclass(frozen=True)
class TensorProblem:
    code: str
    """The lint code of the same finding: ``QRT022`` (axis beyond the rank), ``QRT023``
    (a block size that does not divide its dimension)."""
    message: str
    decision: Decision


def tensor_problem(spec: QuantizationSpec, site: Site) -> tuple[str, str] | None:
    """``(lint code, message)`` when ``spec`` (its axes resolved) cannot run on ``site``'s
    tensor; ``None`` when it can, or when the shape or the axis is unknown."""
    shape = site.shape
    if shape is None:
        return None
    for stage in spec.stages:
        g = stage.granularity
        axis = getattr(g, "axis", None)
        if axis is None:
            continue
        if not -len(shape) <= axis < len(shape):
            return "QRT022", f"axis {axis} is beyond the rank of {site.role}[{site.key}] (shape {list(shape)})"
        block = getattr(g, "block_size", None)
        if block is not None and shape[axis] % block:
            return "QRT023", (
                f"block size {block} does not divide dimension {axis} ({shape[axis]}) of "
                f"{site.role}[{site.key}]"
            )
    return None


def _needs_check(spec: QuantizationSpec) -> bool:
    return any(stage.granularity.type != "per_tensor" for stage in spec.stages)


def tensor_problems(plan: Plan) -> Iterator[TensorProblem]:
    """Every decision of ``plan`` whose spec cannot run on its tensor, in plan order."""
    for decision in plan.decisions:
        if decision.spec is None or decision.site.shape is None or not _needs_check(decision.spec):
            continue
        spec = plan.spec(decision)
        found = tensor_problem(spec, decision.site) if spec is not None else None
        if found is not None:
            yield TensorProblem(found[0], found[1], decision)


MAX_PADDED_BLOCK = 1 << 16
"""The largest block size :func:`check_plan` lets through when it exceeds the dimension it
blocks. ModelOpt pads a dimension that a block does not divide up to a whole block
(``TensorQuantizer._setup_for_blockquant``, modelopt/torch/quantization/nn/modules/
tensor_quantizer.py: ``padding = (bsize - (inputs.shape[ax] % bsize), 0)``), so ``INT4_AWQ_CFG``'s
blocks of 128 on a 64-wide layer are a valid ModelOpt plan; a block of 10**12 would pad every
row to 10**12 elements. No model has a dimension near 65,536 that is blocked (hidden sizes
and group sizes are far below it), so a larger block on a smaller dimension is a mistake."""


def _refused(problem: TensorProblem) -> bool:
    if problem.code == "QRT022":
        return True
    spec = problem.decision.spec
    shape = problem.decision.site.shape or ()
    for stage in spec.stages if spec is not None else ():
        block = getattr(stage.granularity, "block_size", None)
        axis = getattr(stage.granularity, "axis", None)
        if block is None or block <= MAX_PADDED_BLOCK:
            continue
        if axis is None or not -len(shape) <= axis < len(shape) or block > shape[axis]:
            return True
    return False


def check_plan(plan: Plan) -> None:
    """Raise :class:`ResolveError` for the first rule whose decided spec no runtime can take on
    a tensor it decides (naming the site, the rule's ``file:line`` and how many sites it
    breaks): an axis beyond the tensor's rank, or a block larger than :data:`MAX_PADDED_BLOCK`
    and than its dimension.

    A block that does not divide its dimension otherwise is a valid ModelOpt plan (ModelOpt
    pads the last block), so resolve keeps it; lint reports it (QRT023) and qrt's eager runtime,
    which does not pad, refuses it when it prepares the model (QRT302)."""
    problems = [p for p in tensor_problems(plan) if _refused(p)]
    if not problems:
        return
    first = problems[0]
    rule = first.decision.decided_by
    same = [p for p in problems if p.decision.decided_by is rule]
    others = len(problems) - len(same)
    where = rule.origin.position if rule is not None else None
    setting = f" ({rule.origin.config_path})" if rule is not None and rule.origin.config_path else ""
    more = f" and {len(same) - 1} more site(s) it decides" if len(same) > 1 else ""
    also = f"; {others} more site(s) of other rules fail the same way" if others else ""
    raise ResolveError(
        f"{first.decision.site.quantizer_path}: {first.message}: the rule here{setting} decides a "
        f"spec no runtime can prepare on this model (lint {first.code}){more}{also}",
        location=where,
        hint="give the rule an axis within the tensor's rank and a block size that divides it, or "
        "exclude these sites; `qrt lint RULES --model SPEC` lists every such rule, `qrt explain` "
        "shows the decision",
    )
