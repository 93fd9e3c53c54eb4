"""The pydantic twin of the spec classes: the same fields and validators as pydantic models,
used only where pydantic is needed — to raise a ``ValidationError`` for an input the plain
check of :mod:`qrt.ir.spec` does not accept, and to validate a spec inside another pydantic
model (the hierarchical config) with pydantic's locations and messages.

Why a twin and not the classes themselves: importing pydantic and building these models cost
about a quarter of a second of every ``qrt explain`` and ``qrt lint`` (issue 24), where every
spec they meet is valid. The twin holds the one definition of the error types and locations;
the plain classes hold the one definition of the values. :func:`validate_by_twin` turns the
twin's value into the plain class, with its fields set.
"""

from __future__ import annotations

from types import ModuleType
from typing import Annotated, Any, Literal, Union

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError, core_schema

from qrt.ir.spec_vocab import (
    FakeQuantize,
    QParamCalculator,
    QScheme,
    QuantDType,
    RangeCalculator,
    ScaleDType,
)

__all__ = ["core_schema_for", "validate_by_twin"]

_PLAIN: Any = None
"""The module of the plain classes and their checks (:mod:`qrt.ir.spec`), handed in by its
first call here: it imports this module, so this one does not import it (no import circle)."""


def _bind(plain: ModuleType) -> None:
    global _PLAIN
    if _PLAIN is None:
        _PLAIN = plain
        _TWINS.update({plain.PerTensor: PerTensor, plain.PerChannel: PerChannel, plain.PerBlock: PerBlock,
                       plain.QuantizationSpec: QuantizationSpec})


def _checked(name: str, *args: Any, **kwargs: Any) -> Any:
    """The plain module's check ``name``; its ``SpecInputError`` raised as pydantic's error of
    that kind (the message through the context, so that braces in it are text)."""
    try:
        return getattr(_PLAIN, name)(*args, **kwargs)
    except _PLAIN.SpecInputError as err:
        raise PydanticCustomError(err.kind, "{message}", {"message": err.message}) from None


class PerTensor(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    type: Literal["per_tensor"] = "per_tensor"


class PerChannel(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    type: Literal["per_channel"] = "per_channel"
    axis: int | None = None

    @field_validator("axis", mode="before")
    @classmethod
    def _axis(cls, value: object) -> object:
        return _checked("check_axis", value)


class PerBlock(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    type: Literal["per_block"] = "per_block"
    axis: int | None = None
    block_size: int

    @field_validator("axis", mode="before")
    @classmethod
    def _axis(cls, value: object) -> object:
        return _checked("check_axis", value)

    @field_validator("block_size", mode="before")
    @classmethod
    def _positive_block(cls, value: object) -> object:
        return _checked("check_block_size", value)


Granularity = Annotated[Union[PerTensor, PerChannel, PerBlock], Field(discriminator="type")]

_TWINS: dict[Any, type[BaseModel]] = {}
"""Plain class → its twin (filled by :func:`_bind`)."""


class QuantizationSpec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    dtype: QuantDType = "int8"
    qscheme: QScheme = "symmetric"
    granularity: Granularity = Field(default_factory=PerTensor)
    scale_dtype: ScaleDType | None = None
    qparam_calculator: QParamCalculator | None = None
    range_calculator: RangeCalculator | None = None
    fake_quantize: FakeQuantize | None = None
    extras: tuple[tuple[str, str], ...] = ()
    then: tuple[Any, ...] = ()  # plain specs (the before-validator builds them)

    @model_validator(mode="before")
    @classmethod
    def _rename_aliases(cls, data: Any) -> Any:
        if isinstance(data, QuantizationSpec):
            return data
        return _checked("rename_aliases", data)

    @field_validator("dtype", mode="before")
    @classmethod
    def _dtype(cls, value: object) -> str:
        return str(_checked("canonical_dtype", value, "dtype", _PLAIN.QUANT_DTYPES))

    @field_validator("scale_dtype", mode="before")
    @classmethod
    def _scale_dtype(cls, value: object) -> str | None:
        if value is None:
            return None
        return str(_checked("canonical_dtype", value, "scale_dtype", _PLAIN.SCALE_DTYPES))

    @field_validator("qscheme", mode="before")
    @classmethod
    def _qscheme(cls, value: object) -> str | None:
        # allow_default=False: qscheme has no "runtime picks" value, so None is an error here.
        return _checked("canonical_choice", value, "qscheme", _PLAIN.QSCHEMES, allow_default=False)  # type: ignore[no-any-return]

    @field_validator("qparam_calculator", "range_calculator", "fake_quantize", mode="before")
    @classmethod
    def _algorithm(cls, value: object, info: ValidationInfo) -> str | None:
        name = info.field_name or ""
        return _checked("canonical_choice", value, name, _PLAIN._CHOICE_SETS[name], allow_default=True)  # type: ignore[no-any-return]

    @field_validator("granularity", mode="before")
    @classmethod
    def _granularity(cls, value: object) -> object:
        tagged = _checked("granularity_input", value)
        if isinstance(tagged, _PLAIN._Value):  # a plain granularity: its twin, unchecked (it is valid)
            return _TWINS[type(tagged)].model_construct(_fields_set=tagged.model_fields_set, **tagged.model_dump())
        return tagged

    @field_validator("extras", mode="before")
    @classmethod
    def _extras(cls, value: object) -> object:
        return _checked("extras_input", value)

    @field_validator("then", mode="before")
    @classmethod
    def _then(cls, value: object) -> object:
        return _checked("check_then", value)

    @model_validator(mode="after")
    def _combinations(self) -> QuantizationSpec:
        _checked("check_combinations", self.dtype, self.qscheme, self.granularity.type, self.scale_dtype)
        return self



def _to_plain(model: BaseModel) -> Any:
    """The plain value of a twin's value, with the same fields set."""
    cls = next(p for p, twin in _TWINS.items() if twin is type(model))
    values = {name: getattr(model, name) for name in cls.model_fields}
    if "granularity" in values:
        values["granularity"] = _to_plain(values["granularity"])
    return cls._make(values, frozenset(model.model_fields_set))


def validate_by_twin(plain: ModuleType, cls: type, data: Any) -> Any:
    """``cls.model_validate(data)`` by pydantic: its ``ValidationError``, or the value."""
    _bind(plain)
    return _to_plain(_TWINS[cls].model_validate(data))


def core_schema_for(plain: ModuleType, cls: type, handler: Any) -> core_schema.CoreSchema:
    """The schema of a plain class as a pydantic field: an instance as it is, anything else
    through the twin (whose errors keep their locations inside the outer model)."""
    _bind(plain)
    twin = _TWINS[cls]

    def validate(value: Any, inner: core_schema.ValidatorFunctionWrapHandler) -> Any:
        if isinstance(value, cls):
            return value
        return _to_plain(inner(value))

    def serialize(value: Any, info: core_schema.SerializationInfo) -> Any:
        return value.model_dump(mode=info.mode, exclude_unset=info.exclude_unset, exclude_none=info.exclude_none)

    return core_schema.no_info_wrap_validator_function(
        validate,
        handler.generate_schema(twin),
        serialization=core_schema.plain_serializer_function_ser_schema(serialize, info_arg=True),
    )
