"""Differential: qrt's reading of a torchao ``FqnToConfig`` equals what torchao 0.18's
``quantize_`` does.

On tiny random Hugging Face models (Llama, Qwen2 — q/k/v biases —, OPT — biases, tied
``lm_head`` —, GPT-2 — ``Conv1D``, no Linear but ``lm_head``), for generated maps (exact module
and parameter names, ``re:`` keys that match modules, parameters, biases and containers, and
``_default``; configs drawn from those that run on a CPU, and ``None``), torchao's own
``quantize_(model, FqnToConfig(...), filter_fn=None)`` runs on a copy of the model and every
``nn.Linear``'s weight is read back: its tensor subclass, ``block_size`` and the activation
quantization attached to it give the weight and input specs torchao applied, written here from
torchao's tensor definitions. qrt resolves the same object on the model's traced inventory and
must give every Linear the same two specs — or refuse the config, which it may only where
torchao fails or quantizes something qrt reads no torchao config on (a bias, a non-Linear
module's weight). The plan written back as an ``FqnToConfig`` (``qrt convert --to torchao``)
and applied by torchao quantizes every Linear the same. Skipped where torchao is not installed.
"""

from __future__ import annotations

import copy
import warnings
from collections import OrderedDict
from typing import Any

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("torchao")
transformers = pytest.importorskip("transformers")

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from qrt.api import resolve  # noqa: E402
from qrt.frontends.torchao import TorchAoConfigError, torchao_from_object  # noqa: E402
from qrt.frontends.torchao.source import TorchAoSource  # noqa: E402
from qrt.ir.spec import PerBlock, PerChannel, PerTensor, QuantizationSpec  # noqa: E402

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from torchao.quantization import (  # noqa: E402
        Float8WeightOnlyConfig,
        FqnToConfig,
        Int8DynamicActivationInt8WeightConfig,
        Int8WeightOnlyConfig,
        quantize_,
    )
    from torchao.quantization.granularity import PerGroup  # noqa: E402
    from torchao.quantization.granularity import PerTensor as AoPerTensor  # noqa: E402
    from torchao.quantization.quant_primitives import MappingType  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore:Config Deprecation")

_TINY = dict(hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2,
             num_key_value_heads=1, vocab_size=64, max_position_embeddings=32)


def _configs() -> dict[str, Any]:
    t = transformers
    return {
        "llama": t.LlamaConfig(**_TINY),
        "qwen2": t.Qwen2Config(**_TINY),
        "gpt2": t.GPT2Config(n_embd=16, n_layer=1, n_head=2, vocab_size=64, n_positions=32),
        "opt": t.OPTConfig(hidden_size=16, ffn_dim=32, num_hidden_layers=1, num_attention_heads=2, vocab_size=64,
                           max_position_embeddings=32, word_embed_proj_dim=16),
    }


_MODELS: dict[str, tuple[Any, Any]] = {}


def _model(name: str) -> tuple[Any, Any]:
    if name not in _MODELS:
        from qrt.runtime.trace import trace_model

        torch.manual_seed(0)
        model = transformers.AutoModelForCausalLM.from_config(_configs()[name]).eval()
        _MODELS[name] = (model, trace_model(model, (torch.randint(0, 64, (1, 6)),), {}))
    return _MODELS[name]


# configs whose handlers run on a CPU, each giving a tensor that tells it apart
# (set_inductor_config=False: the same quantization without importing inductor, seconds per process)
_NO = {"set_inductor_config": False}
_POOL: list[Any] = [
    None,
    Int8WeightOnlyConfig(**_NO),
    Int8WeightOnlyConfig(granularity=AoPerTensor(), **_NO),
    Int8WeightOnlyConfig(granularity=PerGroup(8), **_NO),
    Float8WeightOnlyConfig(**_NO),
    Float8WeightOnlyConfig(granularity=AoPerTensor(), **_NO),
    Int8DynamicActivationInt8WeightConfig(**_NO),
    Int8DynamicActivationInt8WeightConfig(granularity=AoPerTensor(), act_mapping_type=MappingType.ASYMMETRIC, **_NO),
]
_REGEXES = ["re:.*q_proj", "re:.*proj", "re:.*mlp.*", "re:.*self_attn\\.[qkv]_proj", "re:.*\\.weight", "re:.*bias",
            "re:.*(gate|up)_proj", "re:.*fc[12]", "re:lm_head", "re:.*q_proj\\.weight", "re:.*_proj\\.weight",
            "re:.*embed_tokens", "re:.*layers\\.0\\.mlp", "re:.*out_proj", "re:.*k_proj.*", "re:.*down_proj"]


def _block_spec(block: list[int], shape: tuple[int, ...]) -> Any:
    if list(block) == list(shape):
        return PerTensor()
    if block[0] == 1 and block[1] == shape[1]:
        return PerChannel(axis=0)
    assert block[0] == 1, block
    return PerBlock(axis=1, block_size=block[1])


def _theirs(weight: Any) -> tuple[QuantizationSpec | None, QuantizationSpec | None]:
    """The (weight, input) specs of a weight torchao quantized, from its tensor subclass:
    ``Int8Tensor`` (symmetric int8 codes) or ``Float8Tensor``, ``block_size`` the group, and
    ``act_quant_kwargs`` the dynamic activation quantization it applies to the input."""
    kind = type(weight).__name__
    if kind not in ("Int8Tensor", "Float8Tensor"):
        assert kind == "Parameter", kind
        return None, None
    dtype = "int8" if kind == "Int8Tensor" else str(weight.qdata.dtype).removeprefix("torch.")
    w = QuantizationSpec(dtype=dtype, granularity=_block_spec(weight.block_size, tuple(weight.shape)),
                         qparam_calculator="static")
    act = getattr(weight, "act_quant_kwargs", None)
    if act is None:
        return w, None
    token = type(act.granularity).__name__ == "PerRow"
    scheme = "symmetric" if act.mapping_type == MappingType.SYMMETRIC else "asymmetric"
    return w, QuantizationSpec(dtype="int8", qscheme=scheme, granularity=PerTensor(), qparam_calculator="static",
                               extras=(("strategy", '"token"'),) if token else ())


def _compare(name: str, entries: list[tuple[str, Any]]) -> str:
    model, inv = _model(name)
    cfg = FqnToConfig(OrderedDict(entries))
    copy_ = copy.deepcopy(model)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            quantize_(copy_, cfg, filter_fn=None)
        failed = None
    except Exception as exc:  # noqa: BLE001 - torchao fails on what it cannot apply
        failed = exc
    try:
        plan = resolve(TorchAoSource(torchao_from_object(cfg)), inv)
    except TorchAoConfigError:
        if failed is None:  # qrt refuses only what torchao fails on or what qrt reads no config on
            linears = {n for n, m in copy_.named_modules() if isinstance(m, torch.nn.Linear)}
            odd = [p for p, t in copy_.named_parameters(remove_duplicate=False)
                   if type(t).__name__ != "Parameter" and not (p.endswith(".weight") and p[:-7] in linears)]
            assert odd, (name, entries, "qrt refused what torchao applied to Linear weights only")
        return "refused"
    assert failed is None, (name, entries, "torchao failed where qrt read it", failed)
    for module_name, module in copy_.named_modules():
        if isinstance(module, torch.nn.Linear):
            w_want, in_want = _theirs(module.weight)
            assert module.bias is None or type(module.bias).__name__ == "Parameter"
            sites = {(s.role, s.key): plan.spec(plan.decision(s.quantizer_path)) for s in inv.sites
                     if s.module == module_name and s.op_type == "linear"}
            assert sites[("state", "weight")] == w_want, (name, entries, module_name, sites, w_want)
            assert sites[("input", 0)] == in_want, (name, entries, module_name, sites, in_want)
        else:
            assert all(type(p).__name__ == "Parameter" for p in module.parameters(recurse=False)), module_name
    _check_written(model, plan, copy_)
    return "agreed"


def _check_written(model: Any, plan: Any, theirs: Any) -> None:
    """``qrt convert --to torchao`` of the plan, rebuilt by torchao's own ``config_from_dict``
    and applied by ``quantize_``, quantizes every Linear weight as the original map did."""
    from torchao.core.config import config_from_dict

    from qrt.frontends.torchao.writer import config_from_plan

    written, reasons = config_from_plan(plan)
    assert reasons == []
    again = copy.deepcopy(model)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        quantize_(again, config_from_dict(written), filter_fn=None)
    before = dict(theirs.named_modules())
    for name, module in again.named_modules():
        if isinstance(module, torch.nn.Linear):
            assert _theirs(module.weight) == _theirs(before[name].weight), name


@st.composite
def _entries(draw: Any, modules: list[str], params: list[str]) -> list[tuple[str, Any]]:
    key = st.one_of(st.sampled_from(modules), st.sampled_from(params), st.sampled_from(_REGEXES),
                    st.just("_default"))
    keys = draw(st.lists(key, min_size=1, max_size=4, unique=True))
    return [(k, draw(st.sampled_from(_POOL))) for k in keys]


@pytest.mark.parametrize("name", sorted(_configs()))
def test_generated_maps_decide_as_quantize_does(name: str) -> None:
    model, _ = _model(name)
    modules = [n for n, _ in model.named_modules() if n]
    params = [n for n, _ in model.named_parameters()]
    seen: list[str] = []

    @settings(max_examples=8, deadline=None)
    @given(_entries(modules, params))
    def check(entries: list[tuple[str, Any]]) -> None:
        seen.append(_compare(name, entries))

    check()
    assert "agreed" in seen


def test_the_documented_precedence_and_quirks() -> None:
    """exact parameter > exact module > parameter regexes > first module regex > _default;
    a regex to None beats _default (torchao #3867, fixed in 0.18); a parameter regex to None
    does not shield the weight from a later regex (torchao PR #4902, open)."""
    q = "model.layers.0.self_attn.q_proj"
    int8, fp8 = _POOL[1], _POOL[4]
    cases = [
        [("re:.*proj", int8), (f"{q}.weight", fp8), (q, None), ("_default", int8)],
        [("re:.*mlp.*", None), ("_default", int8)],  # #3867: the MLP stays float
        [("re:.*q_proj\\.weight", None), ("re:.*_proj\\.weight", fp8)],  # PR #4902: q_proj gets fp8
        [("re:.*(gate|down)_proj", fp8), ("re:.*down_proj", int8)],  # the first module regex in map order wins
        [("re:.*q_proj.*", int8)],  # matches q_proj.bias on Qwen2: torchao quantizes the bias
    ]
    outcomes = [_compare("llama", c) for c in cases] + [_compare("qwen2", cases[-1])]
    assert outcomes == ["agreed"] * 5 + ["refused"]
    _, inv = _model("llama")
    plan = resolve(TorchAoSource(torchao_from_object(FqnToConfig(OrderedDict(cases[2])))), inv)
    assert plan.spec(plan.decision(f"{q}.weight_quantizer")).dtype == "float8_e4m3fn"
    plan = resolve(TorchAoSource(torchao_from_object(FqnToConfig(OrderedDict(cases[0])))), inv)
    assert plan.spec(plan.decision(f"{q}.weight_quantizer")).dtype == "float8_e4m3fn"
    assert plan.spec(plan.decision("model.layers.0.self_attn.k_proj.weight_quantizer")).dtype == "int8"
