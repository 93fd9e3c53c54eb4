"""qrt's shared vocabulary, torch-free and immutable: sites, selectors, effects, rules,
origins, specs and tensor identities (``docs/architecture.md``). The values front ends emit,
the resolver folds and every tool reads; for building rules in Python or reading a plan's
parts. Names are imported on first use, so ``import qrt.ir.site`` stays cheap."""

from __future__ import annotations

from qrt._faces import lazy_names

_NAMES: dict[str, str] = {
    "Site": "qrt.ir.site",
    "Role": "qrt.ir.site",
    "ROLES": "qrt.ir.site",
    "Selector": "qrt.ir.selector",
    "ScopeMatch": "qrt.ir.selector",
    "Set": "qrt.ir.effect",
    "Off": "qrt.ir.effect",
    "Patch": "qrt.ir.effect",
    "Rule": "qrt.ir.rule",
    "RuleSet": "qrt.ir.rule",
    "Origin": "qrt.ir.origin",
    "QuantizationSpec": "qrt.ir.spec",
    "default_activation_spec": "qrt.ir.spec",
    "default_weight_spec": "qrt.ir.spec",
    "PatternError": "qrt.ir.patterns",
    "TensorId": "qrt.ir.tensor_id",
}

__all__ = list(_NAMES)

__getattr__, __dir__ = lazy_names(globals(), _NAMES)
