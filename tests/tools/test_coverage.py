"""Byte-weighted coverage (qrt/tools/coverage.py) on real models, against sizes worked out by
hand from the models' layer shapes and the formats' definitions."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import qrt
from qrt.tools.coverage import coverage_of_plan, format_name, spec_bits
from tests.tools.report_support import tiny_llama

# The built-in tiny_llama (qrt/runtime/examples.py): vocabulary 256, hidden 64, 4 heads of 16
# with 2 key/value heads, MLP 128, 2 layers, an untied head, float32. Parameters by hand:
HIDDEN, VOCAB, KV, MLP, LAYERS = 64, 256, 32, 128, 2
LINEARS_PER_LAYER = [(HIDDEN, HIDDEN), (KV, HIDDEN), (KV, HIDDEN), (HIDDEN, HIDDEN),  # q k v o
                     (MLP, HIDDEN), (MLP, HIDDEN), (HIDDEN, MLP)]                     # gate up down
NORMS = 2 * LAYERS + 1                                                                  # + final norm
LINEAR = LAYERS * sum(o * i for o, i in LINEARS_PER_LAYER) + VOCAB * HIDDEN             # + lm_head
OTHER = VOCAB * HIDDEN + NORMS * HIDDEN                                                 # embedding, norms




def test_int4_blocks_of_32_on_every_linear_weight() -> None:
    cov = coverage_of_plan(qrt.resolve(qrt.parse_rules("op linear weight -> int4 per_block(32)"), tiny_llama()))
    total = cov.total
    assert total.bits_before == 32 * (LINEAR + OTHER)
    # 4 bits per weight, one float32 scale per 32 weights: 5 bits per weight
    assert total.quantized.bits_before == 32 * LINEAR
    assert total.quantized.bits_after == LINEAR * 4 + (LINEAR // 32) * 32
    assert total.bits_after == LINEAR * 5 + 32 * OTHER
    assert total.fraction == pytest.approx(LINEAR / (LINEAR + OTHER))
    assert total.quantized.tensors == LAYERS * len(LINEARS_PER_LAYER) + 1
    formats = cov.by_format()
    assert list(formats) == ["int4", "float"]
    assert formats["int4"].bits_per_weight == 5.0 and formats["float"].bits_per_weight == 32.0
    assert cov.to_json()["bytes_before"] == 4 * (LINEAR + OTHER)


def test_per_module_sums_cover_the_subtree() -> None:
    cov = coverage_of_plan(qrt.resolve(qrt.parse_rules("op linear weight -> int8 per_channel"), tiny_llama()))
    modules = cov.by_module()
    layer = sum(o * i for o, i in LINEARS_PER_LAYER)
    one = modules["model.layers.0"]
    assert one.bits_before == 32 * (layer + 2 * HIDDEN)
    # int8 with one float32 scale per output channel (axis 0, the default for linear weights)
    assert one.bits_after == 8 * layer + 32 * sum(o for o, _ in LINEARS_PER_LAYER) + 32 * 2 * HIDDEN
    assert modules["model.layers.0.self_attn.k_proj"].bits_after == 8 * KV * HIDDEN + 32 * KV
    assert modules[""].bits_before == cov.total.bits_before
    assert modules["model.embed_tokens"].fraction == 0.0 and modules["lm_head"].fraction == 1.0


@pytest.mark.parametrize(("decision", "bits"), [
    # NVFP4: 4-bit values, an e4m3 scale per 16, one fp32 global scale
    ({"dtype": "float4_e2m1fn_x2", "scale_dtype": "float8_e4m3fn", "granularity": {"type": "per_block", "block_size": 16, "axis": -1}},
     64 * 64 * 4 + (64 * 64 // 16) * 8 + 32),
    # MXFP4: 4-bit values, an e8m0 scale per 32
    ({"dtype": "float4_e2m1fn_x2", "scale_dtype": "float8_e8m0fnu", "granularity": {"type": "per_block", "block_size": 32, "axis": -1}},
     64 * 64 * 4 + (64 * 64 // 32) * 8),
    # int8 asymmetric per channel: a float32 scale and an 8-bit zero point per row
    ({"dtype": "int8", "qscheme": "asymmetric", "granularity": {"type": "per_channel", "axis": 0}}, 64 * 64 * 8 + 64 * 40),
    # fp8 per tensor with a bfloat16 scale
    ({"dtype": "float8_e4m3fn", "scale_dtype": "bfloat16", "granularity": {"type": "per_tensor"}}, 64 * 64 * 8 + 16),
    # a block that does not divide: the last block is ragged, and still has its scale
    ({"dtype": "int4", "granularity": {"type": "per_block", "block_size": 48, "axis": 1}}, 64 * 64 * 4 + 64 * 2 * 32),
])
def test_spec_bits_follow_the_formats(decision: dict, bits: int) -> None:  # type: ignore[type-arg]
    assert spec_bits(decision, (64, 64)) == bits


def test_format_names() -> None:
    assert [format_name(d) for d in (
        {"dtype": "int8"}, {"dtype": "uint4"}, {"dtype": "float8_e4m3fn"}, {"dtype": "float8_e5m2"},
        {"dtype": "float8_e4m3fn", "scale_dtype": "float8_e8m0fnu"}, {"dtype": "float4_e2m1fn_x2", "scale_dtype": "float8_e8m0fnu"},
        {"dtype": "float4_e2m1fn_x2", "scale_dtype": "float8_e4m3fn"}, {"dtype": "float4_e2m1fn_x2"},
    )] == ["int8", "uint4", "fp8_e4m3", "fp8_e5m2", "mxfp8", "mxfp4", "nvfp4", "fp4_e2m1"]


class Tied(nn.Module):
    """An embedding whose weight the head reads too (tie_word_embeddings)."""

    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Embedding(32, 16)
        self.mid = nn.Linear(16, 16)
        self.head = nn.Linear(16, 32, bias=False)
        self.head.weight = self.embed.weight

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.head(self.mid(self.embed(ids)))


def test_a_tied_weight_read_unquantized_elsewhere_stays_float() -> None:
    inv = qrt.inspect_model(Tied(), torch.randint(0, 32, (1, 4)))
    linear_only = coverage_of_plan(qrt.resolve(qrt.parse_rules("op linear weight -> int8 per_channel"), inv))
    embed = next(w for w in linear_only.weights if w.name == "embed.weight")
    assert embed.kept_dense and embed.format is None and embed.bits_after == 32 * 32 * 16
    assert linear_only.to_json()["kept_dense"] == ["embed.weight"]
    assert linear_only.total.quantized.bits_before == 32 * 16 * 16  # mid.weight alone
    both = coverage_of_plan(qrt.resolve(qrt.parse_rules(
        "op linear weight -> int8 per_channel\nop embedding weight -> int8 per_channel(axis=0)"), inv))
    embed = next(w for w in both.weights if w.name == "embed.weight")
    assert not embed.kept_dense and embed.format == "int8"
    assert embed.bits_after == 32 * 16 * 8 + 32 * 32  # counted once, though two ops read it
    assert both.total.tensors == 3  # embed.weight (shared), mid.weight, mid.bias


class Two(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.up = nn.Linear(64, 96)
        self.down = nn.Linear(96, 64)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.down(torch.relu(self.up(x)))


@pytest.mark.parametrize("weight", [
    "int8 per_channel", "int4 per_block(32)", "int4 asymmetric per_block(32)", "float8_e4m3fn per_tensor",
    "float4_e2m1fn_x2 per_block(16) scale_dtype=float8_e4m3fn", "float4_e2m1fn_x2 per_block(32) scale_dtype=float8_e8m0fnu",
])
def test_bytes_after_are_what_finalize_packs(weight: str) -> None:
    """The torch-free count equals the bytes ``finalize`` really keeps for each packed weight
    (codes, scales, zero points, global scales), for every format that packs to its nominal bits."""
    model, x = Two().eval(), torch.randn(2, 64)
    rules = qrt.parse_rules(f"op linear weight -> {weight}")
    quantizer = qrt.Quantizer(model, rules)
    quantizer.prepare((x,))
    with quantizer.calibration_mode():
        quantizer.model(x)
    quantizer.finalize()
    report = quantizer.finalize_report
    cov = coverage_of_plan(qrt.resolve(rules, qrt.inspect_model(Two(), x)))
    assert cov.total.quantized.bits_after == 8 * report["packed_bytes"]
    assert cov.total.quantized.bits_before == 8 * report["dense_bytes"]
