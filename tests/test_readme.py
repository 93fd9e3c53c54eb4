"""The README's two commands are the ones CI and new users run."""

from __future__ import annotations

import re

from tests.conftest import ROOT


def readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    return re.findall(r"```sh\n(pip install [^\n]+)\n```", text)


def test_readme_has_install_and_test_commands() -> None:
    install, tests = readme_commands()[:2]
    assert "qrt inspect --model" in install
    assert "pytest" in tests
    for command in (install, tests):
        assert command.startswith("pip install torch==2.13.0 && ")
        assert "-c constraints.txt" in command


def test_ci_runs_exactly_the_readme_test_command() -> None:
    tests = readme_commands()[1]
    assert tests in (ROOT / ".ci" / "run").read_text().splitlines()
