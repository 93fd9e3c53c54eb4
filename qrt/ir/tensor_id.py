"""A tensor's identity: which tensor of a model a site sits on.

The runtime places one quantizer per *tensor*, and several sites can sit on one (an op's
output read by two ops; a weight that is a parameter of its module and an input of its op),
so every site carries its tensor's identity (``Site.tensor``), the inventory's tensor table is
keyed by it, and finalize and export find the checkpoint tensor a quantizer belongs to through
it. It is written as text in inventory files, plans and caches:

=============================  ==============================================================
``param:<fqn>``                a parameter or buffer, by its fully-qualified name
``param:<fqn>[<e>]``           expert ``e``'s matrix of a fused experts parameter (§1 of
                               ``docs/semantics.md``)
``op:<op name>:<key>``         what op ``<op name>`` returned under ``<key>`` (a position or a
                               name; ``input`` is a fused experts op's routed activation)
``input:<key>``                an input of the model's forward (a position or a keyword)
``const:<n>``                  any other tensor the trace met (a constant made inside forward)
=============================  ==============================================================

This module is the one place that writes and reads that text: everything else asks it
(``param_name``, ``producer_op``) or builds ids with its constructors, instead of slicing
strings.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = [
    "TensorId",
    "const",
    "model_input",
    "op_output",
    "param",
    "param_name",
    "producer_op",
]

Kind = Literal["param", "op", "input", "const"]
_KINDS: tuple[Kind, ...] = ("param", "op", "input", "const")


@dataclass(frozen=True)
class TensorId:
    """The parts of a tensor identity. ``str()`` gives its text; :meth:`parse` reads it."""

    kind: Kind
    name: str
    """the parameter's fully-qualified name, the producing op's name, the input's key, or the
    constant's number"""
    key: str | None = None
    """an op result's key (``op`` ids only)"""
    expert: int | None = None
    """the expert of a fused experts parameter (``param`` ids only)"""

    def __str__(self) -> str:
        if self.kind == "param":
            return f"param:{self.name}" + (f"[{self.expert}]" if self.expert is not None else "")
        if self.kind == "op":
            return f"op:{self.name}:{self.key}"
        return f"{self.kind}:{self.name}"

    @classmethod
    def parse(cls, text: str) -> TensorId:
        """The parts of ``text``; a ``ValueError`` for text that is no tensor identity."""
        kind, sep, rest = text.partition(":")
        if not sep or kind not in _KINDS or not rest:
            raise ValueError(f"not a tensor identity: {text!r} (param:, op:, input: or const:)")
        if kind == "param":
            if rest.endswith("]") and "[" in rest:
                head, _, number = rest[:-1].rpartition("[")
                if number.isdigit():
                    return cls("param", head, expert=int(number))
            return cls("param", rest)
        if kind == "op":
            op, sep, key = rest.rpartition(":")
            if not sep or not op:
                raise ValueError(f"not a tensor identity: {text!r} (op:<op name>:<key>)")
            return cls("op", op, key=key)
        return cls("input" if kind == "input" else "const", rest)


def param(fqn: str, expert: int | None = None) -> str:
    """The identity of parameter (or buffer) ``fqn``, or of expert ``expert``'s matrix of it."""
    return str(TensorId("param", fqn, expert=expert))


def op_output(op_name: str, key: int | str) -> str:
    """The identity of what op ``op_name`` returned under ``key``."""
    return f"op:{op_name}:{key}"


def model_input(key: int | str) -> str:
    """The identity of the model's forward input ``key``."""
    return f"input:{key}"


def const(number: int) -> str:
    """The identity of the ``number``-th other tensor the trace met."""
    return f"const:{number}"


def param_name(tensor: str) -> str | None:
    """The fully-qualified name of the parameter a ``param:`` identity names (an expert's
    matrix: the fused parameter's name, ``[e]`` included — it is how the checkpoint tensor is
    found), else ``None``."""
    return tensor[6:] if tensor.startswith("param:") else None


def producer_op(tensor: str) -> str | None:
    """The name of the op that produced an ``op:`` identity's tensor, else ``None``."""
    if not tensor.startswith("op:"):
        return None
    op, sep, _ = tensor[3:].rpartition(":")
    return op if sep else None
