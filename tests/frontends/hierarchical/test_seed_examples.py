"""The worked examples of docs/semantics.md §3 as acceptance tests, in YAML and Python, on models built so the
examples mean something. Each test writes out the decision of every site: the op-level sites
in a table, and every site not in the table is expected unquantized."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from qrt import inspect_model
from qrt.api import resolve
from qrt.frontends.hierarchical import (
    ModuleQuantizerConfig,
    OpQuantizerConfig,
    QuantizerConfig,
    config_from_yaml_text,
)
from qrt.ir.spec import QuantizationSpec, default_activation_spec, default_weight_spec

A8 = default_activation_spec()
W8 = default_weight_spec()


class mymodelSelfAttention(nn.Module):  # noqa: N801 - the worked examples' class name
    def __init__(self) -> None:
        super().__init__()
        self.proj = nn.Linear(4, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.proj(x), dim=-1)


class AttnModel(nn.Module):
    """``model.selfattention.layer.{0,1}`` of type mymodelSelfAttention, then a concat."""

    def __init__(self) -> None:
        super().__init__()
        self.model = nn.Module()
        self.model.selfattention = nn.Module()
        self.model.selfattention.layer = nn.ModuleList([mymodelSelfAttention(), mymodelSelfAttention()])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.model.selfattention.layer[0](x)
        b = self.model.selfattention.layer[1](x)
        return torch.concat([a, b], dim=-1)


L0 = "model.selfattention.layer.0"
L1 = "model.selfattention.layer.1"


def op_sites(inv) -> list[str]:  # type: ignore[no-untyped-def]
    return [s.quantizer_path for s in inv.sites if s.op_name is not None]


def decisions(cfg, model, *inputs):  # type: ignore[no-untyped-def]
    inv = inspect_model(model, *inputs)
    plan = resolve(cfg, inv)
    return {d.site.quantizer_path: plan.spec(d) for d in plan}, inv


def check(got: dict, expected: dict) -> None:
    for path, spec in got.items():
        want = expected.get(path)
        assert spec == want, f"{path}: got {spec}, expected {want}"


def with_axis(spec: QuantizationSpec, axis: int) -> QuantizationSpec:
    return spec.with_axis(axis)


def attn_w8a8(**overrides: QuantizationSpec | None) -> dict[str, QuantizationSpec | None]:
    """W8A8 on every op site of AttnModel, with some sites changed."""
    table: dict[str, QuantizationSpec | None] = {}
    for layer in (L0, L1):
        table[f"{layer}.proj.input_quantizer"] = A8
        table[f"{layer}.proj.weight_quantizer"] = with_axis(W8, 0)
        table[f"{layer}.proj.output_quantizer"] = A8
        table[f"{layer}.softmax.input_quantizer_0"] = A8
        table[f"{layer}.softmax.output_quantizer_0"] = A8
    table["cat.input_quantizer_0"] = A8
    table["cat.input_quantizer_1"] = A8
    table["cat.output_quantizer_0"] = A8
    table.update(overrides)
    return table


X = (torch.randn(2, 4),)


def yaml_and_python(yaml_text: str, python_cfg: QuantizerConfig) -> list[QuantizerConfig]:
    from_yaml = config_from_yaml_text(yaml_text, file="example.yaml")
    assert from_yaml.to_dict() == python_cfg.to_dict()
    return [from_yaml, python_cfg]


def test_default_config_is_w8a8() -> None:
    got, _ = decisions(QuantizerConfig(), AttnModel(), *X)
    check(got, attn_w8a8())


def test_skip_linear_as_op() -> None:
    for cfg in yaml_and_python(
        "quantization_config:\n  global_config:\n    op_type_config:\n      linear: null\n",
        QuantizerConfig(global_config=ModuleQuantizerConfig(op_type_config={"linear": None})),
    ):
        got, _ = decisions(cfg, AttnModel(), *X)
        check(got, attn_w8a8(**{f"{layer}.proj.{q}": None for layer in (L0, L1) for q in ("input_quantizer", "weight_quantizer", "output_quantizer")}))


def test_skip_linear_as_module() -> None:
    for cfg in yaml_and_python(
        "quantization_config:\n  module_type_configs:\n    torch.nn.modules.linear.Linear: null\n",
        QuantizerConfig(module_type_configs={"torch.nn.modules.linear.Linear": None}),
    ):
        got, _ = decisions(cfg, AttnModel(), *X)
        check(got, attn_w8a8(**{f"{layer}.proj.{q}": None for layer in (L0, L1) for q in ("input_quantizer", "weight_quantizer", "output_quantizer")}))


def test_skip_softmax_inside_a_module_type() -> None:
    for cfg in yaml_and_python(
        "quantization_config:\n  module_type_configs:\n    mymodelSelfAttention:\n      op_type_config:\n        softmax: null\n",
        QuantizerConfig(module_type_configs={"mymodelSelfAttention": ModuleQuantizerConfig(op_type_config={"softmax": None})}),
    ):
        got, _ = decisions(cfg, AttnModel(), *X)
        check(got, attn_w8a8(**{f"{layer}.softmax.{q}": None for layer in (L0, L1) for q in ("input_quantizer_0", "output_quantizer_0")}))


def test_skip_softmax_inside_a_named_module() -> None:
    for cfg in yaml_and_python(
        "quantization_config:\n  module_name_configs:\n    model.selfattention.layer.0:\n      op_type_config:\n        softmax: null\n",
        QuantizerConfig(module_name_configs={L0: ModuleQuantizerConfig(op_type_config={"softmax": None})}),
    ):
        got, _ = decisions(cfg, AttnModel(), *X)
        check(got, attn_w8a8(**{f"{L0}.softmax.{q}": None for q in ("input_quantizer_0", "output_quantizer_0")}))


def test_skip_only_the_output_of_concat() -> None:
    yaml_text = """\
quantization_spec:
  activation_spec: &activation_spec
    dtype: int8
    qscheme: symmetric
    granularity: { type: per_tensor }

quantization_config:
  global_config:
    op_type_config:
      concat:
        op_input_spec:
          "*": *activation_spec
        op_output_spec: null
"""
    py = QuantizerConfig(
        global_config=ModuleQuantizerConfig(
            op_type_config={"concat": OpQuantizerConfig(op_input_spec={"*": A8}, op_output_spec=None)}
        )
    )
    # the YAML form leaves qparam_calculator unset (the runtime's default for activations);
    # the Python form uses default_activation_spec(), which names moving_average
    yaml_spec = QuantizationSpec(dtype="int8", qscheme="symmetric", granularity={"type": "per_tensor"})
    for cfg, spec in ((config_from_yaml_text(yaml_text, file="concat.yaml"), yaml_spec), (py, A8)):
        got, _ = decisions(cfg, AttnModel(), *X)
        check(got, attn_w8a8(**{"cat.input_quantizer_0": spec, "cat.input_quantizer_1": spec, "cat.output_quantizer_0": None}))


def test_quantize_only_linear_layers() -> None:
    act = QuantizationSpec(dtype="int8", granularity={"type": "per_tensor"})
    wt = QuantizationSpec(dtype="int8", granularity={"type": "per_channel"})
    yaml_text = """\
quantization_spec:
  spec1: &int8_activation
    dtype: int8
    granularity:
      type: per_tensor
  spec2: &int8_weight
    dtype: int8
    granularity:
      type: per_channel
quantization_config:
  global_config: null
  module_type_configs:
    torch.nn.modules.linear.Linear:
      op_input_spec:
        "*": *int8_activation
      op_output_spec:
        "*": *int8_activation
      op_state_spec:
        weight: *int8_weight
"""
    py = QuantizerConfig(
        global_config=None,
        module_type_configs={
            "torch.nn.modules.linear.Linear": ModuleQuantizerConfig(
                op_input_spec={"*": act}, op_output_spec={"*": act}, op_state_spec={"weight": wt}
            )
        },
    )
    for cfg in (config_from_yaml_text(yaml_text, file="linear.yaml"), py):
        got, _ = decisions(cfg, AttnModel(), *X)
        expected = {}
        for layer in (L0, L1):
            expected[f"{layer}.proj.input_quantizer"] = act
            expected[f"{layer}.proj.weight_quantizer"] = wt.with_axis(0)
            expected[f"{layer}.proj.output_quantizer"] = act
        check(got, expected)


class Linears(nn.Module):
    """24 functional linears at the root: op names linear, linear_1, … linear_23."""

    def __init__(self) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.randn(4, 4))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for _ in range(24):
            x = F.linear(x, self.w)
        return x


def test_quantize_only_one_op_by_name() -> None:
    act = QuantizationSpec(dtype="int8", granularity={"type": "per_tensor"})
    wt = QuantizationSpec(dtype="int8", granularity={"type": "per_channel"})
    yaml_text = """\
quantization_spec:
  spec1: &int8_activation
    dtype: int8
    granularity:
      type: per_tensor
  spec2: &int8_weight
    dtype: int8
    granularity:
      type: per_channel
quantization_config:
  global_config:
    op_input_spec: null
    op_output_spec: # empty also signifies null
    op_state_spec:
    op_name_config:
      linear_23:
        op_input_spec:
          "*": *int8_activation
        op_output_spec:
          "*": *int8_activation
        op_state_spec:
          weight: *int8_weight
"""
    py = QuantizerConfig(
        global_config=ModuleQuantizerConfig(
            op_input_spec=None,
            op_output_spec=None,
            op_state_spec=None,
            op_name_config={
                "linear_23": OpQuantizerConfig(op_input_spec={"*": act}, op_output_spec={"*": act}, op_state_spec={"weight": wt})
            },
        )
    )
    for cfg in (config_from_yaml_text(yaml_text, file="by_name.yaml"), py):
        got, _ = decisions(cfg, Linears(), torch.randn(2, 4))
        check(got, {
            "linear_23.input_quantizer_0": act,
            "linear_23.weight_quantizer": wt.with_axis(0),
            "linear_23.output_quantizer_0": act,
        })


class EmbLin(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.emb = nn.Embedding(10, 64)
        self.fc = nn.Linear(64, 64)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.fc(self.emb(ids))


def test_presets_and_set_module_type() -> None:
    cfg = QuantizerConfig.presets.w4().set_module_type(nn.Embedding, ModuleQuantizerConfig.presets.w8())
    got, _ = decisions(cfg, EmbLin(), torch.tensor([[1, 2]]))
    w4 = got["fc.weight_quantizer"]
    assert w4 is not None and w4.dtype == "int4" and w4.granularity.type == "per_block"
    assert w4.granularity.axis == 1 and w4.granularity.block_size == 32
    w8 = got["emb.weight_quantizer"]
    assert w8 is not None and w8.dtype == "int8" and w8.granularity.type == "per_channel" and w8.granularity.axis == 0
    assert {p for p, s in got.items() if s is not None} == {"fc.weight_quantizer", "emb.weight_quantizer"}


def test_explicit_spec_construction_linear_int4_embedding_int8() -> None:
    yaml_text = """\
quantization_spec:
  spec1: &int8_weight
    dtype: int8
    granularity:
      type: per_channel
  spec2: &int4_weight
    dtype: int4
    granularity:
      type: per_block
      block_size: 32
quantization_config:
  global_config: null
  module_type_configs:
    torch.nn.modules.linear.Linear:
      op_input_spec:
      op_output_spec:
      op_state_spec:
        weight: *int4_weight
    torch.nn.modules.sparse.Embedding:
      op_input_spec:
      op_output_spec:
      op_state_spec:
        weight: *int8_weight
"""
    int4 = QuantizationSpec(dtype="int4", granularity={"type": "per_block", "block_size": 32})
    int8 = QuantizationSpec(dtype="int8", granularity={"type": "per_channel"})
    py = QuantizerConfig(global_config=None)
    py.set_module_type("torch.nn.modules.linear.Linear", ModuleQuantizerConfig(op_input_spec=None, op_output_spec=None, op_state_spec={"weight": int4}))
    py.set_module_type("torch.nn.modules.sparse.Embedding", ModuleQuantizerConfig(op_input_spec=None, op_output_spec=None, op_state_spec={"weight": int8}))
    for cfg in (config_from_yaml_text(yaml_text, file="explicit.yaml"), py):
        got, _ = decisions(cfg, EmbLin(), torch.tensor([[1, 2]]))
        check(got, {"fc.weight_quantizer": int4.with_axis(1), "emb.weight_quantizer": int8.with_axis(0)})


class MHAModel(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.attn = nn.MultiheadAttention(8, 2, batch_first=True)
        self.out = nn.Linear(8, 8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a, _ = self.attn(x, x, x, need_weights=False)
        return self.out(a)


def test_module_boundary_quantization_of_multihead_attention() -> None:
    act = QuantizationSpec(dtype="int8", granularity={"type": "per_tensor"})
    yaml_text = """\
quantization_spec:
  spec1: &int8_activation
    dtype: int8
    granularity:
      type: per_tensor
quantization_config:
  global_config:
    op_input_spec:
      "*": *int8_activation
    op_output_spec:
      "*": *int8_activation
  module_type_configs:
    torch.nn.modules.activation.MultiheadAttention:
      op_input_spec:
      op_output_spec:
      module_input_spec:
        0: *int8_activation
        1: *int8_activation
        2: *int8_activation
      module_output_spec:
        "*": *int8_activation
"""
    py = QuantizerConfig(
        global_config=ModuleQuantizerConfig(op_input_spec={"*": act}, op_output_spec={"*": act}),
        module_type_configs={
            "torch.nn.modules.activation.MultiheadAttention": ModuleQuantizerConfig(
                op_input_spec=None, op_output_spec=None,
                module_input_spec={0: act, 1: act, 2: act}, module_output_spec={"*": act},
            )
        },
    )
    for cfg in (config_from_yaml_text(yaml_text, file="mha.yaml"), py):
        got, _ = decisions(cfg, MHAModel(), torch.randn(1, 3, 8))
        check(got, {
            "attn.module_input_quantizer_0": act,
            "attn.module_input_quantizer_1": act,
            "attn.module_input_quantizer_2": act,
            "attn.module_output_quantizer_0": act,
            # inside the attention: op inputs/outputs off, and its state is not named "weight"
            # global W8 weights elsewhere; out's input is attn's output, whose module-level
            # quantizer overrides the op-level one (one quantizer per tensor)
            "out.weight_quantizer": W8.with_axis(0),
            "out.output_quantizer": act,
        })


class Codec(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.enc = nn.Conv2d(3, 32, 3, padding=1)
        self.fc = nn.Linear(64, 64)
        self.decoder = nn.Module()
        self.decoder.deconv1 = nn.ConvTranspose2d(32, 64, 2, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.decoder.deconv1(self.enc(x)).mean((-1, -2)))


def test_axis_override_for_one_conv_transpose() -> None:
    yaml_text = """\
quantization_config:
  global_config:
    op_state_spec:
      weight:
        dtype: int4
        granularity:
          type: per_block
          block_size: 32
  module_name_configs:
    decoder.deconv1:
      op_state_spec:
        weight:
          dtype: int4
          granularity:
            type: per_block
            axis: 1
            block_size: 32
"""
    blk = QuantizationSpec(dtype="int4", granularity={"type": "per_block", "block_size": 32})
    py = QuantizerConfig(
        global_config=ModuleQuantizerConfig(op_state_spec={"weight": blk}),
        module_name_configs={
            "decoder.deconv1": ModuleQuantizerConfig(
                op_state_spec={"weight": QuantizationSpec(dtype="int4", granularity={"type": "per_block", "axis": 1, "block_size": 32})}
            )
        },
    )
    for cfg in (config_from_yaml_text(yaml_text, file="axis.yaml"), py):
        got, _ = decisions(cfg, Codec(), torch.randn(1, 3, 4, 4))
        assert got["enc.weight_quantizer"] == blk.with_axis(1)  # conv per-block default axis 1
        assert got["fc.weight_quantizer"] == blk.with_axis(1)
        assert got["decoder.deconv1.weight_quantizer"] == blk.with_axis(1)  # explicit axis 1
        assert got["decoder.deconv1.input_quantizer"] == A8  # op inputs keep the class default


def test_two_add_model_op_names_in_op_name_config() -> None:
    from qrt.runtime.examples import TwoAddModel

    cfg = QuantizerConfig(
        global_config=ModuleQuantizerConfig(op_name_config={r"submodule_a\.add_1": None})
    )
    got, _ = decisions(cfg, TwoAddModel(), torch.randn(2, 2))
    expected = {}
    for op in ("submodule_a.add", "submodule_b.add", "submodule_b.add_1"):
        expected.update({f"{op}.input_quantizer_0": A8, f"{op}.input_quantizer_1": A8, f"{op}.output_quantizer_0": A8})
    check(got, expected)


def test_w_mxfp4_a_fp8_on_all_supported_ops() -> None:
    fp8 = QuantizationSpec(dtype="float8_e4m3fn")
    mxfp4 = QuantizationSpec(dtype="float4_e2m1fn_x2", granularity={"type": "per_block", "block_size": 32}, scale_dtype="float8_e8m0fnu")
    yaml_text = """\
quantization_spec:
  spec1: &fp8_activation
    dtype: float8_e4m3fn
  spec2: &mxfp4_weight
    dtype: float4_e2m1fn_x2
    granularity: { type: per_block, block_size: 32 }
    scale_dtype: float8_e8m0fnu
quantization_config:
  global_config:
    op_input_spec:
      "*": *fp8_activation
    op_output_spec:
      "*": *fp8_activation
    op_state_spec:
      weight: *mxfp4_weight
"""
    py = QuantizerConfig(
        global_config=ModuleQuantizerConfig(op_input_spec={"*": fp8}, op_output_spec={"*": fp8}, op_state_spec={"weight": mxfp4})
    )
    for cfg in yaml_and_python(yaml_text, py):
        got, _ = decisions(cfg, AttnModel(), *X)
        expected = {k: (fp8 if v == A8 else mxfp4.with_axis(1)) for k, v in attn_w8a8().items()}
        check(got, expected)


def test_only_for_and_without_decisions() -> None:
    only = QuantizerConfig.presets.w4().only_for(nn.Linear)
    got, _ = decisions(only, EmbLin(), torch.tensor([[1, 2]]))
    assert {p for p, s in got.items() if s is not None} == {"fc.weight_quantizer"}
    without = QuantizerConfig.presets.w4().without(nn.Embedding, "fc")
    got, _ = decisions(without, EmbLin(), torch.tensor([[1, 2]]))
    assert {p for p, s in got.items() if s is not None} == set()
    keep_emb = QuantizerConfig.presets.w4().without("fc")
    got, _ = decisions(keep_emb, EmbLin(), torch.tensor([[1, 2]]))
    assert {p for p, s in got.items() if s is not None} == {"emb.weight_quantizer"}
