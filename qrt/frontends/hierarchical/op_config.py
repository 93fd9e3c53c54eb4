"""``OpQuantizerConfig`` and ``ModuleQuantizerConfig``: how the ops of a scope are quantized,
and a module's own boundary (docs/semantics.md §3).

* **Defaults are W8A8.** Built with no arguments, op inputs and outputs get
  :func:`~qrt.ir.spec.default_activation_spec` and ``weight`` state
  :func:`~qrt.ir.spec.default_weight_spec`. ``None`` (YAML ``null``) switches a group off.
* **Keys.** Input/output keys are all positions (``0``, ``1``) or all names (``"x"``), plus
  ``"*"``; state keys are names. Op type keys are normalised to the canonical op type
  (``concat`` → ``cat``) and the spelling the author used is remembered. Name keys are
  regexes and must compile. The checks live in :mod:`.keys`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, ClassVar, Optional, Union

from pydantic import BaseModel, Field, ValidationInfo, field_validator

from qrt.frontends.hierarchical.base import _ConfigBase
from qrt.frontends.hierarchical.errors import fail, listing
from qrt.frontends.hierarchical.keys import (
    ALL,
    OP_TYPE_WORD,
    io_spec_dict,
    op_type_key,
    regex_key,
    state_spec_dict,
)
from qrt.frontends.hierarchical.qat import QATSchedule
from qrt.ir.spec import QuantizationSpec, default_activation_spec, default_weight_spec
from qrt.ops.registry import default_registry

__all__ = ["ModuleQuantizerConfig", "OpQuantizerConfig", "regex_keyed"]


class _OpTypeDict(dict):  # type: ignore[type-arg]
    """``op_type_config`` after normalisation: canonical keys, and how each was spelled."""

    spellings: dict[str, str]

    def __init__(self, items: Mapping[str, Any], spellings: Mapping[str, str]) -> None:
        super().__init__(items)
        self.spellings = dict(spellings)


_IO_SPECS = Optional[dict[Union[int, str], Optional[QuantizationSpec]]]
_STATE_SPECS = Optional[dict[str, Optional[QuantizationSpec]]]


def _default_activation_specs() -> dict[Union[int, str], Optional[QuantizationSpec]]:
    return {ALL: default_activation_spec()}


def _default_state_specs() -> dict[str, Optional[QuantizationSpec]]:
    return {"weight": default_weight_spec()}


class OpQuantizerConfig(_ConfigBase):
    """How the ops of one type or name are quantized: their inputs, outputs and state.

    Defaults: all inputs and outputs get :func:`~qrt.ir.spec.default_activation_spec` (int8 per
    tensor), ``weight`` gets :func:`~qrt.ir.spec.default_weight_spec` (int8 per channel); other
    state (``bias``) stays in floating point. An explicit key beats ``"*"``; a key not listed
    (and no ``"*"``) is not quantized; ``None`` for a whole group quantizes none of it.
    """

    op_input_spec: _IO_SPECS = Field(default_factory=_default_activation_specs)
    op_output_spec: _IO_SPECS = Field(default_factory=_default_activation_specs)
    op_state_spec: _STATE_SPECS = Field(default_factory=_default_state_specs)

    @field_validator("op_input_spec", "op_output_spec", mode="before")
    @classmethod
    def _io_keys(cls, value: object, info: ValidationInfo) -> object:
        return io_spec_dict(value, info.field_name or "")

    @field_validator("op_state_spec", mode="before")
    @classmethod
    def _state_keys(cls, value: object, info: ValidationInfo) -> object:
        return state_spec_dict(value, info.field_name or "")


class ModuleQuantizerConfig(OpQuantizerConfig):
    """How the ops inside a module's scope are quantized, and the module's own boundary.

    Inside the scope the op configuration is the last matching ``op_name_config`` regex (matched
    against the op name relative to the module that holds the key), else
    ``op_type_config[op_type]``, else this object's ``op_*_spec`` (docs/semantics.md §3). The
    ``module_*_spec`` dicts put quantizers on the module's own inputs, outputs and state,
    whatever op receives them; they are partial (unlisted keys are left to the op level) and
    override the op level on the same tensor. ``presets`` holds ready-made configs.
    """

    op_type_config: dict[str, Optional[OpQuantizerConfig]] = Field(default_factory=dict)
    op_name_config: dict[str, Optional[OpQuantizerConfig]] = Field(default_factory=dict)
    module_input_spec: _IO_SPECS = Field(default_factory=dict)
    module_output_spec: _IO_SPECS = Field(default_factory=dict)
    module_state_spec: _STATE_SPECS = Field(default_factory=dict)
    qat_schedule: Optional[QATSchedule] = None

    presets: ClassVar[Any]
    """Preset module configs (``ModuleQuantizerConfig.presets.w8()``), wired by ``presets.py``."""

    @field_validator("module_input_spec", "module_output_spec", mode="before")
    @classmethod
    def _module_io_keys(cls, value: object, info: ValidationInfo) -> object:
        return io_spec_dict(value, info.field_name or "")

    @field_validator("module_state_spec", mode="before")
    @classmethod
    def _module_state_keys(cls, value: object, info: ValidationInfo) -> object:
        return state_spec_dict(value, info.field_name or "")

    @field_validator("op_type_config", mode="wrap")
    @classmethod
    def _op_types(cls, value: object, handler: Callable[[Any], Any]) -> object:
        if value is None:
            value = {}
        if not isinstance(value, Mapping):
            raise fail(
                "invalid_value",
                f"op_type_config must be a mapping from op types ('linear', 'softmax', ...) to "
                f"OpQuantizerConfig or null; got {value!r} ({type(value).__name__})",
            )
        before = getattr(value, "spellings", {})
        normalised: dict[str, Any] = {}
        spellings: dict[str, str] = {}
        for key, item in value.items():
            canonical = op_type_key(key)
            written = before.get(key, key)
            if canonical in normalised:
                raise fail(
                    "invalid_key",
                    f"op types {spellings[canonical]!r} and {written!r} are the same op type "
                    f"{canonical!r}; keep one key",
                    key=key,
                )
            _check_op_config(item, key)
            normalised[canonical] = item
            spellings[canonical] = written
        return _OpTypeDict(handler(normalised), spellings)

    @field_validator("op_name_config", mode="before")
    @classmethod
    def _op_names(cls, value: object) -> object:
        return regex_keyed(value, "op_name_config", "op name")

    def _entry_key(self, field: str, key: Any) -> Any:
        if field == "op_type_config" and isinstance(key, str) and OP_TYPE_WORD.fullmatch(key):
            return default_registry.canonical(key)
        return key

    def written_op_type(self, op_type: str) -> str:
        """How the author spelled the ``op_type_config`` key of canonical ``op_type``."""
        spellings = getattr(self.op_type_config, "spellings", {})
        return spellings.get(op_type, op_type)


def regex_keyed(value: object, field: str, what: str) -> object:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise fail(
            "invalid_value",
            f"{field} must be a mapping from {what} regexes to configs (or null values); got "
            f"{value!r} ({type(value).__name__})",
        )
    for key, item in value.items():
        regex_key(key, what)
        if field == "op_name_config":
            _check_op_config(item, key)
    return dict(value)


def _check_op_config(item: object, key: object) -> None:
    """An op entry holds an ``OpQuantizerConfig``, not its subclass ``ModuleQuantizerConfig``
    (whose module-level fields would be silently ignored at op level)."""
    if isinstance(item, BaseModel) and type(item) is not OpQuantizerConfig:
        raise fail(
            "invalid_value",
            f"op-level entries are OpQuantizerConfig (fields: "
            f"{listing(OpQuantizerConfig.model_fields)}) or null; got a {type(item).__name__}",
            key=key,
        )
