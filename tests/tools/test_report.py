"""``qrt report`` as a user runs it: the JSON against its schema, the HTML page self-contained
and embedding the same facts, explanations equal to ``qrt explain``'s, plan and lock files,
diff mode equal to ``qrt diff``; and ``qrt run``'s too-little guard."""

from __future__ import annotations

import json
import re
from pathlib import Path

import jsonschema
import pytest
import referencing

from qrt.resources import schema
from tests.conftest import run_qrt
from tests.tools.report_support import WEIGHT, explain_text, report_json, write_inputs


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str, str]:
    return write_inputs(tmp_path_factory.mktemp("report"))


def validate(doc: dict) -> None:  # type: ignore[type-arg]
    registry = referencing.Registry().with_resource(
        "https://qrt.dev/schemas/diff.schema.json", referencing.Resource.from_contents(schema("diff")))
    validator = jsonschema.Draft202012Validator(schema("report"), registry=registry)
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(doc)]
    assert not errors, errors[:5]


def test_json_follows_its_schema_and_explains_as_qrt_explain(inputs: tuple[str, str, str]) -> None:
    inv, rules, _ = inputs
    doc = report_json(rules, "--model", inv)
    validate(doc)
    assert doc["kind"] == "plan" and doc["inputs"] == [rules]
    # every site of the model, every module once, parents first
    inventory = json.loads(Path(inv).read_text())
    assert [s["path"] for s in doc["sites"]] == [s["quantizer_path"] for s in inventory["sites"]]
    assert sorted(m["name"] for m in doc["modules"]) == sorted(m["name"] for m in inventory["modules"])
    assert all(m["parent"] is None or m["parent"] < i for i, m in enumerate(doc["modules"]))
    for path in (WEIGHT, "lm_head.weight_quantizer", "model.layers.1.mlp.down_proj.input_quantizer"):
        done = run_qrt("explain", rules, "--model", inv, path, "--color", "never")
        assert explain_text(doc, path) == done.stdout
    # the coverage is the one resolve --summary prints
    plan = json.loads(run_qrt("resolve", rules, "--model", inv, "--summary", "--format", "json").stdout)
    assert doc["coverage"] == plan["summary"]["weights"]
    root = doc["modules"][0]
    assert (root["bytes_before"], root["bytes_after"]) == (doc["coverage"]["bytes_before"], doc["coverage"]["bytes_after"])


def test_the_page_is_self_contained_and_embeds_the_json(inputs: tuple[str, str, str], tmp_path: Path) -> None:
    inv, rules, _ = inputs
    page = tmp_path / "plan.html"
    done = run_qrt("report", rules, "--model", inv, "-o", str(page))
    assert done.returncode == 0 and re.search(r"wrote .*plan\.html \(\d+\.\d\d MB", done.stderr), done.stderr
    html = page.read_text()
    found = re.search(r'<script type="application/json" id="qrt-data">(.*?)</script>', html, re.S)
    assert found is not None
    assert json.loads(found.group(1)) == report_json(rules, "--model", inv)
    rest = html[: found.start()] + html[found.end():]
    # nothing fetched: no URL, no external script, style or image; the only link is data:
    assert not re.search(r"https?://|//[a-z]", rest.replace("https://qrt.dev", "")), "a URL in the page"
    assert re.findall(r'(?:src|href)="([^"]*)"', rest) == ["data:,"]
    assert "@import" not in rest and "url(" not in rest


def test_a_name_cannot_end_the_data_element() -> None:
    from qrt.tools.report_html import render_html

    page = render_html({"x": "</script><!-- <b>"})
    data = re.search(r'id="qrt-data">(.*?)</script>', page, re.S)
    assert data is not None and json.loads(data.group(1)) == {"x": "</script><!-- <b>"}


def test_plan_and_lock_files(inputs: tuple[str, str, str], tmp_path: Path) -> None:
    inv, rules, _ = inputs
    plan, lock = tmp_path / "plan.json", tmp_path / "plan.lock"
    assert run_qrt("resolve", rules, "--model", inv, "-o", str(plan)).returncode == 0
    assert run_qrt("lock", rules, "--model", inv, "-o", str(lock)).returncode == 0
    full = report_json(rules, "--model", inv)
    for saved in (plan, lock):
        doc = report_json(str(saved), "--model", inv)
        validate(doc)
        assert doc["coverage"] == full["coverage"]
        decisions = {s["path"]: s["decision"] is not None for s in doc["sites"]}
        assert decisions == {s["path"]: s["decision"] is not None for s in full["sites"]}
        assert "decided by " in explain_text(doc, WEIGHT)
    alone = report_json(str(plan))  # no inventory: no bytes, the plan's own modules
    validate(alone)
    assert alone["coverage"] is None and alone["weights"] == []
    assert {m["name"] for m in alone["modules"]} >= {s["module"] for s in json.loads(plan.read_text())["sites"]}


def test_diff_mode_reports_what_qrt_diff_reports(inputs: tuple[str, str, str]) -> None:
    inv, rules, other = inputs
    doc = report_json("--diff", other, rules, "--model", inv)
    validate(doc)
    diff = run_qrt("diff", other, rules, "--model", inv, "--format", "json")
    assert diff.returncode == 1
    expected = json.loads(diff.stdout)
    assert {k: v for k, v in doc["diff"].items() if not k.startswith("coverage_")} == expected
    # b leaves lm_head float: a smaller share of the bytes, fewer bits in the rest (int4)
    a_cov, b_cov = doc["diff"]["coverage_a"], doc["diff"]["coverage_b"]
    assert a_cov["fraction"] > b_cov["fraction"] and set(a_cov["formats"]) == {"int8", "float"}
    assert doc["coverage"] == b_cov
    changed = {s["path"] for s in doc["sites"] if s["decision"] != s["a_decision"]}
    assert changed == {p for g in expected["groups"] for p in g["sites"]}


def test_input_counts_are_checked(inputs: tuple[str, str, str]) -> None:
    inv, rules, other = inputs
    for args in ((rules, other), ("--diff", rules)):
        done = run_qrt("report", *args, "--model", inv)
        assert done.returncode == 2 and "qrt report: error:" in done.stderr and not done.stdout


def test_qrt_run_refuses_too_little_unless_allowed(tmp_path: Path) -> None:
    one = tmp_path / "one.qrt"
    one.write_text("module /model\\.layers\\.0\\.mlp\\.down_proj/ weight -> int4 per_block(32)\n")
    done = run_qrt("run", str(one), "--model", "tiny_llama")
    assert done.returncode == 2 and not done.stdout
    assert "QRT029" in done.stderr and "7.7% of the model's weight bytes" in done.stderr
    assert "--allow-low-coverage" in done.stderr
    allowed = run_qrt("run", str(one), "--model", "tiny_llama", "--allow-low-coverage", "--no-compare",
                      "--batches", "1", "--format", "json")
    assert allowed.returncode == 0, allowed.stderr
    report = json.loads(allowed.stdout)
    assert report["weights"] == "random" and report["weight_bytes"]["formats"]["int4"]["tensors"] == 1
    missed = tmp_path / "missed.qrt"
    missed.write_text("op linear weight -> int4 per_block(32)\nmodule /vision_tower/ weight -> int8 per_channel\n")
    done = run_qrt("run", str(missed), "--model", "tiny_llama")
    assert done.returncode == 2 and f"{missed}:2:1: QRT020" in done.stderr, done.stderr
