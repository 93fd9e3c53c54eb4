"""One test per lint code: its documented bad example triggers it at the documented line and
column; its fixed example does not. The examples are the ones ``docs/lint.md`` and ``qrt lint
--explain`` show (``qrt.lint.codes``), so the docs cannot drift from what lint does.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import pytest

from qrt.inventory.model import Inventory
from qrt.lint import CODES, Severity, lint

EXAMPLES = [info for info in CODES.values() if info.bad]


@cache
def model(name: str) -> Inventory:
    from qrt.model_inventory import load_model_inventory

    return load_model_inventory(name)


def run(tmp_path: Path, text: str, file: str, model_name: str | None):  # type: ignore[no-untyped-def]
    path = tmp_path / file
    path.write_text(text)
    return lint([str(path)], model(model_name) if model_name else None), path


@pytest.mark.parametrize("info", EXAMPLES, ids=[i.code for i in EXAMPLES])
def test_bad_example_triggers_its_code_at_its_position(tmp_path: Path, info) -> None:  # type: ignore[no-untyped-def]
    result, path = run(tmp_path, info.bad, info.file, info.model)
    hits = [f for f in result.findings if f.code == info.code]
    assert hits, [(f.code, f.message) for f in result.findings]
    first = hits[0]
    assert (first.file, first.line, first.column) == (str(path), info.line, info.column), first
    assert first.severity == info.severity or (info.code == "QRT006" and info.file.endswith(".yaml"))
    assert first.message and "\n" not in first.message


@pytest.mark.parametrize("info", EXAMPLES, ids=[i.code for i in EXAMPLES])
def test_fixed_example_does_not(tmp_path: Path, info) -> None:  # type: ignore[no-untyped-def]
    result, _ = run(tmp_path, info.fixed, info.file, info.model)
    assert info.code not in {f.code for f in result.findings}, result.findings
    if not info.needs_model:  # a static example's fix is clean altogether
        assert not result.findings, result.findings
        assert result.exit_code(Severity.INFO) == 0


def test_every_code_is_documented() -> None:
    for info in CODES.values():
        assert info.summary and info.explanation and info.name
        assert info.code.startswith("QRT") and len(info.code) == 6
    # every finding code the checks can produce has an entry (read errors included)
    assert {"QRT001", "QRT006", "QRT020", "QRT021", "QRT201", "QRT206", "QRT208"} <= set(CODES)


def test_docs_are_in_sync_with_the_table() -> None:
    from scripts.write_lint_docs import render_docs

    docs = Path(__file__).resolve().parents[2] / "docs" / "lint.md"
    assert docs.read_text() == render_docs(), "run python scripts/write_lint_docs.py"


def test_every_error_class_has_its_code_in_the_one_table() -> None:
    """Every ``QrtError`` class anywhere in qrt carries a code of the table, whose entry names
    it (or the class it refines: ``CalibrationError`` is a ``ModelSourceError``), and is
    public: ``except qrt.<raised_as>`` catches it."""
    import importlib
    import pkgutil

    import qrt
    from qrt.errors import QrtError

    for info in pkgutil.walk_packages(qrt.__path__, "qrt."):
        if not info.name.endswith("__main__"):
            importlib.import_module(info.name)
    seen: list[type] = []
    stack = [QrtError]
    while stack:
        cls = stack.pop()
        seen.append(cls)
        stack.extend(cls.__subclasses__())
    for cls in seen[1:]:
        entry = CODES.get(cls.code)
        assert entry is not None, f"{cls.__module__}.{cls.__name__} raises {cls.code}, which qrt/lint/codes.py lacks"
        named = getattr(qrt, entry.raised_as or "", None)
        assert isinstance(named, type) and issubclass(cls, named), (cls, entry.raised_as)
    for entry in CODES.values():
        if not entry.lint:
            assert entry.raised_as and not entry.bad, entry.code
