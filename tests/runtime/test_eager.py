"""The eager runtime on real models: prepare, calibrate, QAT, set_quantizer_by_cfg, errors."""

from __future__ import annotations

import copy
import warnings

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from qrt.frontends.hierarchical import ExecutionMode, ModuleQuantizerConfig, QATSchedule, QuantizerConfig
from qrt.runtime.examples import EXAMPLES
from qrt.runtime.quant.eager import PrepareError, quantizer_modules
from qrt.runtime.quant.modelopt_cfg import QuantizerCfgError, set_quantizer_by_cfg, set_quantizer_by_cfg_context
from qrt.runtime.quant.quantizer import Quantizer

W8A8 = QuantizerConfig(execution_mode=ExecutionMode.EAGER)


def cosine(a: torch.Tensor, b: torch.Tensor) -> float:
    return F.cosine_similarity(a.flatten().float(), b.flatten().float(), dim=0).item()


def example(name: str):  # type: ignore[no-untyped-def]
    torch.manual_seed(0)
    ex = EXAMPLES[name]
    return ex.build().eval(), ex.inputs(None, "cpu")


def hf_llama():  # type: ignore[no-untyped-def]
    transformers = pytest.importorskip("transformers")
    cfg = transformers.LlamaConfig(vocab_size=128, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                                   num_attention_heads=4, num_key_value_heads=2)
    torch.manual_seed(0)
    return transformers.LlamaForCausalLM(cfg).eval(), (torch.randint(0, 128, (2, 8)),)


def test_w8a8_cnn_calibrated_is_close_to_float() -> None:
    model, inputs = example("cnn")
    ref = copy.deepcopy(model)
    q = Quantizer(model, W8A8)
    prepared = q.prepare(inputs)
    assert prepared is model
    with q.calibration_mode():
        for _ in range(4):
            prepared(*[torch.randn_like(x) for x in inputs])
    data = [torch.randn_like(x) for x in inputs]
    out = prepared(*data)
    assert not torch.equal(out, ref(*data))  # quantization happened
    assert cosine(out, ref(*data)) >= 0.99
    kinds = {q_.role for q_ in quantizer_modules(prepared).values()}
    assert {"input", "state", "output"} <= kinds  # activations and weights, every op


def test_prepared_paths_are_the_inventorys_and_get_submodule_works() -> None:
    for model, inputs, kwargs in ((*example("tiny_llama"), {}), (*hf_llama(), {"use_cache": False})):
        q = Quantizer(model, "modelopt:INT8_DEFAULT_CFG")
        q.prepare(inputs)
        quantized = {d.site.quantizer_path for d in q.plan.decisions if d.spec is not None}
        placed = quantizer_modules(model)
        assert {p for p, m in placed.items() if m.enabled} == quantized
        # sites the list switched off keep a disabled quantizer, as in ModelOpt (lm_head here)
        assert {p for p, m in placed.items() if not m.enabled} >= {"lm_head.input_quantizer", "lm_head.weight_quantizer"}
        for path in quantized:
            assert model.get_submodule(path).path == path
        model(*inputs, **kwargs)


def test_functional_ops_in_custom_forwards_are_quantized() -> None:
    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.w = nn.Parameter(torch.randn(8, 8))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            y = F.linear(x, self.w) + x
            if y.sum() > 0:  # data-dependent control flow
                y = torch.cat([y, x], dim=-1)
            return torch.softmax(y @ y.transpose(-1, -2), dim=-1)

    torch.manual_seed(0)
    model = Net().eval()
    x = torch.randn(4, 8)
    q = Quantizer(model, W8A8)
    q.prepare((x,))
    paths = set(quantizer_modules(model))
    assert {"linear.input_quantizer_0", "linear.weight_quantizer", "add.input_quantizer_0", "softmax.output_quantizer_0"} <= paths
    before = {p: m.scale.clone() for p, m in quantizer_modules(model).items()}
    with q.calibration_mode():
        model(x)
        model(-x)  # the other branch runs too
    assert any(not torch.equal(before[p], m.scale) for p, m in quantizer_modules(model).items())


def test_gradients_flow_through_every_quantizer_in_training_mode() -> None:
    model, inputs = example("cnn")
    q = Quantizer(model, W8A8)
    q.prepare(inputs)
    with q.training_mode():
        assert model.training
        loss = model(*inputs).square().mean()
        loss.backward()
    assert not model.training
    for name, p in model.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name
    for quantizer in q.quantizers():
        assert quantizer.fake_quant_enabled and not quantizer.observer_enabled


def test_workflow_switches_and_errors() -> None:
    model, inputs = example("cnn")
    q = Quantizer(model, W8A8)
    with pytest.raises(RuntimeError, match="not been prepared"):
        with q.calibration_mode():
            pass
    q.prepare(inputs)
    with pytest.raises(PrepareError, match="prepared already"):
        q.prepare(inputs)
    with pytest.raises(PrepareError, match="prepared already"):
        Quantizer(model, W8A8).prepare(inputs)
    with pytest.raises(RuntimeError, match="inside a training_mode"):
        q.step()
    with q.training_mode():
        with pytest.raises(RuntimeError, match="cannot be nested"):
            with q.training_mode():
                pass
        with pytest.warns(UserWarning, match="no module has a qat_schedule"):
            q.step()
    assert q.step_count == 1
    q.disable_fake_quant(model.fc)
    assert not model.fc.weight_quantizer.fake_quant_enabled and model.encoder[0].weight_quantizer.fake_quant_enabled
    q.enable_observer()
    assert all(x.observer_enabled for x in q.quantizers())


def test_qat_schedule_states_match_seed_002() -> None:
    """observer on for enable_observer <= s < disable_observer, fake quant from enable_fake_quant."""
    model, inputs = example("cnn")
    schedule = QATSchedule(enable_observer=1, enable_fake_quant=2, disable_observer=4)
    cfg = QuantizerConfig(
        execution_mode=ExecutionMode.EAGER,
        global_config=ModuleQuantizerConfig(qat_schedule=schedule),
    )
    q = Quantizer(model, cfg)
    q.prepare(inputs)
    seen = []
    with q.training_mode():
        for _ in range(6):
            w = model.fc.weight_quantizer
            seen.append((q.step_count, w.observer_enabled, w.fake_quant_enabled))
            q.step()
    assert seen == [(s, 1 <= s < 4, s >= 2) for s in range(6)]
    with q.training_mode():  # the count resumes
        assert q.step_count == 6 and not model.fc.weight_quantizer.observer_enabled


def test_weight_formats_stay_within_their_error_bounds() -> None:
    model, inputs = example("tiny_llama")
    for spec, bound in (
        ("int4 per_block(32, axis=-1) qparam_calculator=static", 1 / 7.5 / 2),
        ("float4_e2m1fn_x2 per_block(32, axis=-1) scale_dtype=float8_e8m0fnu", 0.5),
    ):
        m = copy.deepcopy(model)
        from qrt.frontends.dsl import parse_rules

        q = Quantizer(m, parse_rules(f"op linear weight -> {spec}\n"))
        q.prepare(inputs)
        w = m.get_submodule("model.layers.0.mlp.up_proj").weight
        fq = m.get_submodule("model.layers.0.mlp.up_proj.weight_quantizer")(w)
        blocks = (fq - w).reshape(w.shape[0], -1, 32).abs() / w.reshape(w.shape[0], -1, 32).abs().amax(-1, keepdim=True)
        assert 0 < blocks.max().item() <= bound + 1e-6, spec


def test_set_quantizer_by_cfg_and_its_context_restore_everything() -> None:
    model, inputs = hf_llama()
    q = Quantizer(model, "modelopt:INT8_DEFAULT_CFG")
    q.prepare(inputs)
    w = model.get_submodule("model.layers.0.self_attn.q_proj.weight_quantizer")
    before = (w.spec, w.enabled)
    with set_quantizer_by_cfg_context(model, [
        {"quantizer_name": "*weight_quantizer", "cfg": {"num_bits": 4, "block_sizes": {-1: 16}}},
        {"quantizer_name": "*q_proj*", "enable": False},
    ]):
        assert w.spec.dtype == "int4" and w.spec.granularity.block_size == 16 and not w.enabled
        assert model.get_submodule("model.layers.0.self_attn.k_proj.weight_quantizer").enabled
    assert (w.spec, w.enabled) == before
    with pytest.raises(ZeroDivisionError):
        with set_quantizer_by_cfg_context(model, [{"quantizer_name": "*", "enable": False}]):
            assert not w.enabled
            raise ZeroDivisionError
    assert w.enabled  # restored on the way out of an exception too
    set_quantizer_by_cfg(model, "modelopt:FP8_DEFAULT_CFG")
    assert w.spec.dtype == "float8_e4m3fn" and w.enabled
    # lm_head is switched off by the presets: its quantizer exists (FP8 set its spec), off, and turns on
    assert not model.lm_head.weight_quantizer.enabled
    set_quantizer_by_cfg(model, [{"quantizer_name": "*lm_head*", "enable": True}])
    assert model.lm_head.weight_quantizer.enabled and model.lm_head.weight_quantizer.spec.dtype == "float8_e4m3fn"
    set_quantizer_by_cfg(model, {"quant_cfg": {"*down_proj*": {"enable": False}}})  # the legacy form
    assert not model.get_submodule("model.layers.1.mlp.down_proj.weight_quantizer").enabled


def test_set_quantizer_by_cfg_names_an_unknown_exact_path() -> None:
    model, inputs = example("tiny_llama")
    Quantizer(model, "modelopt:INT8_DEFAULT_CFG").prepare(inputs)
    with pytest.raises(QuantizerCfgError, match="no quantizer 'model.layers.0.self_attn.q_prj.weight_quantizer'") as info:
        set_quantizer_by_cfg(model, [{"quantizer_name": "model.layers.0.self_attn.q_prj.weight_quantizer", "enable": False}])
    assert "q_proj" in str(info.value)
    with pytest.raises(QuantizerCfgError, match="needs a prepared model"):
        set_quantizer_by_cfg(example("cnn")[0], [{"quantizer_name": "*", "enable": False}])


def test_a_failed_prepare_leaves_the_model_as_it_was() -> None:
    model, inputs = example("tiny_llama")
    names = [n for n, _ in model.named_modules()]
    from qrt.frontends.dsl import parse_rules

    bad = parse_rules("op linear weight -> int4 per_block(48, axis=-1)\n")  # 48 does not divide 64
    with pytest.raises(PrepareError, match="does not divide") as info:
        Quantizer(model, bad).prepare(inputs)
    assert "weight_quantizer" in str(info.value)
    assert [n for n, _ in model.named_modules()] == names and "forward" not in vars(model)
    Quantizer(model, "modelopt:INT8_DEFAULT_CFG").prepare(inputs)  # and it can be prepared after


def test_summary_lists_every_quantizer() -> None:
    model, inputs = example("cnn")
    q = Quantizer(model, W8A8)
    q.prepare(inputs)
    text = q.summary()
    assert "fc.weight_quantizer" in text and "int8 symmetric per_channel(axis=0)" in text
    assert text.strip().endswith(f"{len(q.quantizers())} quantizers, {len(q.quantizers())} enabled")


def test_shared_parameter_gets_one_quantizer() -> None:
    class Tied(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.a = nn.Linear(8, 8)
            self.b = nn.Linear(8, 8)
            self.b.weight = self.a.weight

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.b(self.a(x))

    model = Tied().eval()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        Quantizer(model, W8A8).prepare((torch.randn(2, 8),))
    assert model.a.weight_quantizer is model.b.weight_quantizer


@pytest.mark.parametrize("name", ["tiny_llama", "mha", "two_add", "hf_llama"])
def test_the_mode_scoped_to_quantized_modules_applies_the_same_quantizers(name: str) -> None:
    """The function mode runs only inside modules whose own ops have quantizers; running it over
    the whole forward (as the trace does) must quantize exactly the same tensors."""
    model, inputs = hf_llama() if name == "hf_llama" else example(name)
    kwargs = {"use_cache": False} if name == "hf_llama" else {}
    q = Quantizer(model, W8A8)
    q.prepare(inputs, example_kwargs=kwargs)
    with q.calibration_mode():
        model(*inputs, **kwargs)
    with torch.no_grad():
        scoped = model(*inputs, **kwargs)
        q.state.runner.global_mode = True
        whole = model(*inputs, **kwargs)
    scoped = scoped.logits if hasattr(scoped, "logits") else scoped
    whole = whole.logits if hasattr(whole, "logits") else whole
    assert torch.equal(scoped, whole)


def test_quantized_attention_probabilities_run_the_math_form_of_sdpa() -> None:
    """With fake quantization off everywhere, the prepared model (whose sdpa runs written out
    so that its probabilities can be quantized) computes what the float model computes."""
    model, inputs = hf_llama()
    ref = copy.deepcopy(model)
    q = Quantizer(model, W8A8)
    q.prepare(inputs, example_kwargs={"use_cache": False})
    assert "model.layers.0.self_attn.scaled_dot_product_attention.output_quantizer_p" in quantizer_modules(model) or any(
        p.endswith("output_quantizer_p") for p in quantizer_modules(model)
    )
    q.disable_fake_quant()
    q.disable_observer()
    with torch.no_grad():
        torch.testing.assert_close(model(*inputs, use_cache=False).logits, ref(*inputs, use_cache=False).logits, rtol=1e-4, atol=1e-5)


def test_cli_run_and_inspect_prepared() -> None:
    import json

    from tests.conftest import run_qrt

    done = run_qrt("run", "modelopt:INT8_DEFAULT_CFG", "--model", "cnn", "--format", "json", "--batches", "2")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["quantizers"] >= 4 and report["cosine"] > 0.99 and report["batches"] == 2
    shown = run_qrt("inspect", "--model", "cnn", "--prepared", "modelopt:FP8_DEFAULT_CFG")
    assert shown.returncode == 0 and "fc.weight_quantizer" in shown.stdout and "float8_e4m3fn" in shown.stdout
    bad = run_qrt("run", "rules/w8a8.qrt", "--model", "cnn", "--device", "meta")
    assert bad.returncode == 2 and "no weights" in bad.stderr
