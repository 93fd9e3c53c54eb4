"""Shared test set-up: hypothesis profiles and small helpers.

Profiles: ``ci`` (default: fast, deterministic) and ``heavy`` (local runs:
``QRT_HYPOTHESIS_PROFILE=heavy pytest``).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

ROOT = Path(__file__).resolve().parent.parent

settings.register_profile(
    "ci",
    max_examples=40,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("heavy", max_examples=1000, deadline=None)
settings.load_profile(os.environ.get("QRT_HYPOTHESIS_PROFILE", "ci"))

if str(ROOT) not in sys.path:  # tests run from the tree even without an install
    sys.path.insert(0, str(ROOT))


MAX_WORKERS = 4
"""``-n auto`` (pyproject's addopts) runs one worker per core up to this many: every worker
imports torch, transformers and ModelOpt and builds its own models (about 1.5 GiB each), so a
many-core desktop would otherwise spend its memory on workers the 5-minute suite cannot use."""


def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """The worker count ``-n auto`` uses (pytest-xdist's hook): the cores, capped."""
    return max(1, min(MAX_WORKERS, os.cpu_count() or 1))


@pytest.fixture(autouse=True)
def _private_inventory_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets an inventory cache of its own (``QRT_CACHE_DIR``, inherited by the
    processes it starts): the suite never reads or writes the user's ``~/.cache/qrt``, and no
    test sees another's entries."""
    folder = tmp_path_factory.mktemp("qrt-cache")
    monkeypatch.setenv("QRT_CACHE_DIR", str(folder))
    return folder


def run_qrt(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None, fresh: bool = False):
    """Run the CLI as a user's shell would: ``main(argv)`` with its exit status, stdout and
    stderr. In-process by default (a fresh interpreter adds seconds of imports and nothing a
    test checks); ``fresh=True`` starts a new interpreter, for what only a separate process
    shows (import side effects, stderr noise, names stable across processes)."""
    import subprocess

    full_env = {"PYTHONPATH": str(ROOT), "NO_COLOR": "1", **(env or {})}
    if fresh:
        return subprocess.run(
            [sys.executable, "-m", "qrt", *args],
            capture_output=True,
            text=True,
            cwd=cwd,
            env={**os.environ, **full_env},
            timeout=300,
        )
    import contextlib
    import io

    from qrt.cli.main import main

    out, err = io.StringIO(), io.StringIO()
    saved_env = {k: os.environ.get(k) for k in full_env}
    saved_cwd = os.getcwd()
    os.environ.update(full_env)
    try:
        if cwd is not None:
            os.chdir(cwd)
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main(list(args))
            except SystemExit as exit_:  # argparse's usage errors and --help
                code = exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 2)
                if isinstance(exit_.code, str):
                    err.write(exit_.code)
    finally:
        os.chdir(saved_cwd)
        for k, v in saved_env.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return subprocess.CompletedProcess(["qrt", *args], code, out.getvalue(), err.getvalue())


def marking_factory(folder: Path, stem: str = "marking_models") -> tuple[Path, Path]:
    """``folder/<stem>.py`` with a factory ``make`` that writes ``folder/built`` when it runs,
    and that mark's path: a test that the model was (or was not) built."""
    mark = folder / "built"
    factory = folder / f"{stem}.py"
    factory.write_text(
        "import pathlib\nimport torch\n\n"
        "def make():\n"
        f"    pathlib.Path({str(mark)!r}).write_text('built')\n"
        "    return torch.nn.Linear(4, 4), torch.randn(2, 4)\n"
    )
    return factory, mark
