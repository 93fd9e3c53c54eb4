"""Pydantic's ``ValidationError`` → :class:`~.errors.ConfigIssue`: the one place its format is read.

Pydantic stays at the front end's edge (STYLE: located errors). Its errors carry a ``loc``, a
tuple of field names, dict keys and internal tags (``function-after[...]``, ``[key]``), and a
message written for pydantic users. A qrt user needs the config path
(``module_name_configs['dec'].op_state_spec['weight']``) and, for a file, the line: both come
from walking ``loc`` through the config classes' fields (:func:`_field_kinds` says which field
holds a nested config, a dict of configs, a dict of specs or a plain value). A problem inside
a quantization spec is re-validated on its own so that it reads exactly like a spec written
alone (:func:`~qrt.ir.spec.spec_error_message`); several pydantic errors in one spec become one
issue. Unknown fields get the list of valid fields and a did-you-mean.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from types import UnionType
from typing import Any, NoReturn, Optional, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError

from qrt.frontends.hierarchical.errors import (
    OWN_ERRORS,
    ConfigIssue,
    listing,
    raise_issues,
    suggest,
)
from qrt.frontends.hierarchical.keys import MISSING, raw_child
from qrt.frontends.hierarchical.paths import format_key
from qrt.ir.spec import QuantizationSpec, spec_error_message

__all__ = ["Locate", "raise_validation"]

Locate = Callable[[tuple[Any, ...]], Optional[str]]
"""Maps the keys leading to a problem to its ``file:line:col`` (YAML), or ``None``."""

# How a field nests, for the walk down ``loc``: a dict of specs, a dict of configs, one nested
# model, or a plain value (whose ``loc`` steps, if any, are list indexes).
_SPECS = "specs"
_CONFIGS = "configs"
_MODEL = "model"
_LEAF = "leaf"


def _nesting(annotation: Any) -> tuple[str, type | None]:
    """How a field of this annotation nests: ``Optional[X]`` is read as ``X``; a dict of
    quantization specs, a dict of config models, one nested model, or a plain value."""
    annotation = _optional_of(annotation)
    if get_origin(annotation) is dict:
        args = get_args(annotation)
        inner = _optional_of(args[1]) if len(args) == 2 else None
        if inner is QuantizationSpec:
            return _SPECS, QuantizationSpec
        if isinstance(inner, type) and issubclass(inner, BaseModel):
            return _CONFIGS, inner
        return _LEAF, None
    if isinstance(annotation, type) and issubclass(annotation, BaseModel) and annotation is not QuantizationSpec:
        return _MODEL, annotation
    return _LEAF, None


def _optional_of(annotation: Any) -> Any:
    if get_origin(annotation) in (Union, UnionType):
        args = [a for a in get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return annotation


def _field_kinds(cls: type) -> dict[str, tuple[str, type | None]]:
    """``field → (how it nests, the class inside)`` for one class of the config tree, read from
    its pydantic field annotations (so this module needs none of the config classes, which
    import it to raise their errors)."""
    fields = getattr(cls, "model_fields", None) or {}
    return {name: _nesting(info.annotation) for name, info in fields.items()}


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
        if item["type"] in OWN_ERRORS and "key" in ctx:
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
                f"unknown field{suggest(name, fields)}; valid fields of "
                f"{owner.__name__ if owner else 'this mapping'}: {listing(fields)}"
            )
        elif kind in OWN_ERRORS:
            message = str(ctx.get("message", item["msg"]))
        else:
            message = f"{item['msg']} (got {item.get('input')!r})"
        issues.append(ConfigIssue(path, message, keys=tuple(keys)))
    return issues


def raise_validation(
    err: ValidationError,
    root: type,
    raw: object,
    *,
    location: str | None,
    locate: Locate | None = None,
) -> NoReturn:
    """Raise ``err`` (from validating ``raw`` as ``root``) as :class:`~.errors.ConfigError` or
    :class:`~qrt.errors.SpecError`: each issue placed by ``locate``, else at ``location``."""
    issues = [
        replace(issue, location=(locate(issue.keys) if locate else None) or location)
        for issue in _issues(err, root, raw)
    ]
    raise_issues(issues)
