"""transformers' Conv1D (GPT-2) stores its weight (in, out) and runs addmm: a hierarchical
per-channel weight spec without an axis takes axis 1 (the output features), as ModelOpt's
transposed frame gives, instead of a ConfigError."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import run_qrt

CONFIG = """quantization_config:
  global_config:
    op_state_spec:
      weight:
        dtype: int8
        qscheme: symmetric
        granularity: per_channel
        qparam_calculator: static
"""


def test_a_gpt2_conv1d_weight_takes_its_output_axis(tmp_path: Path) -> None:
    model = tmp_path / "gpt2"
    model.mkdir()
    (model / "config.json").write_text(json.dumps({
        "architectures": ["GPT2LMHeadModel"], "model_type": "gpt2", "n_embd": 32, "n_layer": 1, "n_head": 2,
        "vocab_size": 64, "n_positions": 32, "bos_token_id": 0, "eos_token_id": 0}))
    (tmp_path / "w8.yaml").write_text(CONFIG)
    done = run_qrt("explain", str(tmp_path / "w8.yaml"), "--model", str(model),
                   "transformer.h.0.attn.c_attn.weight_quantizer", "transformer.h.0.mlp.c_proj.weight_quantizer")
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("per_channel axis=1") == 2 and "axis 1 from the default-axis table for addmm" in done.stdout
