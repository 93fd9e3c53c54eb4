"""llm-compressor recipes: quantization modifiers resolved to compressed-tensors configs as
``QuantizationMixin.resolve_quantization_config`` does, applied in order; algorithm modifiers
recorded and reported, not run; what llm-compressor would skip silently is refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from qrt.api import explain, resolve
from qrt.frontends.compressed_tensors import CompressedTensorsConfigError
from qrt.frontends.compressed_tensors.recipe import recipe_from_text
from qrt.frontends.source import load_rule_source

torch = pytest.importorskip("torch")

GPTQ = """\
quant_stage:
  quant_modifiers:
    SmoothQuantModifier:
      smoothing_strength: 0.8
    GPTQModifier:
      targets: Linear
      scheme: W4A16
      ignore: ["lm_head"]
      dampening_frac: 0.01
"""

TWO = """\
first_stage:
  first_modifiers:
    QuantizationModifier:
      scheme: {W8A16: ["Linear"]}
second_stage:
  second_modifiers:
    QuantizationModifier:
      config_groups:
        g: {targets: ["re:.*mlp.*"], weights: {num_bits: 4, strategy: group, group_size: 8}}
      ignore: ["re:.*down_proj"]
"""


@pytest.fixture(scope="module")
def inv():  # type: ignore[no-untyped-def]
    import qrt
    from qrt.runtime.examples import EXAMPLES

    example = EXAMPLES["tiny_llama"]
    return qrt.inspect_model(example.build(), *example.inputs(None, "cpu"))


def _spec(plan, path: str):  # type: ignore[no-untyped-def]
    return plan.spec(plan.decision(path))


def test_a_gptq_recipe_resolves_as_llm_compressor_builds_its_config(tmp_path: Path, inv) -> None:  # type: ignore[no-untyped-def]
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(GPTQ)
    plan = resolve(load_rule_source(recipe), inv)
    w = _spec(plan, "model.layers.0.mlp.down_proj.weight_quantizer")
    assert (w.dtype, w.granularity.block_size) == ("int4", 128)
    # the observer QuantizationMixin picks for weights, and GPTQ's default activation order
    assert w.extra_values() == {"actorder": "weight", "observer": "memoryless_minmax"}
    assert _spec(plan, "lm_head.weight_quantizer") is None
    assert _spec(plan, "model.layers.0.mlp.down_proj.input_quantizer") is None
    notes = explain(plan, queries=["model.layers.0.mlp.down_proj.weight_quantizer"])[0].notes
    assert any(n.startswith("recorded, not run: SmoothQuantModifier") and "smoothing_strength=0.8" in n for n in notes)
    assert any("GPTQModifier" in n and "dampening_frac=0.01" in n for n in notes)


def test_later_modifiers_remark_only_what_they_select(inv) -> None:  # type: ignore[no-untyped-def]
    from qrt.frontends.compressed_tensors.source import RecipeSource

    plan = resolve(RecipeSource(recipe_from_text(TWO, file="two.yaml")), inv)
    up = _spec(plan, "model.layers.0.mlp.up_proj.weight_quantizer")
    down = _spec(plan, "model.layers.0.mlp.down_proj.weight_quantizer")
    q = _spec(plan, "model.layers.0.self_attn.q_proj.weight_quantizer")
    assert up.dtype == "int4"  # the second modifier selects it
    assert down.dtype == q.dtype == "int8"  # ignored by the second: the first's scheme stays
    assert up.extra_values()["observer"] == "memoryless_minmax"


@pytest.mark.parametrize(("text", "message"), [
    ("quant_stage:\n  quant_modifiers:\n    QuantizationModifier: {scheme: W4A16}\nrecipe_version: 1\n",
     "'recipe_version': a recipe's top-level keys are stages"),
    ("quant_stage:\n  quant_modifiers:\n    QuantizatonModifier: {scheme: W4A16}\n", "unknown modifier"),
    ("quant_stage:\n  quant_modifiers:\n    QuantizationModifier: {scheme: W4A16, config_groups: {}}\n",
     "both scheme and config_groups"),
    ("quant_stage:\n  quant_modifiers:\n    QuantizationModifier: {scheme: W4A16, ignores: [lm_head]}\n",
     "unknown argument 'ignores'"),
    ("quant_stage:\n  quant_modifiers:\n    SmoothQuantModifier: {smoothing_strength: 0.5}\n", "no quantization modifier"),
    ("quant_stage:\n  quant_modifiers:\n    GPTQModifier:\n      actorder: weight\n      config_groups:\n"
     "        g: {targets: [Linear], weights: {num_bits: 4, group_size: 8, actorder: null}}\n"
     "    QuantizationModifier: {scheme: W9A16}\n", "'W9A16' is no preset scheme"),
])
def test_what_llm_compressor_skips_or_refuses_is_an_error(text: str, message: str) -> None:
    with pytest.raises(CompressedTensorsConfigError, match=message) as err:
        recipe_from_text(text, file="r.yaml")
    assert "r.yaml:" in str(err.value)
