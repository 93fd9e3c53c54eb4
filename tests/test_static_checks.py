"""Static checks run with the suite, so CI runs them: ruff on everything (the rules that find
bugs, configured in pyproject.toml) and mypy, strict, on the IR and the resolver (the layers
every front end, tool and runtime builds on). Each prints its own findings on failure."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import ROOT


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True, timeout=600)


def test_ruff_finds_nothing() -> None:
    done = _run("ruff", "check", "--no-cache", "qrt", "tests", "bench", "scripts")
    assert done.returncode == 0, done.stdout + done.stderr


def test_mypy_strict_on_the_ir_and_the_resolver() -> None:
    done = _run("mypy")  # files and strictness: [tool.mypy] in pyproject.toml
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Success" in done.stdout
