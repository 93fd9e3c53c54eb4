"""Which dict keys a config accepts, and how they are normalised (docs/semantics.md §3).

Keys are where configs go wrong silently: a YAML ``yes`` read as ``True``, ``torch.nn.Linear``
that matches no module because modules are keyed by ``torch.nn.modules.linear.Linear``, a
regex that does not compile, ``concat`` and ``cat`` both written for one op type. So every
key is checked when the config is built, each with a message that says what would work:

* input/output keys: all positions (``0``, ``1``) or all names, plus ``"*"``;
* state keys: names;
* op type keys: the torch function's bare name, normalised to the canonical op type;
* module name and op name keys: regexes that compile;
* module type keys: fully-qualified class names (a class is turned into its name); a short
  ``torch.nn`` name is answered from :data:`TORCH_NN_CLASSES` without importing torch.

The validators raise :func:`~.errors.fail` (they run inside pydantic); :func:`module_type_key`
is the one entry point for Python callers and raises :class:`~.errors.ConfigError`.
:func:`raw_child` runs the normalisation backwards, to find the key as the author wrote it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from pydantic_core import PydanticCustomError

from qrt.frontends.hierarchical.callsite import call_site, position_of
from qrt.frontends.hierarchical.errors import ConfigError, fail
from qrt.frontends.hierarchical.paths import format_key
from qrt.ir.patterns import check_regex
from qrt.ops.torch_nn import TORCH_NN_CLASSES
from qrt.ops.registry import default_registry

__all__ = [
    "ALL",
    "MISSING",
    "OP_TYPE_WORD",
    "TORCH_NN_CLASSES",
    "checked_module_type_key",
    "io_spec_dict",
    "module_type_key",
    "op_type_key",
    "raw_child",
    "regex_key",
    "state_spec_dict",
]

ALL = "*"
"""The key that stands for every tensor of a group (an explicit key beats it)."""


def io_spec_dict(value: object, field: str) -> object:
    """Input/output keys: all positions or all names, plus ``"*"`` (docs/semantics.md §3)."""
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise fail(
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
            raise fail(
                "invalid_key",
                f"key {key!r} ({type(key).__name__}) is not a tensor key; valid keys: '*', "
                f"positions 0, 1, ... or argument names{extra}",
                key=key,
            )
        if isinstance(key, int):
            if key < 0:
                raise fail(
                    "invalid_key",
                    f"position {key} is negative; valid keys: '*', positions 0, 1, ... or names",
                    key=key,
                )
            kind = "position"
        elif key == ALL:
            continue
        elif not key:
            raise fail(
                "invalid_key", "an empty name is not a tensor key; use '*' for all", key=key
            )
        else:
            kind = "name"
        kinds[kind].append(key)
        other = "name" if kind == "position" else "position"
        if kinds[other]:
            raise fail(
                "mixed_keys",
                f"keys are all positions or all names (plus '*'), not both: {other} "
                f"{kinds[other][0]!r} and {kind} {key!r}",
                key=key,
            )
    return dict(value)


def state_spec_dict(value: object, field: str) -> object:
    """State keys are names (``weight``, ``out_proj.weight``) or ``"*"``."""
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise fail(
            "invalid_value",
            f"{field} must be a mapping from state names ('weight', 'bias', '*') to specs, or "
            f"null to quantize none; got {value!r} ({type(value).__name__})",
        )
    for key in value:
        if not isinstance(key, str) or not key:
            raise fail(
                "invalid_key",
                f"state key {key!r} is not a name; valid keys: '*' or names of parameters, "
                "buffers or constants such as 'weight' or 'bias'",
                key=key,
            )
    return dict(value)


OP_TYPE_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
"""An op type key: one identifier, the torch function's name right of the last dot."""


def op_type_key(key: object) -> str:
    """The canonical op type of an ``op_type_config`` key (``concat`` → ``cat``)."""
    if not isinstance(key, str) or not OP_TYPE_WORD.fullmatch(key):
        last = key.rsplit(".", 1)[-1] if isinstance(key, str) else ""
        tip = f"; write {last!r}" if last and OP_TYPE_WORD.fullmatch(last) else ""
        raise fail(
            "invalid_key",
            f"op type {key!r} is not an op type name: op types are the torch function's name "
            f"right of the last dot (torch.nn.functional.max_pool2d → 'max_pool2d'){tip}",
            key=key,
        )
    return default_registry.canonical(key)


def regex_key(key: object, what: str) -> str:
    """A module or op name key: a regex, compiled now so a typo fails here, not at match time."""
    if not isinstance(key, str):
        raise fail(
            "invalid_key",
            f"{what} key {key!r} ({type(key).__name__}) must be a string: a regex matched "
            "against the whole name",
            key=key,
        )
    problem = check_regex(key)
    if problem:
        raise fail("invalid_key", f"{what} key {key!r}: {problem}", key=key)
    return key


# The public torch.nn module classes and the module that defines each, so that a short key
# such as "torch.nn.Linear" can be answered with the key that works without importing torch.

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

    Raises :class:`ConfigError` for a short public name such as ``torch.nn.Linear`` (docs/semantics.md §3:
    keys are the class's ``__module__`` and ``__qualname__``), naming the key that works.
    """
    try:
        return checked_module_type_key(key)
    except PydanticCustomError as exc:
        shown = format_key(key) if isinstance(key, (str, int)) else repr(key)
        raise ConfigError(
            f"module_type_configs[{shown}]: {exc.context['message'] if exc.context else exc}",
            location=position_of(call_site()),
        ) from None


def checked_module_type_key(key: object) -> str:
    """:func:`module_type_key` for validators: it raises :func:`~.errors.fail`, so that pydantic
    reports the problem at its place in the config tree."""
    if isinstance(key, type):
        return _class_name(key)
    if not isinstance(key, str) or not key.strip() or key != key.strip():
        raise fail(
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
        raise fail(
            "invalid_key",
            f"module type key {key!r} is a short public name; keys are fully-qualified class "
            f"names ({where}), or pass the class itself",
            key=key,
        )
    return key


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
        if isinstance(written, str) and isinstance(key, str) and OP_TYPE_WORD.fullmatch(written):
            if default_registry.canonical(written) == key:
                return written, container[written]
        if isinstance(written, type) and _class_name(written) == key:
            return written, container[written]
    return MISSING, MISSING
