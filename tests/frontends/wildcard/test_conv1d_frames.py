"""A ModelOpt list on transformers' ``Conv1D`` (GPT-2): axes in ModelOpt's frame, plans in the
stored one (docs/semantics.md §3, §4; issue 17).

ModelOpt's conversion transposes a ``Conv1D``'s ``(in, out)`` weight to ``(out, in)`` and
applies ``axis``/``block_sizes`` there, so ``axis: 0`` is per output feature. qrt stores axes
on the tensor as stored: ``axis: 0`` becomes axis 1 of the ``(in, out)`` weight, blocks along
``-1`` (the input features) become blocks along ``-2``. These tests need no ModelOpt: they
check the translation on a traced tiny GPT-2, that the eager runtime's scales then follow the
output features, and that converting back writes what the list said.
``test_against_modelopt.py`` checks the same lists against ModelOpt 0.47 itself.
"""

from __future__ import annotations

import warnings
from functools import cache
from typing import Any

import pytest
from hypothesis import given, settings

from qrt.api import as_inventory, resolve
from qrt.frontends.source import WildcardSource
from qrt.frontends.wildcard import wildcard_from_data, wildcard_from_text
from qrt.frontends.wildcard.spec_map import (
    attributes_for_site,
    attributes_from_spec,
    normalise_attributes,
    spec_from_attributes,
    transposed_attributes,
)
from qrt.inventory.model import Inventory
from qrt.inventory.modelopt import weight_transposed
from qrt.ir.spec import PerBlock, PerChannel
from tests.frontends.wildcard.test_spec_map import attribute_dicts

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

C_ATTN = "transformer.h.0.attn.c_attn.weight_quantizer"
"""A ``Conv1D`` weight: stored ``(16, 48)``, ``(in, out)``."""
LM_HEAD = "lm_head.weight_quantizer"
"""An ``nn.Linear`` weight, ``(out, in)``: the frames agree, nothing is translated."""


def gpt2() -> tuple[Any, Any]:
    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = transformers.GPT2LMHeadModel(transformers.GPT2Config(
            vocab_size=64, n_embd=16, n_layer=1, n_head=2, n_positions=32, bos_token_id=0, eos_token_id=0))
    return model.eval(), torch.randint(0, 64, (2, 6))


@cache
def inventory() -> Inventory:
    model, ids = gpt2()
    return as_inventory(model, ids)


def _specs(quant_cfg: list[dict[str, Any]]) -> dict[str, Any]:
    plan = resolve(wildcard_from_data(quant_cfg), inventory())
    return {d.site.quantizer_path: plan.spec(d) for d in plan.decisions}


def test_only_conv1d_weights_are_seen_transposed() -> None:
    transposed = {s.quantizer_path for s in inventory().sites if weight_transposed(s)}
    assert transposed == {f"transformer.h.0.{m}.weight_quantizer" for m in ("attn.c_attn", "attn.c_proj", "mlp.c_fc", "mlp.c_proj")}


def test_a_lists_axes_land_on_the_stored_conv1d_weight() -> None:
    """The role default (axis 0 in ModelOpt's frame), an explicit axis, and blocks along the
    input features: on ``Conv1D`` the other dimension of the stored weight, on ``Linear`` the same."""
    default = _specs([])
    assert default[C_ATTN].granularity == PerChannel(axis=1)  # per output feature: 48 of them
    assert default[LM_HEAD].granularity == PerChannel(axis=0)
    rows = _specs([{"quantizer_name": "*weight_quantizer", "cfg": {"num_bits": 8, "axis": -1}}])
    assert rows[C_ATTN].granularity == PerChannel(axis=-2) and rows[LM_HEAD].granularity == PerChannel(axis=-1)
    blocks = _specs([{"quantizer_name": "*weight_quantizer", "cfg": {"num_bits": 4, "block_sizes": {-1: 8}}}])
    assert blocks[C_ATTN].granularity == PerBlock(axis=-2, block_size=8)
    assert blocks[LM_HEAD].granularity == PerBlock(axis=-1, block_size=8)
    # a per-tensor cfg, and the activation of a Conv1D, are the same in both frames
    flat = _specs([{"quantizer_name": "*", "cfg": {"num_bits": 8, "axis": None}}])
    assert flat[C_ATTN].granularity.type == "per_tensor"
    assert _specs([{"quantizer_name": "*input_quantizer", "cfg": {"num_bits": 8, "axis": 0}}])[
        "transformer.h.0.attn.c_attn.input_quantizer_1"].granularity == PerChannel(axis=0)


def test_parent_class_reaches_the_translated_rule_too() -> None:
    """The translation keeps the entry's ``parent_class``: ``nn.Linear`` reaches ``Conv1D``
    (ModelOpt converts it into that class), ``nn.Embedding`` does not."""
    linear = _specs([{"quantizer_name": "*weight_quantizer", "parent_class": "nn.Linear", "cfg": {"num_bits": 4, "axis": 0}}])
    assert linear[C_ATTN].dtype == "int4" and linear[C_ATTN].granularity == PerChannel(axis=1)
    other = _specs([{"quantizer_name": "*weight_quantizer", "parent_class": "nn.Embedding", "cfg": {"num_bits": 4, "axis": 1}}])
    assert other[C_ATTN].dtype == "int8" and other[C_ATTN].granularity == PerChannel(axis=1)


def test_eager_scales_follow_the_output_features() -> None:
    """Prepared and calibrated with a preset and with ``set_quantizer_by_cfg``: the per-channel
    scales of a ``Conv1D`` weight have one entry per output feature (48 for ``c_attn``), the
    blocks run along its input features (16 / 8 = 2 blocks per output feature)."""
    from qrt.runtime.quant.modelopt_cfg import set_quantizer_by_cfg
    from qrt.runtime.quant.quantizer import Quantizer

    model, ids = gpt2()
    q = Quantizer(model, "modelopt:INT8_DEFAULT_CFG")
    q.prepare((ids,))
    with q.calibration_mode():
        model(ids)
    scale = model.get_submodule(C_ATTN).scale
    assert scale.numel() == 48 and scale.shape[-1] == 48, scale.shape
    assert model.get_submodule(LM_HEAD).scale.numel() == 0 or model.get_submodule(LM_HEAD).scale.shape[0] == 64
    set_quantizer_by_cfg(model, [{"quantizer_name": "*weight_quantizer", "cfg": {"num_bits": 4, "block_sizes": {-1: 8}}}])
    with q.calibration_mode():
        model(ids)
    quantizer = model.get_submodule(C_ATTN)
    assert quantizer.spec.granularity == PerBlock(axis=-2, block_size=8)
    assert quantizer.scale.numel() == 2 * 48, quantizer.scale.shape
    out = model(ids).logits
    assert torch.isfinite(out).all()


def test_converting_the_plan_back_writes_what_the_list_said() -> None:
    """``qrt convert --to quant-cfg --model`` writes each site's spec in ModelOpt's frame:
    the ``Conv1D`` and ``Linear`` weights get the ``axis: 0`` the list said (one cfg, not a
    second ``axis: 1`` one), the blocks ``-1: 8``; resolving the written list gives the same plan."""
    from qrt.tools.convert import convert

    quant_cfg = [
        {"quantizer_name": "*", "enable": False},
        {"quantizer_name": "*weight_quantizer", "cfg": {"num_bits": 4, "axis": 0}},
        {"quantizer_name": "*mlp*weight_quantizer", "cfg": {"num_bits": 4, "block_sizes": {-1: 8}}},
    ]
    text = convert(WildcardSource(wildcard_from_data(quant_cfg[1:])), "quant-cfg", inventory())
    written = wildcard_from_text(text, file="<converted>").to_list()
    assert written == quant_cfg[1:]  # a list source is written as it is
    from qrt.frontends.dsl import parse_rules
    from qrt.frontends.source import DslSource

    dsl = convert(WildcardSource(wildcard_from_data(quant_cfg)), "dsl", inventory())
    back = convert(DslSource(parse_rules(dsl, file="<dsl>")), "quant-cfg", inventory())
    cfgs = [e.get("cfg") for e in wildcard_from_text(back, file="<back>").to_list()]
    assert [c for c in cfgs if c] and all(c in ({"num_bits": 4, "axis": 0}, {"num_bits": 4, "block_sizes": {-1: 8}}) for c in cfgs if c), cfgs
    plan = resolve(wildcard_from_text(back, file="<back>"), inventory())
    assert {d.site.quantizer_path: plan.spec(d) for d in plan.decisions} == _specs(quant_cfg)


@settings(max_examples=150, deadline=None)
@given(attribute_dicts())
def test_the_translation_is_exact_both_ways(cfg: dict[str, Any]) -> None:
    """Transposing twice is the identity, and mapping with the frame and back gives the
    attributes written (``axis: -1`` stays ``-1``)."""
    full = normalise_attributes(cfg)
    assert transposed_attributes(transposed_attributes(full)) == full
    spec = spec_from_attributes(cfg, transposed=True)
    assert attributes_from_spec(spec, transposed=True) == full
    site = next(s for s in inventory().sites if s.quantizer_path == C_ATTN)
    assert attributes_for_site(spec, site) == full


def test_lint_takes_the_translation_for_part_of_its_entry(tmp_path: Any) -> None:
    """The translation is the entry's own, not a rule of the user's: an entry reaching only
    ``Conv1D`` weights is not reported as replaced by it (QRT021), and on a model without
    ``Conv1D`` the translation selecting nothing is not reported (QRT020)."""
    from qrt.lint.run import lint
    from qrt.model_inventory import load_model_inventory

    path = tmp_path / "c_attn.yaml"
    path.write_text("quant_cfg:\n- quantizer_name: '*c_attn.weight_quantizer'\n  cfg: {num_bits: 4, axis: 0}\n")
    assert [f.code for f in lint([str(path)], inventory()).findings] == []
    path.write_text("quant_cfg:\n- quantizer_name: '*proj.weight_quantizer'\n  cfg: {num_bits: 4, block_sizes: {-1: 16}}\n")
    assert [f.code for f in lint([str(path)], load_model_inventory("tiny_llama")).findings] == []


def test_explain_shows_the_translation_with_its_entry() -> None:
    """``explain`` on a ``Conv1D`` weight: the entry's set in ModelOpt's frame, then the rule
    that decides, naming the entry and what it did."""
    from qrt.api import explain
    from qrt.tools.explain_text import render_explanations

    quant_cfg = [{"quantizer_name": "*c_attn.weight_quantizer", "cfg": {"num_bits": 4, "axis": 0}}]
    text = render_explanations(explain(wildcard_from_data(quant_cfg), inventory(), queries=[C_ATTN]))
    assert "per_channel(axis=0)" in text and "per_channel axis=1" in text
    assert "(quant_cfg[0]): its axes on the stored (in, out) weight" in text
