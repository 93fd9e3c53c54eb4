"""Where ModelOpt 0.47 would put quantizers, and under which names (docs/semantics.md §4).

A wildcard list (ModelOpt's ``quant_cfg``) configures the quantizers ModelOpt's conversion
creates, and nothing else: the list's universe is a fact of the model, computed here once per
inventory and carried by each site as :attr:`~qrt.ir.site.Site.modelopt_name`. Torch-free: the
trace records, per module, which classes of its MRO share the forward that runs
(:attr:`~qrt.inventory.model.ModuleInfo.forward_bases`); the rest is a table lookup.

**Which modules ModelOpt converts.** ``replace_quant_module``
(``modelopt/torch/quantization/conversion.py``) converts a module when
``type(module) in QuantModuleRegistry``, and the registry's ``__contains__``
(``modelopt/torch/opt/dynamic.py``, ``_DMRegistryCls._get_registered_nn_class``) accepts a
class when, for some registered class ``R`` (tried in registration order),
``issubclass(cls, R) and cls.forward is R.forward``: the registered class itself, or a subclass
that inherits its ``forward``. A subclass that overrides ``forward`` — Gemma's scaled word
embedding, OPT's learned positional embedding — is *not* converted and carries no quantizer.
:func:`converted_as` is that test on the recorded ``forward_classes``.

**What each converted module carries.** ``input_quantizer``, ``weight_quantizer`` and
``output_quantizer`` for the Linear-like classes (``_QuantLinear``, ``_QuantConv*``,
``_QuantEmbedding``, transformers' ``Conv1D``); ``input_quantizer`` and ``output_quantizer``
only for the registry's norm, pooling and activation classes (``QuantInputBase``: no weight
quantizer, so a LayerNorm weight is out of reach). Hugging Face attention modules get
``q/k/v/p_bmm_quantizer`` (``plugins/huggingface.py``, ``_QuantAttention._setup``); qrt finds
those tensors from the dataflow (:mod:`qrt.inventory.attention`) and their alias is their
ModelOpt name.

qrt's sites map onto those quantizers where the module's forward runs one registered op (the
op qrt names after the module, :func:`qrt.inventory.build.quantizer_path`): its input 0 is the
module's ``input_quantizer``, its ``weight`` state the ``weight_quantizer``, its output 0 the
``output_quantizer``. Every other site has no ModelOpt name.

transformers' ``Conv1D`` runs ``addmm(bias, x, weight)``: its ``input_quantizer`` is the
activation, operand 1 (qrt's ``c_attn.input_quantizer_1``), whatever its position in the op.

**Frames.** ModelOpt's attributes index the tensor its converted module holds, which is not
always the tensor as stored: ``_QuantConv1D.convert`` replaces a ``Conv1D``'s ``(in, out)``
weight by its transpose and runs ``nn.Linear``'s forward, so a list's ``axis: 0`` means the
output features there, which are axis 1 of the stored weight. Plans index the stored tensor
(docs/semantics.md §3), so the wildcard front end translates (:func:`weight_transposed` says where;
:mod:`qrt.frontends.wildcard.spec_map` does it). The fact is keyed by the op that reads the
stored weight (``addmm`` for ``Conv1D``), so the front end can select those sites with an
ordinary selector and its rules stay independent of the model.

**Fused experts.** ModelOpt 0.47 converts every module with the fused experts layout
(``register_fused_experts_on_the_fly``, ``_QuantFusedExperts``) and gives it one input
quantizer per fused parameter and one weight quantizer per expert; qrt's sites there
(:attr:`~qrt.ir.site.Site.fused`) are named exactly so, and their names are their ModelOpt
names. Not covered: the RNN classes (per-gate quantizers).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from qrt.ir.patterns import modelopt_base_name, modelopt_match_names
from qrt.ir.site import Site

__all__ = [
    "REGISTRY",
    "TRANSPOSED_WEIGHT_OPS",
    "QuantizedClass",
    "converted_as",
    "modelopt_base_name",
    "modelopt_class",
    "modelopt_match_names",
    "modelopt_name",
    "weight_transposed",
]


@dataclass(frozen=True)
class QuantizedClass:
    """What ModelOpt's quantized version of one registry class carries."""

    weight: bool
    """whether it has a ``weight_quantizer`` (all have input and output quantizers)"""
    instance_of: str | None = None
    """the class ModelOpt's converted module is an instance of, where it is not the module's
    own: ``_QuantConv1D.convert`` transposes a ``Conv1D``'s weight and converts the module with
    ``nn.Linear``'s class, so ``parent_class: nn.Linear`` reaches it there"""
    activation: int = 0
    """the operand of the module's op that its ``input_quantizer`` quantizes: ModelOpt
    quantizes the forward's input, which is operand 0 of ``linear``/``conv``/``embedding``,
    but operand 1 of the ``addmm(bias, x, weight)`` transformers' ``Conv1D`` runs"""
    transposed_weight_op: str | None = None
    """where ModelOpt's conversion transposes the weight it quantizes (``Conv1D``: stored
    ``(in, out)``, held ``(out, in)``), the op type that reads the stored weight (``addmm``):
    a list's ``axis``/``block_sizes`` then index the transposed view, and qrt's sites of that
    op's weight are the ones whose attributes are translated"""


_WEIGHTED = QuantizedClass(weight=True)
_INPUT_ONLY = QuantizedClass(weight=False)


def _family(module: str, names: str, kind: QuantizedClass) -> dict[str, QuantizedClass]:
    return {f"{module}.{n}": kind for n in names.split()}


REGISTRY: dict[str, QuantizedClass] = {
    # in ModelOpt 0.47's registration order, which decides between two registered bases
    "torch.nn.modules.activation.LeakyReLU": _INPUT_ONLY,
    **_family("torch.nn.modules.batchnorm", "BatchNorm1d BatchNorm2d BatchNorm3d", _INPUT_ONLY),
    **_family(
        "torch.nn.modules.conv",
        "Conv1d Conv2d Conv3d ConvTranspose1d ConvTranspose2d ConvTranspose3d",
        _WEIGHTED,
    ),
    "torch.nn.modules.sparse.Embedding": _WEIGHTED,
    **_family("torch.nn.modules.instancenorm", "InstanceNorm1d InstanceNorm2d InstanceNorm3d", _INPUT_ONLY),
    "torch.nn.modules.normalization.LayerNorm": _INPUT_ONLY,
    "torch.nn.modules.linear.Linear": _WEIGHTED,
    **_family(
        "torch.nn.modules.pooling",
        "MaxPool1d MaxPool2d MaxPool3d AvgPool1d AvgPool2d AvgPool3d "
        "AdaptiveAvgPool1d AdaptiveAvgPool2d AdaptiveAvgPool3d",
        _INPUT_ONLY,
    ),
    # Hugging Face classes ModelOpt's plugins register as linear layers
    "transformers.pytorch_utils.Conv1D": QuantizedClass(
        weight=True, activation=1, instance_of="torch.nn.modules.linear.Linear", transposed_weight_op="addmm"
    ),
    "transformers.models.falcon.modeling_falcon.FalconLinear": _WEIGHTED,
}
"""ModelOpt 0.47's quantized-module registry (the classes qrt has sites for), by
fully-qualified class. The RNN classes (``RNN``, ``LSTM``, ``GRU``) keep per-gate quantizers
that have no site of their own in qrt and are left out, as are the fused-expert classes."""


def converted_as(forward_classes: Sequence[str]) -> str | None:
    """The registry class ModelOpt converts a module as, or ``None`` if it leaves it alone.

    ``forward_classes`` are the classes of the module's MRO whose ``forward`` is the one its
    class runs, the class itself first (:attr:`~qrt.inventory.model.ModuleInfo.forward_classes`).
    ModelOpt's test (``_DMRegistryCls._get_registered_nn_class``) is ``issubclass(cls, R) and
    cls.forward is R.forward`` for the registered ``R``, tried in registration order: exactly
    membership of ``R`` in ``forward_classes``.
    """
    shared = set(forward_classes)
    for registered in REGISTRY:
        if registered in shared:
            return registered
    return None


_ROLE_NAMES = {"input": "input_quantizer", "output": "output_quantizer", "state": "weight_quantizer"}
_QRT_SUFFIX = {"input": "input_quantizer", "output": "output_quantizer"}


def modelopt_name(site: Site, forward_classes: Sequence[str] | None) -> str | None:
    """The name of the quantizer ModelOpt would create on ``site``, or ``None``.

    ``forward_classes`` describe the module that runs the site's op (``None`` when the
    inventory does not list it: then only the attention names apply). See the module
    docstring for the mapping; module-level sites never have a ModelOpt name.
    """
    bmm = [a for a in site.aliases if a.endswith("_bmm_quantizer")]
    if bmm:
        return bmm[0]
    if site.fused is not None:
        # a fused experts module: ModelOpt's ``_QuantFusedExperts`` (registered on the fly for
        # every such module) names its quantizers as qrt's paths do
        return site.quantizer_path
    if site.op_name is None or forward_classes is None:
        return None
    registered = converted_as(forward_classes)
    if registered is None:
        return None
    kind = REGISTRY[registered]
    wanted = {"input": kind.activation, "output": 0, "state": "weight" if kind.weight else None}
    if site.role not in wanted or site.key != wanted[site.role]:
        return None
    prefix = f"{site.module}." if site.module else ""
    # only the one op the module's forward runs is named after the module (qrt's path
    # ``<m>.input_quantizer``, ``<m>.input_quantizer_1`` for operand 1 …); any other op of a
    # converted module is not where ModelOpt's quantizer sits
    if site.role == "state":
        qrt_name = f"{prefix}weight_quantizer"
    else:
        base = _QRT_SUFFIX[site.role]
        qrt_name = f"{prefix}{base}" if site.key == 0 else f"{prefix}{base}_{site.key}"
    if site.quantizer_path != qrt_name:
        return None
    return f"{prefix}{_ROLE_NAMES[site.role]}"


def modelopt_class(module_type: str, forward_classes: Sequence[str] | None) -> str:
    """The class a ``parent_class`` is compared with for a quantizer of this module: the class
    ModelOpt's converted module is an instance of, where that is another registry class
    (``Conv1D`` becomes ``nn.Linear``'s), else the module's own class — exact, as ModelOpt's
    ``isinstance`` against ``QuantModuleRegistry[name]`` (the class generated for exactly that
    class; a forward-inheriting subclass gets one of its own) is."""
    registered = converted_as(forward_classes) if forward_classes is not None else None
    instance_of = REGISTRY[registered].instance_of if registered is not None else None
    return instance_of if instance_of is not None else module_type


TRANSPOSED_WEIGHT_OPS: frozenset[str] = frozenset(
    k.transposed_weight_op for k in REGISTRY.values() if k.transposed_weight_op is not None
)
"""The op types whose weight ModelOpt quantizes transposed (``addmm``, run by ``Conv1D``): in
ModelOpt's universe only a registry class that transposes its weight runs one of these on its
``weight_quantizer`` (the others run ``linear``, ``conv*`` or ``embedding``), so op type and
role select exactly the sites whose frame differs — the selector the wildcard compiler uses."""


def weight_transposed(site: Site) -> bool:
    """Whether ModelOpt applies a list's attributes to the transpose of this site's stored
    tensor (the ``weight_quantizer`` of a ``Conv1D``): then a list's ``axis``/``block_sizes``
    are translated between the frames (docs/semantics.md §4; a plan stores the stored tensor's axes)."""
    return site.modelopt_name is not None and site.role == "state" and site.op_type in TRANSPOSED_WEIGHT_OPS


