"""How an op call gets its name: the one rule the trace, the eager runner and graph mode share.

docs/semantics.md §1 ("What an op is", "Op names") defines the names every quantizer path is
built from. Three places apply it, and a quantizer is only found where all three agree:

* the trace (:mod:`qrt.runtime.trace`) names every op the first forward runs;
* the eager runner (:mod:`qrt.runtime.quant.eager`) names the ops of every later forward
  as they run, to find the quantizers of the op in hand;
* graph mode (:mod:`qrt.runtime.graph.names`, :mod:`qrt.runtime.graph.annotate`) names the
  call sites of an exported graph and finds the tensor behind each decision.

So each part of the rule is written here once:

* **which calls are not ops**: a result that holds no tensor, the bookkeeping calls in
  :data:`BOOKKEEPING`, and a call that returned its own input (:func:`returned_input` while a
  model runs, :func:`graph_returned_input` on an exported node: export keeps a node for some
  of those calls, but the eager trace saw none);
* **the name**: ``<module>.<op_type>`` then ``_1``, ``_2`` … counted per op type within one
  module invocation (:class:`OpCounter`);
* **argument slots**: positions, a list of tensors counting one slot per element
  (:func:`positional_slots`), and outputs by position or mapping key (:func:`output_tensors`);
* **the role of an argument**: state by the registry's slot (or, on an aten node, its schema
  name), state keyed by its name relative to the op's module when it is a parameter or
  buffer, else an input where the registry quantizes that slot (:func:`slot_role`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch

from qrt.ir.site import Key
from qrt.ops.registry import OpType, canonical_name, canonical_op_type

__all__ = [
    "BOOKKEEPING",
    "OpCounter",
    "graph_op_type",
    "graph_returned_input",
    "map_positional",
    "op_name",
    "op_type_of",
    "output_tensors",
    "positional_slots",
    "relative_name",
    "returned_input",
    "slot_role",
]

BOOKKEEPING = frozenset({"_set_grad_enabled", "_assert_tensor_metadata", "sym_size", "_assert_scalar"})
"""Calls that are never ops: grad-mode switches and shape checks that torch and export insert
(in eager mode most of them return no tensor anyway; the set says it for both modes)."""


def op_type_of(func: object) -> str | None:
    """The canonical op type of a call a torch function mode received, or ``None`` for a
    call that is never an op (no canonical name, or bookkeeping)."""
    op_type = canonical_op_type(func)
    if op_type is None or op_type in BOOKKEEPING:
        return None
    return op_type


def graph_op_type(node: torch.fx.Node, torch_fn: tuple[str, str]) -> str | None:
    """The op type of an exported call site from its node's ``torch_fn`` (the outermost
    torch-level call export recorded): the canonical name of the called function, or for a
    property read (``x.T`` arrives as ``__get__``) the aten op it became; ``None`` for
    bookkeeping."""
    if torch_fn[1].startswith("OpOverload."):  # a raw aten call: "OpOverload.<op>.<overload>"
        raw = torch_fn[1].split(".")[1]
    else:
        raw = torch_fn[1].rsplit(".", 1)[-1]
    if raw == "__get__":  # a property: named by the aten op it became
        packet = getattr(node.target, "_overloadpacket", None)
        name = getattr(packet, "__name__", None) or str(node.target)
        return "T" if name == "numpy_T" else name
    op_type = canonical_name(raw)
    return None if op_type in BOOKKEEPING else op_type


def op_name(module: str, op_type: str, n: int) -> str:
    """The name of the ``n``-th (from 0) op of type ``op_type`` in one invocation of
    ``module`` (``""``: the root, whose ops have no leading dot)."""
    return (f"{module}." if module else "") + op_type + (f"_{n}" if n else "")


@dataclass
class OpCounter:
    """The op counters of one module invocation: a module called twice names its ops the
    same both times, a loop inside one forward gives ``m.add``, ``m.add_1`` …"""

    module: str
    counts: dict[str, int] = field(default_factory=dict)

    def peek(self, op_type: str) -> str:
        """The name the next op of ``op_type`` will get (the eager runner needs it before the
        call, to quantize its arguments, and counts the call only once it proved an op)."""
        return op_name(self.module, op_type, self.counts.get(op_type, 0))

    def take(self, op_type: str) -> str:
        """Name the next op of ``op_type`` and count it."""
        name = self.peek(op_type)
        self.counts[op_type] = self.counts.get(op_type, 0) + 1
        return name


def returned_input(func: object, args: tuple[Any, ...], out: object) -> bool:
    """Whether a call returned its first argument itself (``x.contiguous()`` on a contiguous
    tensor, ``x.to(x.dtype)``, ``mask.to(mask.device)``, ``dropout`` in eval): not an op,
    whether or not anything saw that tensor before, because export records no node for it.
    An in-place method (``add_``) returns its input too, and is an op."""
    raw = getattr(func, "__name__", "")
    in_place = raw.endswith("_") and not raw.endswith("__")
    return not in_place and isinstance(out, torch.Tensor) and bool(args) and out is args[0]


_MAY_RETURN_INPUT = frozenset({"to", "float", "half", "bfloat16", "double", "type_as", "contiguous", "type", "dropout"})


def graph_returned_input(node: torch.fx.Node, op_type: str) -> bool:
    """:func:`returned_input` read from an exported node, which has no tensor objects: an
    op type that may return its input, with an output equal in dtype, device and shape to
    its input (contiguous: and the input contiguous; ``dropout``: in eval or with ``p=0``).
    Export keeps a node for some of these calls; the eager trace names none of them."""
    if op_type not in _MAY_RETURN_INPUT or not node.args:
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


def _spreads(arg: object, is_tensor: Callable[[object], bool]) -> bool:
    return isinstance(arg, (list, tuple)) and any(is_tensor(x) for x in arg)


def positional_slots(args: tuple[Any, ...] | list[Any], is_tensor: Callable[[object], bool]) -> list[tuple[int, Any]]:
    """``(position, argument)`` of every positional argument, a list or tuple holding a tensor
    (``torch.cat([a, b])``) counting one position per element; any other list (a shape)
    is one position. ``is_tensor`` says what a tensor is: a ``torch.Tensor`` while the model
    runs, an ``fx.Node`` in an exported graph."""
    slots: list[tuple[int, Any]] = []
    for arg in args:
        if _spreads(arg, is_tensor):
            for item in arg:
                slots.append((len(slots), item))
        else:
            slots.append((len(slots), arg))
    return slots


def map_positional(args: tuple[Any, ...], fn: Callable[[int, Any], Any]) -> tuple[Any, ...]:
    """``args`` with ``fn(position, argument)`` put in place of every argument, positions as
    :func:`positional_slots` counts them (a list of tensors rebuilt element by element)."""
    is_tensor: Callable[[object], bool] = lambda x: isinstance(x, torch.Tensor)  # noqa: E731
    out: list[Any] = []
    pos = 0
    for arg in args:
        if _spreads(arg, is_tensor):
            items = []
            for item in arg:
                items.append(fn(pos, item))
                pos += 1
            out.append(type(arg)(items))
        else:
            out.append(fn(pos, arg))
            pos += 1
    return tuple(out)


def output_tensors(out: object) -> list[tuple[Key, torch.Tensor]]:
    """The tensors a call returned, keyed by position (a tensor is output 0) or mapping key;
    none means the call is not an op (``x.size()``, ``x.dim()``)."""
    if isinstance(out, torch.Tensor):
        return [(0, out)]
    if isinstance(out, Mapping):
        return [(str(k), v) for k, v in out.items() if isinstance(v, torch.Tensor)]
    if isinstance(out, (list, tuple)):
        return [(i, v) for i, v in enumerate(out) if isinstance(v, torch.Tensor)]
    return []


def relative_name(fqn: str, module: str) -> str:
    """A parameter's name as the state key of an op in ``module``: relative to the module
    when it is the module's own or a submodule's (``sub.weight``), else its full name (a tied
    weight another module owns)."""
    return fqn[len(module) + 1:] if module and fqn.startswith(module + ".") else fqn


def slot_role(entry: OpType, slot: Key, *, param: str | None, module: str,
              state_by: Key | None = None) -> tuple[str, Key] | None:
    """The site role and key of a floating tensor argument of an op of a registered type,
    ``None`` when the registry quantizes nothing there.

    ``param`` is the argument's parameter or buffer name where it is one; ``module`` the
    module whose invocation runs the op; ``state_by`` what the registry's state table is
    looked up by where that is not the slot (an aten node's schema argument name: aten's
    ``batch_norm`` orders its arguments unlike ``F.batch_norm``)."""
    state = entry.state_key(slot if state_by is None else state_by)
    if state is not None:
        return "state", state
    if param is not None:
        return "state", relative_name(param, module)
    if entry.input_slot(slot):
        return "input", slot
    return None
