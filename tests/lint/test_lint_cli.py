"""``qrt lint`` as CI runs it: formats (SARIF checked against the OASIS 2.1.0 schema), exit
codes, selection, inline suppression, the corpus of correct configs, and no torch import."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest

from qrt.lint import Severity, lint
from qrt.resources import schema
from tests.conftest import marking_factory, run_qrt

ROOT = Path(__file__).resolve().parents[2]
SARIF_SCHEMA = json.loads((ROOT / "tests" / "data" / "sarif-schema-2.1.0.json").read_text())

MIXED = """\
type Linear weight -> int8 per_channel
module /model.layers.0.mlp/ -> off   # qrt: noqa QRT002
module /model.layers.1.mlp/ -> off   # qrt: noqa
op linear weight -> float4_e2m1fn_x2 per_block(16) scale_dtype=float8_e8m0fnu
quantizer "*(q|k)_proj*" -> off
"""


@pytest.fixture
def mixed(tmp_path: Path) -> Path:
    path = tmp_path / "mixed.qrt"
    path.write_text(MIXED)
    return path


def test_findings_and_inline_suppression(mixed: Path) -> None:
    result = lint([str(mixed)])
    found = [(f.code, f.line) for f in result.findings]
    assert ("QRT001", 1) in found and ("QRT007", 4) in found and ("QRT005", 5) in found
    assert not any(line in (2, 3) for _, line in found), found  # both suppressed
    assert result.exit_code(Severity.WARNING) == 1
    assert result.exit_code(Severity.ERROR) == 1  # QRT007 is an error
    assert lint([str(mixed)], ignore=["QRT007"]).exit_code(Severity.ERROR) == 0


def test_select_and_ignore_take_prefixes(mixed: Path) -> None:
    assert {f.code for f in lint([str(mixed)], select=["QRT00"]).findings} == {"QRT001", "QRT005", "QRT007"}
    assert {f.code for f in lint([str(mixed)], select=["QRT001"]).findings} == {"QRT001"}
    assert {f.code for f in lint([str(mixed)], ignore=["QRT001", "QRT005"]).findings} == {"QRT007"}


def test_exit_codes_from_the_command_line(mixed: Path, tmp_path: Path) -> None:
    assert run_qrt("lint", str(mixed)).returncode == 1
    assert run_qrt("lint", str(mixed), "--select", "QRT001", "--fail-on", "error").returncode == 0
    broken = tmp_path / "broken.qrt"
    broken.write_text("op linear weight => int8\n")
    done = run_qrt("lint", str(broken))
    assert done.returncode == 2 and "QRT203" in done.stdout and "broken.qrt:1:18" in done.stdout
    clean = tmp_path / "clean.qrt"
    clean.write_text("op linear weight -> int8 per_channel\n")
    done = run_qrt("lint", str(clean))
    assert done.returncode == 0 and "All clean" in done.stdout
    assert run_qrt("lint").returncode == 2


def test_text_format_shows_the_line_a_caret_and_the_fix(mixed: Path) -> None:
    out = run_qrt("lint", str(mixed)).stdout
    assert f"{mixed}:1:6: QRT001 [warning]" in out
    assert "    type Linear weight -> int8 per_channel\n         ^^^^^^\n" in out
    assert "fix: type torch.nn.modules.linear.Linear" in out


def test_json_format_follows_its_schema(mixed: Path) -> None:
    done = run_qrt("lint", str(mixed), "--format", "json")
    data = json.loads(done.stdout)
    jsonschema.Draft202012Validator(schema("lint")).validate(data)
    assert data["summary"]["error"] == 1 and data["inputs"] == [str(mixed)]


def test_sarif_validates_against_the_oasis_schema(mixed: Path, tmp_path: Path) -> None:
    out = tmp_path / "lint.sarif"
    done = run_qrt("lint", str(mixed), "--format", "sarif", "-o", str(out))
    assert done.returncode == 1
    log = json.loads(out.read_text())
    validator = jsonschema.validators.validator_for(SARIF_SCHEMA)(SARIF_SCHEMA)
    errors = sorted(validator.iter_errors(log), key=str)
    assert not errors, [e.message for e in errors[:5]]
    results = log["runs"][0]["results"]
    assert {r["ruleId"] for r in results} == {"QRT001", "QRT005", "QRT007"}
    region = next(r for r in results if r["ruleId"] == "QRT001")["locations"][0]["physicalLocation"]["region"]
    assert region == {"startLine": 1, "startColumn": 6, "endColumn": 12}
    rules = log["runs"][0]["tool"]["driver"]["rules"]
    assert all(rules[r["ruleIndex"]]["id"] == r["ruleId"] for r in results)


def test_sarif_of_a_model_run_validates_too(tmp_path: Path) -> None:
    path = tmp_path / "rules.qrt"
    path.write_text("module /model\\.layers\\.\\d+\\.mlp\\.down_prj/ -> off\nop linear weight -> int4 per_block(48, axis=-1)\n")
    done = run_qrt("lint", str(path), "--model", "tiny_llama", "--format", "sarif")
    log = json.loads(done.stdout)
    jsonschema.validators.validator_for(SARIF_SCHEMA)(SARIF_SCHEMA).validate(log)
    assert {r["ruleId"] for r in log["runs"][0]["results"]} == {"QRT020", "QRT023"}


def test_github_annotations(mixed: Path) -> None:
    out = run_qrt("lint", str(mixed), "--format", "github").stdout.splitlines()
    assert any(line.startswith(f"::warning file={mixed},line=1,col=6,endColumn=12,title=QRT001 short-class-name::") for line in out), out
    assert any(line.startswith("::error ") and "QRT007" in line for line in out)


def test_explain_prints_the_documentation() -> None:
    done = run_qrt("lint", "--explain", "qrt002")
    assert done.returncode == 0 and "unescaped-dot" in done.stdout and "Bad (rules.qrt)" in done.stdout
    assert run_qrt("lint", "--explain", "QRT999").returncode == 2


def test_lint_without_a_model_or_with_a_saved_inventory_imports_no_torch(tmp_path: Path, mixed: Path) -> None:
    inv = tmp_path / "inv.json"
    assert run_qrt("inspect", "--model", "two_add", "--format", "json", "-o", str(inv)).returncode == 0
    code = (
        "import sys\n"
        "from qrt.cli.main import main\n"
        f"main(['lint', {str(mixed)!r}, 'modelopt:FP8_DEFAULT_CFG'])\n"
        f"main(['lint', {str(mixed)!r}, '--model', {str(inv)!r}])\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stderr


# ---------------------------------------------------------------------------------------------
# No false positives on correct configs


def _seed_examples() -> list[str]:
    """The YAML configs of the worked examples (docs/semantics.md §3), as the acceptance tests hold them."""
    tree = ast.parse((ROOT / "tests" / "frontends" / "hierarchical" / "test_seed_examples.py").read_text())
    return [
        node.value for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and "quantization_config" in node.value
    ]


def corpus() -> list[str]:
    shipped = [str(p) for p in sorted((ROOT / "rules").glob("*.qrt"))]
    shipped += [str(p) for p in sorted((ROOT / "rules" / "presets").glob("*.yaml"))]
    shipped += [str(p) for p in sorted((ROOT / "rules" / "modelopt").glob("*.yaml"))]
    return shipped


def test_every_shipped_preset_lints_clean() -> None:
    files = corpus()
    assert len(files) >= 39 + 7 + 3
    result = lint(files)
    bad = [f for f in result.findings if f.severity >= Severity.WARNING]
    assert not bad, bad
    assert result.exit_code(Severity.WARNING) == 0


def test_every_seed_example_lints_clean(tmp_path: Path) -> None:
    examples = _seed_examples()
    assert len(examples) >= 4
    paths = []
    for i, text in enumerate(examples):
        path = tmp_path / f"seed_{i}.yaml"
        path.write_text(text)
        paths.append(str(path))
    result = lint(paths)
    assert not result.unreadable
    assert not [f for f in result.findings if f.severity >= Severity.WARNING], result.findings
    assert result.exit_code(Severity.WARNING) == 0


def test_presets_on_a_tiny_llama_only_miss_its_small_dimensions() -> None:
    """With a model, presets written for other architectures name modules this one lacks
    (warnings); the only errors are true ones: blocks of 128 on a 64-wide toy model."""
    from qrt.model_inventory import load_model_inventory

    result = lint(corpus(), load_model_inventory("tiny_llama"))
    errors = [f for f in result.findings if f.severity == Severity.ERROR]
    assert errors and all(f.code == "QRT023" and "block size 128" in f.message for f in errors), errors
    assert not result.unreadable


def test_a_folder_lints_its_rule_files_and_yaml(tmp_path: Path, mixed: Path) -> None:
    sub = tmp_path / "quant"
    sub.mkdir()
    (sub / "a.qrt").write_text("type Linear weight -> int8 per_channel\n")
    (sub / "b.yaml").write_text("- quantizer_name: '*weight_quantizer'\n  enable: false\n")
    (sub / "inv.json").write_text("{}")
    result = lint([str(sub)])
    assert sorted(result.inputs) == [str(sub / "a.qrt"), str(sub / "b.yaml")]
    assert [f.code for f in result.findings] == ["QRT001"]


def test_an_unreadable_input_is_reported_before_the_model_is_built(tmp_path: Path) -> None:
    """The factory leaves a mark when it runs: lint reads every input first, and a syntax
    error stops it before a model build that can take seconds; a readable input builds it."""
    bad = tmp_path / "bad.qrt"
    bad.write_text("op linear weight -> int4 per_blok(32)\n")
    factory, mark = marking_factory(tmp_path, "marking_lint_models")
    done = run_qrt("lint", str(bad), "--model", f"{factory}:make")
    assert done.returncode == 2 and f"{bad}:1:26" in done.stdout
    assert "was not built: an input cannot be read" in done.stderr
    assert not mark.exists()
    good = tmp_path / "good.qrt"
    good.write_text("op linear weight -> int8 per_channel\n")
    done = run_qrt("lint", str(good), "--model", f"{factory}:make")
    assert done.returncode == 0, done.stdout + done.stderr
    assert mark.exists()


def test_a_folder_with_no_configs_is_not_all_clean(tmp_path: Path) -> None:
    """A misspelt, empty or oddly named folder (``x.yaml``) used to print "All clean: 0
    input(s)" and exit 0."""
    odd = tmp_path / "x.yaml"
    odd.mkdir()
    (odd / "notes.txt").write_text("not a config\n")
    done = run_qrt("lint", str(odd))
    assert done.returncode == 2, done.stdout
    assert "is a folder with no rule files or configs in it" in done.stdout
    (odd / "rules.qrt").write_text("op linear weight -> int8 per_channel\n")
    assert run_qrt("lint", str(odd)).returncode == 0
