"""How ModelOpt sets up the quantizers it creates: docs/semantics.md §4's role defaults.

A wildcard list only says what *changes*; where quantizers are and how they start is ModelOpt's
business. *Where* is an inventory fact: each site carries the name of the quantizer ModelOpt
0.47 would create on it, or none (:attr:`~qrt.ir.site.Site.modelopt_name`, computed by
:mod:`qrt.inventory.modelopt` from the registry and each module's forward inheritance). *How
they start* is here, as leading rules in front of the entries:

* every site starts off, with the default attributes (8-bit, per tensor) — and a site without
  a ModelOpt name stays so, since no entry can reach it;
* ``input_quantizer``: on, 8-bit per tensor;
* ``weight_quantizer``: on, 8-bit, axis 0 — per tensor for ``Embedding`` (selected by the
  ``embedding`` op its forward runs, so a subclass that inherits the forward is treated alike);
* one expert's ``…_weight_quantizers.<i>`` on a fused experts module: on, 8-bit per tensor
  (``_QuantFusedExperts._setup`` creates plain ``TensorQuantizer()`` objects, which start per
  tensor, not with a linear layer's per-row default);
* ``output_quantizer``: off;
* attention's ``q_bmm``/``k_bmm``/``v_bmm``/``p_bmm`` quantizers are on, 8-bit per tensor
  (ModelOpt 0.47's ``_QuantAttention`` creates all four enabled, ``p_bmm`` included: an
  earlier reading started ``p_bmm`` off, which left FP8-attention presets' softmax output
  unquantized wherever they did not name it).

The rules select by ModelOpt name (``quantizer_names="modelopt"``), as the entries do.
"""

from __future__ import annotations

from fnmatch import fnmatchcase
from typing import Any

from qrt.ir.effect import Set
from qrt.ir.origin import Origin
from qrt.ir.rule import Rule
from qrt.ir.selector import Selector
from qrt.ir.site import Site
from qrt.frontends.wildcard.spec_map import spec_from_attributes

__all__ = ["leading_rules", "role_default_state"]

_PER_TENSOR = {"num_bits": 8, "axis": None}
_WEIGHT_ROW = {"num_bits": 8, "axis": 0}
_INPUT_GLOB = "*input_quantizer"
_WEIGHT_GLOB = "*weight_quantizer"
_BMM_GLOB = "*[qkvp]_bmm_quantizer"
_EMBEDDING_OP = "embedding"
_EXPERT_GLOB = "*_weight_quantizers.*"


def role_default_state(site: Site) -> dict[str, Any] | None:
    """The state a site starts in, read directly from the site (the oracle's version of
    :func:`leading_rules`): ``{"enable": True, "attributes": {...}}``, or ``None`` (off)."""
    name = site.modelopt_name
    if name is None:
        return None
    if fnmatchcase(name, _BMM_GLOB) or fnmatchcase(name, _INPUT_GLOB):
        return {"enable": True, "attributes": dict(_PER_TENSOR)}
    if site.expert is not None:
        return {"enable": True, "attributes": dict(_PER_TENSOR)}
    if fnmatchcase(name, _WEIGHT_GLOB):
        attributes = _PER_TENSOR if site.op_type == _EMBEDDING_OP else _WEIGHT_ROW
        return {"enable": True, "attributes": dict(attributes)}
    return None


def _origin(what: str) -> Origin:
    return Origin(file="<ModelOpt role defaults>", config_path=what)


def _modelopt(glob: str, **fields: Any) -> Selector:
    return Selector(quantizer_path=glob, quantizer_names="modelopt", **fields)


def leading_rules() -> list[Rule]:
    """The rules that set every site to where ModelOpt starts it, before any entry."""
    off = Set(spec_from_attributes({}), enable=False)
    per_tensor = Set(spec_from_attributes(_PER_TENSOR))
    return [
        Rule(Selector(), off, (0,), origin=_origin("every site starts off"), baseline=True),
        Rule(_modelopt(_INPUT_GLOB), per_tensor, (0,), origin=_origin("input_quantizer on")),
        Rule(_modelopt(_WEIGHT_GLOB), Set(spec_from_attributes(_WEIGHT_ROW)), (0,),
             origin=_origin("weight_quantizer on")),
        Rule(_modelopt(_WEIGHT_GLOB, op_type=_EMBEDDING_OP), per_tensor, (0,),
             origin=_origin("Embedding.weight_quantizer on, per tensor")),
        Rule(_modelopt(_EXPERT_GLOB), per_tensor, (0,), origin=_origin("an expert's weight quantizer on, per tensor")),
        Rule(_modelopt(_BMM_GLOB), per_tensor, (0,), origin=_origin("q/k/v/p_bmm_quantizer on")),
    ]
