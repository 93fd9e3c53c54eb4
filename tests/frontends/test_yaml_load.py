"""The one position-keeping YAML loader (``qrt.frontends.yaml_load.load_positioned``) and the
one front-end detector (``qrt.frontends.source.detect``) that hands its parse on."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from qrt.errors import QrtError
from qrt.frontends.hierarchical import config_from_yaml_text
from qrt.frontends.source import HierarchicalSource, WildcardSource, detect, load_rule_source
from qrt.frontends.wildcard import wildcard_from_text
from qrt.frontends.yaml_load import DuplicateKeyError, NotPlainError, YamlList, YamlMapping, load_positioned

MERGES = [
    "base: &b {x: 1, y: 2}\nm: {<<: *b, x: 3}\n",
    "base: &b {x: 1, y: 2}\nm: {x: 3, <<: *b, z: 4}\n",
    "a: &a {p: 1}\nb: &b {q: 2, p: 5}\nm: {<<: [*a, *b], r: 3, q: 0}\n",
    "m: {<<: {k: [1, 2]}, j: {<<: {u: 1}, u: 2}}\n",
]


@pytest.mark.parametrize("text", MERGES)
def test_merge_keys_read_as_pyyaml_and_modelopt_read_them(text: str) -> None:
    """YAML 1.1 merge keys: a key written in the mapping overrides a merged one, and keeps the
    merged key's place, as ``yaml.safe_load`` (and so ModelOpt) orders the keys."""
    ((data, _),) = load_positioned(text, file="m.yaml")
    theirs = yaml.safe_load(text)
    assert data == theirs
    assert list(data["m"]) == list(theirs["m"])
    assert isinstance(data["m"], YamlMapping) and data["m"].key_marks


def test_marks_name_the_file_and_every_key_and_item() -> None:
    ((data, root),) = load_positioned("a:\n  - 1\n  - {b: 2}\n", file="f.yaml")
    assert root is not None and root.name == "f.yaml"
    assert isinstance(data["a"], YamlList)
    assert [m.line + 1 for m in data["a"].item_marks] == [2, 3]
    assert data["a"][1].key_marks["b"].column + 1 == 6


@pytest.mark.parametrize(("text", "error", "reason"), [
    ("a: 1\na: 2\n", DuplicateKeyError, None),
    ("a: &x [1, *x]\n", NotPlainError, "recursive"),
    ("a: !!set {x, y}\n", NotPlainError, "tag"),
    ("? [1]\n: 2\n", NotPlainError, "unhashable"),
])
def test_refusals_carry_what_each_front_end_words(text: str, error: type, reason: str | None) -> None:
    with pytest.raises(error) as info:
        load_positioned(text, file="f.yaml")
    if reason is not None:
        assert info.value.reason == reason
    assert info.value.problem_mark is not None


@pytest.mark.parametrize(("text", "words"), [
    ("quantization_config: &x {global_config: {op_name_config: {a: *x}}}\n", "recursive structure"),
    ("quantization_config: !!set {x}\n", "is not allowed: qrt loads configs with YAML's safe subset"),
])
def test_the_hierarchical_front_end_refuses_what_the_loader_refuses_located(text: str, words: str) -> None:
    with pytest.raises(QrtError) as info:
        config_from_yaml_text(text, file="h.yaml")
    assert words in str(info.value) and info.value.location.startswith("h.yaml:1:")


def test_both_front_ends_word_a_duplicate_as_before() -> None:
    with pytest.raises(QrtError, match="keep only the last one, so keep one of them") as h:
        config_from_yaml_text("quantization_config: {}\nquantization_config: {}\n", file="h.yaml")
    with pytest.raises(QrtError, match="keep only the last, so keep one of them") as w:
        wildcard_from_text("- {quantizer_name: a, quantizer_name: b}\n", file="w.yaml")
    assert (h.value.code, h.value.location) == ("QRT206", "h.yaml:2:1")
    assert (w.value.code, w.value.location) == ("QRT208", "w.yaml:1:23")


def test_the_detector_parses_once_and_hands_the_parse_on(tmp_path: Path) -> None:
    wildcard = tmp_path / "w.yaml"
    wildcard.write_text("- {quantizer_name: '*', enable: false}\n")
    hierarchical = tmp_path / "h.yaml"
    hierarchical.write_text("quantization_config:\n  global_config: null\n")
    for path, kind, source in ((wildcard, "wildcard", WildcardSource), (hierarchical, "hierarchical", HierarchicalSource)):
        found = detect(path.read_text(), label=str(path))
        assert found.kind == kind and found.documents is not None and len(found.documents) == 1
        assert isinstance(load_rule_source(path), source)
    # Python data goes through the same document_kind: a list of non-entries is the wrong type
    with pytest.raises(TypeError):
        load_rule_source([1, 2])
