"""Finalize, first part: real low-bit weights, and a finalized model that computes what the
prepared one does."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from qrt.frontends.dsl import parse_rules
from qrt.ir.spec import QuantizationSpec
from qrt.runtime.examples import EXAMPLES
from qrt.runtime.finalize.pack import FinalizeError, Packed, dequantize, quantize_packed
from qrt.runtime.quant.numerics import fake_quantize, format_of, group_min_max, group_shape, qparams
from qrt.runtime.quant.quantizer import Quantizer

FORMATS = {
    "int8 per channel": dict(dtype="int8", granularity={"type": "per_channel", "axis": 0}),
    "int4 per block": dict(dtype="int4", granularity={"type": "per_block", "block_size": 32, "axis": -1}),
    "uint4 asymmetric": dict(dtype="uint4", qscheme="asymmetric", granularity={"type": "per_block", "block_size": 32, "axis": -1}),
    "int2 per channel": dict(dtype="int2", granularity={"type": "per_channel", "axis": 0}),
    "float8 per channel": dict(dtype="float8_e4m3fn", granularity={"type": "per_channel", "axis": 0}),
    "mxfp4": dict(dtype="float4_e2m1fn_x2", granularity={"type": "per_block", "block_size": 32, "axis": -1},
                  scale_dtype="float8_e8m0fnu"),
    "mxfp8": dict(dtype="float8_e4m3fn", granularity={"type": "per_block", "block_size": 32, "axis": -1},
                  scale_dtype="float8_e8m0fnu"),
    "nvfp4": dict(dtype="float4_e2m1fn_x2", granularity={"type": "per_block", "block_size": 16, "axis": -1},
                  scale_dtype="float8_e4m3fn"),
    "fp4 per block, fp32 scales": dict(dtype="float4_e2m1fn_x2", granularity={"type": "per_block", "block_size": 16, "axis": 0}),
}
BITS = {"int8 per channel": 8, "int4 per block": 4, "uint4 asymmetric": 4, "int2 per channel": 2,
        "float8 per channel": 8, "mxfp4": 4, "mxfp8": 8, "nvfp4": 4, "fp4 per block, fp32 scales": 4}
SCALE_DTYPE = {"mxfp4": torch.float8_e8m0fnu, "mxfp8": torch.float8_e8m0fnu, "nvfp4": torch.float8_e4m3fn}


def packed_and_checked(name: str, w: torch.Tensor) -> tuple[Packed, tuple[int, ...]]:
    """``w`` packed under ``FORMATS[name]`` with static qparams, checked to dequantize to
    exactly the fake-quantized values."""
    spec = QuantizationSpec(**FORMATS[name])
    fmt = format_of(spec)
    block = group_shape(spec, tuple(w.shape))
    scale = zero_point = None
    if fmt.kind in ("int", "float8"):
        lo, hi = group_min_max(w, block)
        scale, zero_point = qparams(spec, fmt, lo, hi, block)
    packed = quantize_packed(spec, fmt, w, block, scale, zero_point)
    assert torch.equal(dequantize(packed), fake_quantize(spec, fmt, w, block, scale, zero_point))
    return packed, block


@pytest.mark.parametrize("name", sorted(FORMATS))
def test_packed_form_dequantizes_to_the_fake_quantized_values(name: str) -> None:
    torch.manual_seed(0)
    w = torch.randn(64, 128)
    packed, block = packed_and_checked(name, w)
    # the codes take the format's bits per weight, the scales their spec's dtype, one per group
    assert packed.data.numel() * packed.data.element_size() * 8 == w.numel() * BITS[name]
    assert packed.scale.dtype == SCALE_DTYPE.get(name, torch.float32)
    assert packed.scale.numel() == w.numel() // max(1, torch.tensor(block).prod().item())
    if name == "nvfp4":
        assert packed.global_scale is not None and packed.global_scale.dtype == torch.float32
    # symmetric zero points are not stored
    assert (packed.zero_point is not None) == (FORMATS[name].get("qscheme") == "asymmetric")
    # layout + tensors rebuild it exactly
    again = Packed.from_stored(packed.layout(), packed.tensors())
    assert torch.equal(dequantize(again), dequantize(packed))


def finalized_like_prepared(model: torch.nn.Module, inputs: tuple, config: object,  # type: ignore[type-arg]
                            output: object = lambda out: out) -> Quantizer:
    """Prepare and calibrate ``model``, finalize it, and check it computes what the prepared
    model computed (``output`` picks the tensor from the model's output)."""
    q = Quantizer(model, config)
    q.prepare(inputs)
    with q.calibration_mode():
        model(*inputs)
    with torch.no_grad():
        prepared = output(model(*inputs))  # type: ignore[operator]
    q.finalize()
    with torch.no_grad():
        torch.testing.assert_close(output(model(*inputs)), prepared)  # type: ignore[operator]
    return q


@pytest.mark.parametrize("spec", [
    "int8 per_channel(axis=0) qparam_calculator=static",
    "int4 per_block(32, axis=-1) qparam_calculator=static",
    "float8_e4m3fn per_channel(axis=0) qparam_calculator=static",
    "float4_e2m1fn_x2 per_block(32, axis=-1) scale_dtype=float8_e8m0fnu",
    "float4_e2m1fn_x2 per_block(16, axis=-1) scale_dtype=float8_e4m3fn",
])
def test_finalized_model_computes_what_the_prepared_one_does(spec: str) -> None:
    example = EXAMPLES["tiny_llama"]
    torch.manual_seed(0)
    model = example.build().eval()
    inputs = example.inputs(None, "cpu")
    rules = parse_rules(f"op linear weight -> {spec}\nop linear input[0] -> int8 qparam_calculator=minmax\n")
    q = finalized_like_prepared(model, inputs, rules)
    assert model.get_submodule("model.layers.0.mlp.up_proj").weight.numel() == 0  # the dense weight is freed
    report = q.finalize_report
    assert report["weights"] == 15 and report["packed_bytes"] < report["dense_bytes"] / 3


def _held_bytes(model: torch.nn.Module, *, caches: bool) -> int:
    """Bytes of the tensors the model keeps: parameters and buffers, and with ``caches`` the
    quantizers' cached results too."""
    held = {id(t): t for t in model.state_dict().values()}
    for module in model.modules():
        cached = getattr(module, "_cache", None) if caches else None
        if cached is not None:
            held[id(cached[2])] = cached[2]
    return sum(t.numel() * t.element_size() for t in held.values())


def test_a_finalized_model_keeps_no_dense_copy_after_a_forward() -> None:
    """Issue 20: after one forward a finalized model cached a dense copy of every quantized
    weight (RSS 723 MiB vs 279 MiB for the float model); it keeps its packed weights only."""
    example = EXAMPLES["tiny_llama"]
    torch.manual_seed(0)
    model = example.build().eval()
    inputs = example.inputs(None, "cpu")
    finalized_like_prepared(model, inputs, parse_rules("op linear weight -> int4 per_block(32, axis=-1) qparam_calculator=static\n"))
    with torch.no_grad():
        model(*inputs)
        model(*inputs)
    assert _held_bytes(model, caches=True) == _held_bytes(model, caches=False)


def test_a_format_without_packed_form_is_named() -> None:
    example = EXAMPLES["tiny_llama"]
    torch.manual_seed(0)
    model = example.build().eval()
    q = Quantizer(model, parse_rules("op linear weight -> float4_e2m1fn_x2 per_block(32, axis=0) scale_dtype=float8_e8m0fnu\n"))
    q.prepare(example.inputs(None, "cpu"))
    with pytest.raises(FinalizeError, match="model.layers.0.self_attn.q_proj.weight_quantizer: float4_e2m1fn_x2 MX blocks along axis 0"):
        q.finalize()
    assert model.get_submodule("model.layers.0.mlp.up_proj").weight.numel() > 0  # nothing was changed
    with pytest.raises(FinalizeError, match="not been prepared"):
        Quantizer(example.build().eval()).finalize()


def test_a_sequential_spec_has_no_single_packed_form() -> None:
    spec = QuantizationSpec(dtype="int8", then=(QuantizationSpec(dtype="float8_e4m3fn"),))
    w = torch.randn(8, 8)
    with pytest.raises(FinalizeError, match="further stage"):
        quantize_packed(spec, format_of(spec), w, group_shape(spec, (8, 8)), None, None)


@pytest.mark.parametrize("rules", [
    "op linear weight -> int8 per_channel(axis=0)\nop linear input[0] -> int8\n",  # torchao folds it
    "op linear weight -> int4 per_block(32, axis=-1)\nop linear input[0] -> float8_e4m3fn\n",  # qrt packs it
    "op linear weight -> float4_e2m1fn_x2 per_block(32, axis=-1) scale_dtype=float8_e8m0fnu\n",
    "op linear weight -> float4_e2m1fn_x2 per_block(16, axis=-1) scale_dtype=float8_e4m3fn\n",
])
def test_graph_mode_finalizes_through_convert_pt2e(rules: str) -> None:
    from qrt.runtime.graph.finalize import PackedWeight

    example = EXAMPLES["tiny_llama"]
    torch.manual_seed(0)
    inputs = example.inputs(None, "cpu")
    q = Quantizer(example.build().eval(), parse_rules(rules), execution_mode="graph")
    gm = q.prepare(inputs)
    with q.calibration_mode():
        gm(*inputs)
    with torch.no_grad():
        prepared = gm(*inputs)
    converted = q.finalize()
    with torch.no_grad():
        torch.testing.assert_close(converted(*inputs), prepared)
    report = q.finalize_report
    assert report["weights"] == 15 and report["packed_bytes"] < report["dense_bytes"] / 2
    # no float copy of a quantized weight is left
    floats = [n for n, t in converted.named_parameters() if "proj" in n or "lm_head" in n]
    assert floats == []
    if "int8" not in rules.split("\n")[0]:
        assert sum(isinstance(m, PackedWeight) for m in converted.modules()) == 15


def test_graph_mode_has_no_mmap_dir(tmp_path) -> None:  # type: ignore[no-untyped-def]
    example = EXAMPLES["tiny_llama"]
    q = Quantizer(example.build().eval(), parse_rules("op linear weight -> int8 per_channel(axis=0)\n"), execution_mode="graph")
    q.prepare(example.inputs(None, "cpu"))
    with pytest.raises(FinalizeError, match="mmap_dir is not available for graph-mode models"):
        q.finalize(mmap_dir=tmp_path)
    with pytest.raises(FinalizeError, match="valid backends: torch"):
        q.finalize(backend="tensorrt")


@pytest.mark.parametrize("name", ["int4 per block", "uint4 asymmetric", "int8 per channel", "mxfp4", "nvfp4"])
def test_a_large_weight_is_packed_in_row_chunks_with_the_same_result(name: str) -> None:
    """Weights over 32 MB of float32 are packed a chunk of rows at a time (bounded temporaries)."""
    torch.manual_seed(0)
    w = torch.randn(2056, 4096)  # 33.7 MB: two chunks
    packed, block = packed_and_checked(name, w)
    assert packed.data.numel() * packed.data.element_size() * 8 == w.numel() * BITS[name]


@pytest.mark.parametrize("spec", [
    "int8 per_channel(axis=0) qparam_calculator=static",
    "int4 per_block(32, axis=-1) qparam_calculator=static",
    "float8_e4m3fn per_channel(axis=0) qparam_calculator=static",
    "float4_e2m1fn_x2 per_block(32, axis=-1) scale_dtype=float8_e8m0fnu",
    "float4_e2m1fn_x2 per_block(16, axis=-1) scale_dtype=float8_e4m3fn",
])
def test_a_finalized_hf_llama_computes_what_the_prepared_one_does(spec: str) -> None:
    transformers = pytest.importorskip("transformers")
    cfg = transformers.LlamaConfig(vocab_size=128, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                                   num_attention_heads=4, num_key_value_heads=2)
    torch.manual_seed(0)
    model = transformers.LlamaForCausalLM(cfg).eval()
    inputs = (torch.randint(0, 128, (2, 8)),)
    rules = parse_rules(f"op linear weight -> {spec}\nop linear input[0] -> int8 qparam_calculator=minmax\n")
    q = finalized_like_prepared(model, inputs, rules, output=lambda out: out.logits)
    assert q.finalize_report["weights"] == 15 and model.lm_head.weight.numel() == 0


@pytest.mark.parametrize("name", ["cnn", "mha"])
def test_other_built_in_models_finalize(name: str) -> None:
    example = EXAMPLES[name]
    torch.manual_seed(0)
    model = example.build().eval()
    inputs = example.inputs(None, "cpu")
    q = finalized_like_prepared(model, inputs, str(Path(__file__).resolve().parents[2] / "rules" / "w8a8.qrt"))
    assert q.finalize_report["weights"] > 0
    assert q.finalize_report["packed_bytes"] < q.finalize_report["dense_bytes"] / 3
