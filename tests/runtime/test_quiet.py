"""A user sees only qrt's own output: torch's and torchao's known import-time messages are
dropped at their loggers, and nothing else is."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

import qrt.runtime  # noqa: F401  (installs the filters)
from tests.conftest import run_qrt


def test_only_the_known_messages_are_dropped(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    ao = logging.getLogger("torchao")
    ao.warning("Failed to load /venv/lib/python3.11/site-packages/torchao/_C_cutlass_90a.abi3.so: nope")
    ao.warning("Failed to load /venv/lib/python3.11/site-packages/torchao/_C_mxfp8.cpython-310-x86_64-linux-gnu.so: x")
    ao.warning("a real torchao warning")
    pytree = logging.getLogger("torch.utils._pytree")
    pytree.warning("%s is an Enum subclass and is now natively supported by torch.compile", "<enum 'X'>")
    pytree.warning("another pytree warning")
    assert [r.getMessage() for r in caplog.records] == ["a real torchao warning", "another pytree warning"]


@pytest.mark.slow
def test_a_command_on_an_hf_model_prints_nothing_but_qrts_output(tmp_path: Path) -> None:
    """A fresh process each (the messages come once, at the first import)."""
    pytest.importorskip("transformers")
    config = tmp_path / "config.json"
    config.write_text(json.dumps({
        "model_type": "llama", "architectures": ["LlamaForCausalLM"], "vocab_size": 64, "hidden_size": 32,
        "intermediate_size": 64, "num_hidden_layers": 1, "num_attention_heads": 2, "num_key_value_heads": 1,
    }))
    inspect = run_qrt("inspect", "--model", str(config), "--format", "json", fresh=True)
    assert inspect.returncode == 0 and inspect.stderr == ""
    # the eager runtime's first import of torchao, in a fresh `qrt run`: checked by
    # tests/cli/test_run.py::test_the_same_seed_prints_the_same_numbers_in_two_processes
