"""qrt — quantization rules for PyTorch.

One rule set, one resolver, and an explanation for every tensor's quantization decision::

    rules = qrt.load_rules("rules.qrt")                  # or qrt.parse_rules(text)
    plan = qrt.resolve(rules, "inventory.json")          # or a model + example inputs
    for ex in qrt.explain(plan, queries=["lm_head.*"]):
        print(ex.decided_by, ex.final)

``import qrt`` does not import torch: lint and explain work from a saved inventory. Only
functions that build or trace a model (``inspect_model``) reach ``qrt.runtime``, lazily.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from qrt._version import __version__
from qrt.api import explain, load_rules, parse_rules, resolve
from qrt.errors import (
    IncludeError,
    InventoryFileError,
    ModelSourceError,
    QrtError,
    QueryError,
    RegistryError,
    ResolveError,
    RuleSyntaxError,
    SpecError,
    TraceError,
)
from qrt.frontends.hierarchical import (
    ConfigError,
    ExecutionMode,
    ModuleQuantizerConfig,
    OpQuantizerConfig,
    QATSchedule,
    QuantizerConfig,
    load_config,
)
from qrt.inventory.io import inventory_from_json, inventory_to_json, load_inventory_file, save_inventory
from qrt.inventory.model import Inventory, ModuleInfo, OpRecord, TensorInfo, TensorUse
from qrt.ir.effect import Off, Patch, Set
from qrt.ir.origin import Origin
from qrt.ir.patterns import PatternError
from qrt.ir.rule import Rule, RuleSet
from qrt.ir.selector import ScopeMatch, Selector
from qrt.ir.site import ROLES, Role, Site
from qrt.ir.spec import QuantizationSpec, default_activation_spec, default_weight_spec
from qrt.model_spec import load_model_inventory, parse_model_spec
from qrt.ops.registry import OpRegistry, OpType, canonical_op_type, default_registry, register_op_type
from qrt.resolver.decision import Decision
from qrt.resolver.explain import Explanation, Step
from qrt.resolver.plan import Plan

if TYPE_CHECKING:
    import torch

__all__ = [
    "__version__",
    # errors
    "QrtError",
    "ModelSourceError",
    "TraceError",
    "InventoryFileError",
    "RegistryError",
    "QueryError",
    "PatternError",
    "SpecError",
    "RuleSyntaxError",
    "IncludeError",
    "ResolveError",
    "ConfigError",
    # sites and inventories
    "Site",
    "Role",
    "ROLES",
    "Inventory",
    "ModuleInfo",
    "OpRecord",
    "TensorInfo",
    "TensorUse",
    "inspect_model",
    "load_model_inventory",
    "parse_model_spec",
    "load_inventory_file",
    "save_inventory",
    "inventory_to_json",
    "inventory_from_json",
    # specs and rules
    "QuantizationSpec",
    "default_activation_spec",
    "default_weight_spec",
    "Rule",
    "RuleSet",
    "Selector",
    "ScopeMatch",
    "Set",
    "Off",
    "Patch",
    "Origin",
    "load_rules",
    "parse_rules",
    # hierarchical configs (front end 1)
    "QuantizerConfig",
    "ModuleQuantizerConfig",
    "OpQuantizerConfig",
    "QATSchedule",
    "ExecutionMode",
    "load_config",
    # resolution and explanation
    "resolve",
    "explain",
    "Plan",
    "Decision",
    "Explanation",
    "Step",
    # op registry
    "OpType",
    "OpRegistry",
    "default_registry",
    "register_op_type",
    "canonical_op_type",
]


def inspect_model(
    model: torch.nn.Module,
    *args: Any,
    registry: OpRegistry | None = None,
    **kwargs: Any,
) -> Inventory:
    """Trace ``model(*args, **kwargs)`` once and return its inventory of sites (imports torch)."""
    from qrt.runtime.trace import trace_model

    return trace_model(model, args, kwargs, registry=registry)
