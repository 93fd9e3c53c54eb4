"""Hierarchical configs written as YAML: each distinct spec once, under ``quantization_spec``
with an anchor named after it (``&int4_per_block32``), and referred to by alias."""

from __future__ import annotations

from typing import Any

import yaml

from qrt.frontends.hierarchical.base import _ConfigBase
from qrt.frontends.hierarchical.document import CONFIG_KEY, SPEC_SECTION_KEY
from qrt.ir.spec import QuantizationSpec

__all__ = ["dump_config"]


def _spec_name(spec: QuantizationSpec) -> str:
    granularity = spec.granularity
    parts = [spec.dtype, granularity.type]
    block = getattr(granularity, "block_size", None)
    if block is not None:
        parts[-1] += str(block)
    axis = getattr(granularity, "axis", None)
    if axis is not None:
        parts.append(f"axis{axis}")
    if spec.qscheme != "symmetric":
        parts.append(spec.qscheme)
    if spec.scale_dtype is not None:
        parts.append(f"scale_{spec.scale_dtype}")
    return "_".join(parts)


class _Dumper(yaml.SafeDumper):
    """Names each spec's anchor after the spec (``&int4_per_block32``) instead of ``&id001``."""

    anchor_names: dict[int, str]

    def generate_anchor(self, node: yaml.Node) -> str:
        for key, represented in self.represented_objects.items():
            if represented is node and key in self.anchor_names:
                return self.anchor_names[key]
        return str(super().generate_anchor(node))


def dump_config(config: _ConfigBase, *, full: bool = False) -> str:
    """YAML text of ``config``; every distinct spec is written once under ``quantization_spec``
    and referred to by alias, as in the examples of docs/semantics.md §3."""
    shared: dict[Any, dict[str, Any]] = {}
    section: dict[str, dict[str, Any]] = {}
    names: dict[int, str] = {}

    def spec_json(spec: QuantizationSpec) -> dict[str, Any]:
        key = (spec, spec.explicit_fields())
        if key not in shared:
            data = spec.to_json(explicit_only=True)
            base = name = _spec_name(spec)
            counter = 2
            while name in section:
                name, counter = f"{base}_{counter}", counter + 1
            shared[key], section[name], names[id(data)] = data, data, name
        return shared[key]

    body = config._to_json(spec_json, full)
    doc: dict[str, Any] = {}
    if section:
        doc[SPEC_SECTION_KEY] = section
    doc[CONFIG_KEY] = body

    class Dumper(_Dumper):
        anchor_names = names

    return yaml.dump(
        doc, Dumper=Dumper, sort_keys=False, default_flow_style=False, allow_unicode=True
    )
