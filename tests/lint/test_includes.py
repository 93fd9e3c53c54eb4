"""Findings about included rules (issue 16, item 4): each names the file its rule was written
in, with that file's own line; a preset's rule that the includer overrides is no finding; a
user's own rule that never wins still is; output formats point at lines that exist."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

import pytest

from qrt.inventory.model import Inventory
from qrt.lint import Severity, lint
from qrt.lint.report import render
from qrt.resources import data_dir
from tests.lint import models
from tests.lint.support import assert_locations_exist

# README.md "Rules, `qrt resolve` and `qrt explain`", as written there
README_RULES = """\
include preset w8a8                                # rules/w8a8.qrt, shipped
spec w4 = int4 per_block(32)
op linear weight -> w4                             # later rules of equal priority win
in type LlamaAttention op softmax output -> off
in name /model\\.layers\\.(0|31)/ * -> off           # keep the first and last layer float
quantizer "*[kv]_bmm_quantizer" -> float8_e4m3fn   # ModelOpt names work too
module /lm_head/ -> off priority (1)               # a higher priority beats any order
"""

# an included file of the user's: longer than the file that includes it, so a finding at its
# lines but the includer's name would point past the includer's end
COMMON = """\
# shared rules
spec w8 = int8 per_channel
op linear weight -> w8
op linear weight -> int4 per_block(32)
module /model.layers.\\d+.mlp/ -> off
"""


@cache
def tiny_llama() -> Inventory:
    from qrt.model_inventory import load_model_inventory

    return load_model_inventory("tiny_llama")


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_the_readme_include_then_override_pattern_is_no_warning(tmp_path: Path) -> None:
    rules = write(tmp_path, "rules.qrt", README_RULES)
    static = lint([str(rules)])
    assert "QRT006" not in {f.code for f in static.findings}, static.findings
    assert_locations_exist(static)
    with_model = lint([str(rules)], tiny_llama())
    assert not {f.code for f in with_model.findings} & {"QRT006", "QRT021"}, with_model.findings
    # what is left is info (LlamaAttention names one class here; tiny_llama runs no softmax,
    # and the rule only turns that off), and QRT029: on this 2-layer model the README's rules
    # keep layer 0 (of the layers "0|31"), the head and the embedding float, a third of the bytes
    warnings = [f for f in with_model.findings if f.severity >= Severity.WARNING]
    assert [f.code for f in warnings] == ["QRT029"], with_model.findings
    assert (warnings[0].file, warnings[0].line) == (str(rules), 3), warnings  # the weight rule
    assert_locations_exist(with_model)


def test_a_users_own_rule_that_never_wins_is_still_reported(tmp_path: Path) -> None:
    rules = write(tmp_path, "rules.qrt", "op linear weight -> int4 per_block(32)\ninclude preset w8a8\n")
    result = lint([str(rules)])
    (hit,) = [f for f in result.findings if f.code == "QRT006"]
    preset = str(data_dir("rules") / "w8a8.qrt")
    assert (hit.file, hit.line, hit.severity) == (str(rules), 1, Severity.WARNING)
    assert preset in hit.message  # the replacing rule, at its own file
    assert_locations_exist(result)
    with_model = lint([str(rules)], tiny_llama())
    assert [(f.file, f.line) for f in with_model.findings if f.code == "QRT021"] == [(str(rules), 1)]


def test_findings_in_an_included_file_name_that_file_and_its_lines(tmp_path: Path) -> None:
    write(tmp_path, "common.qrt", COMMON)
    main = write(tmp_path, "main.qrt", 'include "common.qrt"\n')
    common = str(tmp_path / "common.qrt")
    result = lint([str(main)])
    found = {(f.code, f.file, f.line) for f in result.findings}
    # the rule at line 3 is replaced by line 4 of its own file: reported there
    assert ("QRT006", common, 3) in found, found
    assert ("QRT002", common, 5) in found, found
    assert all(f.file == common for f in result.findings), found
    assert_locations_exist(result)
    # the text report shows common.qrt's own line under each finding
    text = render(result, "text")
    assert f"{common}:5:8: QRT002" in text and "    module /model.layers.\\d+.mlp/ -> off\n" in text


def test_an_included_file_linted_too_reports_each_finding_once(tmp_path: Path) -> None:
    common = write(tmp_path, "common.qrt", COMMON)
    main = write(tmp_path, "main.qrt", 'include "common.qrt"\n')
    both = lint([str(main), str(common)])
    alone = lint([str(common)])
    assert both.findings == alone.findings and alone.findings


def test_noqa_in_the_included_file_suppresses_its_finding(tmp_path: Path) -> None:
    write(tmp_path, "common.qrt", COMMON.replace("-> off\n", "-> off  # qrt: noqa QRT002\n"))
    main = write(tmp_path, "main.qrt", 'include "common.qrt"\n')
    assert "QRT002" not in {f.code for f in lint([str(main)]).findings}


def test_a_shipped_presets_spec_that_cannot_run_here_points_at_the_preset(tmp_path: Path) -> None:
    """w4a16's blocks of 32 do not divide a 48-wide input: the run would fail, so it is
    reported — at the shipped preset's own file and line, in every format."""
    rules = write(tmp_path, "rules.qrt", "include preset w4a16\n")
    result = lint([str(rules)], models.inventory(models.Ragged, features=48))
    (hit,) = [f for f in result.findings if f.code == "QRT023"]
    preset = data_dir("rules") / "w4a16.qrt"
    assert hit.file == str(preset)
    assert preset.read_text().splitlines()[hit.line - 1].startswith("op linear weight -> w4a16_weight")
    assert_locations_exist(result)
    sarif = json.loads(render(result, "sarif"))
    (region,) = [r["locations"][0]["physicalLocation"] for r in sarif["runs"][0]["results"] if r["ruleId"] == "QRT023"]
    assert region["artifactLocation"]["uri"].endswith("rules/w4a16.qrt") and region["region"]["startLine"] == hit.line
    github = render(result, "github")
    assert f"file={preset},line={hit.line}," in github.replace("%3A", ":").replace("%2C", ",")


@pytest.mark.parametrize("preset", ["w8a8", "w4a16", "kv_fp8"])
def test_including_a_shipped_preset_alone_is_clean(tmp_path: Path, preset: str) -> None:
    """The preset's rules are not the user's: what they select on this model is no finding."""
    rules = write(tmp_path, "rules.qrt", f"include preset {preset}\n")
    result = lint([str(rules)], tiny_llama())
    assert not [f for f in result.findings if f.severity >= Severity.WARNING], result.findings


def test_an_error_inside_an_included_file_points_into_that_file(tmp_path: Path) -> None:
    bad = write(tmp_path, "bad.qrt", "# one\n# two\n# three\nop linear weight -> int8 scale_dtyp=float16\n")
    main = write(tmp_path, "main.qrt", 'include "bad.qrt"\n')
    result = lint([str(main)])
    (hit,) = result.findings
    assert (hit.code, hit.file, hit.line, hit.column) == ("QRT202", str(bad), 4, 26)
    assert result.unreadable == [str(main)]
    assert_locations_exist(result)
    text = render(result, "text")
    assert "    op linear weight -> int8 scale_dtyp=float16\n" + " " * 29 + "^" in text, text
