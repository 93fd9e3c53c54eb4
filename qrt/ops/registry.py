"""Quantizable op types and the one canonical spelling of every op.

docs/semantics.md §1: only ops of a *registered* op type have op-level sites, and the registry says
which of an op's tensors are quantizable. An entry says, by argument position (or keyword):

* ``inputs``: activation inputs that get ``input`` sites (``"*"``: every floating tensor
  argument; lists such as ``torch.cat``'s first argument count one position per element);
* ``state``: argument slots that are the op's state, and the key they get (``linear``'s
  argument 1 is ``weight`` whatever tensor is passed there);
* ``outputs``: which outputs get ``output`` sites.

A parameter or buffer passed anywhere else (``x * self.scale``) is state too, keyed by its
attribute name, because §1 defines state as "parameters, buffers, constants an op reads".

Canonical names (``canonical_op_type``) need no torch: they work from the called function's
name, so the graph runtime and saved inventories use the same spelling as eager tracing.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal, Union

from qrt.errors import RegistryError, did_you_mean

__all__ = [
    "OpType",
    "OpRegistry",
    "default_registry",
    "register_op_type",
    "canonical_op_type",
    "canonical_name",
    "TORCH_ALIASES",
]

Slot = Union[int, str]
AllOr = Union[Literal["*"], tuple[Slot, ...]]


@dataclass(frozen=True)
class OpType:
    """What of one op type is quantizable."""

    name: str
    inputs: AllOr = (0,)
    outputs: AllOr = (0,)
    state: Mapping[Slot, str] = field(default_factory=dict)
    aliases: tuple[str, ...] = ()
    attention: bool = False
    """Scaled-dot-product attention: inputs 0/1/2 are query/key/value (docs/semantics.md §4)."""

    def __post_init__(self) -> None:
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", self.name):
            raise RegistryError(
                f"op type name {self.name!r} is not an identifier",
                hint="op types are canonical torch names such as 'linear' or 'add'",
            )
        for what, value in (("inputs", self.inputs), ("outputs", self.outputs)):
            if value != "*" and not (
                isinstance(value, tuple) and all(isinstance(v, (int, str)) for v in value)
            ):
                raise RegistryError(
                    f"op type {self.name!r}: {what} must be '*' or a tuple of positions/names",
                    offending=repr(value),
                )
        object.__setattr__(self, "state", dict(self.state))

    def input_slot(self, slot: Slot) -> bool:
        return self.inputs == "*" or slot in self.inputs

    def output_slot(self, index: int) -> bool:
        return self.outputs == "*" or index in self.outputs

    def state_key(self, slot: Slot) -> str | None:
        return self.state.get(slot)


#: torch's own second names for one op (``torch.concat`` is ``torch.cat``); every spelling
#: on the left is reported, matched and shown as the one on the right.
TORCH_ALIASES: dict[str, str] = {
    "concat": "cat",
    "concatenate": "cat",
    "multiply": "mul",
    "subtract": "sub",
    "divide": "div",
    "true_divide": "div",
    "absolute": "abs",
    "clip": "clamp",
    "negative": "neg",
    "greater": "gt",
    "greater_equal": "ge",
    "less": "lt",
    "less_equal": "le",
    "not_equal": "ne",
    "swapaxes": "transpose",
    "swapdims": "transpose",
    "moveaxis": "movedim",
    "fix": "trunc",
    "arccos": "acos",
    "arcsin": "asin",
    "arctan": "atan",
    "special_expit": "sigmoid",
    "matrix_power": "linalg_matrix_power",
    # functional wrappers whose Python name differs from the op
    "max_pool1d_with_indices": "max_pool1d",
    "max_pool2d_with_indices": "max_pool2d",
    "max_pool3d_with_indices": "max_pool3d",
    "_max_pool1d": "max_pool1d",
    "_max_pool2d": "max_pool2d",
    "_max_pool3d": "max_pool3d",
    # the grouped matrix product of fused MoE experts (docs/semantics.md §1): torch's private spelling,
    # and transformers' CPU fallback custom op (``transformers::grouped_mm_fallback``, the same
    # arguments and math), are one op, so a model traces alike on every device
    "_grouped_mm": "grouped_mm",
    "grouped_mm_fallback": "grouped_mm",
}

# Python operators → torch op names. ``__radd__`` and ``__iadd__`` are the same op as ``__add__``.
_DUNDER: dict[str, str] = {
    "add": "add",
    "sub": "sub",
    "mul": "mul",
    "matmul": "matmul",
    "truediv": "div",
    "div": "div",
    "floordiv": "floor_divide",
    "mod": "remainder",
    "pow": "pow",
    "and": "bitwise_and",
    "or": "bitwise_or",
    "xor": "bitwise_xor",
    "lshift": "bitwise_left_shift",
    "rshift": "bitwise_right_shift",
    "neg": "neg",
    "pos": "positive",
    "abs": "abs",
    "invert": "bitwise_not",
    "eq": "eq",
    "ne": "ne",
    "lt": "lt",
    "le": "le",
    "gt": "gt",
    "ge": "ge",
    "getitem": "getitem",
    "setitem": "setitem",
}


def canonical_name(name: str) -> str:
    """Canonical op type for a function name as torch spells it.

    ``__radd__`` → ``add``; ``add_`` → ``add``; ``add.Tensor`` (an aten overload) → ``add``;
    ``concat`` → ``cat``. Names are otherwise unchanged.
    """
    if "." in name:  # aten overload "add.Tensor" / "aten::add.Tensor"
        name = name.split("::")[-1].split(".")[0]
    if name.startswith("__") and name.endswith("__") and len(name) > 4:
        core = name[2:-2]
        if core in _DUNDER:
            return _DUNDER[core]
        if core[:1] in ("r", "i") and core[1:] in _DUNDER:
            return _DUNDER[core[1:]]
        return core
    if len(name) > 1 and name.endswith("_") and not name.endswith("__"):
        name = name[:-1]
    return TORCH_ALIASES.get(name, name)


def canonical_op_type(func: object) -> str | None:
    """Canonical op type of a callable a torch function mode received, or ``None``.

    Duck-typed so this module never imports torch: aten ``OpOverload``\\s are recognised by
    their ``_overloadpacket``; property reads (``x.T``) arrive as ``__get__`` whose
    ``__self__`` names the property.
    """
    packet = getattr(func, "_overloadpacket", None)
    if packet is not None:
        return canonical_name(getattr(packet, "__name__", str(packet)))
    name = getattr(func, "__name__", None)
    if name is None:
        return None
    if name == "__get__":
        owner = getattr(func, "__self__", None)
        name = getattr(owner, "__name__", None)
        if name is None:
            return None
        return name  # property: "T", "mT", "data" — no further canonicalisation
    return canonical_name(name)


class OpRegistry:
    """A mutable table of op types; users register their own with :func:`register_op_type`."""

    def __init__(self, entries: Iterable[OpType] = ()) -> None:
        self._types: dict[str, OpType] = {}
        self._aliases: dict[str, str] = {}
        for entry in entries:
            self.register(entry)

    def register(self, entry: OpType, *, replace: bool = False) -> OpType:
        if entry.name in self._types and not replace:
            raise RegistryError(
                f"op type {entry.name!r} is already registered",
                hint="pass replace=True to redefine it",
            )
        self._types[entry.name] = entry
        for alias in entry.aliases:
            self._aliases[alias] = entry.name
        return entry

    def unregister(self, name: str) -> None:
        entry = self._types.pop(self.canonical(name), None)
        if entry is None:
            raise RegistryError(
                f"op type {name!r} is not registered", hint=did_you_mean(name, self._types)
            )
        for alias in entry.aliases:
            self._aliases.pop(alias, None)

    def canonical(self, name: str) -> str:
        """The canonical spelling of an op type name a user wrote (``concat`` → ``cat``)."""
        name = canonical_name(name)
        return self._aliases.get(name, name)

    def get(self, name: str) -> OpType | None:
        return self._types.get(self.canonical(name))

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.canonical(name) in self._types

    def names(self) -> list[str]:
        return sorted(self._types)

    def copy(self) -> OpRegistry:
        return OpRegistry(self._types.values())


def _unary(name: str, **kw: object) -> OpType:
    return OpType(name, inputs=(0,), outputs=(0,), **kw)  # type: ignore[arg-type]


def _builtin_entries() -> list[OpType]:
    wb = {1: "weight", "weight": "weight", 2: "bias", "bias": "bias"}
    norm_wb = {2: "weight", "weight": "weight", 3: "bias", "bias": "bias"}
    entries = [
        OpType("linear", inputs=(0, "input"), state=wb),
        OpType("embedding", inputs=(), state={1: "weight", "weight": "weight"}),
        OpType("matmul", inputs=(0, 1)),
        OpType("bmm", inputs=(0, 1)),
        OpType("mm", inputs=(0, 1)),
        OpType("baddbmm", inputs=(0, 1, 2)),
        OpType("addmm", inputs=(0, 1, 2)),
        # fused experts' grouped product (input (tokens, in), weight (experts, in, out), offs):
        # the activation is an input site; the weight gets per-expert sites from the fused
        # experts' own naming (docs/semantics.md §1), not one site for the whole 3-D tensor
        OpType("grouped_mm", inputs=(0, "mat_a"), aliases=("_grouped_mm", "grouped_mm_fallback")),
        OpType("einsum", inputs="*"),
        OpType("add", inputs="*"),
        OpType("sub", inputs="*"),
        OpType("mul", inputs="*"),
        OpType("div", inputs="*"),
        OpType("cat", inputs="*", aliases=("concat", "concatenate")),
        OpType("stack", inputs="*"),
        OpType("softmax", inputs=(0,)),
        OpType("log_softmax", inputs=(0,)),
        OpType("layer_norm", state=norm_wb),
        OpType("group_norm", state=norm_wb),
        OpType("rms_norm", state={2: "weight", "weight": "weight"}),
        OpType(
            "batch_norm",
            state={
                1: "running_mean",
                2: "running_var",
                3: "weight",
                4: "bias",
                "weight": "weight",
                "bias": "bias",
            },
        ),
        OpType("instance_norm", state={3: "weight", 4: "bias"}),
        OpType(
            "scaled_dot_product_attention",
            inputs=(0, 1, 2, "query", "key", "value"),
            attention=True,
        ),
        OpType(
            "multi_head_attention_forward",
            inputs=(0, 1, 2, "query", "key", "value"),
            state={
                5: "in_proj_weight",
                6: "in_proj_bias",
                11: "out_proj_weight",
                12: "out_proj_bias",
            },
        ),
    ]
    for dims in ("1d", "2d", "3d"):
        entries.append(OpType(f"conv{dims}", state=wb))
        entries.append(OpType(f"conv_transpose{dims}", state=wb))
        for pool in ("max_pool", "avg_pool", "adaptive_avg_pool", "adaptive_max_pool"):
            entries.append(_unary(f"{pool}{dims}"))
    for act in (
        "relu", "relu6", "gelu", "silu", "sigmoid", "tanh", "hardtanh", "hardswish",
        "hardsigmoid", "leaky_relu", "elu", "mish", "softplus",
    ):
        entries.append(_unary(act))
    return entries


default_registry = OpRegistry(_builtin_entries())
"""The registry tracing uses unless given another."""


def register_op_type(
    name: str,
    *,
    inputs: AllOr = (0,),
    outputs: AllOr = (0,),
    state: Mapping[Slot, str] | None = None,
    aliases: tuple[str, ...] = (),
    replace: bool = False,
    registry: OpRegistry | None = None,
) -> OpType:
    """Make an op type quantizable (or redefine one with ``replace=True``)."""
    entry = OpType(name, inputs=inputs, outputs=outputs, state=dict(state or {}), aliases=aliases)
    return (registry or default_registry).register(entry, replace=replace)
