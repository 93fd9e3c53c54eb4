"""A checkpoint of transformers' own quantizers (``quant_method`` ``awq``, ``bitsandbytes``,
``gptq`` in ``config.json``) as rules: which Linear modules transformers converts, and to what.

AWQ (``transformers/quantizers/quantizer_awq.py``, ``integrations/awq.py``
``replace_with_awq_linear``): every module of ``named_modules()`` that is an ``nn.Linear`` and
that ``should_convert_module(name, modules_to_not_convert)`` keeps is replaced by a packed
AWQ linear. The list is the config's ``modules_to_not_convert`` **plus** transformers'
defaults (``get_modules_to_not_convert(..., add_default_skips=True)``: ``get_keys_to_not_convert``
— tied weights, the last parameter's module, the output embeddings) **plus** the model class's
``_keep_in_fp32_modules``. The weights are AutoAWQ's: ``bits``-bit integers in groups of
``group_size`` along the input features (``-1``: one group per output row) with a zero point
when ``zero_point`` is true, the range of each group its min and max — not widened to include
zero, as qrt's asymmetric integers are — so the spec carries ``range_includes_zero: false``
and a qrt runtime refuses it rather than quantize differently. Activations stay float.

bitsandbytes (NF4/FP4 blocks of 64 with absmax scales; LLM.int8's outlier decomposition) has no
exact qrt reading: refused, naming why. GPTQ is read by :mod:`.gptq_checkpoint`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from qrt.frontends.compressed_tensors.errors import CompressedTensorsConfigError
from qrt.frontends.compressed_tensors.match import module_views
from qrt.frontends.compressed_tensors.transformers_skips import default_not_convert, keep_in_fp32, should_convert
from qrt.inventory.model import Inventory
from qrt.ir.effect import Off, Set
from qrt.ir.origin import Origin
from qrt.ir.rule import Rule, RuleSet
from qrt.ir.selector import Selector
from qrt.ir.site import Site
from qrt.ir.spec import PerBlock, PerChannel, QuantizationSpec
from qrt.frontends.rule_source import InventoryKey

if TYPE_CHECKING:
    from qrt.resolver.plan import Plan

__all__ = ["METHODS", "AwqSource", "read_method"]

METHODS = ("awq", "bitsandbytes", "gptq")
AWQ_KEYS = ("zero_point", "modules_to_not_convert", "quant_method", "bits", "tokenizer", "dataset", "group_size",
            "damp_percent", "desc_act", "act_group_aware", "sym", "true_sequential", "format", "meta", "backend",
            "model_seqlen", "block_name_to_quantize", "module_name_preceding_first_block", "batch_size",
            "pad_token_id", "max_input_length", "cache_block_outputs", "modules_in_block_to_quantize", "version",
            "use_exllama", "exllama_config", "do_fuse", "fuse_max_seq_len", "modules_to_fuse")
"""``AwqConfig.to_dict()``'s keys (transformers 5; ``AwqConfig`` extends ``GPTQConfig``) and
AutoAWQ's older ones: the settings of the calibration that made the checkpoint, or of the
kernels that run it; only ``bits``, ``group_size``, ``zero_point`` and
``modules_to_not_convert`` say which tensor is what."""


@dataclass(frozen=True)
class AwqCheckpoint:
    weight: QuantizationSpec
    skip: tuple[str, ...] | None
    origin: Origin
    skip_origin: Origin


def read_method(data: Mapping[str, Any], file: str) -> AwqCheckpoint:
    """A ``quantization_config`` of transformers' quantizers; AWQ read, the others refused."""
    method = data.get("quant_method")
    if method == "bitsandbytes":
        what = "NF4/FP4 (blocks of 64, absmax scales)" if data.get("load_in_4bit") or data.get("_load_in_4bit") else \
            "LLM.int8 (int8 rows plus float outlier columns above llm_int8_threshold)"
        raise CompressedTensorsConfigError(
            f"quant_method 'bitsandbytes': {what} has no exact qrt spec", location=file,
            hint="qrt reads compressed-tensors, torchao, ModelOpt and AWQ checkpoints")
    if method == "gptq":
        raise CompressedTensorsConfigError(
            "quant_method 'gptq' is no AWQ config: read it with gptq_checkpoint.read_gptq", location=file)
    for key in data:
        if key not in AWQ_KEYS:
            raise CompressedTensorsConfigError(f"quantization_config.{key}: not a key of transformers' AwqConfig",
                                               location=file)
    bits, group, zero = data.get("bits", 4), data.get("group_size", 128), data.get("zero_point", True)
    if bits not in (2, 3, 4, 5, 6, 7, 8):
        raise CompressedTensorsConfigError(f"quantization_config.bits {bits!r}: qrt has int2 to int8", location=file)
    if not isinstance(group, int) or isinstance(group, bool) or (group <= 0 and group != -1):
        raise CompressedTensorsConfigError(f"quantization_config.group_size {group!r}: a positive integer or -1",
                                           location=file)
    skip = data.get("modules_to_not_convert")
    if skip is not None and (not isinstance(skip, list) or not all(isinstance(s, str) for s in skip)):
        raise CompressedTensorsConfigError(f"modules_to_not_convert: a list of module names or null, got {skip!r}",
                                           location=file)
    granularity = PerChannel(axis=0) if group == -1 else PerBlock(axis=1, block_size=group)
    weight = QuantizationSpec(dtype=f"int{bits}", qscheme="asymmetric" if zero else "symmetric",
                              granularity=granularity, qparam_calculator="static",
                              extras=(("range_includes_zero", "false"),) if zero else ())
    return AwqCheckpoint(weight, None if skip is None else tuple(skip),
                         Origin(file=file, config_path="quantization_config (awq)"),
                         Origin(file=file, config_path="modules_to_not_convert"))


@dataclass
class AwqSource:
    """The rules of an AWQ checkpoint on one inventory (module docstring)."""

    config: AwqCheckpoint
    label: str = "AWQ checkpoint"
    checkpoint: str | None = None
    _compiled: dict[InventoryKey, RuleSet] = field(default_factory=dict)

    def skipped(self, inv: Inventory) -> tuple[str, ...]:
        return (*(self.config.skip or ()), *default_not_convert(inv), *keep_in_fp32(inv))

    def rules_for(self, inv: Inventory) -> RuleSet:
        key = InventoryKey(inv)
        if key not in self._compiled:
            skip = self.skipped(inv)
            rules = []
            for view in module_views(inv):
                if view.kind != "linear":
                    continue
                escaped = re.escape(view.name)
                hit = should_convert(view.name, skip)
                weight = Selector(module_name=escaped, op_type="linear", role="state", key="weight")
                if hit is None:
                    rules.append(Rule(weight, Set(self.config.weight), (1,), origin=self.config.origin))
                else:
                    rules.append(Rule(weight, Off(), (2,), origin=self.config.skip_origin))
            self._compiled[key] = RuleSet.of(rules)
        return self._compiled[key]

    def check(self, plan: Plan) -> None:
        return None

    def notes(self, site: Site, inv: Inventory) -> list[str]:
        if site.op_type != "linear":
            return []
        hit = should_convert(site.module, self.skipped(inv))
        if hit is None:
            return [f"transformers (AWQ): {site.module} is an nn.Linear no modules_to_not_convert entry names: "
                    "replaced by an AWQ linear (replace_with_awq_linear); its input stays float"]
        return [f"transformers (AWQ): modules_to_not_convert entry {hit!r} keeps {site.module} float (the config's "
                "list, get_keys_to_not_convert's defaults and _keep_in_fp32_modules, should_convert_module)"]
