"""Every shell and Python block of README.md and docs/*.md runs as written (issue 16).

Each document runs in its own fresh temporary folder, its blocks in order, as a reader
following it would: files written by one block (``-o inv.json``, a ``file`` marker's
``my_models.py``) are there for the next, and its Python blocks share one namespace. A
test per block; asking for one block runs the blocks before it first. ``tests/docs_blocks.py``
says which fences run and what the ``<!-- docs-test: … -->`` markers mean.

Speed: ``qrt`` commands run in-process through ``qrt.cli.main.main(argv)`` (a fresh
interpreter per command would cost seconds each), with the folder as working directory and
stdout/stderr captured.

Files a reader already has and no block writes come from ``FIXTURES`` below, created in a
document's folder when one of its runnable blocks names them.
"""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import ROOT, run_qrt
from tests.docs_blocks import Block, DocsTestError, doc_blocks, shell_commands

DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


# --- files a reader has -------------------------------------------------------------------


def _rules_folder(folder: Path) -> None:
    (folder / "rules").symlink_to(ROOT / "rules", target_is_directory=True)


TINY_LLAMA_CONFIG = """{
  "architectures": ["LlamaForCausalLM"],
  "model_type": "llama",
  "hidden_size": 64,
  "intermediate_size": 128,
  "num_hidden_layers": 2,
  "num_attention_heads": 4,
  "num_key_value_heads": 2,
  "vocab_size": 256,
  "max_position_embeddings": 64,
  "rms_norm_eps": 1e-05,
  "tie_word_embeddings": false
}
"""


def _hf_config(folder: Path) -> None:
    (folder / "path" / "to").mkdir(parents=True, exist_ok=True)
    (folder / "path" / "to" / "config.json").write_text(TINY_LLAMA_CONFIG)


W4_BEFORE = """\
quantization_config:
  global_config:
    op_state_spec:
      weight: {dtype: int4, granularity: {type: per_block, block_size: 32}}
"""
W4_AFTER = W4_BEFORE + """\
  module_name_configs:
    lm_head:
"""


def _git(folder: Path, *args: str) -> None:
    env = {**os.environ, "GIT_AUTHOR_NAME": "docs", "GIT_AUTHOR_EMAIL": "docs@example.com",
           "GIT_COMMITTER_NAME": "docs", "GIT_COMMITTER_EMAIL": "docs@example.com"}
    subprocess.run(["git", "-c", "commit.gpgsign=false", *args], cwd=folder, env=env, check=True, capture_output=True)


def _configs_repo(folder: Path) -> None:
    (folder / "configs").mkdir(exist_ok=True)
    _git(folder, "init", "-q")
    for n, text in enumerate((W4_BEFORE, W4_AFTER)):
        (folder / "configs" / "w4.yaml").write_text(text)
        _git(folder, "add", "configs/w4.yaml")
        _git(folder, "commit", "-q", "-m", f"w4 config, version {n + 1}")


def _plans(folder: Path) -> None:
    for name, preset in (("plan_a.json", "INT8_DEFAULT_CFG"), ("plan_b.json", "FP8_DEFAULT_CFG")):
        status, _, err = run_qrt_in_process(["resolve", f"modelopt:{preset}", "--model", "tiny_llama", "-o", name])
        assert status == 0, err


@dataclass(frozen=True)
class Fixture:
    what: str
    make: Callable[[Path], None]


FIXTURES: dict[str, Fixture] = {
    "rules/": Fixture("the checkout's shipped rules/ (the README's commands run in a clone)", _rules_folder),
    "path/to/config.json": Fixture("a 2-layer Llama config.json for transformers (built on meta)", _hf_config),
    "configs/w4.yaml": Fixture("a git repository whose last commit changed configs/w4.yaml", _configs_repo),
    "plan_a.json": Fixture("plan_a.json, plan_b.json: ModelOpt INT8 and FP8 defaults on tiny_llama", _plans),
}


# --- running a document -------------------------------------------------------------------


@dataclass
class Outcome:
    ok: bool
    transcript: str
    seconds: float


def run_qrt_in_process(argv: list[str]) -> tuple[int, str, str]:
    done = run_qrt(*argv)  # in-process: qrt.cli.main.main(argv), output captured
    return done.returncode, done.stdout, done.stderr


def _tail(text: str, limit: int = 4000) -> str:
    return text if len(text) <= limit else "…" + text[-limit:]


class DocRun:
    """One document's folder and namespace; runs its blocks once each, in order."""

    def __init__(self, doc: str, blocks: list[Block], folder: Path) -> None:
        self.doc, self.blocks, self.folder = doc, blocks, folder
        self.namespace: dict[str, object] = {"__name__": "__docs__"}
        self.outcomes: dict[int, Outcome] = {}
        self.prepared = False

    def _prepare(self) -> None:
        provided = {b.marker("file").args[0] for b in self.blocks if b.marker("file")}  # type: ignore[union-attr]
        runnable = "\n".join(b.text for b in self.blocks if b.kind != "data" and not b.marker("skip"))
        for name, fixture in FIXTURES.items():
            if name in runnable and name.rstrip("/") not in provided:
                fixture.make(self.folder)
        self.prepared = True

    @contextlib.contextmanager
    def _inside(self) -> Iterator[None]:
        old_cwd, old_path = os.getcwd(), list(sys.path)
        old_env = os.environ.get("NO_COLOR")
        os.chdir(self.folder)
        sys.path.insert(0, str(self.folder))
        os.environ["NO_COLOR"] = "1"
        try:
            yield
        finally:
            os.chdir(old_cwd)
            sys.path[:] = old_path
            if old_env is None:
                os.environ.pop("NO_COLOR", None)
            else:
                os.environ["NO_COLOR"] = old_env

    def outcome(self, index: int) -> Outcome:
        if not self.prepared:
            with self._inside():
                self._prepare()
        for i in range(index + 1):
            if i not in self.outcomes:
                start = time.perf_counter()
                with self._inside():
                    ok, transcript = self._run(self.blocks[i])
                self.outcomes[i] = Outcome(ok, transcript, time.perf_counter() - start)
        return self.outcomes[index]

    def _run(self, block: Block) -> tuple[bool, str]:
        file = block.marker("file")
        if file is not None:
            target = self.folder / file.args[0]
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(block.text)
            return True, f"wrote {file.args[0]}"
        if block.kind == "data" or block.marker("skip"):
            return True, "not run"
        if block.kind == "python":
            return self._run_python(block)
        return self._run_shell(block)

    def _run_python(self, block: Block) -> tuple[bool, str]:
        code = compile("\n" * block.line + block.text, block.doc, "exec")  # tracebacks give the doc's lines
        out = io.StringIO()
        try:
            with contextlib.redirect_stdout(out):
                exec(code, self.namespace)
        except Exception:
            return False, _tail(out.getvalue()) + traceback.format_exc(limit=-8)
        return True, _tail(out.getvalue())

    def _run_shell(self, block: Block) -> tuple[bool, str]:
        commands = shell_commands(block)
        expected = block.expected_statuses(commands)
        log: list[str] = []
        for command, want in zip(commands, expected):
            if command.argv[:2] == ("pip", "install") and block.marker("installed"):
                log.append(f"$ {command}   (not run: {block.marker('installed').reason})")  # type: ignore[union-attr]
                continue
            if command.argv[0] != "qrt":
                return False, "\n".join([*log, f"$ {command}", "  not a qrt command: the test runs only "
                                         "`qrt …`; mark the block (skip, with the reason)"])
            status, out, err = run_qrt_in_process(list(command.argv[1:]))
            log.append(f"$ {command}   (line {command.line}: exit {status}, expected {want})")
            if status != want:
                log += [f"stdout:\n{_tail(out)}", f"stderr:\n{_tail(err)}"]
                return False, "\n".join(log)
        return True, "\n".join(log)


# --- collection ---------------------------------------------------------------------------

BLOCKS: dict[str, list[Block]] = {}
ERRORS: list[str] = []
for _path in DOCS:
    try:
        BLOCKS[_path.relative_to(ROOT).as_posix()] = doc_blocks(_path, ROOT)
    except DocsTestError as _err:
        ERRORS.append(str(_err))

RUNNABLE = [
    pytest.param(doc, i, id=block.id)
    for doc, blocks in BLOCKS.items()
    for i, block in enumerate(blocks)
    if block.kind != "data"
]


def _op_registry_state() -> dict[str, object]:
    import qrt

    return {name: qrt.default_registry.get(name) for name in qrt.default_registry.names()}


@pytest.fixture(scope="module")
def doc_runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, DocRun]]:
    """One DocRun per document; afterwards, the process as it was (op registry, torch's RNG,
    modules the blocks imported from their folders), so the docs leak into no other test."""
    import torch

    import qrt

    registry, rng = _op_registry_state(), torch.random.get_rng_state()
    runs = {
        doc: DocRun(doc, blocks, tmp_path_factory.mktemp(doc.replace("/", "_").replace(".md", "")))
        for doc, blocks in BLOCKS.items()
    }
    yield runs
    for name in set(qrt.default_registry.names()) - set(registry):
        qrt.default_registry.unregister(name)
    for name, entry in registry.items():
        if qrt.default_registry.get(name) is not entry:
            qrt.default_registry.register(entry, replace=True)  # type: ignore[arg-type]
    torch.random.set_rng_state(rng)
    folders = [str(run.folder) for run in runs.values()]
    for name, module in list(sys.modules.items()):
        if any(str(getattr(module, "__file__", "") or "").startswith(f) for f in folders):
            del sys.modules[name]
    ran = [(run.blocks[i], o) for run in runs.values() for i, o in run.outcomes.items()]
    executed = [(b, o) for b, o in ran if b.kind != "data" and not b.marker("skip")]
    skipped = [b for run in runs.values() for b in run.blocks if b.kind != "data" and b.marker("skip")]
    print(
        f"\ndocs examples: {len(executed)} blocks run "
        f"({sum(b.kind == 'shell' for b, _ in executed)} shell, {sum(b.kind == 'python' for b, _ in executed)} python; "
        f"{sum(not o.ok for _, o in executed)} failed), {len(skipped)} skipped, "
        f"{sum(1 for b, _ in ran if b.marker('file'))} files written, "
        f"in {sum(o.seconds for _, o in ran):.1f} s"
    )


def test_docs_and_markers_are_readable() -> None:
    """Every fence has a decided language and every marker is well formed (a skip or an
    xfail says why)."""
    assert not ERRORS, "\n".join(ERRORS)


def test_actions_snippets_are_shell_blocks() -> None:
    """A GitHub Actions snippet is shell, not data: it runs, or its marker says why not."""
    snippets = [b for blocks in BLOCKS.values() for b in blocks if b.is_actions_snippet]
    assert snippets and all(b.kind == "shell" for b in snippets)


def test_markers_are_checked(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text("<!-- docs-test: exit 1 -->\n```python\nprint(1)\n```\n")
    with pytest.raises(DocsTestError, match="for shell blocks"):
        doc_blocks(page, tmp_path)
    page.write_text("<!-- docs-test: skip — data -->\n```yaml\na: 1\n```\n")
    with pytest.raises(DocsTestError, match="does not run"):
        doc_blocks(page, tmp_path)
    page.write_text("<!-- docs-test: exit 0 1 -->\n```sh\nqrt --version\n```\n")
    with pytest.raises(DocsTestError, match="2 statuses for 1 commands"):
        doc_blocks(page, tmp_path)
    for marker, message in (
        ("<!-- docs-test: skip -->", "needs a reason"),
        ("<!-- docs-test: xfail — -->", "needs a reason"),
        ("<!-- docs-test: later — some day -->", "unknown docs-test marker"),
        ("<!-- docs-test: exit one -->", "takes exit statuses"),
        ("<!-- docs-test: file ../x.py -->", "one relative path"),
        ("<!-- docs-test: skip — why -->\nsome prose", "right above a fence"),
    ):
        page.write_text(f"{marker}\n```sh\nqrt --version\n```\n")
        with pytest.raises(DocsTestError, match=message):
            doc_blocks(page, tmp_path)
    page.write_text("```console\n$ qrt\n```\n")
    with pytest.raises(DocsTestError, match="neither run nor data"):
        doc_blocks(page, tmp_path)


def test_shell_blocks_split_as_a_shell_would(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(
        "<!-- docs-test: exit 0 1 0 -->\n```sh\n"
        "qrt inspect --model two_add \\\n    --format json   # a comment && not a command\n"
        "qrt lint 'a b.qrt' && qrt lint --explain QRT001; \n```\n"
        "<!-- docs-test: skip — a pipe -->\n```sh\nqrt inspect --model two_add | head\n```\n"
    )
    first, second = doc_blocks(page, tmp_path)
    commands = shell_commands(first)
    assert [c.argv for c in commands] == [
        ("qrt", "inspect", "--model", "two_add", "--format", "json"),
        ("qrt", "lint", "a b.qrt"),
        ("qrt", "lint", "--explain", "QRT001"),
    ]
    assert [c.line for c in commands] == [3, 5, 5]
    assert first.expected_statuses(commands) == [0, 1, 0]
    with pytest.raises(DocsTestError, match="needs a real shell"):
        shell_commands(second)
    page.write_text("```sh\nqrt inspect --model two_add > tree.txt\n```\n")
    with pytest.raises(DocsTestError, match="needs a real shell"):
        doc_blocks(page, tmp_path)


def test_pre_commit_hook_checks_rule_files_not_every_yaml() -> None:
    """The hook's default `files:` takes rule files only: a workflow, pre-commit's own config
    or any other YAML/JSON of a repository is no qrt config (issue 16). Run on this
    repository, it passes."""
    import re

    import yaml

    (hook,) = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())
    files = re.compile(hook["files"])
    assert files.search("quant/model.qrt")
    for other in (".github/workflows/ci.yml", ".pre-commit-config.yaml", "package.json", "quant/w4.yaml"):
        assert not files.search(other), other
    assert hook["entry"] == "qrt lint"
    matched = sorted(str(p.relative_to(ROOT)) for p in ROOT.rglob("*") if p.is_file() and files.search(
        str(p.relative_to(ROOT))) and ".git" not in p.parts and "tests" not in p.parts)
    assert matched, "the repository has rule files to check"
    done = run_qrt("lint", *matched, cwd=ROOT)
    assert done.returncode == 0, done.stdout + done.stderr


def check(block: Block, outcome: Outcome) -> None:
    """Pass, xfail or fail one block's outcome: an xfail block must fail (a known qrt bug; when
    it runs, the marker goes), every other block must run."""
    xfail = block.marker("xfail")
    if xfail is not None:
        assert not outcome.ok, (
            f"{block.where} is marked xfail ({xfail.reason}) but now runs: remove the marker\n"
            f"{outcome.transcript}"
        )
        pytest.xfail(f"{block.where}: {xfail.reason}")
    assert outcome.ok, f"{block.where} fails as written:\n{block.text}\n{outcome.transcript}"


def test_an_xfail_block_must_fail(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text("<!-- docs-test: xfail — qrt prints the wrong thing -->\n```sh\nqrt --version\n```\n")
    (block,) = doc_blocks(page, tmp_path)
    with pytest.raises(AssertionError, match="now runs: remove the marker"):
        check(block, Outcome(True, "", 0.0))
    with pytest.raises(pytest.xfail.Exception):
        check(block, Outcome(False, "", 0.0))


@pytest.mark.parametrize(("doc", "index"), RUNNABLE)
def test_block_runs_as_written(doc_runs: dict[str, DocRun], doc: str, index: int) -> None:
    run = doc_runs[doc]
    block = run.blocks[index]
    skip = block.marker("skip")
    if skip is not None:
        pytest.skip(f"{block.where}: {skip.reason}")
    check(block, run.outcome(index))
