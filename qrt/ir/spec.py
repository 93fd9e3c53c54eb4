"""A quantization spec: how one tensor is quantized, as a frozen, validated value.

Why a module of its own: every front end (hierarchical configs, wildcard lists, the DSL)
ends in the same value, the one that a ``set`` effect carries and a patch effect edits
(docs/semantics.md §2), so the vocabulary and its checks live in one place and nowhere else.
What it decides:

* **Spellings in, one spelling out.** The reference library (docs/semantics.md §3) writes dtypes as
  ``torch.int4`` objects, as ``"int4"`` in YAML, and schemes as ``QuantizationScheme.SYMMETRIC``;
  its source names the algorithm fields ``*_cls``. All of these are read and stored
  in one canonical form (``"int4"``, ``"symmetric"``, ``qparam_calculator``), so two specs that
  mean the same thing compare and hash equal. A torch dtype is recognised by ``str(obj)``
  (``"torch.int8"``); this module never imports torch, so lint and explain run without it.
* **Closed sets.** Every named choice comes from a tuple below; an unknown name is an error
  that lists the valid names and the closest one. The algorithm sets are qrt's own:

  ``qparam_calculator`` — how observations accumulate into scale/zero point over time:
    ``static`` (from the tensor itself each time: weights, which do not change in calibration),
    ``minmax`` (running extremes over all calibration batches),
    ``moving_average`` (exponential moving average of each batch's range).
  ``range_calculator`` — how the range of one observation is measured:
    ``minmax`` (absolute extremes), ``percentile`` (clips outliers at a percentile),
    ``mse`` (searches the clipping range that minimises the quantization error),
    ``histogram`` (clipping chosen from a histogram of values, entropy style).
  ``fake_quantize`` — how gradients pass the quantizer in training:
    ``ste`` (straight-through estimator, scale not learned), ``lsq`` (learned step size).

  ``None`` in any of the three means "the runtime's default for the tensor's role"
  (``moving_average`` for activations, ``static`` for weights, ``ste``); the reference
  library's value ``"default"`` is read as ``None``.
* **Combinations.** A value can be valid alone and meaningless beside another: float formats
  have no zero point (no ``asymmetric``), ``float4_e2m1fn_x2`` and ``float8_e8m0fnu`` scales
  exist only for small blocks (MX/NVFP4), so they need ``per_block``. These are rejected when
  the spec is built, not when a runtime meets them.
* **Explicit vs default.** docs/semantics.md §3: a field left unset takes the class default, and the
  explanation must say so. The set of fields a user wrote is kept (``explicit_fields()``) and
  survives ``merged`` (a patch effect) and ``to_json(explicit_only=True)``; equality and
  hashing look at values only.
* **Extras and stages.** A front end may carry settings qrt has no field for (ModelOpt's
  ``narrow_range``, ``rotate``, a custom calibrator …) as ``extras``: named JSON values, kept
  in canonical JSON text so a spec stays hashable, and shown wherever the spec is. A runtime
  that does not know an extra must refuse the spec, never ignore it. ``then`` holds the further
  stages of a *sequential* quantizer (ModelOpt's list ``cfg``): the spec is the first stage,
  ``then`` the ones applied after it, in order; a stage has no stages of its own.
* **Axis left open.** ``per_channel``/``per_block`` may omit ``axis``; the resolver fills it from
  the default-axis tables of docs/semantics.md §3 by the op or module that owns the tensor (``with_axis``).

Errors are pydantic ``ValidationError``s whose ``type`` slugs are stable
(``unknown_dtype``, ``unknown_choice``, ``invalid_granularity``, ``invalid_value``,
``invalid_combination``) and whose messages name the input and the valid choices;
``spec_error_message`` renders one as plain lines for a front end to place at file:line.

**No pydantic on the way of a valid spec.** Every command builds and compares specs, and
importing pydantic and building its models cost a quarter of a second of each ``qrt explain``
or ``qrt lint`` (issue 24). So the four classes here are plain frozen slotted classes that
check their input in Python, with the API of pydantic models that qrt uses
(``model_validate``, ``model_fields``, ``model_fields_set``, ``model_copy``, ``model_dump``,
pydantic's ``repr``, ``==``/``hash`` by value, frozen). pydantic comes in only where it must:
an input the plain check does not accept is validated again by the pydantic twin of these
classes (:mod:`qrt.ir.spec_model`, the same fields and validators), which raises the
``ValidationError`` — every error, with pydantic's locations and messages — or, for an input
the plain check is merely too strict for, returns the value pydantic gives. The plain check
only ever accepts what the twin accepts and builds the same value (tests/ir/test_spec.py
checks both on generated inputs). A pydantic model with a spec field (the hierarchical
config) validates it through the twin's schema (``__get_pydantic_core_schema__``).
"""

from __future__ import annotations

import enum
import json
import re
import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar, Literal, NoReturn, TypeVar, Union

from qrt.errors import did_you_mean
from qrt.ir.spec_vocab import (  # the closed sets, shared with the pydantic twin
    FAKE_QUANTIZERS,
    FLOAT_QUANT_DTYPES,
    INT_QUANT_DTYPES,
    QPARAM_CALCULATORS,
    QSCHEMES,
    QUANT_DTYPES,
    RANGE_CALCULATORS,
    SCALE_DTYPES,
    FakeQuantize,
    QParamCalculator,
    QScheme,
    QuantDType,
    RangeCalculator,
    ScaleDType,
)

if TYPE_CHECKING:
    from pydantic import ValidationError

__all__ = [
    "QuantizationSpec",
    "PerTensor",
    "PerChannel",
    "PerBlock",
    "Granularity",
    "QuantDType",
    "ScaleDType",
    "QScheme",
    "QParamCalculator",
    "RangeCalculator",
    "FakeQuantize",
    "QUANT_DTYPES",
    "INT_QUANT_DTYPES",
    "FLOAT_QUANT_DTYPES",
    "SCALE_DTYPES",
    "QSCHEMES",
    "GRANULARITY_TYPES",
    "QPARAM_CALCULATORS",
    "RANGE_CALCULATORS",
    "FAKE_QUANTIZERS",
    "SPEC_FIELDS",
    "default_activation_spec",
    "default_weight_spec",
    "spec_error_message",
]

# ---------------------------------------------------------------------------------------------
# Closed sets


GRANULARITY_TYPES: tuple[str, ...] = ("per_tensor", "per_channel", "per_block")

_CHOICE_SETS: dict[str, tuple[str, ...]] = {
    "qscheme": QSCHEMES,
    "qparam_calculator": QPARAM_CALCULATORS,
    "range_calculator": RANGE_CALCULATORS,
    "fake_quantize": FAKE_QUANTIZERS,
}

_FIELD_ALIASES: dict[str, str] = {
    "qparam_calculator_cls": "qparam_calculator",
    "range_calculator_cls": "range_calculator",
    "fake_quantize_cls": "fake_quantize",
}
"""The reference library names the algorithm fields with a ``_cls`` suffix; they are read as qrt's names."""

_DEFAULT_WORD = "default"
"""The reference library writes ``qparam_calculator_cls="default"``: the runtime picks, ``None`` here."""

# ---------------------------------------------------------------------------------------------
# Spelling helpers


class SpecInputError(Exception):
    """One problem with a spec's input: its stable ``kind`` slug and its message. The plain
    check catches it and hands the input to the pydantic twin, whose validators raise it as a
    ``PydanticCustomError`` of that kind (:mod:`qrt.ir.spec_model`). Never reaches a user."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message


def _error(kind: str, message: str) -> SpecInputError:
    return SpecInputError(kind, message)


def _listing(choices: tuple[str, ...]) -> str:
    return ", ".join(choices)


def _suffix(word: str, choices: tuple[str, ...]) -> str:
    hint = did_you_mean(word, choices)
    return f" ({hint})" if hint else ""


def _enum_text(value: object) -> object:
    """An enum member as text: its string value (``StrEnum``) or else its name."""
    if isinstance(value, enum.Enum):
        return value.value if isinstance(value.value, str) else value.name
    return value


def _dtype_text(value: object) -> str | None:
    """``"int8"``, ``"torch.int8"`` or a torch dtype (``str(d) == "torch.int8"``) → ``"int8"``.

    A torch dtype is read from its ``str`` so that this module needs no torch; any other
    non-string is ``None`` (the caller says what was expected).
    """
    if isinstance(value, str):
        text = value
    elif not isinstance(value, (bool, int, float)) and str(value).startswith("torch."):
        text = str(value)
    else:
        return None
    text = text.strip().lower()
    return text[len("torch.") :] if text.startswith("torch.") else text


def canonical_dtype(value: object, field: str, choices: tuple[str, ...]) -> str:
    text = _dtype_text(value)
    if text is None:
        raise _error(
            "unknown_dtype",
            f"{field} must be a dtype name such as 'int8' or a torch dtype, got {value!r} "
            f"({type(value).__name__}); valid {field}s: {_listing(choices)}",
        )
    if text not in choices:
        raise _error(
            "unknown_dtype",
            f"unknown {field} {value!r}; valid {field}s: {_listing(choices)}"
            f"{_suffix(text, choices)}",
        )
    return text


def canonical_choice(
    value: object, field: str, choices: tuple[str, ...], *, allow_default: bool
) -> str | None:
    """A named choice, case-insensitive, ``Enum.MEMBER`` spellings cut to ``member``."""
    value = _enum_text(value)
    if value is None and allow_default:
        return None
    if not isinstance(value, str):
        raise _error(
            "unknown_choice",
            f"{field} must be a name, got {value!r} ({type(value).__name__}); "
            f"valid {field} values: {_listing(choices)}",
        )
    text = value.strip().rsplit(".", 1)[-1].lower().replace("-", "_")
    if allow_default and text == _DEFAULT_WORD:
        return None
    if text not in choices:
        raise _error(
            "unknown_choice",
            f"unknown {field} {value!r}; valid {field} values: {_listing(choices)}"
            f"{_suffix(text, choices)}",
        )
    return text


def rename_aliases(data: object) -> dict[Any, Any]:
    """A spec's input mapping with the ``*_cls`` aliases read as qrt's field names."""
    if not isinstance(data, Mapping):
        raise _error(
            "invalid_value",
            f"a quantization spec must be a mapping of fields, got {data!r} "
            f"({type(data).__name__}); valid fields: {_listing(SPEC_FIELDS)}",
        )
    out: dict[Any, Any] = {}
    for key, value in data.items():
        name = _FIELD_ALIASES.get(key, key) if isinstance(key, str) else key
        if name in out:
            raise _error(
                "invalid_value",
                f"field {name!r} is given twice (as {name!r} and as its alias "
                f"{name + '_cls'!r}); keep one",
            )
        out[name] = value
    return out


def check_axis(value: object) -> object:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
        raise _error(
            "invalid_value",
            f"axis must be an integer (negative counts from the last dimension) or null, "
            f"got {value!r}",
        )
    return value


def check_block_size(value: object) -> object:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise _error("invalid_value", f"block_size must be a positive integer, got {value!r}")
    return value


def check_then(value: object) -> tuple[QuantizationSpec, ...]:
    """``then``: a list of specs, none with stages of its own."""
    if isinstance(value, (QuantizationSpec, Mapping)) or not isinstance(value, (list, tuple)):
        raise _error(
            "invalid_value",
            f"then must be a list of specs (the further stages of a sequential quantizer), "
            f"got {value!r} ({type(value).__name__})",
        )
    stages = [s if isinstance(s, QuantizationSpec) else QuantizationSpec.model_validate(s) for s in value]
    check_flat_stages(stages)
    return tuple(stages)


def check_flat_stages(stages: list[QuantizationSpec] | tuple[QuantizationSpec, ...]) -> None:
    for i, stage in enumerate(stages):
        if stage.then:
            raise _error(
                "invalid_value",
                f"then[{i}] has stages of its own; list every stage in one flat `then`",
            )


def check_combinations(dtype: str, qscheme: str, kind: str, scale_dtype: str | None) -> None:
    """Values valid alone and meaningless together (the module's docstring, *Combinations*)."""
    if dtype in FLOAT_QUANT_DTYPES and qscheme != "symmetric":
        raise _error(
            "invalid_combination",
            f"dtype {dtype!r} is a floating-point format and has no zero point, so "
            f"qscheme {qscheme!r} is not possible; valid qscheme for float dtypes: "
            f"symmetric (asymmetric needs one of {_listing(INT_QUANT_DTYPES)})",
        )
    if dtype == "float4_e2m1fn_x2" and kind != "per_block":
        raise _error(
            "invalid_combination",
            f"dtype 'float4_e2m1fn_x2' needs per_block granularity (its scales cover small "
            f"blocks: 32 for MXFP4, 16 for NVFP4), got {kind!r}; e.g. {_BLOCK_EXAMPLE}",
        )
    if scale_dtype == "float8_e8m0fnu" and kind != "per_block":
        others = _listing(tuple(s for s in SCALE_DTYPES if s != "float8_e8m0fnu"))
        raise _error(
            "invalid_combination",
            f"scale_dtype 'float8_e8m0fnu' (power-of-two MX scales) needs per_block "
            f"granularity, got {kind!r}; valid scale_dtypes with {kind}: {others} or null",
        )


# ---------------------------------------------------------------------------------------------
# The plain frozen values and their pydantic-like API

_V = TypeVar("_V", bound="_Value")

_REQUIRED: Any = object()
"""``model_fields``' default of a field with none (``PerBlock.block_size``)."""


class _Invalid(Exception):
    """The plain check does not accept an input: the pydantic twin decides."""


def _rebuild(cls: type[_V], values: tuple[Any, ...], fields_set: tuple[str, ...]) -> _V:
    """Pickle's way back to a value (:meth:`_Value.__reduce__`)."""
    return cls._make(dict(zip(cls.model_fields, values)), frozenset(fields_set))


class _Value:
    """What the four value classes share: slots, frozen, equality and hash by field values,
    pydantic's ``repr`` and the parts of a pydantic model's API qrt uses."""

    __slots__ = ("_fields_set",)
    model_fields: ClassVar[dict[str, Any]] = {}
    """Field name → default (in declaration order), as pydantic's class attribute names them."""
    _fields_set: frozenset[str]

    @classmethod
    def _make(cls: type[_V], values: Mapping[str, Any], fields_set: frozenset[str]) -> _V:
        """A value from checked fields, with no check (what pydantic's ``model_construct`` is)."""
        self = object.__new__(cls)
        for name in cls.model_fields:
            object.__setattr__(self, name, values[name])
        object.__setattr__(self, "_fields_set", fields_set)
        return self

    @classmethod
    def _fast(cls: type[_V], data: Mapping[Any, Any]) -> _V:
        raise NotImplementedError

    @classmethod
    def model_validate(cls: type[_V], data: Any) -> _V:
        """Like pydantic's: an instance is returned as it is; anything else is checked, and an
        input the plain check does not accept goes to the pydantic twin (its errors, or its value)."""
        if isinstance(data, cls):
            return data
        if isinstance(data, Mapping):
            try:
                return cls._fast(data)
            except (_Invalid, SpecInputError):
                pass
        from qrt.ir.spec_model import validate_by_twin

        made: _V = validate_by_twin(sys.modules[__name__], cls, data)
        return made

    def __init__(self, /, **data: Any) -> None:
        try:
            made = type(self)._fast(data)
        except (_Invalid, SpecInputError):
            from qrt.ir.spec_model import validate_by_twin

            made = validate_by_twin(sys.modules[__name__], type(self), data)
        for name in self.model_fields:
            object.__setattr__(self, name, getattr(made, name))
        object.__setattr__(self, "_fields_set", made._fields_set)

    @property
    def model_fields_set(self) -> set[str]:
        """The fields given when the value was built (pydantic's name)."""
        return set(self._fields_set)

    def _values(self) -> tuple[Any, ...]:
        return tuple(getattr(self, name) for name in self.model_fields)

    def __setattr__(self, name: str, value: Any) -> NoReturn:
        from pydantic_core import ValidationError

        raise ValidationError.from_exception_data(
            type(self).__name__, [{"type": "frozen_instance", "loc": (name,), "input": value}]
        )

    def __delattr__(self, name: str) -> NoReturn:
        self.__setattr__(name, None)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, _Value):
            return NotImplemented
        return type(self) is type(other) and self._values() == other._values()

    def __hash__(self) -> int:
        return hash(self._values())

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.__repr_str__(', ')})"

    def __str__(self) -> str:
        return self.__repr_str__(" ")

    def __repr_str__(self, join: str) -> str:
        return join.join(f"{name}={getattr(self, name)!r}" for name in self.model_fields)

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (type(self), self._values(), tuple(sorted(self._fields_set))))

    def model_copy(self: _V, *, update: Mapping[str, Any] | None = None, deep: bool = False) -> _V:
        """pydantic's ``model_copy``: the fields replaced *unchecked*, the updated ones added
        to the fields set."""
        values = dict(zip(self.model_fields, self._values()))
        if deep:
            import copy

            values = copy.deepcopy(values)
        fields_set = self._fields_set
        if update:
            values.update(update)
            fields_set = fields_set | frozenset(update)
        return type(self)._make(values, fields_set)

    def model_dump(self, *, mode: str = "python", exclude_unset: bool = False,
                   exclude_none: bool = False) -> dict[str, Any]:
        """pydantic's ``model_dump``: every field (nested values as dicts; tuples as lists
        in ``mode="json"``)."""
        out: dict[str, Any] = {}
        for name in self.model_fields:
            if exclude_unset and name not in self._fields_set:
                continue
            value = _dump(getattr(self, name), mode, exclude_unset, exclude_none)
            if exclude_none and value is None:
                continue
            out[name] = value
        return out

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: Any) -> Any:
        """A pydantic model's field of this class validates through the twin's schema (its
        locations and messages), and keeps an instance of this class as it is."""
        from qrt.ir.spec_model import core_schema_for

        return core_schema_for(sys.modules[__name__], cls, handler)


def _dump(value: Any, mode: str, exclude_unset: bool, exclude_none: bool) -> Any:
    if isinstance(value, _Value):
        return value.model_dump(mode=mode, exclude_unset=exclude_unset, exclude_none=exclude_none)
    if isinstance(value, tuple):
        items = [_dump(v, mode, exclude_unset, exclude_none) for v in value]
        return items if mode == "json" else tuple(items)
    return value


# ---------------------------------------------------------------------------------------------
# Granularity


def _type_field(data: Mapping[Any, Any], kind: str) -> str:
    value = data.get("type", kind)
    if type(value) is not str or value != kind:
        raise _Invalid
    return kind


def _plain_axis(data: Mapping[Any, Any]) -> int | None:
    axis = data.get("axis")
    if axis is not None and type(axis) is not int:
        raise _Invalid  # the twin says why (or reads an int subclass as pydantic does)
    return axis


def _only(data: Mapping[Any, Any], fields: dict[str, Any]) -> None:
    for key in data:
        if key not in fields:
            raise _Invalid


class PerTensor(_Value):
    """One scale (and zero point) for the whole tensor."""

    __slots__ = ("type",)
    model_fields: ClassVar[dict[str, Any]] = {"type": "per_tensor"}
    type: Literal["per_tensor"]

    @classmethod
    def _fast(cls, data: Mapping[Any, Any]) -> PerTensor:
        _only(data, cls.model_fields)
        return cls._make({"type": _type_field(data, "per_tensor")}, frozenset(data))

    def to_json(self) -> dict[str, Any]:
        return {"type": self.type}


class PerChannel(_Value):
    """One scale per index along ``axis``.

    ``axis=None`` means "the owning op's or module's default" (docs/semantics.md §3: the output-channel
    dimension), filled in by the resolver; it is not per-tensor.
    """

    __slots__ = ("type", "axis")
    model_fields: ClassVar[dict[str, Any]] = {"type": "per_channel", "axis": None}
    type: Literal["per_channel"]
    axis: int | None

    @classmethod
    def _fast(cls, data: Mapping[Any, Any]) -> PerChannel:
        _only(data, cls.model_fields)
        values = {"type": _type_field(data, "per_channel"), "axis": _plain_axis(data)}
        return cls._make(values, frozenset(data))

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": self.type}
        if self.axis is not None:
            out["axis"] = self.axis
        return out


class PerBlock(_Value):
    """One scale per run of ``block_size`` consecutive elements along ``axis``.

    Every other dimension keeps one scale per index (block size 1), which is why the
    default axis (docs/semantics.md §3) for per-block is the *input*-channel dimension, not the output one.
    ``block_size`` has no default: a wrong guess would silently change the format.
    """

    __slots__ = ("type", "axis", "block_size")
    model_fields: ClassVar[dict[str, Any]] = {"type": "per_block", "axis": None, "block_size": _REQUIRED}
    type: Literal["per_block"]
    axis: int | None
    block_size: int

    @classmethod
    def _fast(cls, data: Mapping[Any, Any]) -> PerBlock:
        _only(data, cls.model_fields)
        block = data.get("block_size")
        if type(block) is not int or block <= 0:
            raise _Invalid
        values = {"type": _type_field(data, "per_block"), "axis": _plain_axis(data), "block_size": block}
        return cls._make(values, frozenset(data))

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": self.type}
        if self.axis is not None:
            out["axis"] = self.axis
        out["block_size"] = self.block_size
        return out


Granularity = Union[PerTensor, PerChannel, PerBlock]
"""Tagged by ``type``, as the YAML of docs/semantics.md §3 writes it: ``{type: per_block, block_size: 32}``."""

GRANULARITY_CLASSES: dict[str, type[PerTensor] | type[PerChannel] | type[PerBlock]] = {
    "per_tensor": PerTensor,
    "per_channel": PerChannel,
    "per_block": PerBlock,
}

_BLOCK_EXAMPLE = "{'type': 'per_block', 'block_size': 32}"


def granularity_input(value: object) -> object:
    """Bare names and dicts → the tagged form, with better messages than the union's own."""
    if isinstance(value, (PerTensor, PerChannel, PerBlock)):
        return value
    value = _enum_text(value)
    if isinstance(value, str):
        kind = value.strip().lower()
        if kind == "per_block":
            raise _error(
                "invalid_granularity",
                f"granularity 'per_block' needs a block_size; write it as a mapping, "
                f"e.g. {_BLOCK_EXAMPLE}",
            )
        if kind not in GRANULARITY_TYPES:
            raise _error(
                "invalid_granularity",
                f"unknown granularity {value!r}; valid granularity types: "
                f"{_listing(GRANULARITY_TYPES)}{_suffix(kind, GRANULARITY_TYPES)}",
            )
        return {"type": kind}
    if isinstance(value, Mapping):
        if "type" not in value:
            raise _error(
                "invalid_granularity",
                f"granularity {dict(value)!r} has no 'type'; valid types: "
                f"{_listing(GRANULARITY_TYPES)}",
            )
        raw = _enum_text(value["type"])
        kind = raw.strip().lower() if isinstance(raw, str) else raw  # type: ignore[assignment]
        if kind not in GRANULARITY_TYPES:
            raise _error(
                "invalid_granularity",
                f"unknown granularity type {raw!r}; valid granularity types: "
                f"{_listing(GRANULARITY_TYPES)}{_suffix(str(kind), GRANULARITY_TYPES)}",
            )
        if kind == "per_block" and "block_size" not in value:
            raise _error(
                "invalid_granularity",
                f"granularity 'per_block' needs a block_size, e.g. {_BLOCK_EXAMPLE}; "
                f"got {dict(value)!r}",
            )
        return {**value, "type": kind}
    raise _error(
        "invalid_granularity",
        f"granularity must be 'per_tensor', 'per_channel' or a mapping with a 'type' "
        f"({_listing(GRANULARITY_TYPES)}), got {value!r} ({type(value).__name__})",
    )


def _plain_granularity(value: object) -> PerTensor | PerChannel | PerBlock:
    tagged = granularity_input(value)
    if isinstance(tagged, (PerTensor, PerChannel, PerBlock)):
        return tagged
    assert isinstance(tagged, dict)
    return GRANULARITY_CLASSES[tagged["type"]]._fast(tagged)


# ---------------------------------------------------------------------------------------------
# The spec


def _optional_dtype(value: object, field: str, choices: tuple[str, ...]) -> str | None:
    return None if value is None else canonical_dtype(value, field, choices)


def _plain_then(value: object) -> tuple[QuantizationSpec, ...]:
    if isinstance(value, (QuantizationSpec, Mapping)) or not isinstance(value, (list, tuple)):
        raise _Invalid
    stages = tuple(s if isinstance(s, QuantizationSpec) else QuantizationSpec._fast(s) for s in value)
    check_flat_stages(stages)
    return stages


_READERS: dict[str, Any] = {
    "dtype": lambda v: canonical_dtype(v, "dtype", QUANT_DTYPES),
    "qscheme": lambda v: canonical_choice(v, "qscheme", QSCHEMES, allow_default=False),
    "granularity": _plain_granularity,
    "scale_dtype": lambda v: _optional_dtype(v, "scale_dtype", SCALE_DTYPES),
    "qparam_calculator": lambda v: canonical_choice(v, "qparam_calculator", QPARAM_CALCULATORS, allow_default=True),
    "range_calculator": lambda v: canonical_choice(v, "range_calculator", RANGE_CALCULATORS, allow_default=True),
    "fake_quantize": lambda v: canonical_choice(v, "fake_quantize", FAKE_QUANTIZERS, allow_default=True),
    "extras": lambda v: extras_input(v),
    "then": _plain_then,
}
"""The plain check of each field: the twin's validators, in Python (each raises
:class:`SpecInputError` or :class:`_Invalid`; the twin then decides)."""


class QuantizationSpec(_Value):
    """How one tensor is quantized. Build it from keywords, a mapping (``from_json``) or a patch.

    Defaults (``QuantizationSpec()``): int8, symmetric, per tensor, everything else ``None``
    (scale dtype and algorithms chosen by the runtime). The role defaults (docs/semantics.md §2) are
    ``default_activation_spec()`` and ``default_weight_spec()``.
    """

    __slots__ = (
        "dtype", "qscheme", "granularity", "scale_dtype", "qparam_calculator", "range_calculator",
        "fake_quantize", "extras", "then",
    )  # fmt: skip
    model_fields: ClassVar[dict[str, Any]] = {
        "dtype": "int8",
        "qscheme": "symmetric",
        "granularity": PerTensor._make({"type": "per_tensor"}, frozenset()),
        "scale_dtype": None,
        "qparam_calculator": None,
        "range_calculator": None,
        "fake_quantize": None,
        "extras": (),
        "then": (),
    }
    dtype: QuantDType
    qscheme: QScheme
    granularity: PerTensor | PerChannel | PerBlock
    scale_dtype: ScaleDType | None
    qparam_calculator: QParamCalculator | None
    range_calculator: RangeCalculator | None
    fake_quantize: FakeQuantize | None
    extras: tuple[tuple[str, str], ...]
    """Settings with no qrt field: sorted ``(name, canonical JSON text)`` pairs. Written as a
    mapping ``{name: JSON value}``; :meth:`extra_values` reads them back."""
    then: tuple[QuantizationSpec, ...]
    """The further stages of a sequential quantizer, applied after this one, in order."""

    @classmethod
    def _fast(cls, data: Mapping[Any, Any]) -> QuantizationSpec:
        given = rename_aliases(data)
        values = dict(cls.model_fields)
        for name, value in given.items():
            reader = _READERS.get(name) if isinstance(name, str) else None
            if reader is None:
                raise _Invalid  # an unknown field: the twin says which
            values[name] = reader(value)
        check_combinations(values["dtype"], values["qscheme"], values["granularity"].type, values["scale_dtype"])
        return cls._make(values, frozenset(given))

    # -- queries and copies -------------------------------------------------------------------

    def extra_values(self) -> dict[str, Any]:
        """The extras as ``{name: JSON value}``, sorted by name."""
        return {name: json.loads(text) for name, text in self.extras}

    @property
    def stages(self) -> tuple[QuantizationSpec, ...]:
        """Every stage of the quantizer: this spec (without ``then``) and then its ``then``."""
        if not self.then:
            return (self,)
        return (self.merged({"then": ()}), *self.then)

    def explicit_fields(self) -> frozenset[str]:
        """The fields the author wrote; the others hold class defaults (docs/semantics.md §3, explain)."""
        return self._fields_set

    def merged(self, patch: Mapping[str, Any]) -> QuantizationSpec:
        """A new spec with *patch*'s fields replaced, validated again (a patch effect, §2).

        ``granularity`` is replaced whole, not merged key by key: ``{"block_size": 64}`` alone
        is not a granularity. Explicit fields are this spec's plus the patch's. Built from the
        explicit fields only, because the others are defaults by definition.
        """
        if not isinstance(patch, Mapping):
            raise TypeError(f"merged() takes a mapping of spec fields, got {type(patch).__name__}")
        if type(self) is QuantizationSpec:
            try:  # this spec's fields are checked already: only the patch's are read
                given = rename_aliases(patch)
                values = dict(zip(self.model_fields, self._values()))
                for name, value in given.items():
                    reader = _READERS.get(name) if isinstance(name, str) else None
                    if reader is None:
                        raise _Invalid
                    values[name] = reader(value)
                check_combinations(values["dtype"], values["qscheme"], values["granularity"].type,
                                   values["scale_dtype"])
                return type(self)._make(values, self._fields_set | frozenset(given))
            except (_Invalid, SpecInputError):
                pass  # the whole input to the twin below: its errors, located as ever
        data: dict[str, Any] = {name: getattr(self, name) for name in self._fields_set}
        for key in patch:
            data.pop(_FIELD_ALIASES.get(key, key), None)
        data.update(patch)
        return type(self).model_validate(data)

    def with_axis(self, axis: int | None) -> QuantizationSpec:
        """This spec with the granularity's axis set (the resolver fills the defaults of docs/semantics.md §3)."""
        granularity = self.granularity
        if isinstance(granularity, PerTensor):
            raise ValueError(
                f"with_axis({axis!r}): per_tensor granularity has no axis; only per_channel and "
                "per_block do"
            )
        new = type(granularity).model_validate({**granularity.model_dump(), "axis": axis})
        return self.merged({"granularity": new})

    # -- JSON -----------------------------------------------------------------------------------

    def to_json(self, *, explicit_only: bool = False) -> dict[str, Any]:
        """Canonical JSON-safe form: every field in declaration order, granularity with only the
        keys that carry a value. ``explicit_only=True`` keeps just the fields the author wrote,
        so ``from_json`` gives back the same ``explicit_fields()`` too."""
        out: dict[str, Any] = {
            "dtype": self.dtype,
            "qscheme": self.qscheme,
            "granularity": self.granularity.to_json(),
            "scale_dtype": self.scale_dtype,
            "qparam_calculator": self.qparam_calculator,
            "range_calculator": self.range_calculator,
            "fake_quantize": self.fake_quantize,
        }
        if self.extras:
            out["extras"] = self.extra_values()
        if self.then:
            out["then"] = [stage.to_json(explicit_only=explicit_only) for stage in self.then]
        if explicit_only:
            return {k: v for k, v in out.items() if k in self._fields_set}
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> QuantizationSpec:
        """The inverse of ``to_json``; accepts every spelling the constructor does."""
        return cls.model_validate(data)


SPEC_FIELDS: tuple[str, ...] = tuple(QuantizationSpec.model_fields)

_EXTRA_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _canonical_json(name: str, value: object) -> str:
    try:
        return json.dumps(value, sort_keys=True, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError):
        raise _error(
            "invalid_value",
            f"extra {name!r} must be a JSON value (null, true/false, a number, a string, a list "
            f"or a mapping with string keys), got {value!r} ({type(value).__name__})",
        ) from None


def extras_input(value: object) -> tuple[tuple[str, str], ...]:
    """``{name: value}`` (values encoded) or ``((name, json_text), ...)`` (texts checked)."""
    if value is None:
        return ()
    pairs: list[tuple[str, str]] = []
    if isinstance(value, Mapping):
        for name, item in value.items():
            pairs.append((name, _canonical_json(str(name), item)))
    elif isinstance(value, (list, tuple)) and all(
        isinstance(p, (list, tuple)) and len(p) == 2 and isinstance(p[1], str) for p in value
    ):
        for name, text in value:
            try:
                decoded = json.loads(text)
            except ValueError:
                raise _error(
                    "invalid_value", f"extra {name!r}: {text!r} is not JSON text"
                ) from None
            pairs.append((name, _canonical_json(str(name), decoded)))
    else:
        raise _error(
            "invalid_value",
            f"extras must be a mapping of names to JSON values, got {value!r} "
            f"({type(value).__name__})",
        )
    seen: set[str] = set()
    for name, _ in pairs:
        if not isinstance(name, str) or not _EXTRA_NAME.fullmatch(name):
            raise _error(
                "invalid_value",
                f"extra name {name!r} must be an identifier (letters, digits and _)",
            )
        if name in seen:
            raise _error("invalid_value", f"extra {name!r} is given twice; keep one")
        seen.add(name)
    return tuple(sorted(pairs))


def default_activation_spec() -> QuantizationSpec:
    """The reference library's default for op inputs and outputs: int8, symmetric, per tensor, moving average.

    The four named fields are explicit: they are what this default says, not leftovers.
    """
    return QuantizationSpec(
        dtype="int8",
        qscheme="symmetric",
        granularity=PerTensor(),
        qparam_calculator="moving_average",
    )


def default_weight_spec() -> QuantizationSpec:
    """The reference library's default for ``weight`` state: int8, symmetric, per channel, static.

    The axis is left ``None`` for the resolver to fill by op or module type (the output channel).
    """
    return QuantizationSpec(
        dtype="int8", qscheme="symmetric", granularity=PerChannel(), qparam_calculator="static"
    )


# ---------------------------------------------------------------------------------------------
# Error rendering

_OWN_ERROR_TYPES = frozenset(
    {
        "unknown_dtype",
        "unknown_choice",
        "invalid_granularity",
        "invalid_value",
        "invalid_combination",
    }
)


def _where(loc: tuple[int | str, ...]) -> tuple[str, str, tuple[str, ...]]:
    """A pydantic ``loc`` → a dotted field path, and the owner and valid field names at its end.

    The tagged union puts its tag into ``loc`` (``granularity.per_block.block_size``); a
    reader wrote no such key, so it is dropped here.
    """
    parts = [str(p) for p in loc]
    owner, fields = "spec", SPEC_FIELDS
    if parts and parts[0] == "granularity" and len(parts) > 1 and parts[1] in GRANULARITY_CLASSES:
        owner = f"{parts[1]} granularity"
        fields = tuple(GRANULARITY_CLASSES[parts[1]].model_fields)
        del parts[1]
    return ".".join(parts), owner, fields


def spec_error_message(err: ValidationError) -> str:
    """One line per error: ``field `x`: message`` (``spec: message`` for combinations).

    An unknown field adds the closest name and the valid field list, which pydantic's own
    ``extra_forbidden`` message does not.
    """
    lines: list[str] = []
    for item in err.errors():
        path, owner, fields = _where(tuple(item["loc"]))
        kind = item["type"]
        if kind == "extra_forbidden":
            name = path.rsplit(".", 1)[-1]
            message = (
                f"unknown field{_suffix(name, fields)}; valid fields of a {owner}: "
                f"{_listing(fields)}"
            )
        elif kind in _OWN_ERROR_TYPES or kind == "missing":
            message = item["msg"]
        else:
            message = f"{item['msg']} (got {item.get('input')!r})"
        lines.append(f"field `{path}`: {message}" if path else f"spec: {message}")
    return "\n".join(lines)
