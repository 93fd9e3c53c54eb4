"""A plan → a hierarchical config deciding the same on its model (``--to hierarchical``).

A hierarchical config decides by where a tensor sits (module scope, op, key), with the
deepest governing module winning; a rule list decides by order. The two meet only on a given
model, so this route needs one: the source's plan is written back as

* ``global_config`` with nothing on by default (every ``op_*_spec`` null), holding the root
  module's own ops and boundary;
* one ``module_name_configs`` entry per module that owns a quantized site, nothing on by
  default, its ops under ``op_name_config`` (the op name relative to the module, escaped) with
  exactly the quantized keys, its boundary under ``module_*_spec``.

Modules whose configs are equal share one regex where numbered parts become ``\\d+`` and no
other module is caught (:func:`qrt.tools.compaction.module_regexes`). What a hierarchical
config cannot say — an op-level site quantized on the same tensor as a quantized module-level
site (the module level overrides it), inputs keyed by position and by name at once — shows
up as sites the caller's verification finds decided differently, and is refused there.
"""

from __future__ import annotations

import re
from collections import defaultdict
from typing import Any

from qrt.frontends.hierarchical.config import ModuleQuantizerConfig, OpQuantizerConfig, QuantizerConfig
from qrt.ir.spec import QuantizationSpec
from qrt.resolver.plan import Plan
from qrt.tools.compaction import module_regexes

__all__ = ["config_from_plan"]

_OP_FIELD = {"input": "op_input_spec", "output": "op_output_spec", "state": "op_state_spec"}
_MODULE_FIELD = {
    "module_input": "module_input_spec",
    "module_output": "module_output_spec",
    "module_state": "module_state_spec",
}

Item = tuple[str, str, Any, QuantizationSpec]
"""``(relative op name or "", role, key, spec)``: one quantized site of a module."""


def _relative(op_name: str, module: str) -> str:
    return op_name[len(module) + 1 :] if module else op_name


def _module_config(items: tuple[Item, ...]) -> ModuleQuantizerConfig:
    ops: dict[str, dict[str, dict[Any, QuantizationSpec]]] = defaultdict(lambda: defaultdict(dict))
    own: dict[str, dict[Any, QuantizationSpec]] = defaultdict(dict)
    for rel, role, key, spec in items:
        if role in _OP_FIELD:
            ops[rel][_OP_FIELD[role]][key] = spec
        else:
            own[_MODULE_FIELD[role]][key] = spec
    op_name_config = {
        re.escape(rel): OpQuantizerConfig(**{f: dict(groups.get(f, {})) or None for f in _OP_FIELD.values()})
        for rel, groups in ops.items()
    }
    return ModuleQuantizerConfig(
        op_input_spec=None,
        op_output_spec=None,
        op_state_spec=None,
        op_name_config=op_name_config,
        **{field: dict(specs) for field, specs in own.items()},
    )


def config_from_plan(plan: Plan) -> QuantizerConfig:
    """A hierarchical config meant to decide every site of ``plan``'s model as ``plan`` does
    (the caller verifies it)."""
    items: dict[str, list[Item]] = defaultdict(list)
    for decision in plan.decisions:
        spec = plan.spec(decision)
        if spec is None:
            continue
        site = decision.site
        module = site.module
        rel = _relative(site.op_name, module) if site.op_name is not None else ""
        items[module].append((rel, site.role, site.key, spec))
    frozen = {m: tuple(sorted(v, key=lambda i: (i[0], i[1], str(i[2])))) for m, v in items.items()}
    root = frozen.pop("", ())
    modules = [m.name for m in plan.inventory.modules if m.name]
    regexes = module_regexes(modules, lambda m: frozen.get(m))
    return QuantizerConfig(
        global_config=_module_config(root),
        module_name_configs={regex: _module_config(group) for regex, group in regexes},
    )
