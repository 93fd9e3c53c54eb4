"""ModelOpt recipe YAML (``imports``/``$import``) composed as ModelOpt 0.47 composes it.

The differential test reads the PTQ recipes and presets ModelOpt ships (``modelopt_recipes``;
all 58 with ``QRT_FULL_MODELOPT=1``, the 22 recipes and a quarter of the presets otherwise)
with ModelOpt's own loader and with qrt's, and compares them entry by entry; the rest are
qrt's refusals (missing, cyclic, untyped imports) on small files written here.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from qrt.frontends.source import WildcardSource, detect, load_rule_source
from qrt.frontends.wildcard import WildcardConfig, WildcardConfigError, load_wildcard, wildcard_from_data
from qrt.frontends.wildcard.recipe import MAX_IMPORT_DEPTH, builtin_library


def _facts(config: WildcardConfig) -> list[tuple[Any, ...]]:
    return [(e.pattern, e.parent_class, e.enable, e.attributes()) for e in config]


def test_every_shipped_ptq_preset_and_recipe_composes_as_modelopt_composes_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    loader = pytest.importorskip("modelopt.torch.opt.config_loader")
    recipes = pytest.importorskip("modelopt.recipe.loader")
    from modelopt.torch.quantization.config import QuantizeConfig

    library = builtin_library()
    assert library is not None
    monkeypatch.chdir(tmp_path)  # import paths resolve against the current directory first
    presets = sorted((library / "configs" / "ptq" / "presets" / "model").glob("*.yaml"))
    ptq = sorted((library / "general" / "ptq").glob("*.yaml"))
    assert len(presets) >= 20 and len(ptq) >= 15
    if not os.environ.get("QRT_FULL_MODELOPT"):  # CI: every recipe (they import every unit), a
        presets = presets[::4]                    # quarter of the presets; all 58 files with it set
    entries = 0
    for path in presets + ptq:
        if path in ptq:
            theirs = recipes.load_recipe(path).quantize.model_dump(exclude_unset=True)
        else:
            theirs = loader.load_config(path, schema_type=QuantizeConfig).model_dump(exclude_unset=True)
        ours = load_wildcard(path)
        released = wildcard_from_data(theirs)
        assert _facts(ours) == _facts(released), path.name
        assert ours.algorithm == released.algorithm, path.name
        assert ours[0].origin.file != str(path) or ours[0].origin.line  # located in a snippet or here
        entries += len(ours)
    capsys.readouterr()  # load_recipe prints what it loads
    assert entries > 300


def _write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


ENTRY = "# modelopt-schema: modelopt.torch.quantization.config.QuantizerCfgEntry\n"
LIST = "# modelopt-schema: modelopt.torch.quantization.config.QuantizerCfgListConfig\n"
ATTRS = "# modelopt-schema: modelopt.torch.quantization.config.QuantizerAttributeConfig\n"


def test_a_recipe_splices_appends_and_merges_as_modelopt_does(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    _write(tmp_path, "units/off.yaml", ENTRY + "quantizer_name: '*'\nenable: false\n")
    _write(tmp_path, "units/fp8.yml", ATTRS + "num_bits: e4m3\naxis: null\n")
    _write(tmp_path, "units/w.yaml", LIST + "imports:\n  fp8: units/fp8\n---\n"
           "- quantizer_name: '*weight_quantizer'\n  cfg: {$import: fp8, axis: 0}\n"
           "- quantizer_name: '*input_quantizer'\n  cfg: {$import: fp8}\n")
    recipe = _write(tmp_path, "recipes/r.yaml",
                    "imports:\n  off: units/off\n  w: units/w.yaml\n"
                    "metadata: {recipe_type: ptq}\n"
                    "quantize:\n  algorithm: max\n  quant_cfg:\n    - $import: off\n    - $import: w\n"
                    "    - {quantizer_name: '*lm_head*', enable: false}\n")
    config = load_wildcard(recipe)
    assert config.to_list() == [
        {"quantizer_name": "*", "enable": False},
        {"quantizer_name": "*weight_quantizer", "cfg": {"num_bits": [4, 3], "axis": 0}},
        {"quantizer_name": "*input_quantizer", "cfg": {"num_bits": [4, 3], "axis": None}},
        {"quantizer_name": "*lm_head*", "enable": False},
    ]
    assert config.algorithm == "max"
    # each entry is located in the file that wrote it
    assert [Path(e.origin.file).name for e in config] == ["off.yaml", "w.yaml", "w.yaml", "r.yaml"]
    assert (config[1].origin.line, config[3].origin.line) == (5, 10)
    # the one detector sends it to the wildcard front end, parsing once
    assert detect(recipe.read_text(), label=str(recipe)).kind == "wildcard"
    assert isinstance(load_rule_source(recipe), WildcardSource)


@pytest.mark.parametrize(("files", "location", "words"), [
    ({"r.yaml": "imports: {a: nowhere}\nquant_cfg: []\n"}, "r.yaml:1:11",
     ["import 'a'", "cannot find config file 'nowhere'", "current directory"]),
    ({"r.yaml": "imports: {a: b}\nquant_cfg: [{$import: a}]\n", "b.yaml": LIST + "imports: {c: r}\n---\n- {$import: c}\n"},
     "b.yaml:2:11", ["circular import", "r.yaml"]),
    ({"r.yaml": "imports: {a: b}\nquant_cfg: [{$import: a}]\n", "b.yaml": "- {quantizer_name: '*', enable: false}\n"},
     "r.yaml:1:11", ["must reference a snippet with a modelopt-schema comment"]),
    ({"r.yaml": "quant_cfg: [{$import: a}]\nimports: {}\n"}, "r.yaml:1:14",
     ["unknown $import reference 'a'", "no imports are declared"]),
    ({"r.yaml": "imports: {a: b}\nquant_cfg: [{$import: x}]\n", "b.yaml": ENTRY + "quantizer_name: '*'\nenable: false\n"},
     "r.yaml:2:14", ["unknown $import reference 'x'", "available imports: 'a'"]),
    ({"r.yaml": "imports: {a: b}\nalgorithm: [{$import: a}]\nquant_cfg: []\n", "b.yaml": ENTRY + "quantizer_name: '*'\nenable: false\n"},
     "r.yaml:2:13", ["requires a typed list schema"]),
    ({"r.yaml": "imports: {a: b}\nquant_cfg: [{$import: a}]\n", "b.yaml": ATTRS + "num_bits: 8\n"},
     "r.yaml:2:13", ["has schema", "QuantizerAttributeConfig", "appended"]),
    ({"r.yaml": "imports: {a: b}\nquant_cfg: []\n", "b.yaml": ATTRS + "num_bit: 8\n"},  # checked though unused
     "b.yaml:2:1", ["cfg.num_bit", "did you mean 'num_bits'"]),
    ({"r.yaml": "imports: {a: b}\nquant_cfg: []\n", "b.yaml": LIST + "quantizer_name: '*'\n"},
     "b.yaml:2:1", ["declares modelopt-schema", "QuantizerCfgListConfig", "holds a mapping, not a list"]),
    ({"r.yaml": "metadata: {recipe_type: speculative_eagle}\neagle: {}\n"}, "r.yaml:1:12", ["qrt reads recipe_type: ptq"]),
    ({"r.yaml": "a: 1\n---\n- b\n---\n- c\n"}, "r.yaml:5:1", ["expected 1 or 2 YAML documents"]),
])
def test_composition_refusals_are_located(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                          files: dict[str, str], location: str, words: list[str]) -> None:
    monkeypatch.chdir(tmp_path)
    for name, text in files.items():
        _write(tmp_path, name, text)
    with pytest.raises(WildcardConfigError) as info:
        load_wildcard("r.yaml")
    assert info.value.location == location, str(info.value)
    for word in words:
        assert word in str(info.value), str(info.value)


def test_imports_are_bounded_and_each_file_is_composed_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    # a diamond chain: each level imports the next twice; composing each file once keeps it linear
    depth = 12
    for level in range(depth):
        body = ("- {quantizer_name: '*', enable: false}\n" if level == depth - 1 else
                f"imports: {{n: l{level + 1}}}\n---\n- {{$import: n}}\n- {{$import: n}}\n")
        _write(tmp_path, f"l{level}.yaml", LIST + body)
    _write(tmp_path, "r.yaml", "imports: {a: l0}\nquant_cfg: [{$import: a}]\n")
    assert len(load_wildcard("r.yaml")) == 2 ** (depth - 1)
    # deeper than the bound: refused, located at the import that crossed it
    for level in range(MAX_IMPORT_DEPTH + 2):
        _write(tmp_path, f"d{level}.yaml", LIST + f"imports: {{n: d{level + 1}}}\n---\n- {{$import: n}}\n")
    _write(tmp_path, "r.yaml", "imports: {a: d0}\nquant_cfg: [{$import: a}]\n")
    with pytest.raises(WildcardConfigError, match="nest more than"):
        load_wildcard("r.yaml")
