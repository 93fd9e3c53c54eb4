"""``qrt convert``: move a config between front ends, proving the decisions unchanged.

Any front end → DSL is exact: the DSL can hold every rule of the IR. With a model, the
written text is parsed back and resolved beside the source, and the conversion is refused
unless every site gets the same decision. Without a model, a hierarchical config compiles
to rules over every possible depth; the one thing that needs a model — module-level
quantizers overriding the op-level sites on their tensor — is refused with the reason.
"""

from __future__ import annotations

from qrt.errors import QrtError
from qrt.frontends.source import DslSource, HierarchicalSource, RuleSource
from qrt.inventory.model import Inventory

__all__ = ["ConvertError", "convert_to_dsl"]


class ConvertError(QrtError):
    code = "QRT207"


def _header(source: RuleSource, inv: Inventory | None) -> str:
    model = f" on model {inv.model.get('spec') or inv.model.get('class')}" if inv is not None else ""
    return f"# converted by qrt convert from {source.label}{model}\n"


def convert_to_dsl(source: RuleSource, inv: Inventory | None = None) -> str:
    from qrt.frontends.dsl import parse_rules, print_rules

    if isinstance(source, DslSource):
        rules = source.rules
    elif isinstance(source, HierarchicalSource):
        from qrt.frontends.hierarchical.compile import compile_config

        result = compile_config(source.config, inv)
        if result.unexpressed:
            raise ConvertError(
                "this config cannot be written as model-independent rules: " + "; ".join(result.unexpressed),
                location=source.label,
                hint="pass --model SPEC to convert it exactly for that model",
            )
        rules = result.rules
    else:  # pragma: no cover - every RuleSource is one of the above
        raise ConvertError(f"cannot convert {source.label}")
    text = _header(source, inv) + print_rules(rules)
    if inv is not None:
        from qrt.api import resolve

        before = resolve(source, inv)
        after = resolve(parse_rules(text, file="<converted>"), inv)
        diff = [
            (a.site.quantizer_path, a.spec, b.spec)
            for a, b in zip(before.decisions, after.decisions)
            if before.spec(a) != after.spec(b)
        ]
        if diff:
            path, was, now = diff[0]
            raise ConvertError(
                f"the converted rules decide {len(diff)} sites differently, first {path}: {was} != {now}",
                hint="please report this config to qrt: conversion to the DSL must be exact",
            )
    return text
