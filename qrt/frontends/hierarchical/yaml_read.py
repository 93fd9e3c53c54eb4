"""Hierarchical configs read from YAML with positions: every config object knows the
``file:line:col`` of each key it came from.

YAML is read by qrt's one position-keeping loader (:func:`qrt.frontends.yaml_load.load_positioned`,
which the ModelOpt lists read with too) rather than ``yaml.safe_load``; this module words its
refusals for a hierarchical config. What the loader gives:

* **Positions.** Every mapping comes back as a :class:`YamlMapping`, a ``dict`` that also
  knows the ``line:col`` of each of its keys. Pydantic's error ``loc`` is a path of keys, so
  walking it through these mappings gives the ``file:line:col`` of the offending key, and the
  same walk stamps each config object with the position it was written at
  (:meth:`~qrt.frontends.hierarchical.config.QuantizerConfig.origin_of`).
* **Duplicate keys.** PyYAML keeps the last of two equal keys without a word; a config whose
  second ``global_config:`` silently wins is a bug nobody sees, so both positions are reported.
  Keys pulled in by a ``<<`` merge are not duplicates: overriding them is what merges are for.
* **Safety.** Only the safe tags load: ``!!python/object`` and friends are refused at their
  position, with the reason; so are collection tags (``!!set``, ``!!omap``) and an alias
  inside the collection it names (a recursive structure).

The document layout is that of docs/semantics.md §3: ``quantization_config`` holds the config and an optional
``quantization_spec`` section holds named specs whose anchors (``&int8_weight``) are reused
with aliases (``*int8_weight``); that section is not a config and is only checked for shape.
A key with an empty value is ``null``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any, TypeVar

import yaml
from yaml.constructor import ConstructorError
from yaml.error import Mark

from qrt.errors import QrtError
from qrt.files import read_text
from qrt.frontends.dsl.source import caret_context
from qrt.frontends.hierarchical.base import _ConfigBase
from qrt.frontends.hierarchical.document import CONFIG_KEY, config_from_document
from qrt.frontends.hierarchical.errors import ConfigError
from qrt.frontends.hierarchical.keys import MISSING, raw_child
from qrt.frontends.yaml_load import DuplicateKeyError, NotPlainError, YamlMapping, load_positioned
from qrt.ir.origin import Origin

__all__ = [
    "STRING_FILE",
    "YamlMapping",
    "is_hierarchical_document",
    "load_yaml_document",
    "read_config",
    "read_config_file",
    "read_config_text",
]

STRING_FILE = "<string>"

C = TypeVar("C", bound=_ConfigBase)


def _position(file: str, mark: Mark) -> str:
    return f"{file}:{mark.line + 1}:{mark.column + 1}"


def _origin(file: str, mark: Mark) -> Origin:
    return Origin(file=file, line=mark.line + 1, column=mark.column + 1)


def _syntax_error(exc: yaml.MarkedYAMLError, file: str, text: str) -> ConfigError:
    mark = exc.problem_mark or exc.context_mark
    problem = exc.problem or "invalid YAML"
    if isinstance(exc, DuplicateKeyError) and exc.problem_mark is not None:
        again = _position(file, exc.problem_mark)
        return ConfigError(  # the caret is added with the others (config_from_yaml_text)
            f"duplicate key {exc.key!r}: first written at {_position(file, exc.first)}, "
            f"again at {again}; YAML would silently keep only the last one, so keep one of them",
            location=again,
            offending=repr(exc.key),
        )
    if isinstance(exc, NotPlainError) and exc.reason == "recursive" and mark is not None:
        return ConfigError(problem, location=_position(file, mark),
                           hint=caret_context(text, mark.line + 1, mark.column + 1))
    tag = None
    if isinstance(exc, NotPlainError) and exc.reason == "tag":
        tag = repr(exc.tag)
    elif isinstance(exc, ConstructorError) and "constructor for the tag" in problem:
        tag = problem.split("tag", 1)[-1].strip()
    if tag is not None:
        message = (
            f"YAML tag {tag} is not allowed: qrt loads configs with YAML's safe subset only "
            "(no Python object tags); write plain mappings, lists and scalars"
        )
    else:
        message = f"invalid YAML: {problem}"
        if exc.context:
            where = exc.context_mark
            at = f" (line {where.line + 1}, column {where.column + 1})" if where else ""
            message += f"; {exc.context}{at}"
    if mark is None:
        return ConfigError(message, location=file)
    return ConfigError(
        message,
        location=_position(file, mark),
        hint=caret_context(text, mark.line + 1, mark.column + 1),
    )


def load_yaml_document(text: str, *, file: str = STRING_FILE) -> Any:
    """Parse YAML text safely with the one position-keeping loader
    (:func:`qrt.frontends.yaml_load.load_positioned`): mappings become :class:`YamlMapping`
    (keys with positions), lists :class:`~qrt.frontends.yaml_load.YamlList`."""
    try:
        return load_positioned(text, file=file)[0][0]
    except yaml.MarkedYAMLError as exc:
        raise _syntax_error(exc, file, text) from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"invalid YAML: {exc}", location=file) from None


def is_hierarchical_document(data: object) -> bool:
    """Whether ``data`` (a loaded YAML/JSON document) is a hierarchical config: a mapping with
    a ``quantization_config`` key."""
    return isinstance(data, Mapping) and CONFIG_KEY in data


def _locator(doc: object, file: str) -> Any:
    def locate(keys: tuple[Any, ...]) -> str | None:
        node, mark = doc, None
        for key in keys:
            if not isinstance(node, YamlMapping):
                break
            written, value = raw_child(node, key)
            if written is MISSING:
                continue  # a tag pydantic put into the path, or a key never written
            mark = node.key_marks.get(written, mark)
            node = value
        if mark is None and isinstance(doc, YamlMapping) and doc.mark is not None:
            mark = doc.mark
        return _position(file, mark) if mark is not None else f"{file}:1:1"

    return locate


def _with_context(exc: QrtError, text: str) -> QrtError:
    """Add the offending line and a caret under the column, when the location has one."""
    where = exc.where
    if exc.hint or where is None or where.line is None or where.column is None:
        return exc
    exc.hint = caret_context(text, where.line, where.column)
    exc.args = (exc.render(),)
    return exc


def _clear_origins(obj: _ConfigBase) -> None:
    obj._origins.clear()
    for name in type(obj).model_fields:
        value = getattr(obj, name)
        if isinstance(value, _ConfigBase):
            _clear_origins(value)
        elif isinstance(value, dict):
            for item in value.values():
                if isinstance(item, _ConfigBase):
                    _clear_origins(item)


def _stamp(obj: _ConfigBase, raw: YamlMapping, file: str) -> None:
    """Record on ``obj`` (and the configs inside it) the position of every key it came from."""
    for written, value in raw.items():
        if not isinstance(written, str) or written not in type(obj).model_fields:
            continue
        where = _origin(file, raw.key_marks[written])
        obj._origins[(written,)] = where
        current = getattr(obj, written)
        if isinstance(current, _ConfigBase):
            current._origins[()] = where
            if isinstance(value, YamlMapping):
                _stamp(current, value, file)
        elif isinstance(current, dict) and isinstance(value, YamlMapping):
            for raw_key, raw_value in value.items():
                key = obj._entry_key(written, raw_key)
                entry = _origin(file, value.key_marks[raw_key])
                obj._origins[(written, key)] = entry
                item = current.get(key)
                if isinstance(item, _ConfigBase):
                    item._origins[()] = entry
                    if isinstance(raw_value, YamlMapping):
                        _stamp(item, raw_value, file)


def read_config(doc: Any, *, text: str, file: str, config_class: type[C]) -> C:
    """The ``config_class`` (:class:`~.config.QuantizerConfig`) of a YAML document parsed with
    positions (:func:`load_yaml_document`), every config object stamped with where it was
    written. Errors are :class:`ConfigError` (or ``SpecError`` inside a spec) at
    ``file:line:col`` of the offending key, with the offending line and a caret."""
    try:
        if doc is None:
            raise ConfigError(
                f"empty document: expected a mapping with a {CONFIG_KEY!r} key",
                location=f"{file}:1:1",
            )
        config = config_from_document(doc, config_class=config_class, file=file, locate=_locator(doc, file))
    except QrtError as exc:
        raise _with_context(exc, text) from None
    _clear_origins(config)
    if isinstance(doc, YamlMapping):
        if doc.mark is not None:
            config._origins[()] = _origin(file, doc.key_marks.get(CONFIG_KEY, doc.mark))
        body = doc.get(CONFIG_KEY)
        if isinstance(body, YamlMapping):
            _stamp(config, body, file)
    return config


def read_config_text(text: str, *, file: str, config_class: type[C]) -> C:
    """:func:`read_config` of YAML text."""
    try:
        doc = load_yaml_document(text, file=file)
    except QrtError as exc:
        raise _with_context(exc, text) from None
    return read_config(doc, text=text, file=file, config_class=config_class)


def read_config_file(path: str | os.PathLike[str], *, config_class: type[C]) -> C:
    """:func:`read_config` of a YAML file, read through the bounded reader."""
    file = os.fspath(path)
    text = read_text(file, what="config file", error=ConfigError)
    return read_config_text(text, file=file, config_class=config_class)
