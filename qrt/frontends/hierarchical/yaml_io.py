"""Hierarchical configs as YAML: the public doors (:func:`load_config`,
:func:`config_from_yaml_text`, :func:`dump_config`).

Reading with positions is :mod:`.yaml_read` (on qrt's one position-keeping loader,
:mod:`qrt.frontends.yaml_load`), writing :mod:`.yaml_dump`; both work for the config class
they are given, so the config classes use them without importing this module, which names
:class:`~.config.QuantizerConfig`.
"""

from __future__ import annotations

import os
from typing import Any

from qrt.frontends.hierarchical.config import QuantizerConfig
from qrt.frontends.hierarchical.yaml_dump import dump_config
from qrt.frontends.hierarchical.yaml_read import (
    STRING_FILE,
    YamlMapping,
    is_hierarchical_document,
    load_yaml_document,
    read_config,
    read_config_file,
    read_config_text,
)

__all__ = [
    "YamlMapping",
    "load_config",
    "config_from_parsed",
    "config_from_yaml_text",
    "is_hierarchical_document",
    "load_yaml_document",
    "dump_config",
]


def config_from_yaml_text(text: str, *, file: str = STRING_FILE) -> QuantizerConfig:
    """The :class:`QuantizerConfig` of a YAML document (docs/semantics.md §3).

    Errors are :class:`ConfigError` (or ``SpecError`` inside a spec) at ``file:line:col`` of the
    offending key, with its config path and what would be valid.
    """
    return read_config_text(text, file=file, config_class=QuantizerConfig)


def config_from_parsed(doc: Any, *, text: str, file: str = STRING_FILE) -> QuantizerConfig:
    """:func:`config_from_yaml_text` of a document already parsed with positions
    (:func:`load_yaml_document`, or the front-end detector's parse handed on)."""
    return read_config(doc, text=text, file=file, config_class=QuantizerConfig)


def load_config(path: str | os.PathLike[str]) -> QuantizerConfig:
    """Load a hierarchical config from a YAML file (``QuantizerConfig.from_yaml``)."""
    return read_config_file(path, config_class=QuantizerConfig)
