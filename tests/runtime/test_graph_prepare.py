"""Graph mode, first part: a plan-driven torchao PT2E quantizer on the exported graph."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F

from qrt.frontends.hierarchical import QuantizerConfig
from qrt.runtime.examples import EXAMPLES
from qrt.runtime.graph.annotate import GraphSpecError
from qrt.runtime.quant.quantizer import Quantizer


def test_graph_w8a8_cnn_prepares_calibrates_and_stays_close_to_float() -> None:
    example = EXAMPLES["cnn"]
    torch.manual_seed(0)
    model = example.build().eval()
    inputs = example.inputs(None, "cpu")
    ref = copy.deepcopy(model)
    q = Quantizer(model, QuantizerConfig())  # the hierarchical default: graph mode
    gm = q.prepare(inputs)
    assert isinstance(gm, torch.fx.GraphModule) and len(q.quantizers()) > 0
    with q.calibration_mode():
        for _ in range(4):
            gm(*[torch.randn_like(x) for x in inputs])
    assert all(not fq.observer_enabled[0] and fq.fake_quant_enabled[0] for fq in q.quantizers())
    data = [torch.randn_like(x) for x in inputs]
    out, want = gm(*data), ref(*data)
    assert not torch.equal(out, want)
    assert F.cosine_similarity(out.flatten(), want.flatten(), dim=0).item() >= 0.98


def test_a_spec_pt2e_cannot_express_names_the_site() -> None:
    example = EXAMPLES["cnn"]
    model = example.build().eval()
    cfg = QuantizerConfig.from_dict({"quantization_config": {"global_config": {
        "op_state_spec": {"weight": {"dtype": "float8_e4m3fn"}}, "op_input_spec": None, "op_output_spec": None}}})
    with pytest.raises(GraphSpecError, match="float8_e4m3fn") as info:
        Quantizer(model, cfg).prepare(example.inputs(None, "cpu"))
    assert "execution_mode: eager" in (info.value.hint or "") and "weight" in str(info.value)
