"""A torchao PT2E ``Quantizer`` whose annotations come from qrt's plan.

The graph's call sites carry the eager inventory's op names (:mod:`.names`), so a decision
keyed by ``(op name, role, key)`` finds its node: an input or weight decision annotates the
edge from the argument in that slot into the site's first node (``input_qspec_map``), an
output decision the site's last node (``output_qspec``). Slots are the op registry's, as in
eager mode (``linear``: 0 input, 1 ``weight``, 2 ``bias``).

Specs become torchao ``QuantizationSpec``\\s with fake-quantize constructors, so one prepared
graph serves calibration and QAT alike (``prepare_pt2e`` inserts them as they are): integer
per-tensor and per-channel specs use torchao's ``FakeQuantize`` around a min/max or
moving-average observer (with the eager runtime's arithmetic for the values); float8,
per-block, MX/NVFP4-style formats and sequential stages, which PT2E's affine specs cannot say,
use a torchao fake-quantize module around qrt's own ``FakeQuantizer`` — the same numbers as
eager mode. A spec neither can run (extras, an unsupported range calculator, a block that
does not divide its axis) raises :class:`GraphSpecError` naming the site, never a fallback.

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


_FAST: dict[type, type] = {}


def _fake_quantize_class(base: type) -> type:
    """torchao's ``FakeQuantize`` with the eager runtime's arithmetic for the values (one
    in-place chain, four times faster on CPU than torch's fused kernels) and its
    straight-through gradient, so both modes compute the same numbers."""
    cls = _FAST.get(base)
    if cls is None:
        from qrt.runtime.quant.numerics import ste

        def forward(self: Any, x: torch.Tensor) -> torch.Tensor:
            if self.observer_enabled[0] == 1:
                self.activation_post_process(x.detach())
                scale, zero_point = self.calculate_qparams()
                if self.scale.shape != scale.shape:
                    self.scale.resize_(scale.shape)
                    self.zero_point.resize_(zero_point.shape)
                self.scale.copy_(scale)
                self.zero_point.copy_(zero_point)
            if self.fake_quant_enabled[0] != 1:
                return x
            scale, zero_point = self.scale.float(), self.zero_point.float()
            if self.is_per_channel:
                shape = [1] * x.dim()
                shape[self.ch_axis] = -1
                scale, zero_point = scale.reshape(shape), zero_point.reshape(shape)
            qmin, qmax = self.activation_post_process.quant_min, self.activation_post_process.quant_max
            q = torch.round(x.detach().float() * (1.0 / scale)).add_(zero_point).clamp_(qmin, qmax)
            return ste(x, q.sub_(zero_point).mul_(scale).to(x.dtype))

        cls = type(f"Qrt{base.__name__}", (base,), {"forward": forward})
        _FAST[base] = cls
    return cls


def _qrt_spec(spec: QuantizationSpec, where: str, shape: Any, role: str) -> Any:
    """A torchao spec whose fake-quantize module runs the eager runtime's numerics (float8,
    per-block, MX, NVFP4-style, sequential stages)."""
    from torchao.quantization.pt2e.quantizer import QuantizationSpec as TorchaoSpec

    from qrt.runtime.quant.numerics import NumericsError, format_of, group_shape

    try:
        format_of(spec)
        if shape is not None:
            group_shape(spec, tuple(shape))
    except NumericsError as exc:
        raise GraphSpecError(f"{where}: {exc.message}", hint="change the spec of this site") from None
    return TorchaoSpec(
        dtype=torch.uint8,  # a placeholder torchao records; the module holds the real format
        observer_or_fake_quant_ctr=_QrtFakeQuantize.with_args(
            spec_json=spec.to_json(), shape=None if shape is None else tuple(shape), role=role, path=where
        ),
    )


def _qrt_fake_quantize() -> type:
    from torchao.quantization.pt2e import FakeQuantizeBase

    from qrt.runtime.quant.fake_quantizer import FakeQuantizer

    class QrtFakeQuantize(FakeQuantizeBase):
        """torchao's fake-quantize interface around qrt's :class:`FakeQuantizer`: the switches
        are torchao's buffers, the numbers are the eager runtime's."""

        def __init__(self, spec_json: Any = None, shape: Any = None, role: str = "input", path: str = "", **_: Any) -> None:
            super().__init__()
            self.inner = FakeQuantizer(QuantizationSpec.from_json(spec_json), shape, role=role, path=path)
            self._flags = (1, 1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            flags = (int(self.observer_enabled[0]), int(self.fake_quant_enabled[0]))
            if flags != self._flags:
                self.inner.observer_enabled, self.inner.fake_quant_enabled = bool(flags[0]), bool(flags[1])
                self._flags = flags
            return self.inner(x)

        def calculate_qparams(self, **kwargs: Any) -> Any:
            return self.inner.scale, self.inner.zero_point

        def convert(self, model: torch.fx.GraphModule, node: torch.fx.Node) -> None:
            """``convert_pt2e``'s hook: a weight becomes its packed form (qrt.runtime.graph.finalize);
            an activation keeps this module, observer off, fake quantization on."""
            from qrt.runtime.graph.finalize import convert_qrt_node

            convert_qrt_node(model, node, self.inner)

    return QrtFakeQuantize


class _LazyClass:
    """Resolves the torchao-based class on first use (torchao is imported lazily)."""

    def __init__(self, factory: Any) -> None:
        self.factory = factory
        self.cls: Any = None

    def __getattr__(self, name: str) -> Any:
        if self.cls is None:
            self.cls = self.factory()
        return getattr(self.cls, name)


_QrtFakeQuantize: Any = _LazyClass(_qrt_fake_quantize)


def torchao_spec(spec: QuantizationSpec, where: str, shape: Any = None, role: str = "input") -> Any:
    """The torchao PT2E spec of a qrt spec: torchao's affine fake quantization for integer
    per-tensor and per-channel specs, the eager runtime's numerics for the rest."""
    from torchao.quantization.pt2e import (
        FakeQuantize,
        MinMaxObserver,
        MovingAverageMinMaxObserver,
        MovingAveragePerChannelMinMaxObserver,
        PerChannelMinMaxObserver,
    )
    from torchao.quantization.pt2e.quantizer import QuantizationSpec as TorchaoSpec

    problems = []
    if spec.extras:
        problems.append("extras (settings qrt has no field for)")
    if spec.range_calculator not in (None, "minmax"):
        problems.append(f"range_calculator {spec.range_calculator}")
    if problems:
        raise GraphSpecError(
            f"{where}: graph mode cannot run {', '.join(problems)} ({spec.dtype} {spec.granularity.type})",
            hint="set execution_mode: eager, or drop the setting from the spec",
        )
    affine = (
        not spec.dtype.startswith("float")
        and not isinstance(spec.granularity, PerBlock)
        and not spec.then
        and spec.scale_dtype in (None, "float32")
    )
    if not affine:  # float8, per-block, MX/NVFP4, stages: the eager runtime's numerics
        return _qrt_spec(spec, where, shape, role)
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
        observer_or_fake_quant_ctr=_fake_quantize_class(FakeQuantize).with_args(**kwargs),
        quant_min=qmin,
        quant_max=qmax,
        qscheme=qscheme,
        ch_axis=axis,
    )


_FUSE_HEADS = frozenset({"conv1d", "conv2d", "conv3d", "linear", "add"})
_FUSE_NEXT: dict[str, tuple[str, ...]] = {
    "conv1d": ("batch_norm", "relu"), "conv2d": ("batch_norm", "relu"), "conv3d": ("batch_norm", "relu"),
    "batch_norm": ("relu",), "linear": ("relu",), "add": ("relu",),
}
"""Graph mode's fusion patterns (docs/graph.md): what may follow each op inside one pattern."""
_SHARE_IO = frozenset({
    "max_pool1d", "max_pool2d", "max_pool3d", "relu", "relu6", "hardtanh", "reshape", "view",
    "permute", "transpose", "flatten", "squeeze", "unsqueeze", "adaptive_avg_pool2d", "avg_pool2d", "cat",
})
"""Ops whose output keeps its input's quantization (torchao's shared-observer ops)."""


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


def _state_key(entry: Any, node: torch.fx.Node, slot: Any) -> str | None:
    """The state key of an argument: by the aten schema's argument name where there is one
    (``aten.batch_norm`` orders weight before running_mean, ``F.batch_norm`` after), else by
    position as in eager mode."""
    schema = getattr(node.target, "_schema", None)
    if schema is not None and isinstance(slot, int) and slot < len(schema.arguments):
        return entry.state_key(schema.arguments[slot].name)
    return entry.state_key(slot)


def _shape(node: torch.fx.Node) -> tuple[int, ...] | None:
    val = node.meta.get("val")
    return tuple(int(d) for d in val.shape) if isinstance(val, torch.Tensor) else None


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
    """what was fused, shared and de-duplicated, for the prepared summary"""
    placed: list[str] = field(default_factory=list)
    """``name:role[key]`` of every quantizer placed (one observer each)"""
    edges: dict[tuple[str, str], str] = field(default_factory=dict)
    """``(producer node, consumer node)`` → the placed input quantizer's ``name:role[key]``"""
    outputs: dict[str, str] = field(default_factory=dict)
    """producer node → the placed output quantizer's ``name:role[key]``"""
    consumer_of: dict[str, str] = field(default_factory=dict)
    """an output quantizer that also serves a de-duplicated input → that input's site (its
    QAT schedule applies)"""
    boundary: list[tuple[Any, QuantizationSpec]] = field(default_factory=list)
    """module-level sites with their specs: annotated on the edges where their tensor enters
    (inputs, state) or leaves (outputs) the module's call"""

    def _fusions(self) -> tuple[dict[str, str], dict[str, str]]:
        """Patterns the graph runs as one (docs/graph.md): conv + batch_norm (+ relu), linear + relu,
        add + relu, conv + relu. Returns ``{site inside: pattern's last site}`` for the sites
        whose output quantizer moves to the pattern's end, and the reverse for their inputs."""
        by_node = {node: site for site in self.sites for node in site.nodes}
        inner_out: dict[str, str] = {}
        inner_in: dict[str, str] = {}
        for site in self.sites:
            if site.op_type not in _FUSE_HEADS or site.name in inner_in:
                continue
            chain = [site]
            while True:
                tail = chain[-1].nodes[-1]
                users = [u for u in tail.users if u.op == "call_function"]
                if len(users) != 1 or users[0] not in by_node:
                    break
                nxt = by_node[users[0]]
                allowed = _FUSE_NEXT.get(chain[-1].op_type if len(chain) > 1 else site.op_type, ())
                if nxt.op_type not in allowed:
                    break
                chain.append(nxt)
            if len(chain) < 2:
                continue
            end = chain[-1].name
            for inner in chain[:-1]:
                inner_out[inner.name] = end
            for inner in chain[1:]:
                inner_in[inner.name] = chain[0].name
            self.report.append(
                "fused " + " + ".join(c.op_type for c in chain) + f" ({chain[0].name} … {end}): one quantizer after {end}"
            )
        return inner_out, inner_in

    def annotate(self, gm: torch.fx.GraphModule) -> torch.fx.GraphModule:
        from torchao.quantization.pt2e.quantizer import QuantizationAnnotation, SharedQuantizationSpec

        from qrt.runtime.graph.names import graph_call_sites

        # torchao transforms the graph before annotating (prepare_pt2e folds batch_norm into
        # the conv before it): name the sites of the graph as it is now
        before = {s.name for s in self.sites}
        self.sites = graph_call_sites(gm)
        after = {s.name for s in self.sites}
        for gone in sorted(before - after):
            for (name, role, key) in [k for k in self.decisions if k[0] == gone]:
                self.report.append(f"{name}:{role}[{key}]: folded away (torchao fused {gone} into the op before it)")
        first: dict[tuple[str, str, Any], _Edge] = {}
        inner_out, inner_in = self._fusions()
        # an output decision inside a fused pattern moves to the pattern's end, if that has none
        for inside, end in inner_out.items():
            spec = self.decisions.pop((inside, "output", 0), None)
            if spec is not None:
                self.decisions.setdefault((end, "output", 0), spec)
                self.report.append(f"{inside}:output[0]: inside a fused pattern, its quantizer is the one after {end}")
        output_spec: dict[torch.fx.Node, tuple[str, QuantizationSpec]] = {}
        for site in self.sites:
            entry = self.registry.get(site.op_type)
            head, tail = site.nodes[0], site.nodes[-1]
            input_map: dict[torch.fx.Node, Any] = {}
            cat_first: tuple[torch.fx.Node, QuantizationSpec] | None = None
            for slot, arg in _slots(head):
                if not _float_node(arg):
                    continue
                role, key = "input", slot
                state = _state_key(entry, head, slot) if entry is not None else None
                if state is not None:
                    role, key = "state", state
                elif arg.op == "get_attr":
                    role, key = "state", str(arg.target).rsplit(".", 1)[-1]
                spec = self.decisions.get((site.name, role, key))
                if spec is None:
                    continue
                ident = (site.name, role, key)
                where = f"{site.name}:{role}[{key}]"
                if role == "input" and site.name in inner_in:
                    self.report.append(f"{where}: inside a fused pattern, not quantized")
                    continue
                producer = output_spec.get(arg)
                if role == "input" and cat_first is not None and arg is cat_first[0]:
                    self.report.append(f"{where}: the same tensor as {site.name}'s first input, one quantizer")
                    continue
                if role == "input" and site.op_type == "cat" and cat_first is not None and cat_first[1] == spec:
                    # cat's inputs share one quantizer (one scale for the joined tensor)
                    input_map[arg] = SharedQuantizationSpec((cat_first[0], head))
                    self.report.append(f"{where}: shares {site.name}'s first input quantizer (cat)")
                    continue
                if role == "input" and producer is not None and producer[1] == spec:
                    # back-to-back fake quantization of one edge: the producer's output
                    # quantizer serves this input too
                    input_map[arg] = SharedQuantizationSpec(arg)
                    self.report.append(f"{where}: de-duplicated into {producer[0]}:output[0]")
                    # the de-duplicated quantizer follows the consumer's QAT schedule (docs/semantics.md §3)
                    self.consumer_of.setdefault(f"{producer[0]}:output[0]", where)
                    continue
                if ident in first:
                    prior = first[ident]
                    input_map[arg] = SharedQuantizationSpec((prior.arg, prior.node))  # type: ignore[arg-type]
                    self.report.append(f"{where}: repeated module call shares the first call's quantizer")
                else:
                    input_map[arg] = torchao_spec(spec, where, _shape(arg), role)
                    first[ident] = _Edge(head, arg)
                    self.placed.append(where)
                    self.edges[(arg.name, head.name)] = where
                if role == "input" and site.op_type == "cat" and cat_first is None:
                    cat_first = (arg, spec)
            output = None
            spec = self.decisions.get((site.name, "output", 0))
            if spec is not None and _float_node(tail):
                ident = (site.name, "output", 0)
                source = next((a for _, a in _slots(head) if _float_node(a)), None)
                shared_in = source is not None and (input_map.get(source) is not None or source in output_spec)
                if ident in first:
                    output = SharedQuantizationSpec(first[ident].node)
                    self.report.append(f"{site.name}:output[0]: repeated module call shares the first call's quantizer")
                elif site.op_type in _SHARE_IO and shared_in and self._same_spec(site, source, spec, input_map, output_spec):
                    # max_pool, relu, reshape …: the output keeps the input's scale
                    output = SharedQuantizationSpec((source, head))
                    self.report.append(f"{site.name}: output shares its input's quantizer ({site.op_type})")
                else:
                    output = torchao_spec(spec, f"{site.name}:output[0]", _shape(tail), "output")
                    first[ident] = _Edge(tail)
                    self.placed.append(f"{site.name}:output[0]")
                    self.outputs[tail.name] = f"{site.name}:output[0]"
                output_spec[tail] = (site.name, spec)
            if input_map:
                existing = head.meta.get("quantization_annotation")
                if existing is not None:
                    existing.input_qspec_map.update(input_map)
                else:
                    head.meta["quantization_annotation"] = QuantizationAnnotation(input_qspec_map=input_map, _annotated=True)
            if output is not None:
                annotation = tail.meta.get("quantization_annotation")
                if annotation is None:
                    tail.meta["quantization_annotation"] = QuantizationAnnotation(output_qspec=output, _annotated=True)
                else:
                    annotation.output_qspec = output
        for (name, role, key) in self.decisions:
            if role == "output" and key == "p":
                self.report.append(
                    f"{name}:output[p]: the probabilities inside a fused scaled_dot_product_attention "
                    "have no edge in the graph; not quantized in graph mode (eager mode runs sdpa's "
                    "math form to quantize them)"
                )
        self._annotate_boundaries(gm)
        return gm

    def _producers(self, gm: torch.fx.GraphModule) -> dict[str, torch.fx.Node]:
        """Tensor identity (the inventory's ``op:<name>:<k>``, ``input:<k>``, ``param:<fqn>``)
        → the graph node that produces it."""
        out: dict[str, torch.fx.Node] = {}
        for site in self.sites:
            out.setdefault(f"op:{site.name}:0", site.nodes[-1])
        placeholders = [n for n in gm.graph.nodes if n.op == "placeholder"]
        for i, node in enumerate(placeholders):
            out.setdefault(f"input:{i}", node)
        for node in gm.graph.nodes:
            if node.op == "get_attr":
                out.setdefault(f"param:{str(node.target).replace('_', '.')}", node)
                out.setdefault(f"param:{node.target}", node)
        return out

    def _annotate_boundaries(self, gm: torch.fx.GraphModule) -> None:
        """Module-level quantizers: one per tensor, on the edges into the module's call (its
        inputs and state) or on the producer's output (its outputs)."""
        from torchao.quantization.pt2e.quantizer import QuantizationAnnotation, SharedQuantizationSpec

        if not self.boundary:
            return
        producers = self._producers(gm)
        for site, spec in self.boundary:
            where = f"{site.quantizer_path}"
            producer = producers.get(site.tensor)
            if producer is None:
                raise GraphSpecError(
                    f"{where}: the tensor it quantizes ({site.tensor}) has no node in the exported graph",
                    hint="set execution_mode: eager for module-boundary quantizers on this model",
                )
            if site.role == "module_output":
                annotation = producer.meta.setdefault("quantization_annotation", QuantizationAnnotation(_annotated=True))
                annotation.output_qspec = torchao_spec(spec, where)
                self.placed.append(where)
                self.outputs[producer.name] = where
                continue
            prefix = f"{site.module}." if site.module else ""
            inside = [
                u for u in producer.users
                if u.op == "call_function"
                and any(fqn == site.module or fqn.startswith(prefix) for fqn, _ in (u.meta.get("nn_module_stack") or {}).values())
            ]
            if not inside:
                self.report.append(f"{where}: no op inside {site.module!r} reads {site.tensor}; not placed")
                continue
            first = inside[0]
            for i, user in enumerate(inside):
                annotation = user.meta.setdefault("quantization_annotation", QuantizationAnnotation(_annotated=True))
                annotation.input_qspec_map[producer] = (
                    torchao_spec(spec, where) if i == 0 else SharedQuantizationSpec((producer, first))
                )
            self.placed.append(where)
            self.edges[(producer.name, first.name)] = where

    def _same_spec(self, site: CallSite, source: Any, spec: QuantizationSpec,
                   input_map: dict[Any, Any], output_spec: dict[Any, Any]) -> bool:
        """Whether the op's input edge is quantized with the same spec its output asks for."""
        mine = self.decisions.get((site.name, "input", 0))
        if mine is not None:
            return mine == spec
        producer = output_spec.get(source)
        return producer is not None and producer[1] == spec

    def sites_of_modules(self, prepared: torch.fx.GraphModule) -> dict[str, str]:
        """Each fake-quantize module of the prepared graph → the ``name:role[key]`` it serves."""
        from torchao.quantization.pt2e import FakeQuantizeBase

        out: dict[str, str] = {}
        for node in prepared.graph.nodes:
            if node.op != "call_module" or not isinstance(prepared.get_submodule(node.target), FakeQuantizeBase):
                continue
            producer = node.args[0].name if node.args and isinstance(node.args[0], torch.fx.Node) else ""
            ident = next((self.edges[(producer, u.name)] for u in node.users if (producer, u.name) in self.edges), None)
            ident = ident or self.outputs.get(producer)
            if ident is not None:
                out.setdefault(str(node.target), ident)
        return out

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
