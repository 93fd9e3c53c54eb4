"""Inventory templates (docs/cache.md): a new size of a Hugging Face model whose structure was
traced before gets its inventory from the template, equal in every row to a trace of it —
never a different one. Real transformers models, built on meta from configs, no mocks."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qrt.inventory.cache import cache_info, clear_cache, inventory_rows
from qrt.inventory.templates import _path, _read, family_of, from_template, template_known
from qrt.model_inventory import _family, load_model_inventory
from qrt.model_spec import parse_model_spec
from tests.conftest import ROOT, run_qrt

pytest.importorskip("transformers")

LLAMA: dict[str, Any] = {
    "model_type": "llama", "architectures": ["LlamaForCausalLM"], "hidden_size": 64, "intermediate_size": 96,
    "num_attention_heads": 4, "num_key_value_heads": 2, "num_hidden_layers": 4, "vocab_size": 128,
    "tie_word_embeddings": False,
}


def _write(folder: Path, config: dict[str, Any]) -> str:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps(config))
    return str(folder)


def _templated(model: str) -> Any:
    """The inventory the stored template gives ``model`` (``None``: none applies)."""
    spec = parse_model_spec(model)
    family = _family(spec, input_shapes=None, device=None, dtype=None)
    return from_template(family, spec) if family is not None else None


def _same(a: Any, b: Any) -> bool:
    return inventory_rows(a) == inventory_rows(b) and a.model == b.model and a.sha256 == b.sha256


def test_a_new_size_of_a_traced_llama_is_its_trace_without_tracing(tmp_path: Path) -> None:
    load_model_inventory(_write(tmp_path / "small", LLAMA), cache=True)  # traces, learns the template
    bigger = _write(tmp_path / "big", {**LLAMA, "hidden_size": 96, "intermediate_size": 352, "num_attention_heads": 6,
                                       "num_key_value_heads": 3, "vocab_size": 1000, "num_hidden_layers": 7})
    templated = _templated(bigger)
    assert templated is not None and len(templated.sites) > 0
    traced = load_model_inventory(bigger, cache=False)
    assert _same(templated, traced)
    assert templated.model["spec"] == bigger
    # the command path: the inventory comes from the template and lands in the inventory cache
    assert _same(load_model_inventory(bigger, cache=True), traced)
    assert [e["spec"] for e in cache_info()["entries"]].count(bigger) == 1


def test_a_cached_template_serves_a_command_without_torch(tmp_path: Path) -> None:
    load_model_inventory(_write(tmp_path / "small", LLAMA), cache=True)
    other = _write(tmp_path / "other", {**LLAMA, "hidden_size": 256, "num_hidden_layers": 5})
    code = (
        "import sys\n"
        "from qrt.cli.main import main\n"
        f"code = main(['explain', {str(ROOT / 'rules' / 'w8a8.qrt')!r}, '--model', {other!r}, 'lm_head.*'])\n"
        "print(code, sorted(m for m in ('torch', 'transformers') if m in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "0 []"


@pytest.mark.parametrize("config,change", [
    pytest.param({"model_type": "qwen2_moe", "architectures": ["Qwen2MoeForCausalLM"], "hidden_size": 64,
                  "intermediate_size": 96, "num_attention_heads": 4, "num_key_value_heads": 2, "num_hidden_layers": 4,
                  "vocab_size": 128, "num_experts": 4, "num_experts_per_tok": 2, "moe_intermediate_size": 32,
                  "shared_expert_intermediate_size": 48},
                 {"hidden_size": 96, "intermediate_size": 200, "num_attention_heads": 6, "moe_intermediate_size": 40,
                  "shared_expert_intermediate_size": 72, "num_hidden_layers": 6}, id="qwen2-moe-fused-experts"),
    pytest.param({"model_type": "gpt2", "architectures": ["GPT2LMHeadModel"], "n_embd": 64, "n_head": 4, "n_layer": 4,
                  "vocab_size": 128},
                 {"n_embd": 96, "n_head": 6, "n_layer": 6, "vocab_size": 300}, id="gpt2-conv1d"),
    pytest.param({"model_type": "phi3", "architectures": ["Phi3ForCausalLM"], "hidden_size": 64,
                  "intermediate_size": 96, "num_attention_heads": 4, "num_key_value_heads": 2, "num_hidden_layers": 4,
                  "vocab_size": 32064},
                 {"hidden_size": 96, "intermediate_size": 200, "num_attention_heads": 6, "num_hidden_layers": 6},
                 id="phi3-fused-qkv-a-sum"),
])
def test_real_architectures_templated_equal_traced(tmp_path: Path, config: dict[str, Any], change: dict[str, Any]) -> None:
    load_model_inventory(_write(tmp_path / "a", config), cache=True)
    other = _write(tmp_path / "b", {**config, **change})
    templated = _templated(other)
    assert templated is not None
    assert _same(templated, load_model_inventory(other, cache=False))


@settings(max_examples=4)
@given(heads=st.sampled_from([2, 4, 8]), ratio=st.sampled_from([1, 2, 4]), head_dim=st.sampled_from([8, 16, 32]),
       inter=st.integers(8, 400), vocab=st.integers(40, 5000), layers=st.integers(3, 9))
def test_a_llama_template_gives_each_size_its_trace_or_nothing(
    tmp_path_factory: pytest.TempPathFactory, heads: int, ratio: int, head_dim: int, inter: int, vocab: int, layers: int,
) -> None:
    """Whatever the sizes, the template's inventory is the traced one — or there is none (a
    regime the template was not proved in: key/value heads equal to the heads)."""
    root = tmp_path_factory.mktemp("sizes")
    if not template_known(family_of(LLAMA, has_weights=False, options=_OPTIONS)):  # type: ignore[arg-type]
        load_model_inventory(_write(root / "first", LLAMA), cache=True)
    config = {**LLAMA, "num_attention_heads": heads, "num_key_value_heads": max(1, heads // ratio),
              "hidden_size": heads * head_dim, "intermediate_size": inter, "vocab_size": vocab,
              "num_hidden_layers": layers}
    model = _write(root / "m", config)
    templated = _templated(model)
    traced = load_model_inventory(model, cache=False)
    assert templated is None or _same(templated, traced)
    sizes = [config[f] for f in ("hidden_size", "intermediate_size", "num_attention_heads", "num_key_value_heads",
                                 "vocab_size")]
    if len(set(sizes)) == len(sizes) and config["num_key_value_heads"] > 1:  # LLAMA's regime: all distinct
        assert templated is not None, "same structure, same regime: the template applies"


_OPTIONS = {"input_shapes": [], "device": "meta", "dtype": "auto"}


def test_rows_name_the_records_fields_in_order() -> None:
    from dataclasses import fields

    from qrt.inventory.canonical import MODULE_FIELDS
    from qrt.inventory.model import ModuleInfo

    assert MODULE_FIELDS == tuple(f.name for f in fields(ModuleInfo))


def test_what_a_template_does_not_serve(tmp_path: Path) -> None:
    base = family_of(LLAMA, has_weights=False, options=_OPTIONS)
    assert base is not None
    # another structure, another regime, weights beside the config, other options: other families
    assert family_of({**LLAMA, "tie_word_embeddings": True}, has_weights=False, options=_OPTIONS).key != base.key  # type: ignore[union-attr]
    assert family_of({**LLAMA, "num_key_value_heads": 4}, has_weights=False, options=_OPTIONS).key != base.key  # type: ignore[union-attr]
    assert family_of(LLAMA, has_weights=True, options=_OPTIONS).key != base.key  # type: ignore[union-attr]
    assert family_of(LLAMA, has_weights=False, options={**_OPTIONS, "dtype": "bfloat16"}).key != base.key  # type: ignore[union-attr]
    assert family_of({**LLAMA, "hidden_size": 640, "intermediate_size": 960}, has_weights=False,
                     options=_OPTIONS).key == base.key  # type: ignore[union-attr]
    # no decoder stack to vary, too few layers, key/value heads that do not divide the heads
    assert family_of({"model_type": "t5", "num_layers": 4, "d_model": 64}, has_weights=False, options=_OPTIONS) is None
    assert family_of({**LLAMA, "num_hidden_layers": 2}, has_weights=False, options=_OPTIONS) is None
    assert family_of({**LLAMA, "num_key_value_heads": 3}, has_weights=False, options=_OPTIONS) is None
    assert family_of({**LLAMA, "vocab_size": 10**30}, has_weights=False, options=_OPTIONS) is None
    assert family_of({**LLAMA, "num_hidden_layers": 10**9}, has_weights=False, options=_OPTIONS) is None
    # a folder of pickled weights and a quantized config: their trace is an error a template must not hide
    pickled = Path(_write(tmp_path / "pickled", LLAMA))
    (pickled / "pytorch_model.bin").write_bytes(b"")
    assert _family(parse_model_spec(str(pickled)), input_shapes=None, device=None, dtype=None) is None
    quantized = _write(tmp_path / "q", {**LLAMA, "quantization_config": {"quant_method": "fp8"}})
    assert _family(parse_model_spec(quantized), input_shapes=None, device=None, dtype=None) is None
    assert _family(parse_model_spec(_write(tmp_path / "cpu", LLAMA)), input_shapes=None, device="cpu",
                   dtype=None) is None


def test_a_family_the_rules_cannot_explain_is_recorded_and_traced(tmp_path: Path) -> None:
    """GPT-NeoX rotates ``int(0.3 · head_dim)`` features: a floor, outside the template's
    size expressions. No template; the record says why, and the next size is traced (correctly)
    without probing again."""
    neox = {"model_type": "gpt_neox", "architectures": ["GPTNeoXForCausalLM"], "hidden_size": 64,
            "intermediate_size": 96, "num_attention_heads": 4, "num_hidden_layers": 4, "vocab_size": 128,
            "rotary_pct": 0.3}
    load_model_inventory(_write(tmp_path / "a", neox), cache=True)
    family = family_of(neox, has_weights=False, options=_OPTIONS)
    entry = _read(family.key)  # type: ignore[union-attr]
    assert entry is not None and entry[2] is None and "no size expression" in entry[3]
    [listed] = cache_info()["templates"]["families"]
    assert listed["learned"] is False and "no size expression" in listed["why"] and listed["from"] == str(tmp_path / "a")
    other = _write(tmp_path / "b", {**neox, "hidden_size": 96, "num_attention_heads": 6})
    assert _templated(other) is None


def test_a_damaged_template_is_ignored_and_the_cache_command_counts_and_clears_them(tmp_path: Path) -> None:
    load_model_inventory(_write(tmp_path / "a", LLAMA), cache=True)
    family = family_of(LLAMA, has_weights=False, options=_OPTIONS)
    stored = _path(family.key)  # type: ignore[union-attr]
    assert cache_info()["templates"]["entries"] == 1
    assert "1 inventory template" in run_qrt("cache", "info").stdout
    whole = stored.read_bytes()
    stored.write_bytes(whole[:-3] + bytes([whole[-3] ^ 1]) + whole[-2:])
    other = _write(tmp_path / "b", {**LLAMA, "hidden_size": 96})
    assert _templated(other) is None  # a broken seal is no template
    assert clear_cache()["bytes"] > 0 and cache_info()["templates"]["entries"] == 0
