"""The hierarchical config front end: the reference library's ``QuantizerConfig`` (seeds 000–002).

Written in Python or YAML, a config is a tree — ``QuantizerConfig`` → ``ModuleQuantizerConfig``
(global, per module type, per module name) → ``OpQuantizerConfig`` (per op type, per op name)
→ ``QuantizationSpec`` per tensor — that compiles to the one rule IR (SEMANTICS §3)::

    from qrt.frontends.hierarchical import QuantizerConfig, load_config

    config = QuantizerConfig.presets.w4().without("model.lm_head")
    config = load_config("config.yaml")        # or QuantizerConfig.from_yaml(...)
    config.origin_of("global_config.op_state_spec['weight']")   # file:line:col of that key

Modules: ``config`` (the classes, their checks, origins, setters), ``qat`` (the QAT
schedule), ``yaml_io`` (positions-keeping YAML in, anchored YAML out), ``presets`` (shipped
``rules/presets/*.yaml`` and :func:`register_preset`).
"""

from __future__ import annotations

from qrt.frontends.hierarchical.config import (
    ConfigError,
    ExecutionMode,
    ModuleQuantizerConfig,
    OpQuantizerConfig,
    QuantizerConfig,
)
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
