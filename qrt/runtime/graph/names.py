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

Nodes without ``torch_fn`` (export's own bookkeeping), bookkeeping calls and calls that
returned their input have no name: what is an op, and the name, come from
:mod:`qrt.runtime.op_naming`, the rule the eager trace and runner apply.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass

import torch

from qrt.runtime.op_naming import OpCounter, graph_op_type, graph_returned_input

__all__ = ["CallSite", "graph_call_sites"]


@dataclass
class CallSite:
    name: str
    op_type: str
    module: str
    module_type: str
    call: str
    """the innermost ``nn_module_stack`` key: one module call (``...@1`` for the second)"""
    nodes: list[torch.fx.Node]


def graph_call_sites(gm: torch.fx.GraphModule, root_type: str = "") -> list[CallSite]:
    """Every named call site of ``gm`` in graph order."""
    counters: dict[str, OpCounter] = {}
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
        op_type = graph_op_type(node, torch_fn)
        if op_type is None or graph_returned_input(node, op_type):
            last, last_fn = None, None
            continue
        name = counters.setdefault(call, OpCounter(fqn)).take(op_type)
        last = CallSite(name, op_type, fqn, typ, call, [node])
        last_fn = torch_fn
        sites.append(last)
    return sites
