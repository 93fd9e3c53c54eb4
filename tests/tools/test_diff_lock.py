"""``qrt diff``, git revisions, lock files and ``qrt resolve --summary``, as CI uses them.

The worked examples (docs/semantics.md §3) are diffed against each other on the model they describe (two
``mymodelSelfAttention`` layers, a concat), with the exact groups each pair must give.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest

from qrt import inspect_model
from qrt.api import resolve
from qrt.inventory.io import save_inventory
from qrt.resources import schema
from qrt.tools.plan_diff import diff_views
from qrt.tools.plan_view import view_of_plan
from tests.conftest import run_qrt
from tests.frontends.hierarchical.test_seed_examples import X, AttnModel

ROOT = Path(__file__).resolve().parents[2]

DEFAULT = "quantization_config: {}\n"
SKIP_LINEAR = "quantization_config:\n  global_config:\n    op_type_config:\n      linear: null\n"
SKIP_SOFTMAX_TYPE = (
    "quantization_config:\n  module_type_configs:\n    mymodelSelfAttention:\n      op_type_config:\n"
    "        softmax: null\n"
)
SKIP_SOFTMAX_NAME = (
    "quantization_config:\n  module_name_configs:\n    model.selfattention.layer.0:\n      op_type_config:\n"
    "        softmax: null\n"
)
A8 = "int8 per_tensor qparams=moving_average"
W8 = "int8 per_channel(axis=0) qparams=static"
OFF = "not quantized"
L = "tests.frontends.hierarchical.test_seed_examples.mymodelSelfAttention"
LINEAR = "torch.nn.modules.linear.Linear"


@pytest.fixture(scope="module")
def attn_inventory(tmp_path_factory: pytest.TempPathFactory) -> Path:
    inv = inspect_model(AttnModel(), *X)
    path = tmp_path_factory.mktemp("inv") / "attn.json"
    save_inventory(inv, path)
    return path


def write(tmp: Path, name: str, text: str) -> Path:
    path = tmp / name
    path.write_text(text)
    return path


def groups(a: Path, b: Path, inv: Path) -> list[tuple[int, str, str | None, str, str, str]]:
    va = view_of_plan(resolve(str(a), str(inv)), "a")
    vb = view_of_plan(resolve(str(b), str(inv)), "b")
    return [(len(g.sites), g.module_type, g.op_type, g.role_text, g.before, g.after) for g in diff_views(va, vb).groups]


def test_seed_default_vs_skip_linear(tmp_path: Path, attn_inventory: Path) -> None:
    got = groups(write(tmp_path, "w8a8.yaml", DEFAULT), write(tmp_path, "skip.yaml", SKIP_LINEAR), attn_inventory)
    assert sorted(got) == sorted([
        (2, LINEAR, "linear", "input[0]", A8, OFF),
        (2, LINEAR, "linear", "output[0]", A8, OFF),
        (2, LINEAR, "linear", "state[weight]", W8, OFF),
    ])


def test_seed_softmax_by_type_vs_by_name(tmp_path: Path, attn_inventory: Path) -> None:
    """Skipping softmax in every mymodelSelfAttention vs in layer 0 only: layer 1's softmax."""
    got = groups(write(tmp_path, "t.yaml", SKIP_SOFTMAX_TYPE), write(tmp_path, "n.yaml", SKIP_SOFTMAX_NAME), attn_inventory)
    assert sorted(got) == sorted([
        (1, L, "softmax", "input[0]", OFF, A8),
        (1, L, "softmax", "output[0]", OFF, A8),
    ])


def test_a_config_and_its_conversion_do_not_differ(tmp_path: Path, attn_inventory: Path) -> None:
    cfg = write(tmp_path, "skip.yaml", SKIP_SOFTMAX_NAME)
    dsl = tmp_path / "skip.qrt"
    assert run_qrt("convert", str(cfg), "--to", "dsl", "--model", str(attn_inventory), "-o", str(dsl)).returncode == 0
    done = run_qrt("diff", str(cfg), str(dsl), "--model", str(attn_inventory))
    assert done.returncode == 0 and "no difference" in done.stdout


def test_cli_diff_text_json_markdown(tmp_path: Path, attn_inventory: Path) -> None:
    a, b = write(tmp_path, "a.yaml", DEFAULT), write(tmp_path, "b.yaml", SKIP_LINEAR)
    text = run_qrt("diff", str(a), str(b), "--model", str(attn_inventory))
    assert text.returncode == 1
    assert "6 of" in text.stdout and "in 3 group(s)" in text.stdout
    assert f"by {a}" in text.stdout and f"by {b}:4:7" in text.stdout  # the winning rule on each side
    data = json.loads(run_qrt("diff", str(a), str(b), "--model", str(attn_inventory), "--format", "json").stdout)
    jsonschema.Draft202012Validator(schema("diff")).validate(data)
    assert data["differ"] == 6 and not data["equal"] and {g["count"] for g in data["groups"]} == {2}
    md = run_qrt("diff", str(a), str(b), "--model", str(attn_inventory), "--format", "markdown").stdout
    assert md.startswith("**qrt diff**") and "| sites | module type |" in md and "| 2 | `Linear` | linear |" in md


def test_plans_diff_without_a_model_and_without_torch(tmp_path: Path, attn_inventory: Path) -> None:
    pa, pb = tmp_path / "a.json", tmp_path / "b.json"
    assert run_qrt("resolve", str(write(tmp_path, "a.yaml", DEFAULT)), "--model", str(attn_inventory), "-o", str(pa)).returncode == 0
    assert run_qrt("resolve", str(write(tmp_path, "b.yaml", SKIP_LINEAR)), "--model", str(attn_inventory), "-o", str(pb)).returncode == 0
    code = (
        "import sys\nfrom qrt.cli.main import main\n"
        f"rc = main(['diff', {str(pa)!r}, {str(pb)!r}])\n"
        f"rc2 = main(['diff', {str(pa)!r}, {str(tmp_path / 'b.yaml')!r}, '--model', {str(attn_inventory)!r}])\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
        "sys.exit(rc * 10 + rc2)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 11, done.stderr  # both differ, no torch


def test_inputs_of_different_models_are_refused(tmp_path: Path, attn_inventory: Path) -> None:
    pa, pb = tmp_path / "a.json", tmp_path / "b.json"
    cfg = write(tmp_path, "a.yaml", DEFAULT)
    assert run_qrt("resolve", str(cfg), "--model", str(attn_inventory), "-o", str(pa)).returncode == 0
    assert run_qrt("resolve", str(cfg), "--model", "two_add", "-o", str(pb)).returncode == 0
    done = run_qrt("diff", str(pa), str(pb))
    assert done.returncode == 2 and "different models" in done.stderr and "--across-models" in done.stderr
    across = run_qrt("diff", str(pa), str(pb), "--across-models")
    assert across.returncode == 1 and "absent" in across.stdout
    needs = run_qrt("diff", str(cfg), str(pb))
    assert needs.returncode == 2 and "needs a model" in needs.stderr


# ---------------------------------------------------------------------------------------------
# git revisions


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    env = ["-c", "user.name=qrt", "-c", "user.email=qrt@example.com"]
    (tmp_path / "configs").mkdir()
    (tmp_path / "configs" / "w.qrt").write_text("op linear weight -> int8 per_channel\n")
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    subprocess.run(["git", *env, "add", "."], cwd=tmp_path, check=True)
    subprocess.run(["git", *env, "commit", "-qm", "one"], cwd=tmp_path, check=True)
    (tmp_path / "configs" / "w.qrt").write_text("op linear weight -> int4 per_block(32)\n")
    return tmp_path


def test_diff_a_file_against_its_previous_revision(repo: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "qrt", "diff", "HEAD:configs/w.qrt", "configs/w.qrt", "--model", "tiny_llama"],
        capture_output=True, text=True, cwd=repo, env={**__import__("os").environ, "PYTHONPATH": str(ROOT)},
    )
    assert done.returncode == 1, done.stderr
    assert "a: HEAD:configs/w.qrt" in done.stdout and "by HEAD:configs/w.qrt:1:1" in done.stdout
    assert "int4 per_block(32, axis=1)" in done.stdout


@pytest.mark.parametrize(
    ("arg", "message"),
    [("HEAD~5:configs/w.qrt", "revision 'HEAD~5' does not exist"), ("HEAD:configs/nope.qrt", "does not exist at revision")],
)
def test_bad_revisions_are_clear_errors(repo: Path, arg: str, message: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "qrt", "diff", arg, "configs/w.qrt", "--model", "tiny_llama"],
        capture_output=True, text=True, cwd=repo, env={**__import__("os").environ, "PYTHONPATH": str(ROOT)},
    )
    assert done.returncode == 2 and message in done.stderr and "QRT210" in done.stderr, done.stderr


# ---------------------------------------------------------------------------------------------
# lock files


def test_lock_passes_then_fails_after_a_one_character_regex_change(tmp_path: Path) -> None:
    rules = write(tmp_path, "rules.qrt", "include preset w8a8\nmodule /model\\.layers\\.0\\..*/ -> off\n")
    lock = tmp_path / "plan.lock"
    assert run_qrt("lock", str(rules), "--model", "tiny_llama", "-o", str(lock)).returncode == 0
    data = json.loads(lock.read_text())
    jsonschema.Draft202012Validator(schema("lock")).validate(data)
    paths = [s["quantizer_path"] for s in data["sites"]]
    assert paths == sorted(paths) and data["qrt_version"] and len(data["inventory_sha256"]) == 64
    ok = run_qrt("lock", "--check", str(lock), str(rules), "--model", "tiny_llama")
    assert ok.returncode == 0 and "lock holds" in ok.stdout
    rules.write_text("include preset w8a8\nmodule /model\\.layers\\.1\\..*/ -> off\n")  # 0 → 1
    stale = run_qrt("lock", "--check", str(lock), str(rules), "--model", "tiny_llama")
    assert stale.returncode == 1
    assert "model.layers.0.self_attn.q_proj.input_quantizer" in stale.stdout or "e.g. model.layers.0" in stale.stdout
    assert "model.layers.1" in stale.stdout and "lock is stale" in stale.stdout
    assert "the config's text changed" in stale.stdout
    report = json.loads(run_qrt("lock", "--check", str(lock), str(rules), "--model", "tiny_llama", "--format", "json").stdout)
    jsonschema.Draft202012Validator(schema("diff")).validate(report)
    changed = {p for g in report["groups"] for p in g["sites"]}
    assert any(p.startswith("model.layers.0.") for p in changed) and any(p.startswith("model.layers.1.") for p in changed)


def test_a_lock_of_another_version_is_refused(tmp_path: Path) -> None:
    rules = write(tmp_path, "rules.qrt", "include preset w8a8\n")
    lock = tmp_path / "plan.lock"
    assert run_qrt("lock", str(rules), "--model", "two_add", "-o", str(lock)).returncode == 0
    lock.write_text(lock.read_text().replace('"qrt_lock": 1', '"qrt_lock": 2'))
    done = run_qrt("lock", "--check", str(lock), str(rules), "--model", "two_add")
    assert done.returncode == 2 and "version 2 is not supported" in done.stderr


def test_an_edited_lock_is_checked_against_its_schema(tmp_path: Path) -> None:
    rules = write(tmp_path, "rules.qrt", "include preset w8a8\n")
    lock = tmp_path / "plan.lock"
    assert run_qrt("lock", str(rules), "--model", "two_add", "-o", str(lock)).returncode == 0
    lock.write_text(lock.read_text().replace('"role": "input"', '"role": "inputs"', 1))
    done = run_qrt("lock", "--check", str(lock), str(rules), "--model", "two_add")
    assert done.returncode == 2 and "does not match its schema" in done.stderr


def test_resolve_summary_counts_sites_per_op_type_role_and_decision() -> None:
    done = run_qrt("resolve", "rules/w8a8.qrt", "--model", "tiny_llama", "--summary")
    assert done.returncode == 0
    lines = done.stdout.splitlines()
    assert lines[0].split() == ["op", "type", "role", "sites", "decision"]
    assert any(line.split()[:3] == ["linear", "state", "15"] and "int8 per_channel(axis=0)" in line for line in lines)
    assert lines[-1] == "30 of 331 sites quantized"


@pytest.mark.parametrize(("edit", "said"), [
    (lambda r: r.__setitem__("decision", {"x": 1}), "['decision']"),
    (lambda r: r.pop("quantizer_path"), "'quantizer_path' is a required property"),
    (lambda r: r.__setitem__("role", "bogus"), "'bogus' is not one of"),
])
def test_a_resealed_plan_with_bad_content_is_a_located_error(tmp_path: Path, edit, said: str) -> None:  # type: ignore[no-untyped-def]
    """A sealed plan skips the full schema check; edited and sealed again (a seal is a digest,
    not a signature) it still gets a located refusal in diff, not a crash (issue 19)."""
    from qrt.sealed_json import dumps_sealed, is_sealed

    plan = tmp_path / "plan.json"
    assert run_qrt("resolve", str(ROOT / "rules" / "w8a8.qrt"), "--model", "two_add", "-o", str(plan)).returncode == 0
    data = json.loads(plan.read_text())
    data.pop("sha256")
    edit(data["sites"][0])
    bad = tmp_path / "bad.json"
    bad.write_text(dumps_sealed(data))
    assert is_sealed(bad.read_text())
    done = run_qrt("diff", str(bad), str(plan))
    assert done.returncode == 2 and "QRT211" in done.stderr and said in done.stderr, done.stderr
    assert "Traceback" not in done.stderr
