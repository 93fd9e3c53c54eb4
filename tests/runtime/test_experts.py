"""The eager runtime on fused mixture-of-experts modules (``docs/moe.md``): every experts
implementation quantizes alike, and like an unfused copy of the same experts; calibration
counts routed tokens; what cannot run yet says so.
"""

from __future__ import annotations

import warnings
from typing import Any

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from torch import nn  # noqa: E402

from qrt.api import parse_rules  # noqa: E402
from qrt.errors import QrtError  # noqa: E402
from qrt.runtime.quant.quantizer import Quantizer  # noqa: E402
from tests.frontends.wildcard.test_fused_experts import _moe  # noqa: E402

EXPERTS = "model.layers.0.mlp.experts"
# int4 per-channel weights (scales from each expert's own matrix) and MXFP8 activations
# (scales per 32-value block of each row): both independent of how rows are grouped, so
# the fused and the unfused model must agree to float rounding
FUSED = """op grouped_mm state -> int4 per_channel
op grouped_mm input[0] -> float8_e4m3fn per_block(32, axis=1) scale_dtype=float8_e8m0fnu
"""
UNFUSED = """in name /.*experts/ op linear weight -> int4 per_channel
in name /.*experts/ op linear input[0] -> float8_e4m3fn per_block(32, axis=1) scale_dtype=float8_e8m0fnu
"""


def _calibrated(model: Any, rules: str, ids: Any, **calibration: Any) -> tuple[Quantizer, Any]:
    q = Quantizer(model, parse_rules(rules))
    q.prepare((ids,))
    with torch.no_grad():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with q.calibration_mode(**calibration):
                model(ids)
        return q, model(ids).logits


class _Unfused(nn.Module):
    """The same experts as one ``nn.Linear`` pair per expert, run by the per-expert loop."""

    def __init__(self, fused: nn.Module) -> None:
        super().__init__()
        n, two_i, h = fused.gate_up_proj.shape
        self.act_fn = fused.act_fn
        self.gate_up = nn.ModuleList(nn.Linear(h, two_i, bias=False) for _ in range(n))
        self.down = nn.ModuleList(nn.Linear(two_i // 2, h, bias=False) for _ in range(n))
        with torch.no_grad():
            for i in range(n):
                self.gate_up[i].weight.copy_(fused.gate_up_proj[i])
                self.down[i].weight.copy_(fused.down_proj[i])

    def forward(self, hidden: Any, top_k_index: Any, top_k_weights: Any) -> Any:
        out = torch.zeros_like(hidden)
        for i in range(len(self.gate_up)):
            token, slot = torch.where(top_k_index == i)
            if token.numel() == 0:
                continue
            gate, up = self.gate_up[i](hidden[token]).chunk(2, dim=-1)
            y = self.down[i](self.act_fn(gate) * up) * top_k_weights[token, slot, None]
            out.index_add_(0, token, y)
        return out


def test_every_implementation_quantizes_like_an_unfused_copy() -> None:
    ids = torch.randint(0, 64, (2, 7))
    outputs = {}
    for implementation in ("grouped_mm", "batched_mm", "eager"):
        model = _moe("mixtral", implementation, experts=4, hidden=32)
        float_logits = model(ids).logits
        q, outputs[implementation] = _calibrated(model, FUSED, ids)
        placed = [d.site.quantizer_path for d in q.plan.decisions if d.spec is not None]
        assert f"{EXPERTS}.gate_up_proj_weight_quantizers.3" in placed and f"{EXPERTS}.down_proj_input_quantizer" in placed
        assert not torch.allclose(outputs[implementation], float_logits, atol=1e-6)  # it did quantize
    unfused = _moe("mixtral", "eager", experts=4, hidden=32)
    unfused.model.layers[0].mlp.experts = _Unfused(unfused.model.layers[0].mlp.experts)
    _, reference = _calibrated(unfused, UNFUSED, ids)
    for implementation, logits in outputs.items():
        torch.testing.assert_close(logits, reference, rtol=1e-5, atol=1e-5, msg=implementation)


def test_static_activation_scales_agree_across_implementations() -> None:
    """A per-tensor input scale is shared by all experts (ModelOpt's layout): the per-expert
    loop observes all its calls at once, so calibration gives the grouped call's scale."""
    ids = torch.randint(0, 64, (2, 7))
    rules = "op grouped_mm state -> int4 per_channel\nop grouped_mm input[0] -> int8 per_tensor\n"
    scales, logits = {}, {}
    for implementation in ("grouped_mm", "eager"):
        q, logits[implementation] = _calibrated(_moe("qwen2_moe", implementation, experts=4), rules, ids)
        scales[implementation] = q.state.quantizers[f"{EXPERTS}.gate_up_proj_input_quantizer"].scale.clone()
    torch.testing.assert_close(scales["grouped_mm"], scales["eager"])
    torch.testing.assert_close(logits["grouped_mm"], logits["eager"], rtol=1e-5, atol=1e-5)


def test_routed_tokens_are_counted_and_idle_experts_warned() -> None:
    model = _moe("mixtral", experts=8, layers=2)
    ids = torch.randint(0, 64, (1, 2))  # 2 tokens x 2 experts each: at most 4 of 8 experts see data
    with torch.no_grad():
        float_logits = model(ids).logits
    q = Quantizer(model, parse_rules("op grouped_mm input[0] -> int8 per_tensor\n"))
    q.prepare((ids,))
    with pytest.warns(UserWarning, match=r"saw no calibration tokens .*calib-all-experts"):
        with torch.no_grad(), q.calibration_mode():
            model(ids)
    routed = q.routed_tokens()
    assert set(routed) == {EXPERTS, "model.layers.1.mlp.experts"}
    assert all(sum(counts) == 2 * 2 and len(counts) == 8 and 0 in counts for counts in routed.values())
    # every expert on every token: no warning, the model's own routing is what is counted,
    # and the outputs are the model's (fake quantization is off while calibrating)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with torch.no_grad(), q.calibration_mode(all_experts=True):
            during = model(ids).logits
    assert q.routed_tokens() == routed
    torch.testing.assert_close(during, float_logits)
    assert q.state.quantizers[f"{EXPERTS}.gate_up_proj_input_quantizer"].scale.numel() == 1


def test_all_experts_needs_fused_experts() -> None:
    model = nn.Sequential(nn.Linear(8, 8))
    q = Quantizer(model, parse_rules("op linear input[0] -> int8 per_tensor\n"))
    q.prepare((torch.randn(2, 8),))
    with pytest.raises(QrtError, match="no fused experts module"):
        with q.calibration_mode(all_experts=True):
            pass


def test_selection_by_expert_and_layer() -> None:
    model = _moe("qwen3_moe", experts=4, layers=2)
    ids = torch.randint(0, 64, (1, 5))
    rules = ("op grouped_mm state layer 1 expert 1..2 -> int4 per_channel\n"
             "op grouped_mm input[0] layer 0 -> int8 per_tensor\n")
    q = Quantizer(model, parse_rules(rules))
    q.prepare((ids,))
    on = sorted(d.site.quantizer_path for d in q.plan.decisions if d.spec is not None)
    layer1 = "model.layers.1.mlp.experts"
    assert on == sorted([f"{EXPERTS}.down_proj_input_quantizer", f"{EXPERTS}.gate_up_proj_input_quantizer"]
                        + [f"{layer1}.{p}_weight_quantizers.{i}" for p in ("gate_up_proj", "down_proj") for i in (1, 2)])


def test_hierarchical_config_targets_a_fused_parameter_by_key(tmp_path: Any) -> None:
    """``op_state_spec: {gate_up_proj: …}`` in a module config reaches every expert's matrix of
    that parameter, each with a decision (and a quantizer) of its own."""
    from qrt.api import as_inventory, resolve
    from qrt.frontends.source import load_rule_source

    config = tmp_path / "moe.yaml"
    config.write_text(
        "quantization_config:\n"
        "  module_name_configs:\n"
        f"    {EXPERTS}:\n"
        "      op_state_spec:\n"
        "        gate_up_proj: {dtype: int4, granularity: per_channel}\n",
        encoding="utf-8",
    )
    inv = as_inventory(_moe("mixtral"), torch.randint(0, 64, (1, 5)))
    plan = resolve(load_rule_source(config), inv)
    int4 = [d for d in plan.decisions if d.spec is not None and plan.spec(d).dtype == "int4"]
    assert [d.site.quantizer_path for d in int4] == [f"{EXPERTS}.gate_up_proj_weight_quantizers.{i}" for i in range(3)]
    assert all(plan.spec(d).granularity.axis == 0 for d in int4)  # each expert's output features
    assert len({d.site.tensor for d in int4}) == 3  # one matrix, one quantizer each


def test_graph_mode_refuses_quantized_experts() -> None:
    ids = torch.randint(0, 64, (1, 5))
    graph = Quantizer(_moe("mixtral"), parse_rules("op grouped_mm state -> int4 per_channel\n"), execution_mode="graph")
    with pytest.raises(QrtError, match="graph mode cannot quantize fused mixture-of-experts") as err:
        graph.prepare((ids,), example_kwargs={"use_cache": False})
    assert "execution_mode" in (err.value.hint or "")


@pytest.mark.parametrize("experts", ["", " expert 0..1"])
def test_finalize_packs_each_expert_and_reloads(tmp_path: Any, experts: str) -> None:
    """Each expert's matrix is packed by its own quantizer; the 3-D parameter is freed when
    every expert is packed and kept whole (reported) when one is not; the finalized model and
    the model loaded back from the directory compute what the prepared one did."""
    import qrt

    ids = torch.randint(0, 64, (2, 7))
    model = _moe("mixtral", "eager", experts=3, hidden=32)
    q, prepared = _calibrated(model, f"op grouped_mm state{experts} -> int4 per_block(16)\n", ids)
    q.finalize(mmap_dir=tmp_path / "saved")
    report = q.finalize_report
    assert report["weights"] == (6 if not experts else 4)
    fused = model.model.layers[0].mlp.experts
    if experts:
        assert set(report["kept_dense"]) == {f"{EXPERTS}.gate_up_proj", f"{EXPERTS}.down_proj"}
        assert fused.gate_up_proj.shape == (3, 64, 32)
    else:
        assert not report["kept_dense"] and fused.gate_up_proj.numel() == 0
        assert report["packed_bytes"] < report["dense_bytes"] / 4
    with torch.no_grad():
        torch.testing.assert_close(model(ids).logits, prepared, rtol=0, atol=0)
        with torch.device("meta"):
            fresh = type(model)(model.config)
        qrt.load_quantized(tmp_path / "saved", fresh)
        torch.testing.assert_close(fresh(ids).logits, prepared, rtol=0, atol=0)


@pytest.mark.parametrize("preset", ["w4a16", "w8a8"])
def test_shipped_presets_reach_every_expert_and_leave_routers_float(preset: str) -> None:
    """The shipped weight presets quantize every expert's matrix of a fused MoE module (the
    bulk of the model's weights), and keep the routers that pick experts in float."""
    from qrt.api import as_inventory, resolve
    from qrt.frontends.source import load_rule_source
    from qrt.resources import data_dir

    for arch in ("mixtral", "qwen2_moe"):
        inv = as_inventory(_moe(arch), torch.randint(0, 64, (1, 5)))
        plan = resolve(load_rule_source(str(data_dir("rules") / f"{preset}.qrt")), inv)
        on = {d.site.quantizer_path for d in plan.decisions if d.spec is not None}
        experts = {s.quantizer_path for s in inv.sites if s.expert is not None}
        assert len(experts) == 2 * 3 and experts <= on
        routers = {s.quantizer_path for s in inv.sites if s.op_type == "linear" and s.module.endswith(("gate", "shared_expert_gate"))}
        assert routers and not routers & on, (arch, routers & on)


@pytest.mark.parametrize("arch", ["mixtral", "qwen3_moe"])
def test_an_int4_experts_export_loads_in_transformers_with_the_finalized_logits(tmp_path: Any, arch: str) -> None:
    """prepare → calibrate → finalize → export (compressed-tensors, the shipped w4a16 preset):
    each expert's matrix written as the per-expert Linear weights the model type's checkpoints
    hold (Mixtral's ``block_sparse_moe.experts.E.w1/w3/w2``, Qwen's ``mlp.experts.E.gate/up/
    down_proj``; gate first), which transformers merges back into the fused experts: the
    logits equal qrt's finalized model's (fp32), the router stays float and is ignored."""
    import json

    import transformers
    from safetensors.torch import load_file

    from qrt.runtime.finalize.export import export_compressed_tensors

    ids = torch.randint(0, 64, (2, 7))
    model = _moe(arch, "eager", experts=4, hidden=64, intermediate=64)
    q = Quantizer(model, parse_rules("include preset w4a16\n"))
    q.prepare((ids,))
    with torch.no_grad():
        with q.calibration_mode():
            model(ids)
        q.finalize(mmap_dir=tmp_path / "saved")
        expected = model(ids).logits
    model.config.save_pretrained(tmp_path / "hf")
    export_compressed_tensors(tmp_path / "saved", tmp_path / "ct", hf_config=tmp_path / "hf")
    keys = set(load_file(tmp_path / "ct" / "model.safetensors"))
    block, gate, up, down = (("block_sparse_moe", "w1", "w3", "w2") if arch == "mixtral"
                             else ("mlp", "gate_proj", "up_proj", "down_proj"))
    for e in range(4):
        for proj in (gate, up, down):
            assert f"model.layers.0.{block}.experts.{e}.{proj}.weight_packed" in keys
    assert not [k for k in keys if "gate_up_proj" in k or k.endswith("experts.down_proj")]
    config = json.loads((tmp_path / "ct" / "config.json").read_text())
    assert f"model.layers.0.{block}.gate" in config["quantization_config"]["ignore"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        loaded = transformers.AutoModelForCausalLM.from_pretrained(tmp_path / "ct", dtype=torch.float32).eval()
    with torch.no_grad():
        torch.testing.assert_close(loaded(ids).logits, expected, rtol=1e-5, atol=1e-5)


class _EinsumExperts(nn.Module):
    """A fused experts module (ModelOpt's layout test holds) whose forward multiplies with
    ``einsum``, a product qrt does not take apart."""

    def __init__(self) -> None:
        super().__init__()
        self.num_experts = 2
        self.gate_up_proj = nn.Parameter(torch.randn(2, 8, 4))
        self.down_proj = nn.Parameter(torch.randn(2, 4, 4))

    def forward(self, hidden: Any, top_k_index: Any, top_k_weights: Any) -> Any:
        up = torch.einsum("ti,eoi->teo", hidden, self.gate_up_proj)
        gate, value = up.chunk(2, dim=-1)
        return torch.einsum("tei,eoi->to", torch.relu(gate) * value, self.down_proj)


class _Block(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.experts = _EinsumExperts()

    def forward(self, x: Any) -> Any:
        index = torch.zeros(x.shape[0], 1, dtype=torch.long)
        return self.experts(x, index, torch.ones(x.shape[0], 1))


def test_an_unrecognised_product_is_an_error_not_a_float_activation() -> None:
    x = torch.randn(3, 4)
    weights_only = Quantizer(_Block(), parse_rules("op grouped_mm state -> int8 per_channel\n"))
    weights_only.prepare((x,))
    weights_only.model(x)  # the weights are swapped in whatever op reads them
    both = Quantizer(_Block(), parse_rules("op grouped_mm state -> int8 per_channel\nop grouped_mm input[0] -> int8 per_tensor\n"))
    both.prepare((x,))
    with pytest.raises(QrtError, match="does not recognise as a product"), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # expert 1 sees no tokens here
        with both.calibration_mode():
            both.model(x)
