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

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import torch

from qrt.ir.spec import QuantizationSpec
from qrt.ops.registry import OpRegistry, default_registry
from qrt.runtime.formats.torchao import GraphSpecError, torchao_spec
from qrt.runtime.graph.fates import GraphFate, op_site_id, placed_sites, rendered, site_id
from qrt.runtime.graph.names import CallSite
from qrt.runtime.op_naming import positional_slots, slot_role

__all__ = ["GraphSpecError", "PlanQuantizer", "torchao_spec"]


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
    """``(slot, argument node)`` of a node's tensor arguments, positions counted as eager mode
    counts them (:func:`~qrt.runtime.op_naming.positional_slots`), then keywords."""
    is_node = lambda x: isinstance(x, torch.fx.Node)  # noqa: E731
    out: list[tuple[Any, torch.fx.Node]] = [
        (pos, arg) for pos, arg in positional_slots(node.args, is_node) if is_node(arg)
    ]
    for key, arg in node.kwargs.items():
        if isinstance(arg, torch.fx.Node):
            out.append((key, arg))
    return out


def _slot_role(entry: Any, node: torch.fx.Node, slot: Any, arg: torch.fx.Node, module: str) -> tuple[str, Any] | None:
    """The role and key of an argument (:func:`~qrt.runtime.op_naming.slot_role`): state
    looked up by the aten schema's argument name where there is one (``aten.batch_norm``
    orders weight before running_mean, ``F.batch_norm`` after), else by position as in
    eager mode; a parameter or buffer (a ``get_attr`` node, named by its fully qualified
    name) keyed relative to the op's module."""
    schema = getattr(node.target, "_schema", None)
    state_by = None
    if schema is not None and isinstance(slot, int) and slot < len(schema.arguments):
        state_by = schema.arguments[slot].name
    param = str(arg.target) if arg.op == "get_attr" else None
    return slot_role(entry, slot, param=param, module=module, state_by=state_by)


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
    decisions: Mapping[tuple[str, str, Any], QuantizationSpec]
    """``(op name, role, key)`` → the decided spec, axes filled (never changed here: a
    decision inside a fused pattern moves to the pattern's end in :meth:`annotate`'s own copy)"""
    registry: OpRegistry = field(default_factory=lambda: default_registry)
    fates: list[GraphFate] = field(default_factory=list)
    """what graph mode did with each decided site: placed, fused, shared, de-duplicated,
    folded, not placed (:mod:`.fates`)"""
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

    @property
    def report(self) -> list[str]:
        """The fates that are not a plain placement, as text."""
        return rendered(self.fates)

    @property
    def placed(self) -> list[str]:
        """Every quantizer placed (one observer each), by site id."""
        return placed_sites(self.fates)

    def _place(self, where: str) -> None:
        self.fates.append(GraphFate.placed(where))

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
            self.fates.append(GraphFate.pattern([c.op_type for c in chain], chain[0].name, end))
        return inner_out, inner_in

    def annotate(self, gm: torch.fx.GraphModule) -> torch.fx.GraphModule:
        from torchao.quantization.pt2e.quantizer import QuantizationAnnotation, SharedQuantizationSpec

        from qrt.runtime.graph.names import graph_call_sites

        # torchao transforms the graph before annotating (prepare_pt2e folds batch_norm into
        # the conv before it): name the sites of the graph as it is now
        self.fates = []
        self.edges, self.outputs, self.consumer_of = {}, {}, {}
        before = {s.name for s in self.sites}
        self.sites = graph_call_sites(gm)
        after = {s.name for s in self.sites}
        for gone in sorted(before - after):
            for (name, role, key) in [k for k in self.decisions if k[0] == gone]:
                self.fates.append(GraphFate.folded(op_site_id(name, role, key), gone))
        first: dict[tuple[str, str, Any], _Edge] = {}
        inner_out, inner_in = self._fusions()
        # an output decision inside a fused pattern moves to the pattern's end, if that has
        # none (in this copy: the decisions this annotator was given stay as they were)
        decisions = dict(self.decisions)
        for inside, end in inner_out.items():
            spec = decisions.pop((inside, "output", 0), None)
            if spec is not None:
                decisions.setdefault((end, "output", 0), spec)
                self.fates.append(GraphFate.moved_to_pattern_end(op_site_id(inside, "output", 0), end))
        output_spec: dict[torch.fx.Node, tuple[str, QuantizationSpec]] = {}
        for site in self.sites:
            entry = self.registry.get(site.op_type)
            head, tail = site.nodes[0], site.nodes[-1]
            input_map: dict[torch.fx.Node, Any] = {}
            cat_first: tuple[torch.fx.Node, QuantizationSpec, str] | None = None
            for slot, arg in _slots(head):
                if not _float_node(arg):
                    continue
                role_key = _slot_role(entry, head, slot, arg, site.module) if entry is not None else None
                if role_key is None:
                    continue
                role, key = role_key
                spec = decisions.get((site.name, role, key))
                if spec is None:
                    continue
                ident = (site.name, role, key)
                where = op_site_id(site.name, role, key)
                if role == "input" and site.name in inner_in:
                    self.fates.append(GraphFate.inside_pattern(where, inner_in[site.name]))
                    continue
                producer = output_spec.get(arg)
                if role == "input" and cat_first is not None and arg is cat_first[0]:
                    self.fates.append(GraphFate.same_tensor_as_first_input(where, site.name, cat_first[2]))
                    continue
                if role == "input" and site.op_type == "cat" and cat_first is not None and cat_first[1] == spec:
                    # cat's inputs share one quantizer (one scale for the joined tensor)
                    input_map[arg] = SharedQuantizationSpec((cat_first[0], head))
                    self.fates.append(GraphFate.cat_shares_first_input(where, site.name, cat_first[2]))
                    continue
                if role == "input" and producer is not None and producer[1] == spec:
                    # back-to-back fake quantization of one edge: the producer's output
                    # quantizer serves this input too
                    input_map[arg] = SharedQuantizationSpec(arg)
                    served = op_site_id(producer[0], "output", 0)
                    self.fates.append(GraphFate.deduplicated(where, served))
                    # the de-duplicated quantizer follows the consumer's QAT schedule (docs/semantics.md §3)
                    self.consumer_of.setdefault(served, where)
                    continue
                if ident in first:
                    prior = first[ident]
                    input_map[arg] = SharedQuantizationSpec((prior.arg, prior.node))  # type: ignore[arg-type]
                    self.fates.append(GraphFate.repeated_call(where))
                else:
                    input_map[arg] = torchao_spec(spec, where, _shape(arg), role)
                    first[ident] = _Edge(head, arg)
                    self._place(where)
                    self.edges[(arg.name, head.name)] = where
                if role == "input" and site.op_type == "cat" and cat_first is None:
                    cat_first = (arg, spec, where)
            output = None
            spec = decisions.get((site.name, "output", 0))
            if spec is not None and _float_node(tail):
                ident = (site.name, "output", 0)
                where = op_site_id(site.name, "output", 0)
                source = next(((slot, a) for slot, a in _slots(head) if _float_node(a)), None)
                source_node = source[1] if source is not None else None
                shared_in = source_node is not None and (
                    input_map.get(source_node) is not None or source_node in output_spec)
                if ident in first:
                    output = SharedQuantizationSpec(first[ident].node)
                    self.fates.append(GraphFate.repeated_call(where))
                elif site.op_type in _SHARE_IO and shared_in and self._same_spec(
                        site, source_node, spec, input_map, output_spec, decisions):
                    # max_pool, relu, reshape …: the output keeps the input's scale
                    output = SharedQuantizationSpec((source_node, head))
                    serving = (op_site_id(site.name, "input", source[0]) if source_node in input_map  # type: ignore[index]
                               else op_site_id(output_spec[source_node][0], "output", 0))
                    self.fates.append(GraphFate.output_shares_input(site.name, site.op_type, serving))
                else:
                    output = torchao_spec(spec, where, _shape(tail), "output")
                    first[ident] = _Edge(tail)
                    self._place(where)
                    self.outputs[tail.name] = where
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
        for (name, role, key) in decisions:
            if role == "output" and key == "p":
                self.fates.append(GraphFate.sdpa_probabilities(op_site_id(name, role, key)))
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
            where = site_id(site)
            producer = producers.get(site.tensor)
            if producer is None:
                raise GraphSpecError(
                    f"{where}: the tensor it quantizes ({site.tensor}) has no node in the exported graph",
                    hint="set execution_mode: eager for module-boundary quantizers on this model",
                )
            if site.role == "module_output":
                annotation = producer.meta.setdefault("quantization_annotation", QuantizationAnnotation(_annotated=True))
                annotation.output_qspec = torchao_spec(spec, where)
                self._place(where)
                self.outputs[producer.name] = where
                continue
            prefix = f"{site.module}." if site.module else ""
            inside = [
                u for u in producer.users
                if u.op == "call_function"
                and any(fqn == site.module or fqn.startswith(prefix) for fqn, _ in (u.meta.get("nn_module_stack") or {}).values())
            ]
            if not inside:
                self.fates.append(GraphFate.no_reader(where, site.module, site.tensor))
                continue
            first = inside[0]
            for i, user in enumerate(inside):
                annotation = user.meta.setdefault("quantization_annotation", QuantizationAnnotation(_annotated=True))
                annotation.input_qspec_map[producer] = (
                    torchao_spec(spec, where) if i == 0 else SharedQuantizationSpec((producer, first))
                )
            self._place(where)
            self.edges[(producer.name, first.name)] = where

    def _same_spec(self, site: CallSite, source: Any, spec: QuantizationSpec, input_map: dict[Any, Any],
                   output_spec: dict[Any, Any], decisions: Mapping[tuple[str, str, Any], QuantizationSpec]) -> bool:
        """Whether the op's input edge is quantized with the same spec its output asks for."""
        mine = decisions.get((site.name, "input", 0))
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
