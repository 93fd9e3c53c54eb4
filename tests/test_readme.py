"""The README's two commands are the ones CI and new users run."""

from __future__ import annotations

import re

from tests.conftest import ROOT


def readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    return re.findall(r"```sh\n(pip install [^\n]+)\n```", text)


def test_readme_has_install_and_test_commands() -> None:
    install, tests = readme_commands()[:2]
    assert "qrt explain rules/w8a8.qrt --model tiny_llama" in install
    assert install.endswith("&& qrt run rules/w8a8.qrt --model tiny_llama --finalize out/tiny_llama-w8a8")
    assert "pytest" in tests
    for command in (install, tests):
        assert command.startswith("pip install torch==2.13.0 && ")
        assert "-c constraints.txt" in command


def test_ci_runs_exactly_the_readme_test_command() -> None:
    tests = readme_commands()[1]
    assert tests in (ROOT / ".ci" / "run").read_text().splitlines()


def test_readme_rule_example_parses_and_resolves() -> None:
    import torch

    import qrt
    from qrt.runtime.examples import TinyLlama

    text = (ROOT / "README.md").read_text()
    block = re.search(r"```\n(include preset w8a8.*?)```", text, re.S)
    assert block is not None
    rules = qrt.parse_rules(block.group(1), file="README.md")
    assert len(rules) == 6 + 5  # the preset's rules, then five rule lines
    plan = qrt.resolve(rules, TinyLlama().eval(), torch.randint(0, 256, (1, 8)))
    assert plan.decision("lm_head.weight_quantizer").spec is None
    assert plan.decision("model.layers.1.mlp.up_proj.weight_quantizer").spec.dtype == "int4"


def test_dsl_reference_opening_example_parses() -> None:
    import qrt

    text = (ROOT / "docs" / "dsl.md").read_text()
    first = re.search(r"```\n(#.*?)```", text, re.S)
    assert first is not None
    rules = qrt.parse_rules(first.group(1), file="docs/dsl.md")
    assert [r.origin.line for r in rules][-4:] == [6, 7, 8, 9]


def test_the_main_job_runs() -> None:
    """The install command's last two steps, as a new user runs them."""
    from tests.conftest import run_qrt

    explain = run_qrt("explain", "rules/w8a8.qrt", "--model", "tiny_llama", "lm_head.weight_quantizer", cwd=ROOT)
    assert explain.returncode == 0 and "lm_head.weight_quantizer" in explain.stdout
    done = run_qrt("run", "rules/w8a8.qrt", "--model", "tiny_llama", cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert "30 quantizers, 30 enabled" in done.stdout and "cosine 0.99" in done.stdout
