"""Finalizing a graph-mode model: torchao's ``convert_pt2e``, with qrt's packed weights.

``convert_pt2e`` replaces torchao's fake-quantize modules with quantize / dequantize ops and
folds each quantized weight into an integer constant (int8 storage; what PT2E backends
lower). qrt's own fake-quantize modules (float8, per-block, MX, NVFP4-style: the formats
torchao's PT2E ops do not express) convert through their ``convert`` hook: a weight is
packed (:mod:`qrt.runtime.finalize.pack`) into a :class:`PackedWeight` module the graph calls
instead of reading the float weight; an activation keeps its fake quantizer with the
calibrated scales, observer off. Float weights nothing reads any more are then deleted, so
the converted model holds each weight once, in its low-bit form.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from qrt.runtime.finalize.pack import Packed, dequantize

__all__ = ["PackedWeight", "convert_qrt_node", "finalize_graph"]


class PackedWeight(nn.Module):
    """A weight in its packed form, as buffers (so it is in the state dict), dequantized when
    the graph calls it."""

    def __init__(self, packed: Packed, dtype: torch.dtype) -> None:
        super().__init__()
        self.layout = packed.layout()
        self.dtype = dtype
        for name, t in packed.tensors().items():
            self.register_buffer(name, t)

    def packed(self) -> Packed:
        fields = ("data", "scale", "zero_point", "global_scale")
        return Packed.from_stored(self.layout, {f: self._buffers[f] for f in fields if f in self._buffers})  # type: ignore[misc]

    def forward(self) -> torch.Tensor:
        return dequantize(self.packed(), self.dtype)

    def extra_repr(self) -> str:
        return f"{self.layout['kind']} {self.layout['bits']}-bit {tuple(self.layout['shape'])}"


def _attr(model: nn.Module, target: str) -> Any:
    owner, _, leaf = target.rpartition(".")
    return getattr(model.get_submodule(owner) if owner else model, leaf)


def convert_qrt_node(model: torch.fx.GraphModule, node: torch.fx.Node, inner: Any) -> None:
    source = node.args[0]
    if isinstance(source, torch.fx.Node) and source.op == "get_attr":
        weight = _attr(model, str(source.target))
        packed = inner.pack(weight.detach())
        name = str(node.target).replace(".", "_") + "_packed"
        model.add_submodule(name, PackedWeight(packed, weight.dtype))
        with model.graph.inserting_before(node):
            call = model.graph.call_module(name, ())
        call.meta = dict(node.meta)
        node.replace_all_uses_with(call)
        model.graph.erase_node(node)
        return
    inner.observer_enabled, inner.fake_quant_enabled = False, True


def _bytes(model: nn.Module) -> int:
    seen: dict[int, int] = {}
    for t in list(model.parameters()) + list(model.buffers()):
        seen[id(t)] = t.numel() * t.element_size()
    return sum(seen.values())


def _drop_unused_weights(model: torch.fx.GraphModule) -> None:
    used = {str(n.target) for n in model.graph.nodes if n.op == "get_attr"}
    for name, _ in list(model.named_parameters()) + list(model.named_buffers()):
        if name in used or any(name.startswith(u + ".") for u in used):
            continue
        owner, _, leaf = name.rpartition(".")
        module = model.get_submodule(owner) if owner else model
        if isinstance(module, PackedWeight) or not isinstance(module, torch.fx.GraphModule) and _called(model, owner):
            continue
        if leaf in module._parameters:
            del module._parameters[leaf]
        elif leaf in module._buffers:
            del module._buffers[leaf]


def _called(model: torch.fx.GraphModule, owner: str) -> bool:
    """Whether the graph calls the module ``owner`` (its tensors are its own business)."""
    return any(n.op == "call_module" and (str(n.target) == owner or owner.startswith(str(n.target) + "."))
               for n in model.graph.nodes)


def finalize_graph(model: torch.fx.GraphModule) -> tuple[torch.fx.GraphModule, dict[str, Any]]:
    """``convert_pt2e`` the prepared graph; returns it and the report (weights packed or
    folded, bytes before and after)."""
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e

    before = _bytes(model)
    converted = convert_pt2e(model)
    converted.graph.eliminate_dead_code()
    _drop_unused_weights(converted)
    converted.delete_all_unused_submodules()
    converted.recompile()
    packed = sum(1 for m in converted.modules() if isinstance(m, PackedWeight))
    folded = sum(
        1 for n in converted.graph.nodes
        if n.op == "call_function" and "dequantize" in str(n.target) and isinstance(n.args[0], torch.fx.Node)
        and n.args[0].op == "get_attr"
    )
    return converted, {"weights": packed + folded, "dense_bytes": before, "packed_bytes": _bytes(converted)}
