"""``qrt resolve`` and ``qrt explain`` run as a user runs them, on built-in and HF models."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from qrt.resources import schema
from tests.conftest import run_qrt

RULES = """\
# int4 weights, fp8 activations on linears, keep the first layer and the head float
spec w4   = int4 per_block(32)
spec act8 = float8_e4m3fn
op linear weight -> w4
op linear input[0] -> act8
quantizer "*[kv]_bmm_quantizer" -> float8_e4m3fn
in name /model\\.layers\\.0/ * -> off
module /lm_head/ -> off priority (1)
"""


@pytest.fixture()
def rules_file(tmp_path: Path) -> Path:
    path = tmp_path / "rules.qrt"
    path.write_text(RULES)
    return path


def test_resolve_writes_a_plan_matching_its_schema(tmp_path: Path, rules_file: Path) -> None:
    out = tmp_path / "plan.json"
    result = run_qrt("resolve", str(rules_file), "--model", "tiny_llama", "-o", str(out))
    assert result.returncode == 0, result.stderr
    plan = json.loads(out.read_text())
    jsonschema.validate(plan, schema("plan"))
    by = {s["quantizer_path"]: s for s in plan["sites"]}
    q = by["model.layers.1.self_attn.q_proj.weight_quantizer"]
    assert q["decision"]["dtype"] == "int4"
    assert q["decision"]["granularity"] == {"type": "per_block", "axis": 1, "block_size": 32}
    assert q["origin"] == f"{rules_file}:4:1"
    assert by["model.layers.0.self_attn.q_proj.weight_quantizer"]["decision"] is None
    assert by["lm_head.weight_quantizer"]["decision"] is None
    k = by["model.layers.1.self_attn.scaled_dot_product_attention.input_quantizer_1"]
    assert k["decision"]["dtype"] == "float8_e4m3fn"


def test_resolve_text_on_stdout(rules_file: Path) -> None:
    result = run_qrt("resolve", str(rules_file), "--model", "tiny_llama")
    assert result.returncode == 0, result.stderr
    assert "model.layers.1.mlp.down_proj.weight_quantizer" in result.stdout
    assert "int4 symmetric per_block axis=1 block_size=32" in result.stdout


def test_explain_shows_winner_and_losers(rules_file: Path) -> None:
    result = run_qrt("explain", str(rules_file), "--model", "tiny_llama", "lm_head.weight_quantizer")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "replaced" in out and "decided" in out
    assert f"{rules_file}:4:1" in out and f"{rules_file}:8:1" in out
    assert "=> not quantized" in out


def test_explain_json_and_op_queries(rules_file: Path) -> None:
    result = run_qrt("explain", str(rules_file), "--model", "tiny_llama", "--format", "json",
                     "model.layers.1.mlp.up_proj.linear:state[weight]")
    assert result.returncode == 0, result.stderr
    (site,) = json.loads(result.stdout)["sites"]
    assert site["cascade"][0]["status"] == "decided"
    assert site["decision"]["granularity"]["axis"] == 1
    assert "qscheme" in site["default_fields"]


def test_explain_on_a_saved_inventory_and_hf_config(tmp_path: Path, rules_file: Path) -> None:
    pytest.importorskip("transformers")
    cfg = {"model_type": "llama", "architectures": ["LlamaForCausalLM"], "vocab_size": 64, "hidden_size": 32,
           "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2}
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    inv = tmp_path / "inv.json"
    assert run_qrt("inspect", "--model", str(tmp_path / "config.json"), "--format", "json", "-o", str(inv)).returncode == 0
    result = run_qrt("explain", str(rules_file), "--model", str(inv), "*layers.1*k_bmm_quantizer")
    assert result.returncode == 0, result.stderr
    assert "float8_e4m3fn" in result.stdout


def test_query_with_no_match_lists_close_names(rules_file: Path) -> None:
    result = run_qrt("explain", str(rules_file), "--model", "tiny_llama", "lm_head.weight_quantiser")
    assert result.returncode == 2
    assert "did you mean 'lm_head.weight_quantizer'" in result.stderr


def test_rule_errors_exit_2_with_position(tmp_path: Path) -> None:
    bad = tmp_path / "bad.qrt"
    bad.write_text("op linear weight -> int4 per_blok(32)\n")
    result = run_qrt("resolve", str(bad), "--model", "two_add")
    assert result.returncode == 2
    assert f"{bad}:1:" in result.stderr
    assert "Traceback" not in result.stderr
