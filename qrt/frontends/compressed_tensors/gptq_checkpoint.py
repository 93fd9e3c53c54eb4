"""A GPTQ checkpoint (``quant_method: gptq`` in ``config.json``) as rules: which Linears
transformers converts, and to what format.

transformers 5 loads a GPTQ checkpoint through optimum (``transformers/quantizers/quantizer_gptq.py``:
``GPTQQuantizer.from_dict(config.to_dict_optimum())``, then ``convert_model``). optimum's
``optimum/gptq/quantizer.py`` ``GPTQQuantizer.convert_model`` decides which modules become
GPTQ ``QuantLinear``s:

1. the block: ``block_name_to_quantize``, or the first of ``BLOCK_PATTERNS``
   (``optimum/gptq/constants.py``: ``transformer.h``, ``model.decoder.layers``,
   ``gpt_neox.layers``, ``model.layers``) that some module name starts with
   (``get_block_name_with_pattern``);
2. every ``nn.Linear``, ``Conv1D`` and ``nn.Conv2d`` whose name **starts with** that string
   (``get_layers(model, prefix=block_name)``, a plain string prefix; it does not look inside a
   layer it took) — so ``lm_head`` and the embeddings stay float, and no
   ``modules_to_not_convert`` is read;
3. with ``modules_in_block_to_quantize`` (a list of lists), only the names that **end with**
   one of its entries.

The format of each converted weight: ``bits``-bit integers in groups of ``group_size`` along the
input features (``-1``: one group per output row); ``sym: true`` is the symmetric grid
(GPTQ's ``Quantizer.find_params``: scale ``2·absmax/(2^bits − 1)`` with the zero point at
``2^(bits−1)``, which is torchao's symmetric mapping that qrt's integers use), ``sym: false`` the
asymmetric one with the range widened to include zero (``xmin = min(x.min, 0)``), as qrt's.
The spec states the format, not GPTQ's error-compensating rounding (``qparam_calculator=static``,
as for AWQ). Refused, naming why: ``desc_act`` with groups (act-order assigns columns to groups
through ``g_idx``, not in contiguous blocks), ``lm_head: true`` (gptqmodel's quantized head,
which transformers' path does not convert), a ``Conv1D``/``Conv2d`` in the block (qrt reads GPTQ
on ``nn.Linear``), bits outside optimum's 2, 3, 4, 8, and a key of neither
``GPTQConfig`` nor gptqmodel's ``QuantizeConfig``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from qrt.frontends.compressed_tensors.errors import CompressedTensorsConfigError
from qrt.frontends.compressed_tensors.match import module_views
from qrt.frontends.rule_source import InventoryKey
from qrt.inventory.model import Inventory
from qrt.ir.effect import Set
from qrt.ir.origin import Origin
from qrt.ir.rule import Rule, RuleSet
from qrt.ir.selector import Selector
from qrt.ir.site import Site
from qrt.ir.spec import PerBlock, PerChannel, QuantizationSpec

if TYPE_CHECKING:
    from qrt.resolver.plan import Plan

__all__ = ["BLOCK_PATTERNS", "GptqCheckpoint", "GptqSource", "converted_modules", "read_gptq"]

BLOCK_PATTERNS = ("transformer.h", "model.decoder.layers", "gpt_neox.layers", "model.layers")
"""``optimum/gptq/constants.py``: tried in order by ``get_block_name_with_pattern``."""

GPTQ_KEYS = (
    # transformers' GPTQConfig.to_dict()
    "quant_method", "bits", "tokenizer", "dataset", "group_size", "damp_percent", "desc_act", "act_group_aware",
    "sym", "true_sequential", "format", "meta", "backend", "model_seqlen", "block_name_to_quantize",
    "module_name_preceding_first_block", "batch_size", "pad_token_id", "max_input_length", "cache_block_outputs",
    "modules_in_block_to_quantize", "use_exllama", "exllama_config", "use_cuda_fp16", "checkpoint_format",
    "disable_exllama",
    # gptqmodel's / AutoGPTQ's quantize_config copied into config.json
    "static_groups", "lm_head", "damp_auto_increment", "pack_dtype", "mse", "v2", "v2_alpha", "quantizer", "uri",
    "is_marlin_format", "model_name_or_path", "model_file_base_name", "adapter", "rotation", "hyb_act",
)
_LINEAR = "torch.nn.modules.linear.Linear"
_OTHER_LAYERS = ("transformers.pytorch_utils.Conv1D", "torch.nn.modules.conv.Conv2d")


@dataclass(frozen=True)
class GptqCheckpoint:
    weight: QuantizationSpec
    block: str | None
    """``block_name_to_quantize`` as written (``None``: found by pattern)"""
    in_block: tuple[str, ...] | None
    """``modules_in_block_to_quantize``, flattened"""
    origin: Origin


def read_gptq(data: Mapping[str, Any], file: str) -> GptqCheckpoint:
    """A ``quant_method: gptq`` ``quantization_config`` (module docstring)."""
    for key in data:
        if key not in GPTQ_KEYS:
            raise CompressedTensorsConfigError(
                f"quantization_config.{key}: not a key of transformers' GPTQConfig or gptqmodel's quantize config",
                location=file)
    bits, group = data.get("bits", 4), data.get("group_size", 128)
    if bits not in (2, 3, 4, 8):
        raise CompressedTensorsConfigError(f"quantization_config.bits {bits!r}: optimum's GPTQ takes 2, 3, 4 or 8",
                                           location=file)
    if not isinstance(group, int) or isinstance(group, bool) or (group <= 0 and group != -1):
        raise CompressedTensorsConfigError(f"quantization_config.group_size {group!r}: a positive integer or -1",
                                           location=file)
    if data.get("desc_act") and group != -1:
        raise CompressedTensorsConfigError(
            "quantization_config.desc_act: act-order assigns each input column to a group through g_idx, not in "
            f"contiguous blocks of {group}: no qrt granularity says that", location=file,
            hint="qrt reads GPTQ checkpoints without act-order, or with group_size -1")
    if data.get("lm_head"):
        raise CompressedTensorsConfigError(
            "quantization_config.lm_head: true: gptqmodel quantized the head, which transformers' GPTQ path "
            "(optimum's convert_model, the blocks only) does not convert", location=file)
    block = data.get("block_name_to_quantize")
    if block is not None and not isinstance(block, str):
        raise CompressedTensorsConfigError(f"block_name_to_quantize: a module name, got {block!r}", location=file)
    nested = data.get("modules_in_block_to_quantize")
    in_block = None
    if nested is not None:
        if not (isinstance(nested, list) and all(isinstance(x, list) and all(isinstance(s, str) for s in x)
                                                 for x in nested)):
            raise CompressedTensorsConfigError(
                f"modules_in_block_to_quantize: a list of lists of module names, got {nested!r}", location=file)
        in_block = tuple(s for x in nested for s in x)
    granularity = PerChannel(axis=0) if group == -1 else PerBlock(axis=1, block_size=group)
    weight = QuantizationSpec(dtype=f"int{bits}", qscheme="symmetric" if data.get("sym", True) else "asymmetric",
                              granularity=granularity, qparam_calculator="static")
    return GptqCheckpoint(weight, block, in_block, Origin(file=file, config_path="quantization_config (gptq)"))


def converted_modules(config: GptqCheckpoint, inv: Inventory) -> tuple[str, dict[str, str]]:
    """The block name and, for every module ``convert_model`` takes, why (or raises on one qrt
    cannot read)."""
    views = module_views(inv)
    names = [v.name for v in views]
    block = config.block
    if block is None:
        block = next((p for p in BLOCK_PATTERNS if any(n.startswith(p) for n in names)), None)
        if block is None:
            raise CompressedTensorsConfigError(
                f"no module name starts with one of optimum's block patterns ({', '.join(BLOCK_PATTERNS)}): "
                "transformers fails to load this GPTQ checkpoint (get_block_name_with_pattern)",
                location=config.origin.file, hint="the checkpoint's block_name_to_quantize names the block")
    taken: dict[str, str] = {}
    inside: list[str] = []
    for view in views:
        if any(view.name.startswith(p + ".") for p in inside):
            continue  # get_layers does not look inside a layer it took
        layer = _LINEAR in view.classes or any(c in view.classes for c in _OTHER_LAYERS)
        if not layer or not view.name.startswith(block):
            continue
        inside.append(view.name)
        if config.in_block is not None and not any(view.name.endswith(m) for m in config.in_block):
            continue
        if _LINEAR not in view.classes:
            raise CompressedTensorsConfigError(
                f"{view.name} ({view.classes[0]}) is in the GPTQ block {block!r}: optimum converts it too, and qrt "
                "reads GPTQ on nn.Linear only", location=config.origin.file)
        taken[view.name] = (f"its name starts with the block {block!r}"
                            + (" and ends with a modules_in_block_to_quantize entry" if config.in_block else ""))
    return block, taken


@dataclass
class GptqSource:
    """The rules of a GPTQ checkpoint on one inventory (module docstring)."""

    config: GptqCheckpoint
    label: str = "GPTQ checkpoint"
    checkpoint: str | None = None
    _compiled: dict[InventoryKey, RuleSet] = field(default_factory=dict)

    def rules_for(self, inv: Inventory) -> RuleSet:
        key = InventoryKey(inv)
        if key not in self._compiled:
            _, taken = converted_modules(self.config, inv)
            rules = []
            for module in taken:
                weight = Selector(module_name=re.escape(module), op_type="linear", role="state", key="weight")
                rules.append(Rule(weight, Set(self.config.weight), (1,), origin=self.config.origin))
            self._compiled[key] = RuleSet.of(rules)
        return self._compiled[key]

    def check(self, plan: Plan) -> None:
        return None

    def notes(self, site: Site, inv: Inventory) -> list[str]:
        if site.op_type != "linear":
            return []
        block, taken = converted_modules(self.config, inv)
        if site.module in taken:
            return [f"transformers (GPTQ, optimum's convert_model): {site.module} {taken[site.module]}: replaced by a "
                    "GPTQ QuantLinear; its input stays float"]
        return [f"transformers (GPTQ, optimum's convert_model): {site.module} is not converted (outside the block "
                f"{block!r}" + (" or not in modules_in_block_to_quantize)" if self.config.in_block else ")")]
