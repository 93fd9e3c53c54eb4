"""Where ModelOpt puts quantizers, and how it sets them up: SEMANTICS §4's role defaults.

A wildcard list only says what *changes*; what a quantizer is before the first entry is
ModelOpt's business: its quantized-module registry swaps each module of a registered class for
a quantized one with an input, a weight and an output quantizer (or only input and output),
each with a default descriptor. qrt reproduces that as leading rules, so a list means on qrt
what it means on ModelOpt:

* every site starts off, with the default attributes (8-bit, per tensor);
* on a module of a registry class (exactly that class: :data:`REGISTRY`), the input quantizer
  of its op is on, 8-bit per tensor, and (for classes with weights) the weight quantizer is
  on, 8-bit, axis 0 — per tensor for ``Embedding``; output quantizers stay off;
* attention's ``q_bmm``/``k_bmm``/``v_bmm``/``p_bmm`` quantizers are on, 8-bit per tensor
  (ModelOpt 0.47's ``_QuantAttention`` creates all four enabled, ``p_bmm`` included: an
  earlier reading started ``p_bmm`` off, which left FP8-attention presets' softmax output
  unquantized wherever they did not name it).

The rules select by owning class (``parent_class``: exact, as the entries' own does), role,
key and quantizer path, so they need no inventory. ModelOpt converts subclasses of a registry
class too; qrt sees class names only (an inventory records no base classes), so a subclass
starts off here — name it in a ``parent_class`` entry, or lint's note, to treat it alike.
The RNN classes of the registry (``RNN``, ``LSTM``, ``GRU``) keep per-gate quantizers that
have no site of their own in qrt and are left out.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any

from qrt.ir.effect import Set
from qrt.ir.origin import Origin
from qrt.ir.rule import Rule
from qrt.ir.selector import Selector
from qrt.ir.site import Site
from qrt.frontends.wildcard.spec_map import spec_from_attributes

__all__ = [
    "BMM_QUANTIZERS",
    "REGISTRY",
    "RoleKind",
    "leading_rules",
    "role_default_state",
]


@dataclass(frozen=True)
class RoleKind:
    """What ModelOpt's quantized version of one class carries."""

    weight: Mapping[str, Any] | None
    """the weight quantizer's default attributes, or ``None`` when the class has none"""


_WEIGHT_ROW = {"num_bits": 8, "axis": 0}
_WEIGHTED = RoleKind(weight=_WEIGHT_ROW)
_INPUT_ONLY = RoleKind(weight=None)


def _family(module: str, names: str, kind: RoleKind) -> dict[str, RoleKind]:
    return {f"{module}.{n}": kind for n in names.split()}


REGISTRY: dict[str, RoleKind] = {
    **_family("torch.nn.modules.linear", "Linear", _WEIGHTED),
    **_family(
        "torch.nn.modules.conv",
        "Conv1d Conv2d Conv3d ConvTranspose1d ConvTranspose2d ConvTranspose3d",
        _WEIGHTED,
    ),
    "torch.nn.modules.sparse.Embedding": RoleKind(weight={"num_bits": 8, "axis": None}),
    **_family("torch.nn.modules.batchnorm", "BatchNorm1d BatchNorm2d BatchNorm3d", _INPUT_ONLY),
    **_family("torch.nn.modules.instancenorm", "InstanceNorm1d InstanceNorm2d InstanceNorm3d", _INPUT_ONLY),
    "torch.nn.modules.normalization.LayerNorm": _INPUT_ONLY,
    "torch.nn.modules.activation.LeakyReLU": _INPUT_ONLY,
    **_family(
        "torch.nn.modules.pooling",
        "MaxPool1d MaxPool2d MaxPool3d AvgPool1d AvgPool2d AvgPool3d "
        "AdaptiveAvgPool1d AdaptiveAvgPool2d AdaptiveAvgPool3d",
        _INPUT_ONLY,
    ),
    # Hugging Face classes ModelOpt's plugins register as linear layers
    "transformers.pytorch_utils.Conv1D": _WEIGHTED,
    "transformers.models.falcon.modeling_falcon.FalconLinear": _WEIGHTED,
}
"""ModelOpt 0.47's quantized-module registry (the classes qrt has sites for), by exact class."""

BMM_QUANTIZERS = ("q_bmm_quantizer", "k_bmm_quantizer", "v_bmm_quantizer", "p_bmm_quantizer")
"""Attention quantizers, all four on by default (SEMANTICS §4, measured on ModelOpt 0.47)."""

_INPUT_GLOB = "*input_quantizer"
_WEIGHT_GLOB = "*weight_quantizer"


def role_default_state(site: Site) -> dict[str, Any] | None:
    """The state a site starts in, read directly from the site (the oracle's version of
    :func:`leading_rules`): ``{"enable": True, "attributes": {...}}``, or ``None`` (off)."""
    names = (site.quantizer_path, *site.aliases)
    state = None
    kind = REGISTRY.get(site.module_type)
    if kind is not None and site.op_name is not None:
        if site.role == "input" and site.key == 0 and fnmatchcase(site.quantizer_path, _INPUT_GLOB):
            state = {"enable": True, "attributes": {"num_bits": 8, "axis": None}}
        elif (
            kind.weight is not None
            and site.role == "state"
            and site.key == "weight"
            and fnmatchcase(site.quantizer_path, _WEIGHT_GLOB)
        ):
            state = {"enable": True, "attributes": dict(kind.weight)}
    for bmm in BMM_QUANTIZERS:
        if any(fnmatchcase(n, f"*{bmm}") for n in names):
            state = {"enable": True, "attributes": {"num_bits": 8, "axis": None}}
    return state


def _origin(what: str) -> Origin:
    return Origin(file="<ModelOpt role defaults>", config_path=what)


def leading_rules() -> list[Rule]:
    """The rules that set every site to where ModelOpt starts it, before any entry."""
    off = Set(spec_from_attributes({}), enable=False)
    per_tensor = Set(spec_from_attributes({"num_bits": 8, "axis": None}))
    rules = [Rule(Selector(), off, (0,), origin=_origin("every site starts off"))]
    for cls, kind in REGISTRY.items():
        short = cls.rpartition(".")[2]
        rules.append(
            Rule(
                Selector(parent_class=cls, role="input", key=0, quantizer_path=_INPUT_GLOB),
                per_tensor,
                (0,),
                origin=_origin(f"{short}.input_quantizer on"),
            )
        )
        if kind.weight is not None:
            rules.append(
                Rule(
                    Selector(parent_class=cls, role="state", key="weight", quantizer_path=_WEIGHT_GLOB),
                    Set(spec_from_attributes(kind.weight)),
                    (0,),
                    origin=_origin(f"{short}.weight_quantizer on"),
                )
            )
    for bmm in BMM_QUANTIZERS:
        rules.append(
            Rule(Selector(quantizer_path=f"*{bmm}"), per_tensor, (0,), origin=_origin(f"{bmm} on"))
        )
    return rules
