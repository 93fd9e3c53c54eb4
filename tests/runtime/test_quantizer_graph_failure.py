"""README's eager workflow "or a YAML config" (issue 16, item 5): a hierarchical YAML config
defaults to graph mode; where torch.export cannot capture the model, ``prepare`` raises one
short qrt error that says how to quantize it anyway — not torch.export's hundred-line chain."""

from __future__ import annotations

import copy
import inspect
import traceback

import pytest
import torch
from torch import nn

from qrt.errors import QrtError
from qrt.runtime.quant.quantizer import Quantizer
from tests.conftest import ROOT

W8A8_YAML = str(ROOT / "rules" / "presets" / "w8a8.yaml")


class Branchy(nn.Module):
    """Data-dependent control flow: torch.export refuses it, eager mode runs it."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(8, 8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.fc(x)
        if y.sum() > 0:
            return y * 2
        return y - 1


def _short(err: QrtError) -> list[str]:
    shown = "".join(traceback.format_exception(err))
    assert "The above exception was the direct cause" not in shown
    assert "During handling of the above exception" not in shown
    return str(err).splitlines()


def test_a_model_export_cannot_capture_gives_one_clean_error_then_eager_works() -> None:
    model = Branchy().eval()
    x = torch.randn(2, 8)
    with pytest.raises(QrtError) as info:
        Quantizer(model, W8A8_YAML).prepare((x,))
    lines = _short(info.value)
    assert len(lines) <= 3 and all(len(line) <= 300 for line in lines)
    assert lines[0].startswith("graph mode: torch.export could not capture the model")
    assert "the default of hierarchical configs" in str(info.value)
    assert 'execution_mode="eager"' in str(info.value)
    q = Quantizer(model, W8A8_YAML, execution_mode="eager")  # the model was left as it was
    prepared = q.prepare((x,))
    assert prepared is model and q.quantizers()


def test_asking_for_graph_mode_says_so() -> None:
    with pytest.raises(QrtError) as info:
        Quantizer(Branchy().eval(), "modelopt:INT8_DEFAULT_CFG", execution_mode="graph").prepare((torch.randn(2, 8),))
    assert 'was asked for (execution_mode="graph")' in str(info.value)


def test_a_hugging_face_causal_lm_runs_in_graph_mode_without_its_kv_cache() -> None:
    """A YAML config's default, graph mode, on a Hugging Face causal LM: the graph is captured
    without the KV cache (torch.export cannot return one), takes the ids alone, and computes
    what the eager runtime computes under the same config; the model's config is restored."""
    transformers = pytest.importorskip("transformers")
    cfg = transformers.LlamaConfig(vocab_size=64, hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                                   num_attention_heads=4, num_key_value_heads=2)
    torch.manual_seed(0)
    model = transformers.LlamaForCausalLM(cfg).eval()
    eager_model = copy.deepcopy(model)
    ids = torch.randint(0, 64, (1, 8))
    q = Quantizer(model, W8A8_YAML)
    graph = q.prepare((ids,))
    assert model.config.use_cache is True  # the caller's config, as it was
    assert list(inspect.signature(graph.forward).parameters) == ["input_ids"]
    e = Quantizer(eager_model, W8A8_YAML, execution_mode="eager")
    e.prepare((ids,))
    with torch.no_grad():
        with q.calibration_mode():
            graph(ids)
        with e.calibration_mode():
            eager_model(ids)  # its KV cache starts empty: an empty tensor passes its quantizer untouched
        out = graph(ids)
        want = eager_model(ids, use_cache=False).logits
    assert out.past_key_values is None
    assert q.graph_placed and eager_model.get_submodule("model.layers.0.self_attn.q_proj.weight_quantizer").enabled
    torch.testing.assert_close(out.logits, want, rtol=0, atol=0.05 * want.abs().max().item())


def test_a_kv_cache_the_caller_asks_for_names_the_way_out() -> None:
    transformers = pytest.importorskip("transformers")
    cfg = transformers.LlamaConfig(vocab_size=64, hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                                   num_attention_heads=4, num_key_value_heads=2)
    model = transformers.LlamaForCausalLM(cfg).eval()
    with pytest.raises(QrtError) as info:
        Quantizer(model, W8A8_YAML).prepare((torch.randint(0, 64, (1, 8)),), example_kwargs={"use_cache": True})
    assert len(_short(info.value)) <= 4, str(info.value)
    assert "leave use_cache out" in str(info.value) and 'execution_mode="eager"' in str(info.value)
