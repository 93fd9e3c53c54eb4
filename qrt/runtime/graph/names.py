"""Op names for an exported graph's call sites: the eager inventory's names (docs/semantics.md §1).

An exported node records, in ``torch_fn``, the outermost torch-level call that produced it
(shared by all the aten nodes of that call) and, in ``nn_module_stack``, the module call it
ran in — the innermost key ends ``@1``, ``@2`` … for a module's repeated calls. The rule that
gives both modes one name per site:

* a call site is a run of adjacent nodes with the same ``torch_fn`` in the same module call
  (``operator.getitem`` joins the run before it; a property read, ``__get__``, always starts
  one);
* its op type is the canonical name of the called function (``method_descriptor.add`` →
  ``add``; a property → the aten op's name, ``x.T`` → ``T``… per the node);
* its name is ``<module>.<op>`` then ``_1``, ``_2`` … counted per op type within one module
  call (so a module called twice names its ops the same both times), ``<op>`` at the root.

Nodes without ``torch_fn`` (export's own bookkeeping) and the skipped functions the eager trace
also skips have no name.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass

import torch

from qrt.ops.registry import canonical_name

__all__ = ["CallSite", "graph_call_sites"]

_SKIP = frozenset({"_set_grad_enabled", "_assert_tensor_metadata", "sym_size", "_assert_scalar"})


@dataclass
class CallSite:
    name: str
    op_type: str
    module: str
    module_type: str
    call: str
    """the innermost ``nn_module_stack`` key: one module call (``...@1`` for the second)"""
    nodes: list[torch.fx.Node]


def _op_type(node: torch.fx.Node, torch_fn: tuple[str, str]) -> str | None:
    if torch_fn[1].startswith("OpOverload."):  # a raw aten call: "OpOverload.<op>.<overload>"
        raw = torch_fn[1].split(".")[1]
    else:
        raw = torch_fn[1].rsplit(".", 1)[-1]
    if raw in _SKIP:
        return None
    if raw == "__get__":  # a property: named by the aten op it became
        packet = getattr(node.target, "_overloadpacket", None)
        name = getattr(packet, "__name__", None) or str(node.target)
        return "T" if name == "numpy_T" else name
    return canonical_name(raw)


_MAYBE_IDENTITY = frozenset({"to", "float", "half", "bfloat16", "double", "type_as", "contiguous", "type", "dropout"})


def _identity(node: torch.fx.Node, op_type: str) -> bool:
    """A call that returned its own input in eager mode (``x.to(x.dtype)``, ``x.float()`` on
    float, ``dropout`` in eval): the eager trace gives it no name (export keeps a node for
    some of them), so neither does this."""
    if op_type not in _MAYBE_IDENTITY or not node.args:
        return False
    if op_type == "dropout":
        train = node.args[2] if len(node.args) > 2 else node.kwargs.get("train", True)
        p = node.args[1] if len(node.args) > 1 else node.kwargs.get("p", 0.5)
        return train is False or p == 0
    source = node.args[0]
    out, inp = node.meta.get("val"), getattr(source, "meta", {}).get("val")
    if not isinstance(out, torch.Tensor) or not isinstance(inp, torch.Tensor):
        return False
    same = out.dtype == inp.dtype and out.device == inp.device and tuple(out.shape) == tuple(inp.shape)
    if op_type == "contiguous":
        return same and inp.is_contiguous()
    return same and not node.kwargs.get("copy", False)


def graph_call_sites(gm: torch.fx.GraphModule, root_type: str = "") -> list[CallSite]:
    """Every named call site of ``gm`` in graph order."""
    counters: dict[str, dict[str, int]] = {}
    sites: list[CallSite] = []
    last: CallSite | None = None
    last_fn: tuple[str, str] | None = None
    for node in gm.graph.nodes:
        if node.op != "call_function":
            continue
        if node.target is operator.getitem and last is not None:
            last.nodes.append(node)
            continue
        torch_fn = node.meta.get("torch_fn")
        if torch_fn is None:
            continue
        stack = node.meta.get("nn_module_stack") or {}
        if stack:
            call, (fqn, typ) = list(stack.items())[-1]
            typ = typ if isinstance(typ, str) else f"{typ.__module__}.{typ.__qualname__}"
        else:
            call, fqn, typ = "", "", root_type
        if (
            last is not None
            and torch_fn == last_fn
            and call == last.call
            and not torch_fn[1].endswith("__get__")
        ):
            last.nodes.append(node)
            continue
        op_type = _op_type(node, torch_fn)
        if op_type is None or _identity(node, op_type):
            last, last_fn = None, None
            continue
        count = counters.setdefault(call, {})
        n = count.get(op_type, 0)
        count[op_type] = n + 1
        name = (f"{fqn}." if fqn else "") + op_type + (f"_{n}" if n else "")
        last = CallSite(name, op_type, fqn, typ, call, [node])
        last_fn = torch_fn
        sites.append(last)
    return sites
