"""Finalizing an eager-prepared model's weights: which weights, in which order, and when the
dense copy may go.

A weight is packed when its quantizer is on and the plan says it is a parameter read as
``state``/``module_state``. Its dense parameter is freed only when every site that reads the
parameter goes through that same quantizer: a tied weight read unquantized elsewhere (an
embedding tied to ``lm_head`` where only ``lm_head`` is quantized) keeps its dense copy, and
the report says so.

Everything is checked before anything changes (:func:`check_packable` for every weight), and
then the weights are packed one at a time, each dense parameter freed as soon as its packed
form exists — so finalizing never holds the model twice, only the model plus one weight's
temporaries (plus one shard's packed tensors when writing to disk).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from qrt.ir.tensor_id import param_name
from qrt.runtime.finalize.pack import FinalizeError, Packed, check_packable
from qrt.runtime.quant.fake_quantizer import FakeQuantizer
from qrt.runtime.quant.numerics import group_shape

__all__ = ["WeightTarget", "check_targets", "finalize_weights", "is_finalized", "weight_targets"]

_STATE = ("state", "module_state")


@dataclass
class WeightTarget:
    """One weight to finalize."""

    quantizer: FakeQuantizer
    parameter: str
    param: nn.Parameter
    freeable: bool
    """every reader of the parameter goes through ``quantizer``"""
    readers: tuple[str, ...]
    """sites that read the parameter without this quantizer (why it stays dense)"""
    expert: int | None = None
    """one expert's matrix ``param[expert]`` of a fused mixture-of-experts parameter: the
    quantizer packs that slice; the parameter is freed after its last expert is packed"""
    last: bool = True
    """the last target of its parameter (a fused parameter has one per expert)"""
    full_shape: tuple[int, ...] | None = None
    """an expert's target: the whole parameter's shape (kept: the parameter may be freed)"""

    def data(self) -> torch.Tensor:
        """The tensor this target packs: the parameter, or one expert's matrix of it."""
        return self.param.data if self.expert is None else self.param.data[self.expert]

    def shape(self) -> tuple[int, ...]:
        """The parameter's shape (the whole 3-D parameter for an expert's target)."""
        return self.full_shape if self.full_shape is not None else tuple(self.param.shape)


def weight_targets(model: nn.Module, state: Any, plan: Any) -> list[WeightTarget]:
    """The weights a finalize packs, in plan order, each once."""
    params = dict(model.named_parameters(remove_duplicate=False))
    # who reads each parameter at run time: a module_state quantizer serves every read of
    # its parameter (the eager runner looks parameters up first); otherwise each op reading
    # it as state, through that op's quantizer or unquantized
    readers: dict[str, list[tuple[str, FakeQuantizer | None]]] = {}
    module_level: dict[str, tuple[str, FakeQuantizer]] = {}
    for decision in plan.decisions:
        site = decision.site
        if param_name(site.tensor) is None:
            continue
        q = state.quantizers.get(site.quantizer_path)
        q = q if q is not None and q.enabled else None
        if site.role == "module_state" and q is not None:
            module_level.setdefault(site.tensor, (site.quantizer_path, q))
        elif site.role == "state" and site.op_name is not None:
            readers.setdefault(site.tensor, []).append((site.quantizer_path, q))
    for tensor, reader in module_level.items():
        readers[tensor] = [reader]
    out: list[WeightTarget] = _expert_targets(model, state, plan)
    done: set[int] = {id(t.quantizer) for t in out}
    for decision in plan.decisions:
        site = decision.site
        if site.fused is not None:
            continue
        quantizer = state.quantizers.get(site.quantizer_path)
        name = param_name(site.tensor)
        if quantizer is None or site.role not in _STATE or not quantizer.enabled or name is None:
            continue
        if id(quantizer) in done:
            continue
        param = params.get(name)
        if param is None:
            continue
        done.add(id(quantizer))
        others = tuple(path for path, q in readers.get(site.tensor, ()) if q is not quantizer)
        out.append(WeightTarget(quantizer, name, param, not others, others))
    return out


def _expert_targets(model: nn.Module, state: Any, plan: Any) -> list[WeightTarget]:
    """One target per quantized expert matrix of each fused experts parameter, in expert
    order. The 3-D parameter is freed after its last expert only when every expert's matrix
    is quantized (one left unquantized reads the dense parameter)."""
    out: list[WeightTarget] = []
    for module, params in getattr(state, "fused", {}).items():
        for name, fused in params.items():
            quantized = [(i, q) for i, q in enumerate(fused.experts) if q is not None and q.enabled]
            if not quantized:
                continue
            idle = [i for i, q in enumerate(fused.experts) if q is None or not q.enabled]
            fqn = f"{module}.{name}" if module else name
            readers = tuple(f"{module}.{name}_weight_quantizers.{i} (off)" for i in idle)
            for n, (i, q) in enumerate(quantized):
                out.append(WeightTarget(q, fqn, fused.param, not idle, readers, expert=i,
                                        last=n == len(quantized) - 1, full_shape=tuple(fused.param.shape)))
    return out


def is_finalized(quantizer: FakeQuantizer) -> bool:
    return quantizer.__dict__.get("packed") is not None


def check_targets(targets: list[WeightTarget]) -> None:
    """Every target has a packed form (else the error names the quantizer and why)."""
    for t in targets:
        q = t.quantizer
        shape = tuple(t.data().shape)
        try:
            check_packable(q.spec, q.fmt, group_shape(q.spec, shape), len(shape))
        except FinalizeError as exc:
            raise FinalizeError(f"{q.path}: {exc.message}", hint=exc.hint) from None


def finalize_weights(
    targets: list[WeightTarget],
    *,
    on_packed: Callable[[WeightTarget, Packed], None] | None = None,
) -> dict[str, Any]:
    """Pack every target, switch its quantizer to the packed form and free the dense weight
    where nothing else reads it. ``on_packed`` sees each packed weight right after (the disk
    writer). Returns the report: weights, bytes before and after, weights kept dense and why."""
    for t in targets:
        if is_finalized(t.quantizer):
            raise FinalizeError(
                f"{t.quantizer.path}: this weight is finalized already",
                hint="finalize a model once; to write it again use qrt.save_quantized(model, directory)",
            )
    check_targets(targets)
    before = after = 0
    kept: dict[str, tuple[str, ...]] = {}
    count = 0
    for t in targets:
        q, param = t.quantizer, t.param
        data = t.data()
        with torch.no_grad():
            packed = q.pack(data)
        q.use_packed(packed, param.dtype)
        before += data.numel() * data.element_size()
        after += packed.nbytes
        count += 1
        if t.freeable:
            if t.last:  # a fused parameter goes once its last expert is packed
                param.data = torch.empty(0, dtype=param.dtype, device=param.device)
        else:
            kept[t.parameter] = t.readers
            if t.expert is None:
                after += data.numel() * data.element_size()
            elif t.last:  # the whole fused parameter stays, once
                after += param.numel() * param.element_size()
        if on_packed is not None:
            on_packed(t, packed)
    return {"weights": count, "dense_bytes": before, "packed_bytes": after, "kept_dense": kept}

