"""Config documents: the mapping ``{quantization_config: ..., quantization_spec: ...}`` (docs/semantics.md §3).

A config on disk or in a dict is not a bare :class:`~.config.QuantizerConfig`: it sits under
``quantization_config``, beside an optional ``quantization_spec`` section that only holds
named specs for YAML anchors. The wrapper is checked here, before pydantic sees the body, so
that the common mistakes (config fields at the top level, a misspelt top-level key, no
``quantization_config`` at all) get a message about the document rather than a pydantic one.
:mod:`.yaml_read` calls :func:`config_from_document` with a ``locate`` that turns keys into
``file:line:col``; :meth:`QuantizerConfig.from_dict` and :meth:`QuantizerConfig.to_dict` come
here without one. The functions take the config class (``config_class``) rather than import
it, so the class can call them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from pydantic import ValidationError

from qrt.frontends.hierarchical.base import _ConfigBase
from qrt.frontends.hierarchical.callsite import call_site, position_of
from qrt.frontends.hierarchical.errors import ConfigError, listing, suggest
from qrt.frontends.hierarchical.pydantic_errors import Locate, raise_validation
from qrt.ir.spec import QuantizationSpec

__all__ = ["CONFIG_KEY", "SPEC_SECTION_KEY", "config_from_document", "document_of"]

CONFIG_KEY = "quantization_config"
"""The top-level key whose value is a :class:`QuantizerConfig` (docs/semantics.md §3)."""

SPEC_SECTION_KEY = "quantization_spec"
"""The top-level section that holds YAML anchors for specs; not itself a config."""

C = TypeVar("C", bound=_ConfigBase)


def config_from_document(
    data: object,
    *,
    config_class: type[C],
    file: str | None,
    locate: Locate | None = None,
) -> C:
    """The ``config_class`` (:class:`~.config.QuantizerConfig`) of a document
    ``{quantization_config, quantization_spec}``.

    ``locate`` maps a tuple of keys to ``file:line:col`` (YAML); without it errors are placed at
    the caller's line.
    """
    here = position_of(call_site()) if locate is None else None

    def where(keys: tuple[Any, ...]) -> str | None:
        return (locate(keys) if locate else None) or here or file

    if not isinstance(data, Mapping):
        raise ConfigError(
            f"a config document must be a mapping with a {CONFIG_KEY!r} key, got {data!r} "
            f"({type(data).__name__})",
            location=where(()),
        )
    known = (CONFIG_KEY, SPEC_SECTION_KEY)
    if CONFIG_KEY not in data and any(k in config_class.model_fields for k in data):
        raise ConfigError(
            f"no {CONFIG_KEY!r} key: these are QuantizerConfig fields, and they go under it, "
            f"e.g. {{{CONFIG_KEY!r}: {{'global_config': {{...}}}}}}",
            location=where(()),
        )
    for key in data:
        if key not in known:
            raise ConfigError(
                f"unknown top-level key {key!r}{suggest(key, known)}; valid top-level keys: "
                f"{listing(known)}",
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
            f"({listing(config_class.model_fields)}), got {body!r} ({type(body).__name__})",
            location=where((CONFIG_KEY,)),
        )
    try:
        return config_class.model_validate(body)
    except ValidationError as err:
        raise_validation(
            err,
            config_class,
            body,
            location=here or file,
            locate=(lambda keys: locate((CONFIG_KEY, *keys))) if locate else None,
        )


def document_of(config: _ConfigBase, *, full: bool = False) -> dict[str, Any]:
    """``{"quantization_config": {...}}``: see :meth:`QuantizerConfig.to_dict`."""
    return {CONFIG_KEY: config._to_json(_explicit_spec_json, full)}


def _explicit_spec_json(spec: QuantizationSpec) -> dict[str, Any]:
    return spec.to_json(explicit_only=True)
