"""qrt — quantization rules for PyTorch.

One rule set, one resolver, and an explanation for every tensor's quantization decision::

    rules = qrt.load_rules("rules.qrt")                  # or qrt.parse_rules(text)
    plan = qrt.resolve(rules, "inventory.json")          # or a model + example inputs
    for ex in qrt.explain(plan, queries=["lm_head.*"]):
        print(ex.decided_by, ex.final)

``import qrt`` does not import torch: lint and explain work from a saved inventory. Only
functions that build or trace a model (``inspect_model``) reach ``qrt.runtime``, lazily.
Every public name is imported on first use (``__getattr__`` below), so ``import qrt`` is
cheap and each command pays only for what it uses.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from qrt._faces import lazy_names as _lazy_names
from qrt._version import __version__

_LAZY: dict[str, str] = {
    "Diagnostic": "qrt.diagnostics",
    "WildcardConfig": "qrt.frontends.wildcard.model",
    "load_wildcard": "qrt.frontends.wildcard",
    "Quantizer": "qrt.runtime.quant.quantizer",
    "quantize": "qrt.runtime.quant.quantize",
    "FinalizeError": "qrt.errors",
    "load_quantized": "qrt.runtime.finalize.load",
    "export_compressed_tensors": "qrt.runtime.finalize.export",
    "save_quantized": "qrt.runtime.finalize.saved",
    "set_quantizer_by_cfg": "qrt.runtime.quant.modelopt_cfg",
    "set_quantizer_by_cfg_context": "qrt.runtime.quant.modelopt_cfg",
    "explain": "qrt.api",
    "load_rules": "qrt.api",
    "parse_rules": "qrt.api",
    "resolve": "qrt.api",
    "IncludeError": "qrt.errors",
    "InventoryFileError": "qrt.errors",
    "ModelSourceError": "qrt.errors",
    "QrtError": "qrt.errors",
    "Location": "qrt.diagnostics",
    "QueryError": "qrt.errors",
    "RegistryError": "qrt.errors",
    "ResolveError": "qrt.errors",
    "RuleSyntaxError": "qrt.errors",
    "SpecError": "qrt.errors",
    "TraceError": "qrt.errors",
    "ConfigError": "qrt.frontends.hierarchical",
    "CompressedTensorsConfigError": "qrt.errors",
    "TorchAoConfigError": "qrt.errors",
    "ArgumentTypeError": "qrt.errors",
    "InputFileError": "qrt.errors",
    "OutputFileError": "qrt.errors",
    "WildcardConfigError": "qrt.frontends.wildcard.entries",
    "NoModelOptEquivalent": "qrt.frontends.wildcard.spec_map",
    "ConvertError": "qrt.errors",
    "DiffInputError": "qrt.errors",
    "GitRevisionError": "qrt.errors",
    "PlanFileError": "qrt.errors",
    "CalibrationError": "qrt.errors",
    "CalibrationLoopError": "qrt.errors",
    "CalibrationRangeError": "qrt.errors",
    "ExportError": "qrt.errors",
    "GraphSpecError": "qrt.errors",
    "NumericsError": "qrt.errors",
    "PrepareError": "qrt.errors",
    "QuantizerCfgError": "qrt.errors",
    "ExecutionMode": "qrt.frontends.hierarchical",
    "ModuleQuantizerConfig": "qrt.frontends.hierarchical",
    "OpQuantizerConfig": "qrt.frontends.hierarchical",
    "QATSchedule": "qrt.frontends.hierarchical",
    "QuantizerConfig": "qrt.frontends.hierarchical",
    "load_config": "qrt.frontends.hierarchical",
    "load_inventory_file": "qrt.inventory.io",
    "save_inventory": "qrt.inventory.io",
    "Inventory": "qrt.inventory.model",
    "PatternError": "qrt.ir.patterns",
    "RuleSet": "qrt.ir.rule",
    "Site": "qrt.ir.site",
    "QuantizationSpec": "qrt.ir.spec",
    "default_activation_spec": "qrt.ir.spec",
    "default_weight_spec": "qrt.ir.spec",
    "load_model_inventory": "qrt.model_inventory",
    "parse_model_spec": "qrt.model_spec",
    "OpRegistry": "qrt.ops.registry",
    "OpType": "qrt.ops.registry",
    "canonical_op_type": "qrt.ops.registry",
    "default_registry": "qrt.ops.registry",
    "register_op_type": "qrt.ops.registry",
    "Decision": "qrt.resolver.decision",
    "Explanation": "qrt.resolver.explain",
    "Step": "qrt.resolver.explain",
    "Plan": "qrt.resolver.plan",
}
"""Public name → the module that defines it, imported on first use (PEP 562)."""

_MOVED: dict[str, str] = {
    **{name: "qrt.ir" for name in ("Role", "ROLES", "Rule", "Selector", "ScopeMatch", "Set", "Off", "Patch", "Origin")},
    **{name: "qrt.inventory" for name in ("ModuleInfo", "OpRecord", "TensorInfo", "TensorUse", "inventory_to_json",
                                          "inventory_from_json")},
}
"""Plumbing that left the top-level face for its package's (``qrt.ir``, ``qrt.inventory``):
still reachable here, with a ``DeprecationWarning``."""

if TYPE_CHECKING:
    import torch

    from qrt.inventory.model import Inventory
    from qrt.ops.registry import OpRegistry

__all__ = [
    "__version__",
    # errors
    "QrtError",
    "Location",
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
    "CompressedTensorsConfigError",
    "TorchAoConfigError",
    "ArgumentTypeError",
    "InputFileError",
    "OutputFileError",
    "WildcardConfigError",
    "NoModelOptEquivalent",
    "ConvertError",
    "DiffInputError",
    "GitRevisionError",
    "PlanFileError",
    "CalibrationError",
    "CalibrationLoopError",
    "CalibrationRangeError",
    "ExportError",
    "GraphSpecError",
    "NumericsError",
    "PrepareError",
    "QuantizerCfgError",
    # sites and inventories
    "Site",
    "Inventory",
    "inspect_model",
    "load_model_inventory",
    "parse_model_spec",
    "load_inventory_file",
    "save_inventory",
    # specs and rules
    "QuantizationSpec",
    "default_activation_spec",
    "default_weight_spec",
    "RuleSet",
    "load_rules",
    "parse_rules",
    # ModelOpt lists (front end 2)
    "WildcardConfig",
    "load_wildcard",
    # reported problems (errors and lint findings; qrt.lint.lint runs the linter)
    "Diagnostic",
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
    # the eager runtime (imports torch when used)
    "Quantizer",
    "quantize",
    "set_quantizer_by_cfg",
    "set_quantizer_by_cfg_context",
    "summary",
    # finalized models (imports torch when used)
    "FinalizeError",
    "save_quantized",
    "load_quantized",
    "export_compressed_tensors",
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


def summary(model: torch.nn.Module) -> str:
    """Every quantizer of a prepared model with its spec and state (imports torch)."""
    from qrt.runtime.quant.summary import summary as _summary

    return _summary(model)


__getattr__, __dir__ = _lazy_names(globals(), _LAZY, _MOVED)
