"""Golden op names: the built-in models and a tiny random Hugging Face Llama.

Op names are a public contract (rules name them), so any change to them must be deliberate:
regenerate with ``QRT_REGEN_GOLDEN=1 pytest tests/runtime/test_golden.py`` and review the diff.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch

from qrt import Inventory, inspect_model
from qrt.runtime.examples import EXAMPLES

GOLDEN = Path(__file__).resolve().parent.parent / "golden"


def digest(inv: Inventory) -> dict[str, object]:
    return {
        "ops": [f"{op.name} {op.op_type}{'' if op.registered else ' -'}" for op in inv.ops],
        "sites": inv.summary(),
        "aliases": sorted(a for s in inv.sites for a in s.aliases),
    }


def check(name: str, inv: Inventory) -> None:
    path = GOLDEN / f"{name}.json"
    got = digest(inv)
    if os.environ.get("QRT_REGEN_GOLDEN") or not path.exists():
        path.write_text(json.dumps(got, indent=1) + "\n", encoding="utf-8")
        if not os.environ.get("QRT_REGEN_GOLDEN"):
            pytest.fail(f"golden file {path.name} was missing and has been written; review it")
    assert got == json.loads(path.read_text(encoding="utf-8"))


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_builtin_golden(name: str) -> None:
    example = EXAMPLES[name]
    torch.manual_seed(0)
    inv = inspect_model(example.build().eval(), *example.inputs(None, "cpu"))
    check(f"builtin_{name}", inv)


@pytest.mark.parametrize("attn", ["sdpa", "eager"])
def test_hf_llama_golden(attn: str) -> None:
    transformers = pytest.importorskip("transformers")
    cfg = transformers.LlamaConfig(
        vocab_size=128,
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        attn_implementation=attn,
    )
    torch.manual_seed(0)
    model = transformers.LlamaForCausalLM(cfg).eval()
    inv = inspect_model(model, torch.randint(0, 128, (1, 8)), use_cache=False)
    check(f"hf_llama_{attn}", inv)
    names = {op.name for op in inv.ops}
    assert "model.layers.1.self_attn.q_proj.linear" in names
    assert "lm_head.linear" in names
    aliases = {a for s in inv.sites for a in s.aliases}
    assert {f"model.layers.{i}.self_attn.{x}_bmm_quantizer" for i in (0, 1) for x in "qkvp"} == aliases
