"""Checks the lint tests share."""

from __future__ import annotations

from pathlib import Path

from qrt.lint import LintResult

__all__ = ["assert_locations_exist"]


def assert_locations_exist(result: LintResult) -> None:
    """Every finding names a file that exists, a line that exists in it, and a column on that
    line (or one past its end) — what SARIF and GitHub annotations need to point anywhere."""
    for f in result.findings:
        assert f.file is not None and Path(f.file).is_file(), f
        if f.line is None:
            continue
        lines = Path(f.file).read_text(encoding="utf-8").splitlines()
        assert 1 <= f.line <= len(lines), f"{f.location}: {f.file} has {len(lines)} lines ({f.code} {f.message})"
        if f.column is not None:
            assert 1 <= f.column <= len(lines[f.line - 1]) + 1, f
