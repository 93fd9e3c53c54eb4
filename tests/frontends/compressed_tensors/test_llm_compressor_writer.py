"""``qrt convert --to llm-compressor``: a plan written as an llm-compressor recipe, read back
through qrt's recipe front end and resolved equal on the model (llm-compressor's default
observers aside, which the recipe's header names); a preset where it resolves to exactly the
same specs; a refusal naming what a recipe cannot hold.

With ``QRT_LLM_COMPRESSOR_PYTHON`` set to a Python that has llm-compressor (its own venv: the
suite does not depend on it), llm-compressor itself parses each written recipe and resolves its
modifier (``QuantizationMixin.resolve_quantization_config``) to the same groups, target by
target and spec by spec, as qrt's reading.
"""

from __future__ import annotations

import json
import os
import subprocess
from functools import cache
from pathlib import Path

import pytest

from qrt.frontends.compressed_tensors import compressed_tensors_from_data
from qrt.frontends.compressed_tensors.recipe import recipe_from_text
from qrt.frontends.source import rule_source_from_text
from qrt.inventory.model import Inventory
from qrt.tools.convert import ConvertError, convert

ROLES = ("weights", "input_activations", "output_activations")


@cache
def llama() -> Inventory:
    from qrt.model_inventory import load_model_inventory

    return load_model_inventory("tiny_llama")


SOURCES = {
    "w4.qrt": "op linear weight -> int4 symmetric per_block(8, axis=1) qparam_calculator=static\n",
    "fp8.yaml": "config_groups:\n  FP8_DYNAMIC: [Linear]\nignore: [lm_head]\n",
    "mixed.yaml": ("config_groups:\n  W8A8: [Linear]\n"
                   "  g1:\n    targets: ['re:.*down_proj$']\n"
                   "    weights: {num_bits: 4, type: int, symmetric: false, strategy: group, group_size: 8}\n"
                   "ignore: [lm_head]\n"),
}


@cache
def written(name: str) -> str:
    suffix = "." + name.rpartition(".")[2]
    return convert(rule_source_from_text(SOURCES[name], label=name, suffix=suffix), "llm-compressor", llama())


def test_written_recipes_read_back_as_llm_compressor_recipes() -> None:
    w4 = written("w4.qrt")
    assert "QuantizationModifier" in w4 and "config_groups" in w4 and "memoryless_minmax" in w4.split("quant_stage")[0]
    assert "scheme: FP8_DYNAMIC" in written("fp8.yaml")  # the preset resolves to the same specs
    mixed = recipe_from_text(written("mixed.yaml"), file="mixed").configs[0]
    assert len(mixed.groups) == 2 and not any(g.preset for g in mixed.groups)


def test_what_a_recipe_cannot_hold_is_refused() -> None:
    source = rule_source_from_text("op add input -> int8 per_tensor\n", label="add.qrt", suffix=".qrt")
    with pytest.raises(ConvertError, match=r"(?s)no llm-compressor equivalent.*add input in a RMSNorm"):
        convert(source, "llm-compressor", llama())
    with pytest.raises(ConvertError, match="per model"):
        convert(rule_source_from_text(SOURCES["w4.qrt"], label="w4.qrt", suffix=".qrt"), "llm-compressor")


_LLMC = """
import json, sys
from llmcompressor.recipe import Recipe
out = {}
for path in sys.argv[2:]:
    recipe = Recipe.create_instance(path)
    out[path] = [json.loads(m.resolve_quantization_config().model_dump_json()) for m in recipe.modifiers]
open(sys.argv[1], "w").write(json.dumps(out))
"""


@pytest.mark.skipif(not os.environ.get("QRT_LLM_COMPRESSOR_PYTHON"),
                    reason="set QRT_LLM_COMPRESSOR_PYTHON to a Python with llm-compressor (slow: ~10-40 s)")
def test_llm_compressor_resolves_the_written_recipes_alike(tmp_path: Path) -> None:
    paths = []
    for name in SOURCES:
        path = tmp_path / f"{name}.recipe.yaml"
        path.write_text(written(name))
        paths.append(str(path))
    script, result = tmp_path / "parse.py", tmp_path / "out.json"
    script.write_text(_LLMC)
    subprocess.run([os.environ["QRT_LLM_COMPRESSOR_PYTHON"], str(script), str(result), *paths], check=True,
                   capture_output=True, timeout=600)
    theirs = json.loads(result.read_text())
    for path in paths:
        ours = recipe_from_text(Path(path).read_text(), file=path).configs
        assert len(theirs[path]) == len(ours) == 1
        a = compressed_tensors_from_data(theirs[path][0]).target_to_scheme()
        b = ours[0].target_to_scheme()
        assert list(a) == list(b), path
        for target in a:
            for role in ROLES:
                assert a[target].spec(role) == b[target].spec(role), (path, target, role)


def test_dsl_to_recipe_to_dsl_resolves_alike_but_for_the_default_observer() -> None:
    from qrt.api import resolve
    from qrt.tools.to_llm_compressor import same_but_default_observer

    original = rule_source_from_text(SOURCES["w4.qrt"], label="w4.qrt", suffix=".qrt")
    recipe = rule_source_from_text(written("w4.qrt"), label="recipe.yaml", suffix=".yaml")
    back = rule_source_from_text(convert(recipe, "dsl", llama()), label="back.qrt", suffix=".qrt")
    before, after = resolve(original, llama()), resolve(back, llama())
    pairs = [(before.spec(a), after.spec(b)) for a, b in zip(before.decisions, after.decisions)]
    assert all(same_but_default_observer(x, y) for x, y in pairs)
    assert any(x is not None and x != y for x, y in pairs)  # the observer llm-compressor adds is there
