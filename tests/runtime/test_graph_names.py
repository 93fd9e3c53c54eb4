"""docs/semantics.md §1 across modes: an exported graph's call sites get the eager inventory's op names.

The eager side traces with the export branches on (``as_export``), as ``qrt inspect`` does, so
models that branch on ``torch.compiler.is_exporting()`` (Hugging Face masks, ``repeat_kv``) take
the same path in both modes.
"""

from __future__ import annotations

import pytest
import torch

from qrt.runtime.examples import EXAMPLES
from qrt.runtime.graph.export import ExportError, export_model
from qrt.runtime.graph.names import graph_call_sites
from qrt.runtime.trace import trace_model


def _compare(model: torch.nn.Module, args: tuple, kwargs: dict | None = None) -> None:  # type: ignore[type-arg]
    gm = export_model(model, args, kwargs)
    graph = [s.name for s in graph_call_sites(gm)]
    eager = [o.name for o in trace_model(model, args, kwargs).ops]
    assert graph == eager, (sorted(set(graph) - set(eager))[:10], sorted(set(eager) - set(graph))[:10])


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_builtin_models_have_the_same_op_names_in_both_modes(name: str) -> None:
    example = EXAMPLES[name]
    torch.manual_seed(0)
    _compare(example.build().eval(), example.inputs(None, "cpu"))


@pytest.mark.parametrize("attn", ["sdpa", "eager"])
def test_a_tiny_hf_llama_has_the_same_op_names_in_both_modes(attn: str) -> None:
    transformers = pytest.importorskip("transformers")
    cfg = transformers.LlamaConfig(vocab_size=128, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                                   num_attention_heads=4, num_key_value_heads=2, attn_implementation=attn)
    torch.manual_seed(0)
    _compare(transformers.LlamaForCausalLM(cfg).eval(), (torch.randint(0, 128, (1, 8)),), {"use_cache": False})


def test_a_module_called_twice_names_its_ops_the_same_both_times() -> None:
    class Twice(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.block = torch.nn.Linear(4, 4)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.block(torch.relu(self.block(x)))

    gm = export_model(Twice().eval(), (torch.randn(2, 4),))
    sites = graph_call_sites(gm)
    linears = [s for s in sites if s.op_type == "linear"]
    assert [s.name for s in linears] == ["block.linear", "block.linear"]
    assert linears[0].call != linears[1].call and linears[1].call.endswith("@1")


def test_a_model_export_cannot_capture_is_a_clear_error() -> None:
    class Branchy(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            if x.sum() > 0:  # data-dependent control flow
                return x + 1
            return x - 1

    with pytest.raises(ExportError) as info:
        export_model(Branchy(), (torch.randn(3),))
    assert "execution_mode: eager" in (info.value.hint or "")
