"""Model-aware findings that were noise or wrong (issue 16, item 4): guards that only turn
sites off, bare class names, and configurations keyed to a module whose forward never runs.
Real models (tests/lint/models.py, the built-ins, a tiny Hugging Face Llama), real files."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import pytest

from qrt.errors import QrtError
from qrt.inventory.model import Inventory
from qrt.lint import Severity, lint
from qrt.resources import data_dir
from tests.lint import models
from tests.lint.support import assert_locations_exist

NVFP4 = data_dir("rules") / "modelopt" / "NVFP4_DEFAULT_CFG.yaml"


@cache
def builtin(name: str) -> Inventory:
    from qrt.model_inventory import load_model_inventory

    return load_model_inventory(name)


@cache
def hf_llama() -> Inventory:
    transformers = pytest.importorskip("transformers")
    import torch

    from qrt import inspect_model

    cfg = transformers.LlamaConfig(vocab_size=128, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                                   num_attention_heads=4, num_key_value_heads=2)
    torch.manual_seed(0)
    model = transformers.LlamaForCausalLM(cfg).eval()
    return inspect_model(model, torch.randint(0, 128, (2, 8)), use_cache=False)


def write(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def entry_text(path: str, line: int) -> str:
    """The list entry starting at ``line``: it and the indented lines after it."""
    lines = Path(path).read_text().splitlines()[line - 1:]
    out = lines[:1]
    for more in lines[1:]:
        if not more.startswith("  "):
            break
        out.append(more)
    return "\n".join(out)


# ---------------------------------------------------------------------------------------------
# Guards that only turn sites off


@pytest.mark.parametrize("inventory", [lambda: builtin("tiny_llama"), hf_llama], ids=["tiny_llama", "hf_llama"])
def test_nvfp4s_disable_only_guards_are_info_and_an_enabling_entry_is_a_warning(tmp_path: Path, inventory) -> None:  # type: ignore[no-untyped-def]
    inv = inventory()
    # ModelOpt's own preset, copied into a user's file (as it is shipped) …
    copied = write(tmp_path, "quant_cfg.yaml", NVFP4.read_text())
    result = lint([copied], inv)
    nothing = [f for f in result.findings if f.code == "QRT020"]
    assert len(nothing) >= 20, result.findings
    assert all(f.severity == Severity.INFO for f in nothing), [f for f in nothing if f.severity != Severity.INFO]
    assert all("enable: false" in entry_text(copied, f.line) for f in nothing)
    assert result.exit_code(Severity.WARNING) == 0, [f for f in result.findings if f.severity >= Severity.WARNING]
    assert_locations_exist(result)
    # … and as modelopt:NAME
    assert lint(["modelopt:NVFP4_DEFAULT_CFG"], inv).exit_code(Severity.WARNING) == 0
    # an entry that switches sites on and matches nothing is still a warning
    enabling = write(tmp_path, "more.yaml", NVFP4.read_text() + "- quantizer_name: '*vision_tower*'\n  cfg: {num_bits: 8, axis: 0}\n")
    last = len(Path(enabling).read_text().splitlines()) - 1
    warned = [f for f in lint([enabling], inv).findings if f.severity >= Severity.WARNING]
    assert [(f.code, f.line) for f in warned] == [("QRT020", last)]


def test_dsl_and_hierarchical_off_rules_that_match_nothing_are_info(tmp_path: Path) -> None:
    inv = builtin("tiny_llama")
    rules = write(tmp_path, "rules.qrt", "module /vision_tower/ -> off\nmodule /vision_tower/ weight -> int8 per_channel\n")
    found = {(f.code, f.line): f.severity for f in lint([rules], inv).findings}
    assert found == {("QRT020", 1): Severity.INFO, ("QRT020", 2): Severity.WARNING}
    config = write(tmp_path, "config.yaml", (
        "quantization_config:\n"
        "  module_type_configs:\n"
        "    torch.nn.modules.batchnorm.BatchNorm2d: null\n"
        "    torch.nn.modules.conv.Conv2d:\n"
        "      op_type_config:\n"
        "        conv2d: null\n"
    ))
    found = {(f.code, f.line): f.severity for f in lint([config], inv).findings}
    assert found == {("QRT020", 3): Severity.INFO, ("QRT020", 4): Severity.WARNING, ("QRT020", 6): Severity.INFO}


# ---------------------------------------------------------------------------------------------
# Bare class names: the resolver's matching


SEED_TYPE_CONFIG = """\
quantization_config:
  module_type_configs:
    mymodelSelfAttention:
      op_type_config:
        softmax: null
"""


def test_seed_001s_bare_class_name_matches_as_the_resolver_matches_it(tmp_path: Path) -> None:
    from qrt.api import resolve
    from qrt.frontends.hierarchical import config_from_yaml_text

    inv = models.inventory(models.ContainerRoot)
    config = write(tmp_path, "config.yaml", SEED_TYPE_CONFIG)
    result = lint([config], inv)
    assert not result.findings, result.findings
    # and the resolver agrees that the key governs the softmax
    plan = resolve(config_from_yaml_text(SEED_TYPE_CONFIG), inv)
    softmax = [d for d in plan if d.site.op_type == "softmax"]
    assert softmax and all(d.spec is None for d in softmax)
    # in the DSL: info naming the one class (accepted), not "no module of class"
    rules = write(tmp_path, "rules.qrt", "in type mymodelSelfAttention op softmax -> off\n")
    (hit,) = lint([rules], inv).findings
    assert (hit.code, hit.severity) == ("QRT001", Severity.INFO)
    assert "tests.lint.models.mymodelSelfAttention" in hit.message and hit.fix == "type tests.lint.models.mymodelSelfAttention"


def test_an_ambiguous_bare_class_name_is_an_error_naming_the_classes(tmp_path: Path) -> None:
    from qrt import load_rules
    from qrt.api import resolve

    inv = models.inventory(models.TwoLinears)
    classes = ["tests.lint.models.Linear", "torch.nn.modules.linear.Linear"]
    rules = write(tmp_path, "rules.qrt", "type Linear weight -> int8 per_channel\n")
    (hit,) = lint([rules], inv).findings
    assert (hit.code, hit.severity, hit.line, hit.column) == ("QRT001", Severity.ERROR, 1, 6)
    assert all(c in hit.message for c in classes)
    with pytest.raises(QrtError, match="ambiguous"):  # what lint warns of is what resolving does
        resolve(load_rules(rules), inv)
    config = write(tmp_path, "config.yaml", "quantization_config:\n  module_type_configs:\n    Linear: null\n")
    (hit,) = lint([config], inv).findings
    assert (hit.code, hit.severity, hit.line, hit.column) == ("QRT001", Severity.ERROR, 3, 5)
    assert all(c in hit.message for c in classes)


# ---------------------------------------------------------------------------------------------
# A module whose forward never runs (docs/semantics.md §1: call stack, not name prefixes)


def test_a_key_for_a_container_that_never_runs_says_so_and_names_the_modules_that_do(tmp_path: Path) -> None:
    from qrt.api import resolve
    from qrt.frontends.hierarchical import config_from_yaml_text

    inv = models.inventory(models.ContainerRoot)
    text = "quantization_config:\n  module_name_configs:\n    model:\n      op_type_config:\n        softmax: null\n"
    config = write(tmp_path, "config.yaml", text)
    result = lint([config], inv)
    (hit,) = result.findings
    assert (hit.code, hit.severity, hit.line, hit.column) == ("QRT028", Severity.WARNING, 3, 5)
    assert "'model.selfattention'" in hit.message and hit.data["running"] == ["model.selfattention"]
    assert_locations_exist(result)
    # it is true: the key changes no decision
    keyed = resolve(config_from_yaml_text(text), inv)
    plain = resolve(config_from_yaml_text("quantization_config: {}\n"), inv)
    assert [d.spec for d in keyed] == [d.spec for d in plain]
    # keyed to the module that runs: no finding, and the softmax is off
    fixed = text.replace("    model:", "    model.selfattention:")
    assert not lint([write(tmp_path, "fixed.yaml", fixed)], inv).findings
    assert all(d.spec is None for d in resolve(config_from_yaml_text(fixed), inv) if d.site.op_type == "softmax")


def test_a_dsl_scope_on_a_container_that_never_runs(tmp_path: Path) -> None:
    inv = models.inventory(models.ContainerRoot)
    rules = write(tmp_path, "rules.qrt", "in name /model/ op softmax -> off\n")
    (hit,) = lint([rules], inv).findings
    assert hit.code == "QRT028" and "'model.selfattention'" in hit.message


def test_a_layer_list_key_suggests_a_regex_for_the_layers(tmp_path: Path) -> None:
    config = write(tmp_path, "config.yaml", "quantization_config:\n  module_name_configs:\n    model\\.layers: null\n")
    (hit,) = lint([config], builtin("tiny_llama")).findings
    assert hit.code == "QRT028" and hit.data["running"] == ["model.layers.0", "model.layers.1"]
    assert hit.fix is not None and "model\\.layers\\.\\d+" in hit.fix


def test_a_missing_class_suggests_classes_by_their_own_name(tmp_path: Path) -> None:
    """Classes are compared without their module: a typo finds its class, and BatchNorm1d is
    not offered Embedding because both live under torch.nn.modules."""
    rules = write(tmp_path, "rules.qrt", (
        "type torch.nn.modules.linear.Linaer weight -> int8 per_channel\n"
        "type torch.nn.modules.batchnorm.BatchNorm1d -> off\n"
    ))
    first, second = lint([rules], builtin("tiny_llama")).findings
    assert first.code == "QRT020" and "did you mean 'torch.nn.modules.linear.Linear'?" in first.message
    assert second.code == "QRT020" and "did you mean" not in second.message
