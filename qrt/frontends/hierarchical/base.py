"""The base of the three config classes: validated pydantic models that remember where each
part was written (docs/semantics.md §3).

* **Validation.** Assignment is validated, unknown fields are refused, and a pydantic error
  becomes a :class:`~.errors.ConfigError` located at the caller's line
  (:mod:`.pydantic_errors`); nested configs raise once, from the root, with their full path.
* **Origins.** ``_origins`` maps ``()`` (the object), ``(field,)`` and ``(field, key)`` to
  where they were written: the caller's ``file:line`` in Python (:mod:`.callsite`), the key's
  ``file:line:col`` from YAML (stamped by :mod:`.yaml_read`).
* **Order.** For ``module_name_configs``, ``module_type_configs`` and ``op_name_config`` the
  order decides ties (later wins), so it is part of equality there.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, PrivateAttr, ValidationError, model_validator

from qrt.frontends.hierarchical.callsite import call_site, position_of
from qrt.frontends.hierarchical.errors import fail, listing
from qrt.frontends.hierarchical.execution_mode import ExecutionMode
from qrt.frontends.hierarchical.pydantic_errors import raise_validation
from qrt.frontends.hierarchical.qat import QATSchedule
from qrt.ir.origin import Origin
from qrt.ir.spec import QuantizationSpec

__all__ = ["ORDERED_FIELDS", "_ConfigBase", "field_to_json"]


ORDERED_FIELDS = frozenset({"module_name_configs", "module_type_configs", "op_name_config"})
"""Dict fields whose order decides ties (docs/semantics.md §3: later keys win), so it is compared."""


class _ConfigBase(BaseModel):
    """Mutable, validated on assignment, unknown fields refused; records its origins."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    _origins: dict[tuple[Any, ...], Origin] = PrivateAttr(default_factory=dict)
    """``()`` this object; ``(field,)`` a field; ``(field, key)`` an entry of a dict field."""

    def __init__(self, /, **data: Any) -> None:
        try:
            super().__init__(**data)
        except ValidationError as err:
            raise_validation(err, type(self), data, location=position_of(call_site()))

    # Marked as pydantic's own __init__ so that validating a nested config does not call it:
    # errors inside a tree must surface once, from the root, with their full config path.
    __init__.__pydantic_base_init__ = True  # type: ignore[attr-defined]

    def model_post_init(self, context: Any, /) -> None:
        site = call_site()
        if site is not None:
            self._origins[()] = site

    def __setattr__(self, name: str, value: Any) -> None:
        if name not in type(self).model_fields:
            super().__setattr__(name, value)
            return
        self._assign(name, value)
        # A whole field replaced: its entries' recorded origins are no longer true.
        for key in [k for k in self._origins if k and k[0] == name]:
            del self._origins[key]
        site = call_site()
        if site is not None:
            self._origins[(name,)] = site

    def _assign(self, name: str, value: Any) -> None:
        try:
            super().__setattr__(name, value)
        except ValidationError as err:
            raise_validation(err, type(self), {name: value}, location=position_of(call_site()))

    @model_validator(mode="before")
    @classmethod
    def _mapping(cls, data: Any) -> Any:
        if isinstance(data, BaseModel) and type(data) is not cls:
            raise fail(
                "invalid_config",
                f"expected a {cls.__name__} (fields: {listing(cls.model_fields)}) or null, "
                f"got a {type(data).__name__}",
            )
        if isinstance(data, (cls, Mapping)):
            return data
        raise fail(
            "invalid_config",
            f"a {cls.__name__} must be a mapping of its fields ({listing(cls.model_fields)}) "
            f"or null; got {data!r} ({type(data).__name__})",
        )

    def __eq__(self, other: object) -> bool:
        if type(self) is not type(other):
            return NotImplemented
        for name in type(self).model_fields:
            mine, theirs = getattr(self, name), getattr(other, name)
            if name in ORDERED_FIELDS and isinstance(mine, dict) and isinstance(theirs, dict):
                if list(mine.items()) != list(theirs.items()):
                    return False
            elif mine != theirs:
                return False
        return True

    __hash__ = None  # type: ignore[assignment]

    def _entry_key(self, field: str, key: Any) -> Any:
        """A key as this object stores it in ``field`` (canonical op type, qualified class)."""
        return key

    def _to_json(self, spec_json: Callable[[QuantizationSpec], Any], full: bool) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, info in type(self).model_fields.items():
            value = getattr(self, name)
            if not full and name not in self.model_fields_set:
                if value == info.get_default(call_default_factory=True):
                    continue
            out[name] = field_to_json(value, spec_json, full)
        return out


def field_to_json(value: Any, spec_json: Callable[[QuantizationSpec], Any], full: bool) -> Any:
    """Plain data for one field's value: dicts, lists, strings, ints and ``None``."""
    if value is None:
        return None
    if isinstance(value, _ConfigBase):
        return value._to_json(spec_json, full)
    if isinstance(value, QATSchedule):
        return {k: getattr(value, k) for k in type(value).model_fields}
    if isinstance(value, ExecutionMode):
        return value.value
    if isinstance(value, list):
        return list(value)
    if isinstance(value, dict):
        spellings = getattr(value, "spellings", {})
        out: dict[Any, Any] = {}
        for key, item in value.items():
            written = spellings.get(key, key)
            if item is None:
                out[written] = None
            elif isinstance(item, QuantizationSpec):
                out[written] = spec_json(item)
            else:
                out[written] = item._to_json(spec_json, full)
        return out
    return value
