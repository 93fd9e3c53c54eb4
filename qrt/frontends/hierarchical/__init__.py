"""The hierarchical config front end: the reference library's ``QuantizerConfig`` (docs/semantics.md §3).

Written in Python or YAML, a config is a tree — ``QuantizerConfig`` → ``ModuleQuantizerConfig``
(global, per module type, per module name) → ``OpQuantizerConfig`` (per op type, per op name)
→ ``QuantizationSpec`` per tensor — that compiles to the one rule IR (docs/semantics.md §3)::

    from qrt.frontends.hierarchical import QuantizerConfig, load_config

    config = QuantizerConfig.presets.w4().without("model.lm_head")
    config = load_config("config.yaml")        # or QuantizerConfig.from_yaml(...)
    config.origin_of("global_config.op_state_spec['weight']")   # file:line:col of that key

Modules, in import order (at import time each needs only those above it; a few import a
later one inside a function, noted):

* ``errors`` — :class:`ConfigError`, :class:`ConfigIssue`, and :func:`raise_issues`, which picks
  ``ConfigError`` or ``SpecError``;
* ``paths`` — config paths such as ``module_name_configs['dec'].op_state_spec['weight']``;
* ``callsite`` — the user's ``file:line`` for configs built in Python;
* ``execution_mode`` — :class:`ExecutionMode` and its deprecated ``PT2E`` name;
* ``keys`` — which dict keys are valid and how they are normalised (the ``torch.nn`` table);
* ``qat`` — the QAT schedule (it imports the error modules only when it raises);
* ``pydantic_errors`` — pydantic's ``ValidationError`` mapped to config paths and locations
  (it looks up the config classes when it runs);
* ``config`` — the classes, their origins and setters (``from_dict``/``to_dict`` and
  ``from_yaml``/``to_yaml`` import ``document`` and ``yaml_io`` when called);
* ``document`` — the ``quantization_config`` / ``quantization_spec`` document around a config;
* ``yaml_io`` — positions-keeping YAML in, anchored YAML out;
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
