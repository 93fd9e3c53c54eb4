"""``qrt run`` as a new user meets it (issue 16, items 2 and 6): reproducible numbers, a heading
that says what was run, columns that explain themselves, config errors before the model build,
and did-you-mean for mistyped commands and built-in model names."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import ROOT, marking_factory, run_qrt

W8A8 = str(ROOT / "rules" / "w8a8.qrt")


def test_the_same_seed_prints_the_same_numbers_in_two_processes() -> None:
    """Built-in models start from random weights: ``--seed`` seeds them, the example input and
    the calibration batches, so two separate processes print the same numbers."""
    # w8a8 quantizes linear weights: mha's in_proj_weight (read by multi_head_attention_forward)
    # stays float, 19% of the weight bytes are quantized, and qrt run refuses without the flag
    args = ("run", W8A8, "--model", "mha", "--batches", "2", "--format", "json", "--seed", "3", "--allow-low-coverage")
    first = run_qrt(*args, fresh=True)
    second = run_qrt(*args, fresh=True)
    assert first.returncode == 0 and second.returncode == 0, first.stderr + second.stderr
    assert json.loads(first.stdout) == json.loads(second.stdout)
    # fresh processes through the eager runtime (torchao's first import): nothing but qrt's
    # output (tests/runtime/test_quiet.py checks the HF path)
    assert first.stderr == second.stderr == ""
    other = run_qrt("run", W8A8, "--model", "mha", "--batches", "2", "--format", "json", "--seed", "4", "--allow-low-coverage")
    assert json.loads(other.stdout)["cosine"] != json.loads(first.stdout)["cosine"]


def test_build_model_seeds_weights_and_inputs_and_restores_the_callers_random_state() -> None:
    import torch

    from qrt.model_spec import parse_model_spec
    from qrt.runtime.sources import build_model

    spec = parse_model_spec("cnn")
    torch.manual_seed(123)
    expected_next = torch.rand(3)
    torch.manual_seed(123)
    a = build_model(spec, seed=7)
    assert torch.equal(torch.rand(3), expected_next)  # the caller's generator is untouched
    b = build_model(spec, seed=7)
    c = build_model(spec, seed=8)
    assert all(torch.equal(x, y) for x, y in zip(a.model.state_dict().values(), b.model.state_dict().values()))
    assert torch.equal(a.args[0], b.args[0])
    assert not torch.equal(a.model.fc.weight, c.model.fc.weight)


def test_run_says_what_was_prepared_from_what_and_calibrated_on_what() -> None:
    done = run_qrt("run", "modelopt:INT8_DEFAULT_CFG", "--model", "cnn", "--batches", "3", "--seed", "5")
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert out.startswith("model:        cnn (SmallCNN, built-in, random weights, seed 5, cpu)\n")
    # ModelOpt 0.47 creates 11 quantizers on this model: none on the ReLUs or on the BatchNorm weight
    assert "config:       modelopt:INT8_DEFAULT_CFG (ModelOpt quant_cfg list), eager mode: 11 quantizers, 10 enabled" in out
    assert ("calibration:  3 batches of float32[1, 3, 16, 16]: the example input, then 2 random batches like it "
            "(seed 5)") in out
    assert "obs: observer" in out and "fq: fake quantization" in out  # the columns are explained


def test_qparams_column_tells_the_truth_after_calibration() -> None:
    """Weights are quantized from the weight itself, not from calibration data; an off
    quantizer has no qparams to wait for."""
    done = run_qrt("run", "modelopt:INT8_DEFAULT_CFG", "--model", "cnn", "--batches", "2")
    rows = {line.split()[0]: line for line in done.stdout.splitlines() if "_quantizer" in line and "obs=" in line}
    assert "from weight" in rows["fc.weight_quantizer"]
    assert "calibrated" in rows["fc.input_quantizer"]
    assert not [r for r in rows.values() if "not calibrated" in r]
    off = [r for r in rows.values() if "  off  " in r]
    assert off and all(" -  " in r for r in off)
    prepared = run_qrt("inspect", "--model", "cnn", "--prepared", W8A8)
    weight = next(line for line in prepared.stdout.splitlines() if line.startswith("fc.weight_quantizer"))
    assert "from weight" in weight  # right after prepare: computed from the weight at first use


def test_a_hierarchical_yaml_config_runs_in_eager_mode() -> None:
    """A hierarchical config defaults to graph mode; ``qrt run`` measures the eager runtime."""
    done = run_qrt("run", str(ROOT / "rules" / "presets" / "w8a8.yaml"), "--model", "two_add", "--batches", "2")
    assert done.returncode == 0, done.stderr
    assert "eager mode (the config says graph; qrt run runs the eager runtime)" in done.stdout


@pytest.mark.parametrize("command", [
    ("run", "{bad}"), ("resolve", "{bad}"), ("explain", "{bad}", "fc.weight_quantizer"), ("lock", "{bad}"),
    ("inspect", "--prepared", "{bad}"), ("diff", W8A8, "{bad}"),
])
def test_a_broken_rule_file_is_reported_before_the_model_is_built(tmp_path: Path, command: tuple[str, ...]) -> None:
    """The factory leaves a mark when it runs: a config error must come first."""
    bad = tmp_path / "bad.qrt"
    bad.write_text("op linear weight -> int4 per_blok(32)\n")
    factory, mark = marking_factory(tmp_path, "marking_models")
    argv = [a.format(bad=bad) for a in command]
    done = run_qrt(*argv, "--model", f"{factory}:make")
    assert done.returncode == 2
    assert f"{bad}:1:26: unknown granularity 'per_blok'" in done.stderr and "Traceback" not in done.stderr
    assert not mark.exists()


def test_did_you_mean_for_a_mistyped_command_and_built_in_model() -> None:
    command = run_qrt("resolv", W8A8, "--model", "two_add")
    assert command.returncode == 2
    assert "unknown command 'resolv'; did you mean 'resolve'?" in command.stderr
    model = run_qrt("run", W8A8, "--model", "tiny_lama")
    assert model.returncode == 2 and "did you mean 'tiny_llama'?" in model.stderr


def test_each_command_registers_only_itself_and_all_together_match_the_table() -> None:
    """``main`` builds only the command it runs (``COMMANDS`` names its module); ``--help``
    and an unknown word build them all: the table and the registered commands agree."""
    from qrt.cli.main import COMMANDS, build_parser

    def names(parser: object) -> list[str]:
        return [c for a in parser._subparsers._group_actions for c in a.choices]  # type: ignore[attr-defined]

    assert names(build_parser()) == list(COMMANDS)
    assert names(build_parser("lint")) == ["lint"]
    assert names(build_parser("lnit")) == list(COMMANDS)
    assert run_qrt("lint", "--help").returncode == 0


def test_run_refuses_zero_batches_and_a_saved_inventory(tmp_path: Path) -> None:
    zero = run_qrt("run", W8A8, "--model", "two_add", "--batches", "0")
    assert zero.returncode == 2 and "at least 1" in zero.stderr
    inv = tmp_path / "inv.json"
    assert run_qrt("inspect", "--model", "two_add", "--format", "json", "-o", str(inv)).returncode == 0
    saved = run_qrt("run", W8A8, "--model", str(inv))
    assert saved.returncode == 2 and "no weights to run" in saved.stderr and "Traceback" not in saved.stderr


def test_no_compare_keeps_no_float_copy_and_reports_no_error_figures(tmp_path: Path) -> None:
    """Issue 20: the comparison needs a float copy of the whole model; --no-compare skips both
    (the finalize report still checks the finalized model against the prepared one)."""
    import gc

    import torch

    from qrt.runtime.examples import EXAMPLES
    from qrt.runtime.quant.run import run_config

    def linears_alive() -> int:
        gc.collect()
        return sum(1 for o in gc.get_objects() if type(o) is torch.nn.Linear)

    example = EXAMPLES["tiny_llama"]
    model = example.build().eval()
    before = linears_alive()
    seen: list[int] = []

    def progress(_update: object) -> None:  # the trace's first report: the copy exists by then
        if not seen:
            seen.append(linears_alive())

    report = run_config(W8A8, model, example.inputs(None, "cpu"), batches=2, compare=False, progress=progress)
    assert report.cosine is None and report.max_abs_error is None
    assert seen and max(seen) == before  # no second set of Linear modules was made
    seen.clear()
    run_config(W8A8, example.build().eval(), example.inputs(None, "cpu"), batches=2, progress=progress)
    assert max(seen) > before  # the comparison's float copy
    done = run_qrt("run", W8A8, "--model", "tiny_llama", "--no-compare", "--finalize", str(tmp_path / "out"))
    assert done.returncode == 0, done.stderr
    assert "comparison:   none (--no-compare" in done.stdout and "output vs float model" not in done.stdout
    assert "finalized vs prepared output: max abs difference 0" in done.stdout


def test_finalize_creates_missing_folders_but_not_through_a_file(tmp_path: Path) -> None:
    """``--finalize out/model`` in a fresh clone (the README's first command) creates ``out``,
    as save_pretrained does; an ancestor that is a file is a located refusal."""
    rules = tmp_path / "r.qrt"
    rules.write_text("op linear weight -> int8 per_channel(axis=0) qparam_calculator=static\n")
    nested = tmp_path / "out" / "deeper" / "model"
    done = run_qrt("run", str(rules), "--model", "two_add", "--finalize", str(nested), "--allow-low-coverage")
    assert done.returncode == 0, done.stderr
    assert (nested / "qrt-manifest.json").is_file()
    (tmp_path / "a-file").write_text("x")
    refused = run_qrt("run", str(rules), "--model", "two_add", "--finalize", str(tmp_path / "a-file" / "model"))
    assert refused.returncode == 2 and "QRT106" in refused.stderr and "is not a folder" in refused.stderr
    assert "Traceback" not in refused.stderr
