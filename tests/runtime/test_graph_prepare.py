"""Graph mode, first part: a plan-driven torchao PT2E quantizer on the exported graph."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F

from qrt.frontends.hierarchical import QuantizerConfig
from qrt.runtime.examples import EXAMPLES
from qrt.runtime.graph.annotate import GraphSpecError
from qrt.runtime.graph.fates import Fate, GraphFate
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
    assert F.cosine_similarity(out.flatten(), want.flatten(), dim=0).item() >= 0.99
    report = "\n".join(q.graph_report)
    assert "encoder.1.batch_norm:state[weight]: folded away" in report  # prepare_pt2e folds bn into the conv
    assert "fused conv2d + relu (encoder.0.conv2d … encoder.2.relu)" in report
    assert "encoder.3.max_pool2d: output shares its input's quantizer" in report
    assert "encoder.4.conv2d:input[0]: de-duplicated into encoder.3.max_pool2d:output[0]" in report
    # the same facts as records, the report their text
    fates = {(f.fate, f.site): f for f in q.graph_fates}
    assert fates[Fate.FOLDED, "encoder.1.batch_norm:state[weight]"].other == "encoder.1.batch_norm"
    assert fates[Fate.DEDUPLICATED, "encoder.4.conv2d:input[0]"].other == "encoder.3.max_pool2d:output[0]"
    assert fates[Fate.SHARED, "encoder.3.max_pool2d:output[0]"].other == "encoder.3.max_pool2d:input[0]"
    assert any(f.fate is Fate.FUSED and f.site is None and f.other == "encoder.2.relu" for f in q.graph_fates)
    assert q.graph_report == [line for line in (f.render() for f in q.graph_fates) if line is not None]
    assert q.graph_placed == [f.site for f in q.graph_fates if f.fate is Fate.PLACED]


@pytest.mark.parametrize("model", ["cnn", "tiny_llama"])
def test_every_eager_quantizer_is_placed_in_graph_mode_or_reported(model: str) -> None:
    """Eager places one quantizer per decided site; graph mode places the rest, and every
    one it does not place is in its report: folded (batch_norm into conv), inside a fused
    pattern, de-duplicated into the producer's, sharing its input's, or (sdpa's probabilities)
    without an edge in the graph."""
    from qrt.frontends.hierarchical import ExecutionMode

    example = EXAMPLES[model]
    torch.manual_seed(0)
    eager = Quantizer(example.build().eval(), QuantizerConfig(execution_mode=ExecutionMode.EAGER))
    eager.prepare(example.inputs(None, "cpu"))
    decided = {f"{d.site.op_name}:{d.site.role}[{d.site.key}]" for d in eager.plan.decisions if d.spec is not None}
    torch.manual_seed(0)
    graph = Quantizer(example.build().eval(), QuantizerConfig())
    graph.prepare(example.inputs(None, "cpu"))
    placed = set(graph.graph_placed)
    reported = {f.site for f in graph.graph_fates if f.fate is not Fate.PLACED}
    assert decided <= placed | reported, sorted(decided - placed - reported)
    shared_by_torchao = sum(1 for f in graph.graph_fates if f.fate is Fate.SHARED and f.site in placed)
    assert len(graph.quantizers()) == len(placed) - shared_by_torchao < len(eager.quantizers())


def test_float8_per_block_and_mx_specs_run_in_graph_mode_with_the_eager_numerics() -> None:
    example = EXAMPLES["tiny_llama"]
    from qrt.frontends.dsl import parse_rules

    rules = parse_rules(
        "op linear weight -> int4 per_block(32, axis=-1) qparam_calculator=static\n"
        "op linear input[0] -> float8_e4m3fn qparam_calculator=minmax range_calculator=minmax\n"
        "op embedding weight -> float4_e2m1fn_x2 per_block(32, axis=-1) scale_dtype=float8_e8m0fnu\n"
    )
    torch.manual_seed(0)
    model = example.build().eval()
    ref = copy.deepcopy(model)
    inputs = example.inputs(None, "cpu")
    q = Quantizer(model, rules, execution_mode="graph")
    gm = q.prepare(inputs)
    kinds = {type(m).__name__ for m in q.quantizers()}
    assert "QrtFakeQuantize" in kinds
    with q.calibration_mode():
        gm(*inputs)
    out, want = gm(*inputs), ref(*inputs)
    assert not torch.equal(out, want) and F.cosine_similarity(out.flatten(), want.flatten(), dim=0) > 0.95


def test_a_spec_graph_mode_cannot_run_names_the_site() -> None:
    example = EXAMPLES["cnn"]
    model = example.build().eval()
    cfg = QuantizerConfig.from_dict({"quantization_config": {"global_config": {
        "op_state_spec": {"weight": {"dtype": "int8", "extras": {"narrow_range": True}}},
        "op_input_spec": None, "op_output_spec": None}}})
    with pytest.raises(GraphSpecError, match="extras") as info:
        Quantizer(model, cfg).prepare(example.inputs(None, "cpu"))
    assert "execution_mode: eager" in (info.value.hint or "") and "weight" in str(info.value)


def test_graph_training_mode_trains_through_the_fake_quantizers() -> None:
    example = EXAMPLES["cnn"]
    torch.manual_seed(0)
    q = Quantizer(example.build().eval(), QuantizerConfig())
    gm = q.prepare(example.inputs(None, "cpu"))
    inputs = example.inputs(None, "cpu")
    before = gm.training
    with q.training_mode():
        assert gm.training
        assert all(fq.observer_enabled[0] and fq.fake_quant_enabled[0] for fq in q.quantizers())
        gm(*inputs).square().mean().backward()
        with pytest.warns(UserWarning, match="no module has a qat_schedule"):
            q.step()
    assert gm.training == before  # the train/eval flag is restored
    grads = [p.grad for p in gm.parameters() if p.requires_grad]
    assert grads and all(g is not None and g.abs().sum() > 0 for g in grads)
    assert all(not fq.observer_enabled[0] and fq.fake_quant_enabled[0] for fq in q.quantizers())


def test_explain_mode_graph_says_what_the_graph_did_with_each_site() -> None:
    from tests.conftest import run_qrt

    done = run_qrt("explain", "rules/presets/w8a8.yaml", "--model", "cnn", "encoder.1.weight_quantizer",
                   "encoder.3.input_quantizer", "fc.weight_quantizer", "--mode", "graph")
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "graph mode, encoder.1.weight_quantizer: encoder.1.batch_norm:state[weight]: folded away" in out
    assert "graph mode, encoder.3.input_quantizer: encoder.3.max_pool2d:input[0]: de-duplicated into encoder.2.relu:output[0]" in out
    assert "graph mode, fc.weight_quantizer: placed (fc.linear:state[weight])" in out


def test_any_front_end_runs_in_graph_mode_on_request() -> None:
    example = EXAMPLES["cnn"]
    torch.manual_seed(0)
    q = Quantizer(example.build().eval(), "modelopt:INT8_DEFAULT_CFG", execution_mode="graph")
    gm = q.prepare(example.inputs(None, "cpu"))
    assert isinstance(gm, torch.fx.GraphModule) and "fc.linear:state[weight]" in q.graph_placed


def test_graph_qat_schedule_follows_seed_002() -> None:
    from qrt.frontends.hierarchical import ModuleQuantizerConfig, QATSchedule

    example = EXAMPLES["cnn"]
    torch.manual_seed(0)
    schedule = QATSchedule(enable_observer=1, enable_fake_quant=2, disable_observer=4)
    q = Quantizer(example.build().eval(), QuantizerConfig(global_config=ModuleQuantizerConfig(qat_schedule=schedule)))
    q.prepare(example.inputs(None, "cpu"))
    fq = q.quantizers()[0]
    seen = []
    with q.training_mode():
        for _ in range(5):
            seen.append((q.step_count, bool(fq.observer_enabled[0]), bool(fq.fake_quant_enabled[0])))
            q.step()
    assert seen == [(s, 1 <= s < 4, s >= 2) for s in range(5)]


def test_module_boundary_quantizers_in_graph_mode() -> None:
    """A module_input spec quantizes the tensor where it enters the module's call, once, and
    the op-level sites on that tensor stay off (docs/semantics.md §3)."""
    example = EXAMPLES["cnn"]
    torch.manual_seed(0)
    cfg = QuantizerConfig.from_dict({"quantization_config": {
        "global_config": {"op_input_spec": None, "op_output_spec": None, "op_state_spec": None},
        "module_name_configs": {"fc": {"module_input_spec": {0: {"dtype": "int8"}}, "op_input_spec": None,
                                       "op_output_spec": None, "op_state_spec": None}},
    }})
    q = Quantizer(example.build().eval(), cfg)
    gm = q.prepare(example.inputs(None, "cpu"))
    assert q.graph_placed == ["fc.module_input_quantizer_0"]
    assert [f for f in q.graph_fates if f.site is not None] == [GraphFate.placed("fc.module_input_quantizer_0")]
    fq = [n for n in gm.graph.nodes if n.op == "call_module" and "activation_post_process" in str(n.target)]
    assert len(fq) == 1 and [u.name for u in fq[0].users] == ["linear"]


def test_cat_shares_one_quantizer_across_its_inputs_and_output() -> None:
    class Joiner(torch.nn.Module):
        def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
            return torch.cat([torch.relu(a), torch.relu(b)], dim=-1)

    cfg = QuantizerConfig.from_dict({"quantization_config": {"global_config": {
        "op_type_config": {"relu": {"op_input_spec": None, "op_output_spec": None}}}}})
    q = Quantizer(Joiner(), cfg)
    gm = q.prepare((torch.randn(2, 4), torch.randn(2, 4)))
    report = "\n".join(q.graph_report)
    assert "cat:input[1]: shares cat's first input quantizer (cat)" in report
    assert "cat: output shares its input's quantizer (cat)" in report
    assert len(q.quantizers()) == 1
    with q.calibration_mode():
        gm(torch.randn(2, 4), torch.randn(2, 4))


def test_a_de_duplicated_quantizer_follows_the_consumers_qat_schedule() -> None:
    """The deconv's output quantizer also serves the root relu's input (de-duplicated); with a
    late schedule on the deconv's module only, that shared quantizer follows the consumer (the
    root, no schedule: on from the start) while the deconv's weight follows the schedule."""
    from qrt.frontends.hierarchical import ModuleQuantizerConfig, QATSchedule

    example = EXAMPLES["cnn"]
    torch.manual_seed(0)
    late = QATSchedule(enable_observer=3, enable_fake_quant=3)
    cfg = QuantizerConfig(module_name_configs={"decoder.deconv1": ModuleQuantizerConfig(qat_schedule=late)})
    q = Quantizer(example.build().eval(), cfg)
    gm = q.prepare(example.inputs(None, "cpu"))
    assert "relu:input[0]: de-duplicated into decoder.deconv1.conv_transpose2d:output[0]" in q.graph_report
    by_ident = {ident: gm.get_submodule(name) for name, ident in q.graph_modules.items()}
    shared = by_ident["decoder.deconv1.conv_transpose2d:output[0]"]
    weight = by_ident["decoder.deconv1.conv_transpose2d:state[weight]"]
    with q.training_mode():
        assert shared.fake_quant_enabled[0] and not weight.fake_quant_enabled[0]
        for _ in range(3):
            q.step()
        assert weight.fake_quant_enabled[0]


def test_a_module_called_twice_shares_one_quantizer_in_graph_mode() -> None:
    class Twice(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.block = torch.nn.Linear(4, 4)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.block(torch.tanh(self.block(x)))

    cfg = QuantizerConfig.from_dict({"quantization_config": {"global_config": {
        "op_input_spec": None, "op_output_spec": None}}})
    q = Quantizer(Twice().eval(), cfg)
    q.prepare((torch.randn(2, 4),))
    assert q.graph_placed == ["block.linear:state[weight]"]
    assert "block.linear:state[weight]: repeated module call shares the first call's quantizer" in q.graph_report


def test_a_parameter_of_a_submodule_read_by_its_parent_is_placed_in_graph_mode() -> None:
    """The state key of a parameter an op reads is its name relative to the op's module, in
    both modes (qrt/runtime/op_naming.py): ``blk``'s ``mul`` reading ``blk.sub.bias`` is
    ``blk.mul:state[sub.bias]``, found on the graph's ``get_attr`` node too."""
    from qrt.frontends.dsl import parse_rules

    class Block(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.sub = torch.nn.Linear(4, 4)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.sub(x) * self.sub.bias

    class Outer(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.blk = Block()

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.blk(x)

    q = Quantizer(Outer().eval(), parse_rules("op mul state[sub.bias] -> int8\n"), execution_mode="graph")
    q.prepare((torch.randn(2, 4),))
    assert [d.site.label for d in q.plan.decisions if q.plan.spec(d) is not None] == ["blk.mul:state[sub.bias]"]
    assert q.graph_placed == ["blk.mul:state[sub.bias]"]
