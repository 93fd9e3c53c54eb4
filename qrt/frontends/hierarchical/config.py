"""The config classes: ``QuantizerConfig`` → ``ModuleQuantizerConfig`` → ``OpQuantizerConfig``.

These are the reference library's config vocabulary (seeds 000–002), read and checked here so
that the compiler (:mod:`qrt.frontends.hierarchical.compile`) only ever sees valid configs.
SEMANTICS §3 says what they *mean*; this module says what may be *written*:

* **Defaults are W8A8.** Every class built with no arguments quantizes op inputs and outputs
  with :func:`~qrt.ir.spec.default_activation_spec` and ``weight`` state with
  :func:`~qrt.ir.spec.default_weight_spec`; ``QuantizerConfig()`` creates its global config.
  ``None`` (YAML ``null`` or an empty value) switches a scope or a tensor group off.
* **Keys.** Input/output keys are all positions (``0``, ``1``) or all names (``"x"``), plus
  ``"*"``; state keys are names. Op type keys are normalised to the canonical op type
  (``concat`` → ``cat``, SEMANTICS §3) and the spelling the author used is remembered.
  Module type keys are fully-qualified class names; ``torch.nn.Linear`` is refused with the
  key that would work. Name keys are regexes and must compile.
* **Order is kept.** Every dict keeps insertion order; for ``module_name_configs``,
  ``module_type_configs`` and ``op_name_config`` the order decides ties (later wins), so it
  is part of equality there.
* **Origins.** Each config object records where it was written: the caller's ``file:line``
  when built in Python (frames inside qrt and pydantic are skipped), the key's
  ``file:line:col`` when loaded from YAML (stamped by :mod:`.yaml_io`).
  :meth:`QuantizerConfig.origin_of` answers for a config path such as
  ``module_name_configs['dec'].op_state_spec['weight']``.
* **Errors.** Pydantic stays inside: a bad value raises :class:`ConfigError` (or
  :class:`~qrt.errors.SpecError` when the problem is inside a quantization spec) whose message
  starts with the config path and says what would be valid.
"""

from __future__ import annotations

import ast
import copy
import enum
import os
import re
import sys
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any, ClassVar, NoReturn, Optional, Union

import pydantic
import pydantic_core
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from qrt.errors import QrtError, SpecError, did_you_mean
from qrt.frontends.hierarchical.qat import QATSchedule, QATState
from qrt.ir.origin import Origin
from qrt.ir.patterns import check_regex
from qrt.ir.spec import (
    QuantizationSpec,
    default_activation_spec,
    default_weight_spec,
    spec_error_message,
)
from qrt.ops.registry import default_registry

__all__ = [
    "ConfigError",
    "ConfigIssue",
    "ExecutionMode",
    "QATSchedule",
    "QATState",
    "OpQuantizerConfig",
    "ModuleQuantizerConfig",
    "QuantizerConfig",
    "CONFIG_KEY",
    "SPEC_SECTION_KEY",
    "format_key",
    "parse_config_path",
    "module_type_key",
    "config_from_document",
    "raw_child",
    "MISSING",
    "TORCH_NN_CLASSES",
]

CONFIG_KEY = "quantization_config"
"""The top-level key whose value is a :class:`QuantizerConfig` (seed 001)."""

SPEC_SECTION_KEY = "quantization_spec"
"""The top-level section that holds YAML anchors for specs; not itself a config."""

ALL = "*"


# =============================================================================================
# Errors


@dataclass(frozen=True)
class ConfigIssue:
    """One problem in a config: its config path, what is wrong, and where it was written."""

    path: str
    message: str
    location: str | None = None
    spec: bool = False
    """``True`` when the problem is inside a quantization spec (a :class:`SpecError`)."""
    keys: tuple[Any, ...] = ()
    """The mapping keys leading to the problem, as written (to find its line in a file)."""

    def render(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


class ConfigError(QrtError):
    """A hierarchical config that cannot be read: unknown field, bad key, bad value.

    ``issues`` lists every problem found, each with its config path and location; the message
    starts with the first.
    """

    code = "QRT206"

    def __init__(
        self,
        message: str,
        *,
        location: str | None = None,
        offending: str | None = None,
        hint: str | None = None,
        code: str | None = None,
        issues: tuple[ConfigIssue, ...] = (),
    ) -> None:
        self.issues = issues
        super().__init__(message, location=location, offending=offending, hint=hint, code=code)


def _fail(kind: str, message: str, **ctx: Any) -> PydanticCustomError:
    # The message goes through the context so that braces in it are text, not a template.
    return PydanticCustomError(kind, "{message}", {"message": message, **ctx})


_OWN_ERRORS = frozenset(
    {"invalid_config", "invalid_key", "invalid_value", "invalid_schedule", "mixed_keys"}
)
"""Error slugs raised by this module; their messages are complete as they are."""


def _listing(choices: Any) -> str:
    return ", ".join(str(c) for c in choices)


def _suggest(word: object, choices: Any) -> str:
    hint = did_you_mean(str(word), [str(c) for c in choices])
    return f" ({hint})" if hint else ""


# =============================================================================================
# Config paths: ``module_name_configs['dec'].op_state_spec['weight']``


def format_key(key: object) -> str:
    """A dict key as it appears in a config path: strings in single quotes, ints bare."""
    if isinstance(key, str):
        return "'" + key.replace("\\", "\\\\").replace("'", "\\'") + "'"
    return str(key)


_PATH_TOKEN = re.compile(
    r"""\.?(?P<field>[A-Za-z_][A-Za-z0-9_]*)"""
    r"""|\[(?P<key>-?[0-9]+|'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")\]"""
)


def parse_config_path(path: str) -> list[tuple[str, Any]]:
    """``"a['x'].b[0]"`` → ``[("field", "a"), ("key", "x"), ("field", "b"), ("key", 0)]``."""
    steps: list[tuple[str, Any]] = []
    pos = 0
    while pos < len(path):
        match = _PATH_TOKEN.match(path, pos)
        if match is None or (match.group("field") and pos > 0 and path[pos] != "."):
            raise ConfigError(
                f"cannot read config path {path!r} at character {pos + 1}",
                hint="a config path looks like "
                "module_name_configs['decoder.deconv1'].op_state_spec['weight']",
            )
        if match.group("field") is not None:
            steps.append(("field", match.group("field")))
        else:
            steps.append(("key", ast.literal_eval(match.group("key"))))
        pos = match.end()
    if not steps or steps[0][0] != "field":
        raise ConfigError(
            f"config path {path!r} must start with a field name such as global_config"
        )
    return steps


# =============================================================================================
# Where Python code built a config


def _package_dir(module: Any) -> str:
    return os.path.dirname(os.path.abspath(module.__file__)) + os.sep


_QRT_DIR = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))) + os.sep
_SKIPPED_DIRS = (_QRT_DIR, _package_dir(pydantic), _package_dir(pydantic_core))


def _is_internal(filename: str) -> bool:
    return os.path.abspath(filename).startswith(_SKIPPED_DIRS) if filename[:1] != "<" else False


def _call_site() -> Origin | None:
    """``file:line`` of the nearest frame outside qrt and pydantic: the user's call."""
    frame = sys._getframe(1)
    while frame is not None:
        filename = frame.f_code.co_filename
        if not _is_internal(filename):
            return Origin(file=filename, line=frame.f_lineno)
        frame = frame.f_back  # type: ignore[assignment]
    return None


def _user_stacklevel() -> int:
    """The ``stacklevel`` that points a warning at the user's code, not at qrt or pydantic."""
    level, frame = 1, sys._getframe(1)
    while frame is not None and (
        _is_internal(frame.f_code.co_filename) or frame.f_code.co_filename.endswith("enum.py")
    ):
        frame = frame.f_back  # type: ignore[assignment]
        level += 1
    return level


# =============================================================================================
# ExecutionMode

_DEPRECATED_MODES: dict[str, str] = {"PT2E": "GRAPH"}
"""Seed 002: ``PT2E`` was the old name of graph mode; it still works, with a warning."""


def _warn_deprecated_mode(alias: str, target: str) -> None:
    warnings.warn(
        f"execution mode {alias!r} is deprecated; use {target.lower()!r} "
        f"(ExecutionMode.{target}) instead",
        DeprecationWarning,
        stacklevel=_user_stacklevel(),
    )


class _ExecutionModeMeta(enum.EnumMeta):
    """Resolves the deprecated member names (``ExecutionMode.PT2E``) with a warning."""

    def __getattr__(cls, name: str) -> Any:
        target = _DEPRECATED_MODES.get(name)
        if target is not None:
            _warn_deprecated_mode(name, target)
            return cls._member_map_[target]
        parent = getattr(super(), "__getattr__", None)  # EnumMeta has one before 3.12
        if parent is None:
            raise AttributeError(name)
        return parent(name)

    def __getitem__(cls, name: str) -> Any:
        target = _DEPRECATED_MODES.get(name)
        if target is not None:
            _warn_deprecated_mode(name, target)
            name = target
        return super().__getitem__(name)


class ExecutionMode(str, enum.Enum, metaclass=_ExecutionModeMeta):
    """How a quantizer runs the model.

    ``graph`` (default): ops are the nodes of an exported graph. ``eager``: ops are the torch
    calls the module's forward makes. qrt names ops the same way in both (SEMANTICS §1).
    ``"PT2E"`` is read as ``graph`` with a :class:`DeprecationWarning`. Strings are matched
    case-insensitively.
    """

    GRAPH = "graph"
    EAGER = "eager"

    @classmethod
    def _missing_(cls, value: object) -> ExecutionMode:
        if isinstance(value, str):
            text = value.strip()
            for member in cls:
                if member.value == text.lower():
                    return member
            target = _DEPRECATED_MODES.get(text.upper())
            if target is not None:
                _warn_deprecated_mode(text, target)
                return cls._member_map_[target]  # type: ignore[return-value]
        valid = [m.value for m in cls]
        raise ValueError(
            f"unknown execution mode {value!r}; valid execution modes: {_listing(valid)}"
            f"{_suggest(str(value).lower(), valid)}"
        )

    def __str__(self) -> str:
        return self.value


# =============================================================================================
# Key checks


def _io_spec_dict(value: object, field: str) -> object:
    """Input/output keys: all positions or all names, plus ``"*"`` (seeds 000, 002)."""
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise _fail(
            "invalid_value",
            f"{field} must be a mapping from tensor positions (0, 1, ...) or names to specs "
            f"(with '*' for all), or null to quantize none; got {value!r} "
            f"({type(value).__name__})",
        )
    kinds: dict[str, list[object]] = {"position": [], "name": []}
    for key in value:
        if isinstance(key, bool) or not isinstance(key, (int, str)):
            extra = (
                " (YAML reads unquoted yes/no/on/off/true/false as booleans: quote the key)"
                if isinstance(key, bool)
                else ""
            )
            raise _fail(
                "invalid_key",
                f"key {key!r} ({type(key).__name__}) is not a tensor key; valid keys: '*', "
                f"positions 0, 1, ... or argument names{extra}",
                key=key,
            )
        if isinstance(key, int):
            if key < 0:
                raise _fail(
                    "invalid_key",
                    f"position {key} is negative; valid keys: '*', positions 0, 1, ... or names",
                    key=key,
                )
            kind = "position"
        elif key == ALL:
            continue
        elif not key:
            raise _fail(
                "invalid_key", "an empty name is not a tensor key; use '*' for all", key=key
            )
        else:
            kind = "name"
        kinds[kind].append(key)
        other = "name" if kind == "position" else "position"
        if kinds[other]:
            raise _fail(
                "mixed_keys",
                f"keys are all positions or all names (plus '*'), not both: {other} "
                f"{kinds[other][0]!r} and {kind} {key!r}",
                key=key,
            )
    return dict(value)


def _state_spec_dict(value: object, field: str) -> object:
    """State keys are names (``weight``, ``out_proj.weight``) or ``"*"``."""
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise _fail(
            "invalid_value",
            f"{field} must be a mapping from state names ('weight', 'bias', '*') to specs, or "
            f"null to quantize none; got {value!r} ({type(value).__name__})",
        )
    for key in value:
        if not isinstance(key, str) or not key:
            raise _fail(
                "invalid_key",
                f"state key {key!r} is not a name; valid keys: '*' or names of parameters, "
                "buffers or constants such as 'weight' or 'bias'",
                key=key,
            )
    return dict(value)


_OP_TYPE_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _op_type_key(key: object) -> str:
    if not isinstance(key, str) or not _OP_TYPE_WORD.fullmatch(key):
        last = key.rsplit(".", 1)[-1] if isinstance(key, str) else ""
        tip = f"; write {last!r}" if last and _OP_TYPE_WORD.fullmatch(last) else ""
        raise _fail(
            "invalid_key",
            f"op type {key!r} is not an op type name: op types are the torch function's name "
            f"right of the last dot (torch.nn.functional.max_pool2d → 'max_pool2d'){tip}",
            key=key,
        )
    return default_registry.canonical(key)


def _regex_key(key: object, what: str) -> str:
    if not isinstance(key, str):
        raise _fail(
            "invalid_key",
            f"{what} key {key!r} ({type(key).__name__}) must be a string: a regex matched "
            "against the whole name",
            key=key,
        )
    problem = check_regex(key)
    if problem:
        raise _fail("invalid_key", f"{what} key {key!r}: {problem}", key=key)
    return key


# The public torch.nn module classes and the module that defines each, so that a short key
# such as "torch.nn.Linear" can be answered with the key that works without importing torch.
_TORCH_NN_MODULES: dict[str, str] = {
    "activation": "CELU ELU GELU GLU Hardshrink Hardsigmoid Hardswish Hardtanh LeakyReLU "
    "LogSigmoid LogSoftmax Mish MultiheadAttention PReLU RReLU ReLU ReLU6 SELU SiLU Sigmoid "
    "Softmax Softmax2d Softmin Softplus Softshrink Softsign Tanh Tanhshrink Threshold",
    "adaptive": "AdaptiveLogSoftmaxWithLoss",
    "batchnorm": "BatchNorm1d BatchNorm2d BatchNorm3d LazyBatchNorm1d LazyBatchNorm2d "
    "LazyBatchNorm3d SyncBatchNorm",
    "channelshuffle": "ChannelShuffle",
    "container": "Container ModuleDict ModuleList ParameterDict ParameterList Sequential",
    "conv": "Conv1d Conv2d Conv3d ConvTranspose1d ConvTranspose2d ConvTranspose3d LazyConv1d "
    "LazyConv2d LazyConv3d LazyConvTranspose1d LazyConvTranspose2d LazyConvTranspose3d",
    "distance": "CosineSimilarity PairwiseDistance",
    "dropout": "AlphaDropout Dropout Dropout1d Dropout2d Dropout3d FeatureAlphaDropout",
    "flatten": "Flatten Unflatten",
    "fold": "Fold Unfold",
    "instancenorm": "InstanceNorm1d InstanceNorm2d InstanceNorm3d LazyInstanceNorm1d "
    "LazyInstanceNorm2d LazyInstanceNorm3d",
    "linear": "Bilinear Identity LazyLinear Linear",
    "module": "Module",
    "normalization": "CrossMapLRN2d GroupNorm LayerNorm LocalResponseNorm RMSNorm",
    "padding": "CircularPad1d CircularPad2d CircularPad3d ConstantPad1d ConstantPad2d "
    "ConstantPad3d ReflectionPad1d ReflectionPad2d ReflectionPad3d ReplicationPad1d "
    "ReplicationPad2d ReplicationPad3d ZeroPad1d ZeroPad2d ZeroPad3d",
    "pixelshuffle": "PixelShuffle PixelUnshuffle",
    "pooling": "AdaptiveAvgPool1d AdaptiveAvgPool2d AdaptiveAvgPool3d AdaptiveMaxPool1d "
    "AdaptiveMaxPool2d AdaptiveMaxPool3d AvgPool1d AvgPool2d AvgPool3d FractionalMaxPool2d "
    "FractionalMaxPool3d LPPool1d LPPool2d LPPool3d MaxPool1d MaxPool2d MaxPool3d MaxUnpool1d "
    "MaxUnpool2d MaxUnpool3d",
    "rnn": "GRU GRUCell LSTM LSTMCell RNN RNNBase RNNCell RNNCellBase",
    "sparse": "Embedding EmbeddingBag",
    "transformer": "Transformer TransformerDecoder TransformerDecoderLayer TransformerEncoder "
    "TransformerEncoderLayer",
    "upsampling": "Upsample UpsamplingBilinear2d UpsamplingNearest2d",
}
TORCH_NN_CLASSES: dict[str, str] = {
    name: f"torch.nn.modules.{module}.{name}"
    for module, names in _TORCH_NN_MODULES.items()
    for name in names.split()
}
"""``"Linear"`` → ``"torch.nn.modules.linear.Linear"``, for every public ``torch.nn`` module."""

_SHORT_TORCH_KEY = re.compile(r"(?:torch\.nn|nn|torch\.nn\.modules)\.([A-Za-z_][A-Za-z0-9_]*)")


def _qualified_torch_nn(name: str) -> str | None:
    """The qualified name of ``torch.nn.<name>``: the table, else torch itself (lazily)."""
    if name in TORCH_NN_CLASSES:
        return TORCH_NN_CLASSES[name]
    try:  # only reached for a key that already names torch.nn, so torch is wanted anyway
        import torch.nn
    except ImportError:  # pragma: no cover - torch is a dependency
        return None
    cls = getattr(torch.nn, name, None)
    if isinstance(cls, type):
        return f"{cls.__module__}.{cls.__qualname__}"
    return None


def _class_name(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def module_type_key(key: object) -> str:
    """A module type key as stored: a class becomes its fully-qualified name.

    Raises :class:`ConfigError` for a short public name such as ``torch.nn.Linear`` (seed 001:
    keys are the class's ``__module__`` and ``__qualname__``), naming the key that works.
    """
    try:
        return _module_type_key(key)
    except PydanticCustomError as exc:
        shown = format_key(key) if isinstance(key, (str, int)) else repr(key)
        raise ConfigError(
            f"module_type_configs[{shown}]: {exc.context['message'] if exc.context else exc}",
            location=_position(_call_site()),
        ) from None


def _module_type_key(key: object) -> str:
    if isinstance(key, type):
        return _class_name(key)
    if not isinstance(key, str) or not key.strip() or key != key.strip():
        raise _fail(
            "invalid_key",
            f"module type key {key!r} must be a module class or its fully-qualified name, "
            "e.g. 'torch.nn.modules.linear.Linear'",
            key=key,
        )
    short = _SHORT_TORCH_KEY.fullmatch(key)
    if short:
        full = _qualified_torch_nn(short.group(1))
        where = (
            f"write {full!r}"
            if full
            else "write the class's __module__ and __qualname__ joined by a dot"
        )
        raise _fail(
            "invalid_key",
            f"module type key {key!r} is a short public name; keys are fully-qualified class "
            f"names ({where}), or pass the class itself",
            key=key,
        )
    return key


# =============================================================================================
# Config base class


class _OpTypeDict(dict):  # type: ignore[type-arg]
    """``op_type_config`` after normalisation: canonical keys, and how each was spelled."""

    spellings: dict[str, str]

    def __init__(self, items: Mapping[str, Any], spellings: Mapping[str, str]) -> None:
        super().__init__(items)
        self.spellings = dict(spellings)


_ORDERED_FIELDS = frozenset({"module_name_configs", "module_type_configs", "op_name_config"})
"""Dict fields whose order decides ties (SEMANTICS §3: later keys win), so it is compared."""


def _position(origin: Origin | None) -> str | None:
    return origin.position if origin is not None else None


class _ConfigBase(BaseModel):
    """Mutable, validated on assignment, unknown fields refused; records its origins."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    _origins: dict[tuple[Any, ...], Origin] = PrivateAttr(default_factory=dict)
    """``()`` this object; ``(field,)`` a field; ``(field, key)`` an entry of a dict field."""

    def __init__(self, /, **data: Any) -> None:
        try:
            super().__init__(**data)
        except ValidationError as err:
            _raise_validation(err, type(self), data, location=_position(_call_site()))

    # Marked as pydantic's own __init__ so that validating a nested config does not call it:
    # errors inside a tree must surface once, from the root, with their full config path.
    __init__.__pydantic_base_init__ = True  # type: ignore[attr-defined]

    def model_post_init(self, context: Any, /) -> None:
        site = _call_site()
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
        site = _call_site()
        if site is not None:
            self._origins[(name,)] = site

    def _assign(self, name: str, value: Any) -> None:
        try:
            super().__setattr__(name, value)
        except ValidationError as err:
            _raise_validation(err, type(self), {name: value}, location=_position(_call_site()))

    @model_validator(mode="before")
    @classmethod
    def _mapping(cls, data: Any) -> Any:
        if isinstance(data, BaseModel) and type(data) is not cls:
            raise _fail(
                "invalid_config",
                f"expected a {cls.__name__} (fields: {_listing(cls.model_fields)}) or null, "
                f"got a {type(data).__name__}",
            )
        if isinstance(data, (cls, Mapping)):
            return data
        raise _fail(
            "invalid_config",
            f"a {cls.__name__} must be a mapping of its fields ({_listing(cls.model_fields)}) "
            f"or null; got {data!r} ({type(data).__name__})",
        )

    def __eq__(self, other: object) -> bool:
        if type(self) is not type(other):
            return NotImplemented
        for name in type(self).model_fields:
            mine, theirs = getattr(self, name), getattr(other, name)
            if name in _ORDERED_FIELDS and isinstance(mine, dict) and isinstance(theirs, dict):
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
            out[name] = _field_to_json(value, spec_json, full)
        return out


def _field_to_json(value: Any, spec_json: Callable[[QuantizationSpec], Any], full: bool) -> Any:
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


def _explicit_spec_json(spec: QuantizationSpec) -> dict[str, Any]:
    return spec.to_json(explicit_only=True)


# =============================================================================================
# The three config classes

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
        return _io_spec_dict(value, info.field_name or "")

    @field_validator("op_state_spec", mode="before")
    @classmethod
    def _state_keys(cls, value: object, info: ValidationInfo) -> object:
        return _state_spec_dict(value, info.field_name or "")


class ModuleQuantizerConfig(OpQuantizerConfig):
    """How the ops inside a module's scope are quantized, and the module's own boundary.

    Inside the scope the op configuration is the last matching ``op_name_config`` regex (matched
    against the op name relative to the module that holds the key), else
    ``op_type_config[op_type]``, else this object's ``op_*_spec`` (SEMANTICS §3). The
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
        return _io_spec_dict(value, info.field_name or "")

    @field_validator("module_state_spec", mode="before")
    @classmethod
    def _module_state_keys(cls, value: object, info: ValidationInfo) -> object:
        return _state_spec_dict(value, info.field_name or "")

    @field_validator("op_type_config", mode="wrap")
    @classmethod
    def _op_types(cls, value: object, handler: Callable[[Any], Any]) -> object:
        if value is None:
            value = {}
        if not isinstance(value, Mapping):
            raise _fail(
                "invalid_value",
                f"op_type_config must be a mapping from op types ('linear', 'softmax', ...) to "
                f"OpQuantizerConfig or null; got {value!r} ({type(value).__name__})",
            )
        before = getattr(value, "spellings", {})
        normalised: dict[str, Any] = {}
        spellings: dict[str, str] = {}
        for key, item in value.items():
            canonical = _op_type_key(key)
            written = before.get(key, key)
            if canonical in normalised:
                raise _fail(
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
        return _regex_keyed(value, "op_name_config", "op name")

    def _entry_key(self, field: str, key: Any) -> Any:
        if field == "op_type_config" and isinstance(key, str) and _OP_TYPE_WORD.fullmatch(key):
            return default_registry.canonical(key)
        return key

    def written_op_type(self, op_type: str) -> str:
        """How the author spelled the ``op_type_config`` key of canonical ``op_type``."""
        spellings = getattr(self.op_type_config, "spellings", {})
        return spellings.get(op_type, op_type)


def _regex_keyed(value: object, field: str, what: str) -> object:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise _fail(
            "invalid_value",
            f"{field} must be a mapping from {what} regexes to configs (or null values); got "
            f"{value!r} ({type(value).__name__})",
        )
    for key, item in value.items():
        _regex_key(key, what)
        if field == "op_name_config":
            _check_op_config(item, key)
    return dict(value)


def _check_op_config(item: object, key: object) -> None:
    """An op entry holds an ``OpQuantizerConfig``, not its subclass ``ModuleQuantizerConfig``
    (whose module-level fields would be silently ignored at op level)."""
    if isinstance(item, BaseModel) and type(item) is not OpQuantizerConfig:
        raise _fail(
            "invalid_value",
            f"op-level entries are OpQuantizerConfig (fields: "
            f"{_listing(OpQuantizerConfig.model_fields)}) or null; got a {type(item).__name__}",
            key=key,
        )


class QuantizerConfig(_ConfigBase):
    """The quantization config of a whole model (seed 001).

    A module is governed by the most specific candidate: ``module_name_configs`` (regexes on
    module names) over ``module_type_configs`` (fully-qualified class names) over
    ``global_config``; among equals the deeper module, then the later key (SEMANTICS §3).
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
            raise _fail(
                "invalid_value",
                "module_type_configs must be a mapping from fully-qualified module class names "
                f"to ModuleQuantizerConfig or null; got {value!r} ({type(value).__name__})",
            )
        out: dict[str, Any] = {}
        for key, item in value.items():
            name = _module_type_key(key)
            if name in out:
                raise _fail(
                    "invalid_key",
                    f"module type {name!r} is given twice (as a class and as its name); keep one",
                    key=name,
                )
            out[name] = item
        return out

    @field_validator("module_name_configs", mode="before")
    @classmethod
    def _module_names(cls, value: object) -> object:
        return _regex_keyed(value, "module_name_configs", "module name")

    @field_validator("execution_mode", mode="before")
    @classmethod
    def _mode(cls, value: object) -> object:
        if isinstance(value, ExecutionMode):
            return value
        if not isinstance(value, str):
            raise _fail(
                "invalid_value",
                f"execution_mode must be one of {_listing(m.value for m in ExecutionMode)}, got "
                f"{value!r} ({type(value).__name__})",
            )
        try:
            return ExecutionMode(value)
        except ValueError as exc:
            raise _fail("invalid_value", str(exc)) from None

    @field_validator("preserved_attributes", mode="before")
    @classmethod
    def _attributes(cls, value: object) -> object:
        if value is None:
            return []
        if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)):
            raise _fail(
                "invalid_value",
                f"preserved_attributes must be a list of model attribute names, got {value!r}",
            )
        for item in value:
            if not isinstance(item, str) or not item:
                raise _fail(
                    "invalid_value",
                    f"preserved_attributes holds attribute names (strings), got {item!r}",
                )
        return list(value)

    def _entry_key(self, field: str, key: Any) -> Any:
        if field == "module_type_configs" and isinstance(key, (str, type)):
            try:
                return _module_type_key(key)
            except PydanticCustomError:
                return key
        return key

    # -- reading and writing -------------------------------------------------------------------

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> QuantizerConfig:
        """The config under ``data["quantization_config"]`` (seed 001); ``quantization_spec``
        may sit beside it and is ignored (its anchors are already resolved in a dict)."""
        return config_from_document(data, file=None)

    @classmethod
    def from_yaml(cls, path: str | os.PathLike[str]) -> QuantizerConfig:
        """Load a YAML file; see :func:`qrt.frontends.hierarchical.load_config`."""
        from qrt.frontends.hierarchical.yaml_io import load_config

        return load_config(path)

    def to_dict(self, *, full: bool = False) -> dict[str, Any]:
        """``{"quantization_config": {...}}`` with plain values; ``from_dict`` reads it back equal.

        Fields left at their defaults are omitted unless ``full``; specs hold only the fields
        their author wrote (``QuantizationSpec.to_json(explicit_only=True)``); op type keys keep
        the author's spelling.
        """
        return {CONFIG_KEY: self._to_json(_explicit_spec_json, full)}

    def to_yaml(self, *, full: bool = False) -> str:
        """YAML text that :func:`~qrt.frontends.hierarchical.config_from_yaml_text` reads back
        equal; each distinct spec is written once under ``quantization_spec`` with an anchor."""
        from qrt.frontends.hierarchical.yaml_io import dump_config

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
                        f"{_suggest(value, fields)}; valid fields: {_listing(fields)}"
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

    # -- setters (seed 001): each returns self so calls chain ----------------------------------

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

        An existing key keeps its place in the dict (order decides ties, SEMANTICS §3).
        """
        key = module_type_key(module_type)
        self._assign("module_type_configs", {**self.module_type_configs, key: config})
        self._record(("module_type_configs", key))
        return self

    def set_module_name(
        self, name: str, config: ModuleQuantizerConfig | Mapping[str, Any] | None
    ) -> QuantizerConfig:
        """Set the config of modules whose name fully matches the regex ``name``.

        An existing key keeps its place in the dict (order decides ties, SEMANTICS §3).
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

        Exactly seed 001's equivalence: ``global_config`` becomes ``None`` and each target gets
        its own copy of the former global config, a class through :meth:`set_module_type`, a
        string (a module name regex) through :meth:`set_module_name`. Existing type and name
        entries are kept, except those the targets replace.
        """
        if not targets:
            raise ConfigError(
                "only_for() needs at least one target: a module class or a module name regex",
                location=_position(_call_site()),
            )
        if self.global_config is None:
            raise ConfigError(
                "only_for() redistributes global_config, but global_config is None; set one "
                "first (e.g. QuantizerConfig.presets.w8a8().only_for(...)) or use "
                "set_module_type / set_module_name",
                location=_position(_call_site()),
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
        ``set_module_name(name, None)`` for a string (seed 001)."""
        if not targets:
            raise ConfigError(
                "without() needs at least one target: a module class or a module name regex",
                location=_position(_call_site()),
            )
        kinds = [_target_kind(t, "without") for t in targets]
        for target, kind in zip(targets, kinds, strict=True):
            if kind == "type":
                self.set_module_type(target, None)  # type: ignore[arg-type]
            else:
                self.set_module_name(target, None)  # type: ignore[arg-type]
        return self

    def _record(self, key: tuple[Any, ...]) -> None:
        site = _call_site()
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
        location=_position(_call_site()),
    )


# =============================================================================================
# Documents: the mapping that holds ``quantization_config``

Locate = Callable[[tuple[Any, ...]], Optional[str]]


def config_from_document(
    data: object,
    *,
    file: str | None,
    locate: Locate | None = None,
) -> QuantizerConfig:
    """The :class:`QuantizerConfig` of a document ``{quantization_config, quantization_spec}``.

    ``locate`` maps a tuple of keys to ``file:line:col`` (YAML); without it errors are placed at
    the caller's line.
    """
    here = _position(_call_site()) if locate is None else None

    def where(keys: tuple[Any, ...]) -> str | None:
        return (locate(keys) if locate else None) or here or file

    if not isinstance(data, Mapping):
        raise ConfigError(
            f"a config document must be a mapping with a {CONFIG_KEY!r} key, got {data!r} "
            f"({type(data).__name__})",
            location=where(()),
        )
    known = (CONFIG_KEY, SPEC_SECTION_KEY)
    if CONFIG_KEY not in data and any(k in QuantizerConfig.model_fields for k in data):
        raise ConfigError(
            f"no {CONFIG_KEY!r} key: these are QuantizerConfig fields, and they go under it, "
            f"e.g. {{{CONFIG_KEY!r}: {{'global_config': {{...}}}}}}",
            location=where(()),
        )
    for key in data:
        if key not in known:
            raise ConfigError(
                f"unknown top-level key {key!r}{_suggest(key, known)}; valid top-level keys: "
                f"{_listing(known)}",
                location=where((key,)),
            )
    if CONFIG_KEY not in data:
        raise ConfigError(
            f"no {CONFIG_KEY!r} key: the config goes under it, e.g. "
            f"{{{CONFIG_KEY!r}: {{'global_config': {{...}}}}}}",
            location=where(()),
        )
    section = data.get(SPEC_SECTION_KEY)
    if section is not None and not isinstance(section, Mapping):
        raise ConfigError(
            f"{SPEC_SECTION_KEY} must be a mapping of named specs (to anchor and reuse), got "
            f"{section!r}",
            location=where((SPEC_SECTION_KEY,)),
        )
    body = data[CONFIG_KEY]
    if body is None:
        body = {}
    if not isinstance(body, Mapping):
        raise ConfigError(
            f"{CONFIG_KEY} must be a mapping of QuantizerConfig fields "
            f"({_listing(QuantizerConfig.model_fields)}), got {body!r} ({type(body).__name__})",
            location=where((CONFIG_KEY,)),
        )
    try:
        return QuantizerConfig.model_validate(body)
    except ValidationError as err:
        _raise_validation(
            err,
            QuantizerConfig,
            body,
            location=here or file,
            locate=(lambda keys: locate((CONFIG_KEY, *keys))) if locate else None,
        )


# =============================================================================================
# ValidationError → ConfigError / SpecError

_SPECS = "specs"
_CONFIGS = "configs"
_MODEL = "model"
_LEAF = "leaf"


def _field_kinds(cls: type) -> dict[str, tuple[str, type | None]]:
    if cls is QATSchedule:
        return {name: (_LEAF, None) for name in QATSchedule.model_fields}
    kinds: dict[str, tuple[str, type | None]] = {}
    if issubclass(cls, OpQuantizerConfig):
        for name in ("op_input_spec", "op_output_spec", "op_state_spec"):
            kinds[name] = (_SPECS, QuantizationSpec)
    if cls is ModuleQuantizerConfig:
        kinds.update(
            op_type_config=(_CONFIGS, OpQuantizerConfig),
            op_name_config=(_CONFIGS, OpQuantizerConfig),
            module_input_spec=(_SPECS, QuantizationSpec),
            module_output_spec=(_SPECS, QuantizationSpec),
            module_state_spec=(_SPECS, QuantizationSpec),
            qat_schedule=(_MODEL, QATSchedule),
        )
    if cls is QuantizerConfig:
        kinds.update(
            global_config=(_MODEL, ModuleQuantizerConfig),
            module_type_configs=(_CONFIGS, ModuleQuantizerConfig),
            module_name_configs=(_CONFIGS, ModuleQuantizerConfig),
            execution_mode=(_LEAF, None),
            preserved_attributes=(_LEAF, None),
        )
    return kinds


MISSING: Any = object()
"""What :func:`raw_child` returns for a key that is not there."""


def raw_child(container: object, key: Any) -> tuple[Any, Any]:
    """``(written key, value)`` of ``key`` in a raw mapping, matching the way configs normalise
    keys (a canonical op type finds its alias, a qualified class name finds the class)."""
    if not isinstance(container, Mapping):
        return MISSING, MISSING
    if key in container:
        return key, container[key]
    for written in container:
        if isinstance(written, str) and isinstance(key, str) and _OP_TYPE_WORD.fullmatch(written):
            if default_registry.canonical(written) == key:
                return written, container[written]
        if isinstance(written, type) and _class_name(written) == key:
            return written, container[written]
    return MISSING, MISSING


def _raw_at(raw: object, keys: tuple[Any, ...]) -> Any:
    for key in keys:
        _, raw = raw_child(raw, key)
        if raw is MISSING:
            return MISSING
    return raw


def _issues(err: ValidationError, root: type, raw: object) -> list[ConfigIssue]:
    """One issue per config path, in pydantic's order; spec problems re-rendered by the spec."""
    issues: list[ConfigIssue] = []
    seen: set[str] = set()
    for item in err.errors():
        loc = tuple(item["loc"])
        cls: type | None = root
        owner: type | None = root
        path, keys, i = "", [], 0
        spec_rest: tuple[Any, ...] | None = None
        while i < len(loc):
            part = loc[i]
            if cls is QuantizationSpec:
                spec_rest = loc[i:]
                break
            kinds = _field_kinds(cls) if cls is not None else {}
            if cls is None:  # inside a plain value (a list): indexes
                path += f"[{format_key(part)}]"
                keys.append(part)
                i += 1
                continue
            if isinstance(part, str) and part in kinds:
                kind, inner = kinds[part]
                path = f"{path}.{part}" if path else part
                keys.append(part)
                owner, i = cls, i + 1
                if kind == _MODEL:
                    cls = inner
                elif kind in (_CONFIGS, _SPECS):
                    if i < len(loc) and loc[i] != "[key]":
                        path += f"[{format_key(loc[i])}]"
                        keys.append(loc[i])
                        i += 1
                        cls = inner
                    else:
                        cls, i = None, len(loc)
                else:
                    cls = None
                continue
            if item["type"] == "extra_forbidden" and i == len(loc) - 1:
                owner = cls
                path = f"{path}.{part}" if path else str(part)
                keys.append(part)
            i += 1  # an unknown field, or a tag pydantic put into the loc
        ctx = item.get("ctx") or {}
        if item["type"] in _OWN_ERRORS and "key" in ctx:
            path += f"[{format_key(ctx['key'])}]"
            keys.append(ctx["key"])

        if spec_rest is not None or cls is QuantizationSpec:
            if path in seen:
                continue
            seen.add(path)
            spec_raw = _raw_at(raw, tuple(keys))
            message = item["msg"]
            if spec_raw is not MISSING:
                try:
                    QuantizationSpec.model_validate(spec_raw)
                except ValidationError as spec_err:
                    message = "; ".join(spec_error_message(spec_err).splitlines())
            inner_keys = tuple(p for p in (spec_rest or ()) if isinstance(p, str))
            issues.append(ConfigIssue(path, message, spec=True, keys=(*keys, *inner_keys)))
            continue

        kind = item["type"]
        if kind == "extra_forbidden":
            fields = list(owner.model_fields) if owner is not None else []
            name = str(loc[-1])
            message = (
                f"unknown field{_suggest(name, fields)}; valid fields of "
                f"{owner.__name__ if owner else 'this mapping'}: {_listing(fields)}"
            )
        elif kind in _OWN_ERRORS:
            message = str(ctx.get("message", item["msg"]))
        else:
            message = f"{item['msg']} (got {item.get('input')!r})"
        issues.append(ConfigIssue(path, message, keys=tuple(keys)))
    return issues


def _raise_validation(
    err: ValidationError,
    root: type,
    raw: object,
    *,
    location: str | None,
    locate: Locate | None = None,
) -> NoReturn:
    issues = [
        replace(issue, location=(locate(issue.keys) if locate else None) or location)
        for issue in _issues(err, root, raw)
    ]
    raise_issues(issues)


def raise_issues(issues: list[ConfigIssue], *, hint: str | None = None) -> NoReturn:
    """Raise :class:`SpecError` if every issue is inside a spec, else :class:`ConfigError`."""
    first = issues[0]
    lines = [first.render()]
    for issue in issues[1:]:
        where = f"{issue.location}: " if issue.location and issue.location != first.location else ""
        lines.append(f"{where}{issue.render()}")
    message = "\n".join(lines)
    if all(issue.spec for issue in issues):
        exc: QrtError = SpecError(message, location=first.location, hint=hint)
        exc.issues = tuple(issues)  # type: ignore[attr-defined]
    else:
        exc = ConfigError(message, location=first.location, hint=hint, issues=tuple(issues))
    raise exc from None
