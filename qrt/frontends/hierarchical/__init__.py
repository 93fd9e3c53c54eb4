"""The hierarchical config front end: the reference library's ``QuantizerConfig`` (docs/semantics.md §3).

Written in Python or YAML, a config is a tree — ``QuantizerConfig`` → ``ModuleQuantizerConfig``
(global, per module type, per module name) → ``OpQuantizerConfig`` (per op type, per op name)
→ ``QuantizationSpec`` per tensor — that compiles to the one rule IR (docs/semantics.md §3)::

    from qrt.frontends.hierarchical import QuantizerConfig, load_config

    config = QuantizerConfig.presets.w4().without("model.lm_head")
    config = load_config("config.yaml")        # or QuantizerConfig.from_yaml(...)
    config.origin_of("global_config.op_state_spec['weight']")   # file:line:col of that key

Modules, in import order (each imports only those above it, at module level):

* ``errors`` — :class:`ConfigError`, :class:`ConfigIssue`, and :func:`raise_issues`, which picks
  ``ConfigError`` or ``SpecError``;
* ``paths`` — config paths such as ``module_name_configs['dec'].op_state_spec['weight']``;
* ``callsite`` — the user's ``file:line`` for configs built in Python;
* ``execution_mode`` — :class:`ExecutionMode` and its deprecated ``PT2E`` name;
* ``keys`` — which dict keys are valid and how they are normalised (the ``torch.nn`` table);
* ``pydantic_errors`` — pydantic's ``ValidationError`` mapped to config paths and locations
  (how fields nest is read from the classes' annotations, so it needs none of them);
* ``qat`` — the QAT schedule;
* ``base`` — the validated model with origins every config class derives from;
* ``op_config`` — :class:`OpQuantizerConfig`, :class:`ModuleQuantizerConfig`;
* ``document`` — the ``quantization_config`` / ``quantization_spec`` document around a config;
* ``yaml_read``, ``yaml_dump`` — YAML in with positions (qrt's one loader,
  ``qrt.frontends.yaml_load``), anchored YAML out; like ``document`` they take the config
  class as an argument;
* ``config`` — :class:`QuantizerConfig`: validation, ``from_dict``/``to_dict``/``from_yaml``/
  ``to_yaml``, origins, setters;
* ``yaml_io`` — the public YAML doors (:func:`load_config`, :func:`config_from_yaml_text`);
* ``presets`` — shipped ``rules/presets/*.yaml`` and :func:`register_preset`;
* ``compile``, ``direct``, ``axes_check`` — a config compiled to rules, read directly (the
  compiler's oracle), and checked for missing default axes.
"""

from __future__ import annotations

from qrt.frontends.hierarchical.config import (
    ModuleQuantizerConfig,
    OpQuantizerConfig,
    QuantizerConfig,
)
from qrt.frontends.hierarchical.errors import ConfigError
from qrt.frontends.hierarchical.execution_mode import ExecutionMode
from qrt.frontends.hierarchical.presets import available_presets, register_preset
from qrt.frontends.hierarchical.qat import QATSchedule, QATState
from qrt.frontends.hierarchical.yaml_io import (
    config_from_yaml_text,
    is_hierarchical_document,
    load_config,
)

__all__ = [
    "QuantizerConfig",
    "ModuleQuantizerConfig",
    "OpQuantizerConfig",
    "QATSchedule",
    "QATState",
    "ExecutionMode",
    "ConfigError",
    "load_config",
    "config_from_yaml_text",
    "is_hierarchical_document",
    "register_preset",
    "available_presets",
]
