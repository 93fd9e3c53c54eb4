"""A torchao PT2E ``Quantizer`` whose annotations come from qrt's plan.

The graph's call sites carry the eager inventory's op names (:mod:`.names`), so a decision
keyed by ``(op name, role, key)`` finds its node: an input or weight decision annotates the
edge from the argument in that slot into the site's first node (``input_qspec_map``), an
output decision the site's last node (``output_qspec``). Slots are the op registry's, as in
eager mode (``linear``: 0 input, 1 ``weight``, 2 ``bias``).

Specs become torchao ``QuantizationSpec``\\s with fake-quantize constructors (``FakeQuantize``
around a min/max or moving-average observer, per tensor or per channel), so one prepared graph
serves calibration and QAT alike (``prepare_qat_pt2e``). What PT2E's affine specs cannot say —
float8, per-block, MX/NVFP4, extras, stages — raises :class:`GraphSpecError` naming the site
and the spec, never a silent fallback; the eager runtime runs all of them.

A module called several times appears as several node groups with the same names: the later
groups share the first call's quantizer through ``SharedQuantizationSpec`` (one quantizer
per site, as eager mode shares one module).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

from qrt.errors import QrtError
from qrt.ir.spec import PerBlock, PerChannel, QuantizationSpec
from qrt.ops.registry import OpRegistry, default_registry
from qrt.runtime.graph.names import CallSite

__all__ = ["GraphSpecError", "PlanQuantizer", "torchao_spec"]


class GraphSpecError(QrtError):
    code = "QRT402"


_ANY_RANK: dict[type, type] = {}


def _any_rank(observer: type) -> type:
    """torchao's per-channel observers flatten from dimension 1, which a 1-D tensor (a norm's
    weight, one scale per element) does not have; observe it as a column instead."""
    cls = _ANY_RANK.get(observer)
    if cls is None:
        def forward(self: Any, x: torch.Tensor) -> torch.Tensor:
            if x.dim() == 1:
                observer.forward(self, x.unsqueeze(-1))
                return x
            return observer.forward(self, x)

        cls = type(f"{observer.__name__}AnyRank", (observer,), {"forward": forward})
        _ANY_RANK[observer] = cls
    return cls


def torchao_spec(spec: QuantizationSpec, where: str) -> Any:
    """The torchao PT2E spec of an integer per-tensor or per-channel qrt spec."""
    from torchao.quantization.pt2e import (
        FakeQuantize,
        MinMaxObserver,
        MovingAverageMinMaxObserver,
        MovingAveragePerChannelMinMaxObserver,
        PerChannelMinMaxObserver,
    )
    from torchao.quantization.pt2e.quantizer import QuantizationSpec as TorchaoSpec

    problems = []
    if spec.dtype.startswith("float"):
        problems.append(f"dtype {spec.dtype}")
    if isinstance(spec.granularity, PerBlock):
        problems.append("per_block granularity")
    if spec.extras or spec.then:
        problems.append("extras or stages")
    if spec.scale_dtype not in (None, "float32"):
        problems.append(f"scale_dtype {spec.scale_dtype}")
    if spec.range_calculator not in (None, "minmax"):
        problems.append(f"range_calculator {spec.range_calculator}")
    if problems:
        raise GraphSpecError(
            f"{where}: PT2E's affine specs cannot express {', '.join(problems)} ({spec.dtype} "
            f"{spec.granularity.type})",
            hint="graph mode runs integer per-tensor and per-channel specs; set execution_mode: "
            "eager to run this spec (the eager runtime runs every format)",
        )
    signed = spec.dtype.startswith("int")
    bits = int(spec.dtype.lstrip("uint"))
    qmin, qmax = (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1) if signed else (0, 2**bits - 1)
    symmetric = spec.qscheme == "symmetric"
    per_channel = isinstance(spec.granularity, PerChannel)
    moving = spec.qparam_calculator == "moving_average"
    if per_channel:
        qscheme = torch.per_channel_symmetric if symmetric else torch.per_channel_affine
        observer = _any_rank(MovingAveragePerChannelMinMaxObserver if moving else PerChannelMinMaxObserver)
        axis = spec.granularity.axis  # type: ignore[union-attr]
    else:
        qscheme = torch.per_tensor_symmetric if symmetric else torch.per_tensor_affine
        observer = MovingAverageMinMaxObserver if moving else MinMaxObserver
        axis = None
    kwargs: dict[str, Any] = dict(observer=observer, quant_min=qmin, quant_max=qmax,
                                  dtype=torch.int8 if signed else torch.uint8, qscheme=qscheme)
    if per_channel:
        kwargs["ch_axis"] = axis
    return TorchaoSpec(
        dtype=torch.int8 if signed else torch.uint8,
        observer_or_fake_quant_ctr=FakeQuantize.with_args(**kwargs),
        quant_min=qmin,
        quant_max=qmax,
        qscheme=qscheme,
        ch_axis=axis,
    )


@dataclass
class _Edge:
    """Where a quantizer of the first call of a site sits, for later calls to share."""

    node: torch.fx.Node
    arg: torch.fx.Node | None = None


def _slots(node: torch.fx.Node) -> list[tuple[Any, torch.fx.Node]]:
    """``(slot, argument node)`` of a node's tensor arguments (list arguments counted one per
    element, as eager does)."""
    out = []
    pos = 0
    for arg in node.args:
        if isinstance(arg, (list, tuple)):
            for item in arg:
                if isinstance(item, torch.fx.Node):
                    out.append((pos, item))
                pos += 1
        else:
            if isinstance(arg, torch.fx.Node):
                out.append((pos, arg))
            pos += 1
    for key, arg in node.kwargs.items():
        if isinstance(arg, torch.fx.Node):
            out.append((key, arg))
    return out


def _float_node(node: torch.fx.Node) -> bool:
    val = node.meta.get("val")
    return isinstance(val, torch.Tensor) and val.is_floating_point()


@dataclass
class PlanQuantizer:
    """Annotates call sites from decisions keyed by op name (built lazily into a torchao
    ``Quantizer`` subclass by :meth:`torchao`, so importing this module needs no torchao)."""

    sites: list[CallSite]
    decisions: dict[tuple[str, str, Any], QuantizationSpec]
    """``(op name, role, key)`` → the decided spec, axes filled"""
    registry: OpRegistry = field(default_factory=lambda: default_registry)
    report: list[str] = field(default_factory=list)
    """what was annotated and shared, for the prepared summary"""

    def annotate(self, gm: torch.fx.GraphModule) -> torch.fx.GraphModule:
        from torchao.quantization.pt2e.quantizer import QuantizationAnnotation, SharedQuantizationSpec

        first: dict[tuple[str, str, Any], _Edge] = {}
        for site in self.sites:
            entry = self.registry.get(site.op_type)
            head, tail = site.nodes[0], site.nodes[-1]
            input_map: dict[torch.fx.Node, Any] = {}
            for slot, arg in _slots(head):
                if not _float_node(arg):
                    continue
                role, key = "input", slot
                state = entry.state_key(slot) if entry is not None else None
                if state is not None:
                    role, key = "state", state
                elif arg.op == "get_attr":
                    role, key = "state", str(arg.target).rsplit(".", 1)[-1]
                spec = self.decisions.get((site.name, role, key))
                if spec is None:
                    continue
                ident = (site.name, role, key)
                where = f"{site.name}:{role}[{key}]"
                if ident in first:
                    prior = first[ident]
                    input_map[arg] = SharedQuantizationSpec((prior.arg, prior.node))  # type: ignore[arg-type]
                    self.report.append(f"{where}: repeated module call shares the first call's quantizer")
                else:
                    input_map[arg] = torchao_spec(spec, where)
                    first[ident] = _Edge(head, arg)
            output = None
            spec = self.decisions.get((site.name, "output", 0))
            if spec is not None and _float_node(tail):
                ident = (site.name, "output", 0)
                if ident in first:
                    output = SharedQuantizationSpec(first[ident].node)
                    self.report.append(f"{site.name}:output[0]: repeated module call shares the first call's quantizer")
                else:
                    output = torchao_spec(spec, f"{site.name}:output[0]")
                    first[ident] = _Edge(tail)
            if input_map:
                head.meta["quantization_annotation"] = QuantizationAnnotation(input_qspec_map=input_map, _annotated=True)
            if output is not None:
                annotation = tail.meta.get("quantization_annotation")
                if annotation is None:
                    tail.meta["quantization_annotation"] = QuantizationAnnotation(output_qspec=output, _annotated=True)
                else:
                    annotation.output_qspec = output
        return gm

    def torchao(self) -> Any:
        """This annotator as a torchao PT2E ``Quantizer``."""
        from torchao.quantization.pt2e.quantizer import Quantizer as TorchaoQuantizer

        outer = self

        class _Quantizer(TorchaoQuantizer):
            def annotate(self, model: torch.fx.GraphModule) -> torch.fx.GraphModule:
                return outer.annotate(model)

            def validate(self, model: torch.fx.GraphModule) -> None:
                return None

        return _Quantizer()
