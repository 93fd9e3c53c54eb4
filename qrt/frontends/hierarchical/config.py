"""The config classes: ``QuantizerConfig`` → ``ModuleQuantizerConfig`` → ``OpQuantizerConfig``.

These are the reference library's config vocabulary (docs/semantics.md §3), read and checked here so
that the compiler (:mod:`qrt.frontends.hierarchical.compile`) only ever sees valid configs.
docs/semantics.md §3 says what they *mean*; this module says what may be *written*:

* **Defaults are W8A8.** Every class built with no arguments quantizes op inputs and outputs
  with :func:`~qrt.ir.spec.default_activation_spec` and ``weight`` state with
  :func:`~qrt.ir.spec.default_weight_spec`; ``QuantizerConfig()`` creates its global config.
  ``None`` (YAML ``null`` or an empty value) switches a scope or a tensor group off.
* **Keys.** Input/output keys are all positions (``0``, ``1``) or all names (``"x"``), plus
  ``"*"``; state keys are names. Op type keys are normalised to the canonical op type
  (``concat`` → ``cat``, docs/semantics.md §3) and the spelling the author used is remembered.
  Module type keys are fully-qualified class names; ``torch.nn.Linear`` is refused with the
  key that would work. Name keys are regexes and must compile. The checks live in
  :mod:`.keys`.
* **Order is kept.** Every dict keeps insertion order; for ``module_name_configs``,
  ``module_type_configs`` and ``op_name_config`` the order decides ties (later wins), so it
  is part of equality there.
* **Origins.** Each config object records where it was written: the caller's ``file:line``
  when built in Python (:mod:`.callsite`), the key's ``file:line:col`` when loaded from YAML
  (stamped by :mod:`.yaml_read`).
  :meth:`QuantizerConfig.origin_of` answers for a config path such as
  ``module_name_configs['dec'].op_state_spec['weight']``.
* **Errors.** Pydantic stays inside: a bad value raises :class:`ConfigError` (or
  :class:`~qrt.errors.SpecError` when the problem is inside a quantization spec) whose message
  starts with the config path and says what would be valid (:mod:`.errors`,
  :mod:`.pydantic_errors`).

Where each part lives: the validated base with origins is :mod:`.base`, the op and module
classes :mod:`.op_config`, this module :class:`QuantizerConfig` (validation, reading and
writing, origins, setters). The document around a config (``quantization_config`` beside
``quantization_spec``) is :mod:`.document`'s, YAML :mod:`.yaml_read` and :mod:`.yaml_dump`'s:
they take the config class as an argument, so this module imports them and none imports it.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Mapping
from dataclasses import replace
from typing import Any, ClassVar, Optional

from pydantic import Field, field_validator
from pydantic_core import PydanticCustomError

from qrt.frontends.hierarchical.base import _ConfigBase
from qrt.frontends.hierarchical.callsite import call_site, position_of
from qrt.frontends.hierarchical.document import config_from_document, document_of
from qrt.frontends.hierarchical.errors import ConfigError, fail, listing, suggest
from qrt.frontends.hierarchical.execution_mode import ExecutionMode
from qrt.frontends.hierarchical.keys import checked_module_type_key, module_type_key
from qrt.frontends.hierarchical.op_config import ModuleQuantizerConfig, OpQuantizerConfig, regex_keyed
from qrt.frontends.hierarchical.paths import parse_config_path
from qrt.frontends.hierarchical.qat import QATSchedule, QATState
from qrt.frontends.hierarchical.yaml_dump import dump_config
from qrt.frontends.hierarchical.yaml_read import read_config_file
from qrt.ir.origin import Origin

__all__ = [
    "OpQuantizerConfig",
    "ModuleQuantizerConfig",
    "QuantizerConfig",
    # Re-exported: other modules and users import these from here.
    "ConfigError",
    "ExecutionMode",
    "QATSchedule",
    "QATState",
]


class QuantizerConfig(_ConfigBase):
    """The quantization config of a whole model (docs/semantics.md §3).

    A module is governed by the most specific candidate: ``module_name_configs`` (regexes on
    module names) over ``module_type_configs`` (fully-qualified class names) over
    ``global_config``; among equals the deeper module, then the later key (docs/semantics.md §3).
    ``QuantizerConfig()`` is W8A8 everywhere; ``global_config=None`` quantizes nothing that a
    more specific entry does not switch on.

    Build it from keywords, :meth:`from_dict`, :meth:`from_yaml` or ``presets``; change it with
    the setters, each of which returns the config so calls chain.
    """

    global_config: Optional[ModuleQuantizerConfig] = Field(default_factory=ModuleQuantizerConfig)
    module_type_configs: dict[str, Optional[ModuleQuantizerConfig]] = Field(default_factory=dict)
    module_name_configs: dict[str, Optional[ModuleQuantizerConfig]] = Field(default_factory=dict)
    execution_mode: ExecutionMode = ExecutionMode.GRAPH
    preserved_attributes: list[str] = Field(default_factory=list)

    presets: ClassVar[Any]
    """Preset configs (``QuantizerConfig.presets.w4()``), wired by ``presets.py``."""

    # -- validation ----------------------------------------------------------------------------

    @field_validator("module_type_configs", mode="before")
    @classmethod
    def _module_types(cls, value: object) -> object:
        if value is None:
            return {}
        if not isinstance(value, Mapping):
            raise fail(
                "invalid_value",
                "module_type_configs must be a mapping from fully-qualified module class names "
                f"to ModuleQuantizerConfig or null; got {value!r} ({type(value).__name__})",
            )
        out: dict[str, Any] = {}
        for key, item in value.items():
            name = checked_module_type_key(key)
            if name in out:
                raise fail(
                    "invalid_key",
                    f"module type {name!r} is given twice (as a class and as its name); keep one",
                    key=name,
                )
            out[name] = item
        return out

    @field_validator("module_name_configs", mode="before")
    @classmethod
    def _module_names(cls, value: object) -> object:
        return regex_keyed(value, "module_name_configs", "module name")

    @field_validator("execution_mode", mode="before")
    @classmethod
    def _mode(cls, value: object) -> object:
        if isinstance(value, ExecutionMode):
            return value
        if not isinstance(value, str):
            raise fail(
                "invalid_value",
                f"execution_mode must be one of {listing(m.value for m in ExecutionMode)}, got "
                f"{value!r} ({type(value).__name__})",
            )
        try:
            return ExecutionMode(value)
        except ValueError as exc:
            raise fail("invalid_value", str(exc)) from None

    @field_validator("preserved_attributes", mode="before")
    @classmethod
    def _attributes(cls, value: object) -> object:
        if value is None:
            return []
        if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)):
            raise fail(
                "invalid_value",
                f"preserved_attributes must be a list of model attribute names, got {value!r}",
            )
        for item in value:
            if not isinstance(item, str) or not item:
                raise fail(
                    "invalid_value",
                    f"preserved_attributes holds attribute names (strings), got {item!r}",
                )
        return list(value)

    def _entry_key(self, field: str, key: Any) -> Any:
        if field == "module_type_configs" and isinstance(key, (str, type)):
            try:
                return checked_module_type_key(key)
            except PydanticCustomError:
                return key
        return key

    # -- reading and writing -------------------------------------------------------------------

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> QuantizerConfig:
        """The config under ``data["quantization_config"]`` (docs/semantics.md §3); ``quantization_spec``
        may sit beside it and is ignored (its anchors are already resolved in a dict)."""
        return config_from_document(data, config_class=cls, file=None)

    @classmethod
    def from_yaml(cls, path: str | os.PathLike[str]) -> QuantizerConfig:
        """Load a YAML file; see :func:`qrt.frontends.hierarchical.load_config`."""
        return read_config_file(path, config_class=cls)

    def to_dict(self, *, full: bool = False) -> dict[str, Any]:
        """``{"quantization_config": {...}}`` with plain values; ``from_dict`` reads it back equal.

        Fields left at their defaults are omitted unless ``full``; specs hold only the fields
        their author wrote (``QuantizationSpec.to_json(explicit_only=True)``); op type keys keep
        the author's spelling.
        """
        return document_of(self, full=full)

    def to_yaml(self, *, full: bool = False) -> str:
        """YAML text that :func:`~qrt.frontends.hierarchical.config_from_yaml_text` reads back
        equal; each distinct spec is written once under ``quantization_spec`` with an anchor."""
        return dump_config(self, full=full)

    # -- origins -------------------------------------------------------------------------------

    def origin_of(self, path: str) -> Origin | None:
        """Where the config entry at ``path`` was written, with ``config_path=path``.

        ``path`` is a config path such as ``global_config.op_input_spec['*']`` or
        ``module_type_configs['torch.nn.modules.linear.Linear'].op_type_config['softmax']``.
        A path with no entry of its own answers with its innermost existing ancestor: a YAML
        key's ``file:line:col``, or the ``file:line`` of the Python call that built the object
        or called the setter. ``None`` when nothing was recorded.
        """
        steps = parse_config_path(path)
        best = self._origins.get(())
        obj: Any = self
        owner: _ConfigBase | None = None
        field = ""
        for kind, value in steps:
            if kind == "field":
                if not isinstance(obj, _ConfigBase):
                    break
                if value not in type(obj).model_fields:
                    fields = list(type(obj).model_fields)
                    raise ConfigError(
                        f"config path {path!r}: {type(obj).__name__} has no field {value!r}"
                        f"{suggest(value, fields)}; valid fields: {listing(fields)}"
                    )
                owner, field = obj, value
                found = obj._origins.get((value,))
                obj = getattr(obj, value)
            else:
                if owner is None or not isinstance(obj, dict):
                    break
                key = owner._entry_key(field, value)
                if key not in obj:
                    break
                found = owner._origins.get((field, key))
                obj = obj[key]
                owner = None
            if found is not None:
                best = found
            elif isinstance(obj, _ConfigBase) and () in obj._origins:
                best = obj._origins[()]
        return replace(best, config_path=path) if best is not None else None

    # -- setters (docs/semantics.md §3): each returns self so calls chain ----------------------------------

    def set_global(
        self, config: ModuleQuantizerConfig | Mapping[str, Any] | None
    ) -> QuantizerConfig:
        """Replace the global config (``None``: nothing is quantized unless a more specific
        entry says so)."""
        self._assign("global_config", config)
        self._record(("global_config",))
        return self

    def set_module_type(
        self, module_type: type | str, config: ModuleQuantizerConfig | Mapping[str, Any] | None
    ) -> QuantizerConfig:
        """Set the config of a module class (a class, or its fully-qualified name).

        An existing key keeps its place in the dict (order decides ties, docs/semantics.md §3).
        """
        key = module_type_key(module_type)
        self._assign("module_type_configs", {**self.module_type_configs, key: config})
        self._record(("module_type_configs", key))
        return self

    def set_module_name(
        self, name: str, config: ModuleQuantizerConfig | Mapping[str, Any] | None
    ) -> QuantizerConfig:
        """Set the config of modules whose name fully matches the regex ``name``.

        An existing key keeps its place in the dict (order decides ties, docs/semantics.md §3).
        """
        self._assign("module_name_configs", {**self.module_name_configs, name: config})
        self._record(("module_name_configs", name))
        return self

    def set_execution_mode(self, mode: ExecutionMode | str) -> QuantizerConfig:
        """Set ``graph`` or ``eager`` execution (``"PT2E"`` means graph, with a warning)."""
        self._assign("execution_mode", mode)
        self._record(("execution_mode",))
        return self

    def only_for(self, *targets: type | str) -> QuantizerConfig:
        """Apply the global config only to ``targets``; everything else is left unquantized.

        Exactly the equivalence of docs/semantics.md §3: ``global_config`` becomes ``None`` and each target gets
        its own copy of the former global config, a class through :meth:`set_module_type`, a
        string (a module name regex) through :meth:`set_module_name`. Existing type and name
        entries are kept, except those the targets replace.
        """
        if not targets:
            raise ConfigError(
                "only_for() needs at least one target: a module class or a module name regex",
                location=position_of(call_site()),
            )
        if self.global_config is None:
            raise ConfigError(
                "only_for() redistributes global_config, but global_config is None; set one "
                "first (e.g. QuantizerConfig.presets.w8a8().only_for(...)) or use "
                "set_module_type / set_module_name",
                location=position_of(call_site()),
            )
        kinds = [_target_kind(t, "only_for") for t in targets]
        former = self.global_config
        self.set_global(None)
        for target, kind in zip(targets, kinds, strict=True):
            if kind == "type":
                self.set_module_type(target, copy.deepcopy(former))  # type: ignore[arg-type]
            else:
                self.set_module_name(target, copy.deepcopy(former))  # type: ignore[arg-type]
        return self

    def without(self, *targets: type | str) -> QuantizerConfig:
        """Leave ``targets`` unquantized: ``set_module_type(cls, None)`` for a class,
        ``set_module_name(name, None)`` for a string (docs/semantics.md §3)."""
        if not targets:
            raise ConfigError(
                "without() needs at least one target: a module class or a module name regex",
                location=position_of(call_site()),
            )
        kinds = [_target_kind(t, "without") for t in targets]
        for target, kind in zip(targets, kinds, strict=True):
            if kind == "type":
                self.set_module_type(target, None)  # type: ignore[arg-type]
            else:
                self.set_module_name(target, None)  # type: ignore[arg-type]
        return self

    def _record(self, key: tuple[Any, ...]) -> None:
        site = call_site()
        if site is not None:
            self._origins[key] = site


def _target_kind(target: object, method: str) -> str:
    if isinstance(target, type):
        return "type"
    if isinstance(target, str):
        return "name"
    raise ConfigError(
        f"{method}() targets are module classes (→ module_type_configs) or module name regexes "
        f"(→ module_name_configs); got {target!r} ({type(target).__name__})",
        location=position_of(call_site()),
    )
