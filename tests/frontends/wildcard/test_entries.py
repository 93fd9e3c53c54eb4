"""Reading wildcard configs: every form, positions in YAML and JSON files, every validation
error (entry index, file:line:col, what is valid), the 39 ModelOpt 0.47 presets, and the list
form written back (round trips)."""

from __future__ import annotations

import dataclasses
import json
import os
import textwrap
import warnings
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from qrt.errors import QrtError
from qrt.frontends.wildcard import (
    Entry,
    FrozenDict,
    WildcardConfig,
    WildcardConfigError,
    is_wildcard_document,
    load_wildcard,
    qualified_parent_class,
    wildcard_from_data,
    wildcard_from_text,
)

PRESETS_FILE = Path(
    os.environ.get(
        "QRT_MODELOPT_PRESETS", str(Path(__file__).parents[2] / "data" / "modelopt_0.47_presets.json")
    )
)
"""ModelOpt 0.47's 39 presets as JSON data (``tests/data``; its ``_about`` says how tuples and
integer keys were written)."""


def yaml_config(text: str, file: str = "w.yaml") -> WildcardConfig:
    return wildcard_from_text(textwrap.dedent(text), file=file)


def yaml_error(text: str, file: str = "w.yaml") -> WildcardConfigError:
    with pytest.raises(WildcardConfigError) as info:
        yaml_config(text, file)
    assert isinstance(info.value, QrtError) and info.value.code == "QRT208"
    return info.value


def data_error(data: Any) -> WildcardConfigError:
    with pytest.raises(WildcardConfigError) as info:
        wildcard_from_data(data)
    return info.value


def summary(config: WildcardConfig) -> list[tuple[Any, ...]]:
    return [(e.pattern, e.parent_class, e.to_dict().get("cfg"), e.enable) for e in config]


# =============================================================================================
# The list form, and what an entry knows


def test_python_list() -> None:
    config = wildcard_from_data(
        [
            {"quantizer_name": "*", "enable": False},
            {"quantizer_name": "*weight_quantizer", "cfg": {"num_bits": 4, "axis": 0}},
            {"quantizer_name": "*input_quantizer", "parent_class": "nn.Linear", "cfg": {"num_bits": [4, 3]}, "enable": False},
        ]
    )
    assert config.form == "list" and not config.legacy and len(config) == 3
    off, weight, inputs = config
    assert (off.pattern, off.key_name, off.cfg, off.enable, off.index) == ("*", "quantizer_name", None, False, 0)
    assert off.is_toggle and off.effective_enable is False
    assert weight.cfg == {"num_bits": 4, "axis": 0} and weight.enable is None
    assert not weight.is_toggle and weight.effective_enable is True
    assert weight.attributes() == {"num_bits": 4, "axis": 0}
    assert inputs.parent_class == "nn.Linear" and inputs.attributes() == {"num_bits": (4, 3)}
    assert inputs.effective_enable is False
    assert str(weight.origin) == "<data> (quant_cfg[1])"
    assert weight.origin.config_path == "quant_cfg[1]"


def test_quantizer_path_is_read_and_written_either_way() -> None:
    config = wildcard_from_data([{"quantizer_path": "fc.weight_quantizer", "enable": True}])
    assert config[0].key_name == "quantizer_path"
    assert config.to_list() == [{"quantizer_name": "fc.weight_quantizer", "enable": True}]
    assert config.to_list("quantizer_path") == [{"quantizer_path": "fc.weight_quantizer", "enable": True}]
    with pytest.raises(ValueError):
        config.to_list("name")  # type: ignore[arg-type]


def test_quant_cfg_and_full_config_with_algorithm() -> None:
    entries = [{"quantizer_name": "*", "cfg": {"num_bits": 8, "axis": None}}]
    plain = wildcard_from_data({"quant_cfg": entries})
    assert plain.form == "quant_cfg" and plain.algorithm is None and not plain.has_algorithm
    full = wildcard_from_data(
        {"quant_cfg": entries, "algorithm": {"method": "awq_lite", "alpha_step": 0.1}, "effective_bits": 4.5}
    )
    assert full.form == "config" and full.has_algorithm
    assert full.algorithm == {"method": "awq_lite", "alpha_step": 0.1}
    assert full.effective_bits == 4.5
    assert full.to_config() == {
        "quant_cfg": entries, "algorithm": {"method": "awq_lite", "alpha_step": 0.1}, "effective_bits": 4.5
    }
    assert wildcard_from_data({"quant_cfg": entries, "algorithm": None}).has_algorithm
    assert summary(plain) == summary(full)


def test_single_entry_document_is_a_list_of_one() -> None:
    config = yaml_config("quantizer_name: '*'\nenable: false\n")
    assert config.form == "entry" and config.to_list() == [{"quantizer_name": "*", "enable": False}]


def test_sequential_cfg_is_a_tuple_of_stages() -> None:
    config = wildcard_from_data(
        [{"quantizer_name": "*weight_quantizer", "cfg": [
            {"num_bits": 4, "block_sizes": {-1: 128, "type": "static"}},
            {"num_bits": [4, 3]},
        ]}]
    )
    entry = config[0]
    assert entry.is_sequential and isinstance(entry.cfg, tuple) and len(entry.cfg) == 2
    assert entry.attributes() == [
        {"num_bits": 4, "block_sizes": {-1: 128, "type": "static"}},
        {"num_bits": (4, 3)},
    ]
    assert entry.to_dict()["cfg"][1] == {"num_bits": [4, 3]}


def test_empty_cfg_with_enable_false_is_a_toggle_kept_as_written() -> None:
    for cfg in ({}, [], [{}, {}]):
        config = wildcard_from_data([{"quantizer_name": "*", "cfg": cfg, "enable": False}])
        assert config[0].is_toggle and config[0].attributes() is None
        assert config.to_list() == [{"quantizer_name": "*", "cfg": list(cfg) if isinstance(cfg, list) else {}, "enable": False}]


def test_cfg_null_beside_enable_is_a_toggle() -> None:
    config = wildcard_from_data([{"quantizer_name": "*", "cfg": None, "enable": True, "parent_class": None}])
    assert config[0].is_toggle and config[0].cfg is None and config[0].parent_class is None
    assert config.to_list() == [{"quantizer_name": "*", "enable": True}]


def test_enable_inside_cfg_that_agrees_is_kept() -> None:
    config = wildcard_from_data([
        {"quantizer_name": "*w", "cfg": [{"num_bits": 4, "enable": True}, {"num_bits": [4, 3], "enable": True}]},
        {"quantizer_name": "*x", "cfg": {"num_bits": 4, "enable": False}, "enable": False},
    ])
    assert config[0].attributes() == [{"num_bits": 4, "enable": True}, {"num_bits": (4, 3), "enable": True}]
    assert config.to_list()[1]["cfg"] == {"num_bits": 4, "enable": False}


def test_entries_are_immutable_and_hashable() -> None:
    entry = wildcard_from_data([{"quantizer_name": "*", "cfg": {"block_sizes": {-1: 16}}}])[0]
    with pytest.raises(dataclasses.FrozenInstanceError):
        entry.pattern = "x"  # type: ignore[misc]
    assert isinstance(entry.cfg, FrozenDict)
    with pytest.raises(TypeError):
        entry.cfg["num_bits"] = 4  # type: ignore[index]
    assert hash(entry) == hash(dataclasses.replace(entry))
    source = [{"quantizer_name": "*", "cfg": {"num_bits": 4}}]
    config = wildcard_from_data(source)
    source[0]["cfg"]["num_bits"] = 8  # type: ignore[index]
    assert config[0].cfg == {"num_bits": 4}


# =============================================================================================
# The legacy dict, converted as ModelOpt 0.47 converts it

LEGACY = {
    "*weight_quantizer": {"num_bits": 4, "block_sizes": {-1: 128}, "enable": True},
    "*input_quantizer": {"num_bits": 8, "axis": None},
    "*lm_head*": {"enable": False},
    "*output_quantizer": {},
    "nn.Linear": {"*input_quantizer": {"enable": False}, "*weight_quantizer": {"num_bits": 8, "axis": 0}},
    "*bmm_quantizer": [{"num_bits": 4, "block_sizes": {-1: 16}}, {"num_bits": [4, 3]}],
    "default": {"enable": False},
}
LEGACY_AS_LIST = [
    {"quantizer_name": "*weight_quantizer", "cfg": {"num_bits": 4, "block_sizes": {-1: 128}}, "enable": True},
    {"quantizer_name": "*input_quantizer", "cfg": {"num_bits": 8, "axis": None}},
    {"quantizer_name": "*lm_head*", "enable": False},
    {"quantizer_name": "*output_quantizer", "enable": True},
    {"quantizer_name": "*input_quantizer", "parent_class": "nn.Linear", "enable": False},
    {"quantizer_name": "*weight_quantizer", "parent_class": "nn.Linear", "cfg": {"num_bits": 8, "axis": 0}},
    {"quantizer_name": "*bmm_quantizer", "cfg": [{"num_bits": 4, "block_sizes": {-1: 16}}, {"num_bits": [4, 3]}]},
    {"quantizer_name": "*", "enable": False},
]


def test_legacy_dict_becomes_the_list_in_dict_order() -> None:
    config = wildcard_from_data(LEGACY)
    assert config.legacy and config.form == "list"
    assert config.to_list() == LEGACY_AS_LIST
    assert [e.index for e in config] == list(range(8))
    assert config[-1].pattern == "*" and config[-1].origin.config_path == "quant_cfg['default']"
    assert config[4].origin.config_path == "quant_cfg['nn.Linear']['*input_quantizer']"
    assert config[3].is_toggle and config[3].enable is True  # {pattern: {}} switches on


def test_default_becomes_star_where_it_stands() -> None:
    config = wildcard_from_data({"default": {"num_bits": 8}, "*w": {"enable": False}})
    assert [e.pattern for e in config] == ["*", "*w"]


def test_legacy_under_quant_cfg() -> None:
    config = wildcard_from_data({"quant_cfg": LEGACY, "algorithm": "max"})
    assert config.legacy and config.form == "config" and config.algorithm == "max"
    assert config.to_list() == LEGACY_AS_LIST
    assert config.to_config()["quant_cfg"] == LEGACY_AS_LIST


def test_legacy_yaml_positions_are_the_keys() -> None:
    config = yaml_config(
        """\
        quant_cfg:
          "*weight_quantizer": {num_bits: 4, axis: 0}
          nn.Linear:
            "*input_quantizer": {enable: false}
          default: {enable: false}
        """
    )
    assert [e.origin.position for e in config] == ["w.yaml:2:3", "w.yaml:4:5", "w.yaml:5:3"]


def _modelopt_normalize():  # type: ignore[no-untyped-def]
    pytest.importorskip("torch")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        config = pytest.importorskip("modelopt.torch.quantization.config")
    return config.normalize_quant_cfg_list


def test_legacy_conversion_equals_modelopts() -> None:
    normalize = _modelopt_normalize()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        theirs = normalize({k: v for k, v in LEGACY.items()} | {"*bmm_quantizer": [
            {"num_bits": 4, "block_sizes": {-1: 16}}, {"num_bits": (4, 3)}]})
    ours = wildcard_from_data(LEGACY)
    assert len(theirs) == len(ours)
    for their, our in zip(theirs, ours):
        assert their["quantizer_name"] == our.pattern
        assert their.get("parent_class") == our.parent_class
        assert their["enable"] == our.effective_enable
        cfg = their["cfg"]
        if cfg is None:
            assert our.is_toggle
        elif isinstance(cfg, list):
            assert [c.model_dump(exclude_unset=True) for c in cfg] == our.attributes()
        else:
            assert cfg.model_dump(exclude_unset=True) == our.attributes()


# =============================================================================================
# Files: YAML and JSON with positions


def test_yaml_list_positions_and_anchors(tmp_path: Path) -> None:
    path = tmp_path / "fp8.yaml"
    path.write_text(
        textwrap.dedent(
            """\
            # FP8 weights and inputs
            quant_cfg:
              - quantizer_name: '*'
                enable: false
              - {quantizer_name: '*weight_quantizer', cfg: &fp8 {num_bits: [4, 3], axis: null}}
              - quantizer_name: '*input_quantizer'
                cfg: *fp8
            algorithm: max
            """
        )
    )
    config = load_wildcard(path)
    assert config.file == str(path) and config.algorithm == "max"
    assert [e.origin.line for e in config] == [3, 5, 6]
    assert [e.origin.column for e in config] == [5, 5, 5]
    assert config[1].cfg == config[2].cfg == {"num_bits": (4, 3), "axis": None}
    assert str(config[2].origin) == f"{path}:6:5 (quant_cfg[2])"


def test_yaml_merge_keys_are_not_duplicates() -> None:
    config = yaml_config(
        """\
        - quantizer_name: '*'
          cfg:
            <<: {num_bits: 4, axis: 0}
            axis: null
            block_sizes: {-1: 16}
        """
    )
    assert config[0].attributes() == {"num_bits": 4, "axis": None, "block_sizes": {-1: 16}}


def test_json_file_keeps_positions(tmp_path: Path) -> None:
    path = tmp_path / "nvfp4.json"
    doc = {"quant_cfg": [
        {"quantizer_name": "*", "enable": False},
        {"quantizer_name": "*weight_quantizer", "cfg": {"num_bits": [2, 1], "block_sizes": {"-1": 16, "type": "dynamic", "scale_bits": [4, 3]}}},
    ], "algorithm": "max"}
    path.write_text(json.dumps(doc, indent=2))
    config = load_wildcard(path)
    assert [e.origin.line for e in config] == [3, 7]
    assert config[1].attributes()["block_sizes"] == {-1: 16, "type": "dynamic", "scale_bits": (4, 3)}
    assert config.to_config() == doc


def test_json_file_errors_are_located(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text('{"quant_cfg": [\n  {"quantizer_name": "*", "enabel": false}\n]}\n')
    with pytest.raises(WildcardConfigError) as info:
        load_wildcard(path)
    assert info.value.location == f"{path}:2:27"
    assert "quant_cfg[0]" in str(info.value) and "did you mean 'enable'" in str(info.value)
    broken = tmp_path / "broken.json"
    broken.write_text('{"quant_cfg": [\n  {"quantizer_name": "*",, }\n]}\n')
    with pytest.raises(WildcardConfigError) as info:
        load_wildcard(broken)
    assert info.value.location is not None and info.value.location.startswith(f"{broken}:2:")


def test_file_errors(tmp_path: Path) -> None:
    with pytest.raises(WildcardConfigError, match="not found"):
        load_wildcard(tmp_path / "missing.yaml")
    empty = tmp_path / "empty.yaml"
    empty.write_text("# nothing\n")
    with pytest.raises(WildcardConfigError, match="empty document") as info:
        load_wildcard(empty)
    assert info.value.location == f"{empty}:1:1"


def test_duplicate_keys_are_errors_with_both_positions() -> None:
    err = yaml_error(
        """\
        - quantizer_name: '*'
          enable: false
          enable: true
        """
    )
    assert err.location == "w.yaml:3:3"
    assert "first written at w.yaml:2:3" in str(err)


def test_only_safe_yaml() -> None:
    err = yaml_error("- !!python/object:os.system {}\n")
    assert err.location == "w.yaml:1:3" and "not allowed" in str(err)
    err = yaml_error("- quantizer_name: !!python/name:os.system ''\n  enable: false\n")
    assert "safe subset" in str(err)


def test_yaml_syntax_error_is_located() -> None:
    err = yaml_error("- quantizer_name: '*'\n  enable: [false\n")
    assert err.location is not None and err.location.startswith("w.yaml:")
    assert "invalid YAML" in str(err)


def test_errors_show_the_line_with_a_caret() -> None:
    err = yaml_error("- quantizer_name: '*'\n  cfg: {num_bits: 4, axsi: 0}\n")
    assert err.location == "w.yaml:2:22"
    source, caret = str(err).splitlines()[-2:]
    assert source.strip() == "cfg: {num_bits: 4, axsi: 0}"
    assert caret.index("^") - source.index("cfg") == 21 - 2  # under the 'a' of 'axsi'



# =============================================================================================
# Validation errors: entry index, file:line:col, what would be valid

ERRORS = [
    # (yaml, location, words)
    ("- {quantizer_name: '*', quantizer_path: '*', enable: false}\n", "w.yaml:1:25",
     ["quant_cfg[0]", "both 'quantizer_name' and 'quantizer_path'"]),
    ("- {enable: false}\n", "w.yaml:1:3", ["quant_cfg[0]", "no 'quantizer_name'"]),
    ("- {quantizer_name: '*', enable: false}\n- {quantizer_name: '*', enabled: false}\n", "w.yaml:2:25",
     ["quant_cfg[1]", "unknown entry key 'enabled'", "did you mean 'enable'", "valid keys"]),
    ("- {quantizer_name: '*', parent: nn.Linear, enable: false}\n", "w.yaml:1:25",
     ["did you mean 'parent_class'"]),
    ("- {quantizer_name: '*'}\n", "w.yaml:1:3", ["quant_cfg[0]", "needs cfg (set attributes) or enable"]),
    ("- {quantizer_name: '*', cfg: {}}\n", "w.yaml:1:25", ["cfg is empty", "only with enable: false"]),
    ("- {quantizer_name: '*', cfg: [{}, {}], enable: true}\n", "w.yaml:1:25", ["cfg is empty"]),
    ("- {quantizer_name: '*', cfg: null}\n", "w.yaml:1:25", ["cfg is null", "enable: true"]),
    ("- {quantizer_name: '*', enable: null}\n", "w.yaml:1:25", ["enable must be true or false"]),
    ("- {quantizer_name: '*', enable: 'off'}\n", "w.yaml:1:25", ["enable must be true or false"]),
    ("- {quantizer_name: 3, enable: false}\n", "w.yaml:1:4", ["non-empty glob"]),
    ("- {quantizer_name: '', enable: false}\n", "w.yaml:1:4", ["non-empty glob"]),
    ("- {quantizer_name: '*', parent_class: nn.Linaer, enable: false}\n", "w.yaml:1:25",
     ["parent_class", "did you mean 'nn.Linear'"]),
    ("- {quantizer_name: '*', parent_class: torch.nn.Linear, enable: false}\n", "w.yaml:1:25",
     ["'nn.Linear'", "torch.nn.modules.linear.Linear"]),
    ("- {quantizer_name: '*', parent_class: 3, enable: false}\n", "w.yaml:1:25", ["class name"]),
    ("- {quantizer_name: '*', cfg: 8}\n", "w.yaml:1:25", ["dict of quantizer attributes", "num_bits"]),
    ("- {quantizer_name: '*', cfg: [{num_bits: 4}, 8]}\n", "w.yaml:1:25", ["dict of quantizer attributes"]),
    ("- {quantizer_name: '*', cfg: {num_bits: 4, enable: false}}\n", "w.yaml:1:44",
     ["quant_cfg[0].cfg", "contradicts", "ignores enable inside cfg"]),
    ("- {quantizer_name: '*', cfg: {enable: true}}\n", "w.yaml:1:31", ["only enable: true"]),
    ("- quantizer_name: '*'\n  cfg:\n    - {num_bits: 4}\n    - {num_bits: [5, 5]}\n", "w.yaml:4:8",
     ["quant_cfg[0].cfg[1].num_bits", "not a known float format"]),
    ("- {quantizer_name: '*', cfg: {num_bit: 4}}\n", "w.yaml:1:31",
     ["quant_cfg[0].cfg.num_bit", "did you mean 'num_bits'"]),
    ("- {'*weight_quantizer': {num_bits: 4}}\n", "w.yaml:1:4",
     ["legacy single-key entry", "'quantizer_name': '*weight_quantizer'"]),
    ("- 3\n", "w.yaml:1:3", ["quant_cfg[0]", "expected a mapping"]),
    ("quant_cfg: []\nalgoritm: max\n", "w.yaml:2:1", ["unknown config key 'algoritm'", "did you mean 'algorithm'"]),
    ("quant_cfg: []\nimports: {a: b}\n", "w.yaml:2:11",  # composed since issue 22: 'b' is no file
     ["import 'a'", "cannot find config file 'b'", "current directory"]),
    ("quantize: {quant_cfg: []}\n", "w.yaml:1:1", ["modelopt_recipes"]),
    ("quantization_config: {}\n", "w.yaml:1:1", ["hierarchical config"]),
    ("quant_cfg: 3\n", "w.yaml:1:1", ["quant_cfg must be a list"]),
    ("quant_cfg: []\nalgorithm: 3\n", "w.yaml:2:1", ["algorithm must be"]),
    ("quant_cfg: []\neffective_bits: 20\n", "w.yaml:2:1", ["effective_bits"]),
    ("'*weight_quantizer': {num_bits: 4}\n'*input_quantizer':\n", "w.yaml:2:1",
     ["entry 1 (quant_cfg['*input_quantizer'])", "needs a value"]),
    ("'*w': {enable: false}\n3: {enable: false}\n", "w.yaml:2:1", ["must be a quantizer name pattern"]),
    ("nn.Linear: [1]\n", "w.yaml:1:1", ["maps patterns to their configs"]),
    ("nn.Linear: {'*': 3}\n", "w.yaml:1:13", ["entry 0 (quant_cfg['nn.Linear']['*'])", "dict of attributes"]),
    ("nn.Linear: {'*': {enable: 'x'}}\n", "w.yaml:1:19", ["entry 0", "enable must be true or false"]),
    ("'*w': {num_bits: 4, axis: 0, block_sizes: {-1: 16}}\n", "w.yaml:1:30",
     ["entry 0 (quant_cfg['*w']).cfg.block_sizes", "cannot both be set"]),
    ("'*w': 3\n", "w.yaml:1:1", ["dict of quantizer attributes"]),
    ("3\n", "w.yaml:1:1", ["a wildcard config is a list"]),
]


@pytest.mark.parametrize(("text", "location", "words"), ERRORS)
def test_validation_errors(text: str, location: str, words: list[str]) -> None:
    err = yaml_error(text)
    assert err.location == location, str(err)
    for word in words:
        assert word in str(err), str(err)


def test_nothing_is_returned_when_a_later_entry_is_bad() -> None:
    with pytest.raises(WildcardConfigError, match=r"quant_cfg\[2\]"):
        wildcard_from_data([
            {"quantizer_name": "*", "enable": False},
            {"quantizer_name": "*w", "cfg": {"num_bits": 4}},
            {"quantizer_name": "*x", "cfg": {"num_bits": (5, 5)}},
        ])


def test_python_data_errors_name_the_entry() -> None:
    err = data_error([{"quantizer_name": "*", "enable": False}, {"quantizer_nme": "*", "enable": False}])
    assert err.location == "<data>" and "quant_cfg[1]" in str(err) and "did you mean 'quantizer_name'" in str(err)


def test_qualified_parent_class() -> None:
    assert qualified_parent_class("nn.Linear") == "torch.nn.modules.linear.Linear"
    assert qualified_parent_class("nn.BatchNorm2d") == "torch.nn.modules.batchnorm.BatchNorm2d"
    assert qualified_parent_class("my.pkg.Block") == "my.pkg.Block"
    assert qualified_parent_class("hf.FP8Linear") == "hf.FP8Linear"
    with pytest.raises(ValueError, match="nn.Linear"):
        qualified_parent_class("torch.nn.Linear")


# =============================================================================================
# The 39 presets of ModelOpt 0.47


def presets() -> dict[str, Any]:
    """The presets by name; empty when the data file is not there."""
    if not PRESETS_FILE.is_file():
        return {}
    return json.loads(PRESETS_FILE.read_text())["presets"]


def test_presets_file_has_39_presets() -> None:
    if not PRESETS_FILE.is_file():
        pytest.skip(f"{PRESETS_FILE} not found (set QRT_MODELOPT_PRESETS)")
    assert len(presets()) == 39


@pytest.mark.parametrize("name", sorted(presets()))
def test_every_preset_loads_validates_and_round_trips(name: str) -> None:
    preset = presets()[name]
    config = wildcard_from_data({"quant_cfg": preset["quant_cfg"], "algorithm": preset["algorithm"]}, file=name)
    assert len(config) == preset["num_entries"]
    assert config.form == "config" and _thawed(config.algorithm) == preset["algorithm"]
    for entry in config:
        attributes = entry.attributes()
        stages = attributes if isinstance(attributes, list) else [attributes] if attributes else []
        for stage in stages:
            assert not isinstance(stage.get("num_bits"), list)
            for key in (stage.get("block_sizes") or {}):
                assert isinstance(key, int) or key in ("type", "scale_bits", "scale_block_sizes", "four_over_six")
    assert config.to_list() == preset["quant_cfg"]
    assert wildcard_from_data(config.to_list()).entries == config.entries


def _thawed(value: Any) -> Any:
    if isinstance(value, FrozenDict):
        return {k: _thawed(v) for k, v in value.items()}
    return value


def test_whole_presets_file_as_a_yaml_document_keeps_positions(tmp_path: Path) -> None:
    if not presets():
        pytest.skip(f"{PRESETS_FILE} not found")
    preset = presets()["NVFP4_DEFAULT_CFG"]
    path = tmp_path / "nvfp4.yaml"
    path.write_text(yaml.safe_dump({"quant_cfg": preset["quant_cfg"], "algorithm": preset["algorithm"]}, sort_keys=False))
    config = load_wildcard(path)
    assert config.to_list() == preset["quant_cfg"]
    lines = [e.origin.line for e in config]
    assert lines == sorted(lines) and len(set(lines)) == len(lines)


# =============================================================================================
# Round trips of the list form


def test_round_trip_through_yaml_text() -> None:
    config = wildcard_from_data(LEGACY)
    text = yaml.safe_dump(config.to_list(), sort_keys=False)
    again = wildcard_from_text(text)
    assert again.entries == config.entries and not again.legacy
    assert again.to_list() == config.to_list()


def test_round_trip_with_quantizer_path() -> None:
    config = wildcard_from_data(LEGACY_AS_LIST)
    again = wildcard_from_data(config.to_list("quantizer_path"))
    assert [e.key_name for e in again] == ["quantizer_path"] * len(again)
    assert again.to_list() == config.to_list()


_patterns = st.sampled_from(["*", "*weight_quantizer", "*input_quantizer", "fc?.*", "*[kv]_bmm_quantizer", "lm_head.*"])
_attributes = st.fixed_dictionaries(
    {},
    optional={
        "num_bits": st.sampled_from([4, 8, [4, 3], [2, 1]]),
        "axis": st.sampled_from([None, 0, -1]),
        "unsigned": st.booleans(),
        "type": st.sampled_from(["static", "dynamic"]),
        "calibrator": st.sampled_from(["max", "histogram"]),
    },
).filter(lambda a: a and a.get("num_bits") != [2, 1])


@st.composite
def _entries(draw: st.DrawFn) -> dict[str, Any]:
    entry: dict[str, Any] = {draw(st.sampled_from(["quantizer_name", "quantizer_path"])): draw(_patterns)}
    if draw(st.booleans()):
        entry["parent_class"] = draw(st.sampled_from(["nn.Linear", "nn.Conv2d", "my.Block"]))
    kind = draw(st.sampled_from(["cfg", "enable", "both", "sequential"]))
    if kind in ("cfg", "both"):
        entry["cfg"] = draw(_attributes)
    if kind == "sequential":
        entry["cfg"] = draw(st.lists(_attributes, min_size=2, max_size=3))
    if kind in ("enable", "both"):
        entry["enable"] = draw(st.booleans())
    return entry


@given(st.lists(_entries(), max_size=8))
def test_to_list_round_trips(raw: list[dict[str, Any]]) -> None:
    config = wildcard_from_data(raw)
    assert wildcard_from_data(config.to_list()).to_list() == config.to_list()
    assert wildcard_from_text(yaml.safe_dump(config.to_list())).to_list() == config.to_list()
    assert [e.to_dict() for e in config] == raw  # what the user wrote, in list form
    assert [e.pattern for e in config] == [e.get("quantizer_name", e.get("quantizer_path")) for e in raw]


# =============================================================================================
# Telling documents apart


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ([{"quantizer_name": "*", "enable": False}], True),
        ([], True),
        ({"quant_cfg": []}, True),
        ({"quantizer_name": "*", "enable": False}, True),
        ({"*weight_quantizer": {"num_bits": 4}, "default": {"enable": False}}, True),
        ({"nn.Linear": {"*": {}}}, True),
        ({"quantization_config": {"global_config": {}}}, False),
        ({"name": {"x": 1}}, False),
        ({}, False),
        ([1, 2], False),
        ("text", False),
        (None, False),
    ],
)
def test_is_wildcard_document(data: Any, expected: bool) -> None:
    assert is_wildcard_document(data) is expected


def test_entry_is_exported_type() -> None:
    assert isinstance(wildcard_from_data([{"quantizer_name": "*", "enable": True}])[0], Entry)


# =============================================================================================
# Entry verdicts against ModelOpt 0.47's own QuantizerCfgEntry

ENTRIES_BOTH_ACCEPT = [
    {"quantizer_name": "*", "enable": False},
    {"quantizer_name": "*", "cfg": {}, "enable": False},
    {"quantizer_name": "*", "cfg": [{}, {}], "enable": False},
    {"quantizer_name": "*", "cfg": {"num_bits": 4}, "enable": False},
    {"quantizer_name": "*", "cfg": None, "enable": True},
    {"quantizer_name": "*", "parent_class": "nn.Linear", "cfg": [{"num_bits": 4}, {"num_bits": (4, 3)}]},
]
ENTRIES_BOTH_REFUSE = [
    {"quantizer_name": "*"},
    {"quantizer_name": "*", "cfg": {}},
    {"quantizer_name": "*", "cfg": [], "enable": True},
    {"quantizer_name": "*", "cfg": {"enable": True}},
    {"quantizer_name": "*", "cfg": {"num_bit": 4}},
    {"quantizer_name": "*", "quantizer_path": "*", "enable": False},
    {"quantizer_name": "*", "enable": False, "extra": 1},
]
ENTRIES_ONLY_QRT_ACCEPTS = [
    {"quantizer_path": "*", "enable": False},  # 0.47 reads quantizer_name only; its documentation's name
]
ENTRIES_ONLY_MODELOPT_ACCEPTS = [  # qrt refuses these with a message saying what 0.47 does
    {"quantizer_name": "*", "cfg": None},  # 0.47: a switch on
    {"quantizer_name": "*", "cfg": {"num_bits": 4, "enable": False}},  # 0.47: enabled anyway
    {"*weight_quantizer": {"num_bits": 4}},  # 0.47: a legacy single-key entry in a list
]


def _modelopt_entry_ok(normalize: Any, entry: dict[str, Any]) -> bool:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            normalize([entry])
    except (ValueError, TypeError, AssertionError):
        return False
    return True


def _qrt_entry_ok(entry: dict[str, Any]) -> bool:
    try:
        wildcard_from_data([entry])
    except WildcardConfigError:
        return False
    return True


def test_entry_verdicts_against_modelopt() -> None:
    normalize = _modelopt_normalize()
    for entry in ENTRIES_BOTH_ACCEPT:
        assert _modelopt_entry_ok(normalize, entry) and _qrt_entry_ok(entry), entry
    for entry in ENTRIES_BOTH_REFUSE:
        assert not _modelopt_entry_ok(normalize, entry), entry
        assert not _qrt_entry_ok(entry), entry
    for entry in ENTRIES_ONLY_QRT_ACCEPTS:
        assert _qrt_entry_ok(entry) and not _modelopt_entry_ok(normalize, entry), entry
    for entry in ENTRIES_ONLY_MODELOPT_ACCEPTS:
        assert _modelopt_entry_ok(normalize, entry) and not _qrt_entry_ok(entry), entry
