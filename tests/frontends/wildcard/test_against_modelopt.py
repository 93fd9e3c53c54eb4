"""End to end against ModelOpt 0.47: qrt's plan for a list equals what ModelOpt does with it.

Unlike ``test_reference.py`` (which feeds the literal loop the quantizer names ModelOpt made),
this traces a real model with qrt — inventory, ModelOpt names, role-default rules, the
compiled entries, the resolver, the spec mapping back to attributes in ModelOpt's frame
(:func:`~qrt.frontends.wildcard.spec_map.attributes_for_site`: a ``Conv1D`` weight's axes are
stored on its ``(in, out)`` tensor and compared on the ``(out, in)`` view ModelOpt quantizes,
so agreeing numbers mean agreeing dimensions) — and compares, in both directions, every quantizer ModelOpt creates on the same model with the qrt site carrying its
name, and every site qrt turns on with a ModelOpt quantizer (docs/semantics.md §4: a list reaches
ModelOpt's quantizers and nothing else). On a small torch model for hand-written lists, the
legacy dict and all 39 presets; on tiny random Hugging Face models of seventeen
architectures (built locally from their config classes: Llama, Qwen2, Qwen3, Mistral, Mixtral,
Qwen2-MoE, GPT-2, Phi, Phi-3, Gemma, Gemma-2, Gemma-3 text, OPT, GPT-NeoX, BERT, T5, ViT) for
the presets issue 17 measured, all 39 on Llama; and, per architecture, the set of ModelOpt's
quantizer names against the set of names qrt's sites carry, both ways.
Skipped where ModelOpt is not installed (it is a test extra).

Known differences, each asserted so that a change on either side shows:

* ``Embedding``'s input quantizer: the indices are integers, so qrt has no site there
  (docs/semantics.md §1); ModelOpt keeps its quantizer disabled whatever the list says;
* a module whose forward never runs (T5's tied ``shared`` embedding): no sites, and
  ModelOpt's quantizers there never act.

Fused MoE experts' quantizers (one input quantizer per fused parameter, one weight quantizer
per expert) are compared like every other (``test_fused_experts.py`` adds Qwen3-MoE and the
experts implementations).
"""

from __future__ import annotations

import contextlib
import io
import math
import os
import warnings
from collections.abc import Callable
from functools import cache
from typing import Any

import pytest

from qrt.api import as_inventory, resolve
from qrt.inventory.model import Inventory
from qrt.frontends.wildcard import wildcard_from_data
from qrt.frontends.wildcard.spec_map import attributes_for_site
from qrt.inventory.modelopt import weight_transposed
from tests.frontends.wildcard.test_entries import presets
from tests.frontends.wildcard.test_reference import (
    HAND_LISTS,
    _comparable,
    _for_modelopt,
    _modelopt_states,
    modelopt,  # noqa: F401  (a fixture)
)

EMBEDDING_INPUT = "emb.input_quantizer"


def _net(torch: Any) -> Any:
    nn = torch.nn

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.emb = nn.Embedding(10, 8)
            self.fc = nn.Linear(8, 8)
            self.ln = nn.LayerNorm(8)
            self.conv = nn.Conv1d(8, 8, 1)
            self.bn = nn.BatchNorm1d(8)
            self.act = nn.LeakyReLU()
            self.pool = nn.AvgPool1d(2)
            self.mlp = nn.Sequential(nn.Linear(8, 8))
            self.lm_head = nn.Linear(8, 4)

        def forward(self, idx: Any) -> Any:
            x = self.ln(self.fc(self.emb(idx)))
            x = self.pool(self.act(self.bn(self.conv(x.transpose(1, 2)))))
            return self.lm_head(self.mlp(x.mean(-1)))

    torch.manual_seed(0)
    return Net().eval()


def _quantizer_names(model: Any, nn_modules: Any) -> list[str]:
    """Every quantizer ModelOpt made, one expert's (``…_weight_quantizers.3``) included; a
    stage of a sequential quantizer is part of its quantizer, not one of its own."""
    names = []
    for name, module in model.named_modules():
        if not isinstance(module, (nn_modules.TensorQuantizer, nn_modules.SequentialQuantizer)):
            continue
        if isinstance(model.get_submodule(name.rpartition(".")[0]), nn_modules.SequentialQuantizer):
            continue
        names.append(name)
    return names


def _compare(modelopt: Any, quant_cfg: Any, label: str) -> int:  # noqa: F811
    torch, conversion, nn_modules, _ = modelopt
    ours_model = _net(torch)
    idx = torch.randint(0, 10, (2, 4))
    plan = resolve(wildcard_from_data(quant_cfg), ours_model, idx)
    theirs_model = _net(torch)
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        conversion.replace_quant_module(theirs_model)
        conversion.set_quantizer_by_cfg(theirs_model, _for_modelopt(quant_cfg) if isinstance(quant_cfg, list) else quant_cfg)
    names = _quantizer_names(theirs_model, nn_modules)
    theirs = _modelopt_states(theirs_model, dict.fromkeys(names), nn_modules)
    by_name = {d.site.modelopt_name: d for d in plan.decisions if d.site.modelopt_name is not None}
    compared = 0
    for name in names:
        if name == EMBEDDING_INPUT:
            assert theirs[name][0] is False, f"{label}: ModelOpt now enables {name}"
            continue
        assert name in by_name, f"{label}: ModelOpt's {name} has no qrt site carrying its name"
        state = by_name[name].state
        assert state.spec is not None
        ours = {"enable": state.enabled, "attributes": attributes_for_site(state.spec, by_name[name].site)}
        assert _comparable(ours) == theirs[name], f"{label}: {name}"
        compared += 1
    outside = [d.site.quantizer_path for d in plan.decisions if d.state.enabled and d.site.modelopt_name not in theirs]
    assert not outside, f"{label}: qrt quantizes where ModelOpt has no quantizer: {outside}"
    return compared


def test_role_defaults_on_a_traced_model_equal_modelopts(modelopt: Any) -> None:  # noqa: F811
    assert _compare(modelopt, [], "no entries") >= 15


@pytest.mark.parametrize("index", range(len(HAND_LISTS)))
def test_hand_lists_on_a_traced_model_equal_modelopt(modelopt: Any, index: int) -> None:  # noqa: F811
    lists = [
        [{**e, "quantizer_name": e["quantizer_name"].replace("0.", "fc.").replace("4.", "bn.")} for e in HAND_LISTS[index]]
    ]
    _compare(modelopt, lists[0], f"list {index}")


def test_legacy_dict_on_a_traced_model_equals_modelopt(modelopt: Any) -> None:  # noqa: F811
    legacy = {
        "*weight_quantizer": {"num_bits": 4, "block_sizes": {-1: 4}, "enable": True},
        "*input_quantizer": {"num_bits": 8, "axis": None},
        "nn.Linear": {"*output_quantizer": {}, "*input_quantizer": {"enable": False}},
        "default": {"enable": False},
        "fc.*": {},
    }
    _compare(modelopt, legacy, "legacy")


@pytest.mark.parametrize("name", sorted(presets()))
def test_every_preset_on_a_traced_model_equals_modelopt(modelopt: Any, name: str) -> None:  # noqa: F811
    _compare(modelopt, presets()[name]["quant_cfg"], name)


# =============================================================================================
# Hugging Face architectures (tiny random configs, built locally), both directions

_TINY = dict(
    vocab_size=64, hidden_size=16, intermediate_size=32, num_hidden_layers=1,
    num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=32,
)


def _config(arch: str) -> tuple[Any, str]:
    """The model class and its tiny config for one architecture, and the kind of inputs."""
    import transformers as T

    ids, t5, pixels = "ids", "t5", "pixels"
    table: dict[str, Callable[[], tuple[Any, str]]] = {
        "llama": lambda: (T.LlamaForCausalLM(T.LlamaConfig(**_TINY)), ids),
        "qwen2": lambda: (T.Qwen2ForCausalLM(T.Qwen2Config(**_TINY)), ids),
        "mixtral": lambda: (T.MixtralForCausalLM(T.MixtralConfig(**_TINY, num_local_experts=2, num_experts_per_tok=1)), ids),
        "qwen2_moe": lambda: (T.Qwen2MoeForCausalLM(T.Qwen2MoeConfig(
            **_TINY, num_experts=2, num_experts_per_tok=1, moe_intermediate_size=16,
            shared_expert_intermediate_size=16)), ids),
        "gpt2": lambda: (T.GPT2LMHeadModel(T.GPT2Config(
            vocab_size=64, n_embd=16, n_layer=1, n_head=2, n_positions=32, bos_token_id=0,
            eos_token_id=0)), ids),
        "gemma": lambda: (T.GemmaForCausalLM(T.GemmaConfig(**_TINY, head_dim=8)), ids),
        "opt": lambda: (T.OPTForCausalLM(T.OPTConfig(
            vocab_size=64, hidden_size=16, ffn_dim=32, num_hidden_layers=1, num_attention_heads=2,
            max_position_embeddings=32, word_embed_proj_dim=16)), ids),
        "bert": lambda: (T.BertModel(T.BertConfig(
            vocab_size=64, hidden_size=16, intermediate_size=32, num_hidden_layers=1,
            num_attention_heads=2, max_position_embeddings=32)), ids),
        "t5": lambda: (T.T5ForConditionalGeneration(T.T5Config(
            vocab_size=64, d_model=16, d_kv=8, d_ff=32, num_layers=1, num_heads=2)), t5),
        "vit": lambda: (T.ViTModel(T.ViTConfig(
            hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2,
            image_size=8, patch_size=4)), pixels),
        # q_norm/k_norm (RMSNorm weights: no ModelOpt quantizer)
        "qwen3": lambda: (T.Qwen3ForCausalLM(T.Qwen3Config(**_TINY, head_dim=8)), ids),
        # sliding window shorter than the input
        "mistral": lambda: (T.MistralForCausalLM(T.MistralConfig(**_TINY, head_dim=8, sliding_window=4)), ids),
        # partial rotary, ``dense`` output projection, LayerNorm (a registry class), biases
        "phi": lambda: (T.PhiForCausalLM(T.PhiConfig(**_TINY, partial_rotary_factor=0.5)), ids),
        # fused ``qkv_proj`` and ``gate_up_proj`` (plain Linears)
        "phi3": lambda: (T.Phi3ForCausalLM(T.Phi3Config(
            **_TINY, bos_token_id=0, eos_token_id=0, pad_token_id=0)), ids),
        # eager attention with logit soft-capping (tanh), sliding window, scaled embedding
        "gemma2": lambda: (T.Gemma2ForCausalLM(T.Gemma2Config(**_TINY, head_dim=8, sliding_window=4)), ids),
        # q_norm/k_norm with Gemma's ``1 + weight``, sliding window, scaled embedding
        "gemma3": lambda: (T.Gemma3ForCausalLM(T.Gemma3TextConfig(**_TINY, head_dim=8, sliding_window=4)), ids),
        # fused ``query_key_value``, partial rotary, parallel residual, LayerNorms
        "gpt_neox": lambda: (T.GPTNeoXForCausalLM(T.GPTNeoXConfig(
            vocab_size=64, hidden_size=16, intermediate_size=32, num_hidden_layers=1,
            num_attention_heads=2, max_position_embeddings=32, rotary_pct=0.5)), ids),
    }
    return table[arch]()


HF_ARCHS = (
    "llama", "qwen2", "mixtral", "qwen2_moe", "gpt2", "gemma", "opt", "bert", "t5", "vit",
    "qwen3", "mistral", "phi", "phi3", "gemma2", "gemma3", "gpt_neox",
)


def _hf_model(arch: str) -> tuple[Any, tuple[Any, ...], dict[str, Any]]:
    """A fresh tiny ``arch`` model (same seed, same weights every call) and example inputs."""
    import torch

    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model, kind = _config(arch)
    model.eval()
    if kind == "pixels":
        return model, (torch.randn(1, 3, 8, 8),), {}
    ids = torch.randint(0, 64, (1, 6))
    if kind == "t5":
        return model, (ids,), {"decoder_input_ids": torch.randint(0, 64, (1, 4))}
    return model, (ids,), {}


@cache
def _hf_inventory(arch: str) -> Inventory:
    model, args, kwargs = _hf_model(arch)
    return as_inventory(model, *args, **kwargs)


def _modelopt_hf(modelopt: Any, arch: str, quant_cfg: Any) -> tuple[dict[str, Any], dict[str, Any]]:  # noqa: F811
    """Every quantizer ModelOpt 0.47's conversion puts on a fresh ``arch`` model (its HF
    plugins included: ``replace_quant_module`` registers the attention classes on the fly),
    with its state after ``set_quantizer_by_cfg``; and each one's owning module."""
    states, owners, _ = _modelopt_hf_model(modelopt, arch, quant_cfg)
    return states, owners


def _modelopt_hf_model(
    modelopt: Any, arch: str, quant_cfg: Any  # noqa: F811
) -> tuple[dict[str, Any], dict[str, Any], tuple[Any, tuple[Any, ...], dict[str, Any]]]:
    """:func:`_modelopt_hf`, and the converted model with its example inputs."""
    _, conversion, nn_modules, _ = modelopt
    model, args, kwargs = _hf_model(arch)
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        conversion.replace_quant_module(model)
        conversion.set_quantizer_by_cfg(model, _for_modelopt(quant_cfg))
    names = _quantizer_names(model, nn_modules)
    owners = {n: model.get_submodule(n.rpartition(".")[0]) for n in names}
    return _modelopt_states(model, dict.fromkeys(names), nn_modules), owners, (model, args, kwargs)


def _is_on(state: Any) -> bool:
    return bool(state[0][0] if isinstance(state, list) else state[0])


def _known_difference(torch: Any, name: str, owner: Any, state: Any, inv: Inventory) -> str | None:
    """Why a ModelOpt quantizer has no qrt site, for the differences understood and kept:

    * an ``Embedding``'s input quantizer: the token ids are integers, and a tensor that is not
      floating point never has a site (docs/semantics.md §1); ModelOpt keeps it off;
    * a module whose forward never runs (T5's ``shared``, whose weight the encoder's and the
      decoder's own ``embed_tokens`` use): ModelOpt's quantizers there never act;
    """
    if isinstance(owner, torch.nn.Embedding) and name.endswith(".input_quantizer"):
        assert not _is_on(state), f"ModelOpt now enables {name}"
        return "integer input"
    called = {m.name for m in inv.modules if m.called}
    if name.rpartition(".")[0] not in called:
        return "module never runs"
    return None


def _compare_hf(modelopt: Any, arch: str, quant_cfg: Any, label: str) -> int:  # noqa: F811
    """Both directions. ModelOpt → qrt: every quantizer ModelOpt creates has the qrt site of
    that ModelOpt name, agreeing on enable and every attribute (or a known difference).
    qrt → ModelOpt: every site qrt turns on is a quantizer ModelOpt creates, and no site
    without a ModelOpt name is on. Returns how many quantizers agreed."""
    torch = modelopt[0]
    theirs, owners = _modelopt_hf(modelopt, arch, quant_cfg)
    inv = _hf_inventory(arch)
    plan = resolve(wildcard_from_data(quant_cfg), inv)
    by_name = {d.site.modelopt_name: d for d in plan.decisions if d.site.modelopt_name is not None}
    compared = 0
    for name, state in theirs.items():
        decision = by_name.get(name)
        if decision is None:
            assert _known_difference(torch, name, owners[name], state, inv), f"{label}: ModelOpt's {name} has no qrt site"
            continue
        assert decision.state.spec is not None
        ours = {"enable": decision.state.enabled, "attributes": attributes_for_site(decision.state.spec, decision.site)}
        assert _comparable(ours) == state, f"{label}: {name}"
        compared += 1
    on = [d.site for d in plan.decisions if d.state.enabled]
    assert not [s.quantizer_path for s in on if s.modelopt_name not in theirs], f"{label}: qrt quantizes outside ModelOpt's quantizers"
    return compared


def _frame_difference(name: str, theirs: tuple[int, ...], site: Any) -> str | None:
    """Why the tensor ModelOpt's quantizer ``name`` sees (shape ``theirs``) has another shape
    than qrt's site of that name, for the differences understood; ``None`` if unexplained.

    * ``heads repeated``: with grouped-query attention ModelOpt's ``k``/``v_bmm_quantizer``
      quantize the key and value as the attention interface receives them, ``(B, H_kv, S, D)``
      (``_QuantAttention._quantized_attention``, ``plugins/huggingface.py``); qrt's sites are
      the operands of the product, after transformers' ``repeat_kv``, ``(B, H, S, D)``. Each
      repeated head is a copy, so per-tensor, per-``D`` channel and per-``D`` block scales
      quantize to the same values (per-head ``axis: 1`` gets ``H`` equal-by-pairs scales
      instead of ``H_kv``).
    * ``Conv1D's 2-D view``: transformers' ``Conv1D`` runs ``addmm`` on ``x.view(-1, in)``, so
      qrt's activation and output sites of GPT-2's ``c_attn`` … are ``(B*S, features)``
      where ModelOpt quantizes ``(B, S, features)``: the same values, the last axis the same.
    * ``key transposed in eager attention``: an eager attention (Gemma-2's, with soft-capping)
      computes ``matmul(q, k.transpose(2, 3))``, and qrt's ``k_bmm`` site is that operand,
      ``(B, H, D, S)``: a list's ``block_sizes: {-1: …}``/``axis``/``rotate`` on
      ``*k_bmm_quantizer`` (NVFP4_KV_CFG …) index ``S`` there, ``D`` on ModelOpt's. **Open**:
      the site needs the Conv1D-like frame translation (the last two dimensions swapped),
      which qrt does not apply to attention operands yet.
    """
    ours = tuple(site.shape or ())
    if weight_transposed(site):
        ours = ours[::-1]
    if ours == theirs:
        return None
    reasons = []
    if name.endswith("k_bmm_quantizer") and site.op_type in ("matmul", "bmm") and len(ours) >= 2:
        ours = (*ours[:-2], ours[-1], ours[-2])
        reasons.append("key transposed in eager attention")
    if (
        name.endswith(("k_bmm_quantizer", "v_bmm_quantizer")) and len(ours) == len(theirs) == 4
        and ours[0] == theirs[0] and ours[2:] == theirs[2:] and ours[1] % theirs[1] == 0
    ):
        ours = theirs
        reasons.append("heads repeated")
    if site.op_type == "addmm" and len(ours) == 2 and len(theirs) > 2 and ours[-1] == theirs[-1] \
            and math.prod(ours) == math.prod(theirs):
        ours = theirs
        reasons.append("Conv1D's 2-D view")
    return ", ".join(reasons) if ours == theirs else None


def _assert_same_tensors(modelopt: Any, arch: str, converted: tuple[Any, tuple[Any, ...], dict[str, Any]]) -> None:  # noqa: F811
    """Same name, same tensor: in one forward of ModelOpt's converted model, every quantizer
    that runs sees a tensor of the shape of qrt's site of that name (in ModelOpt's frame), or a
    difference :func:`_frame_difference` explains. Agreeing attributes mean nothing on another
    tensor: this is how the eager ``k_bmm`` frame showed (Gemma-2).

    And ModelOpt 0.47's ``p_bmm_quantizer``, on (8-bit) after conversion, never runs here:
    ``_quantized_attention`` applies it only through the Triton kernel (FP8 or dynamic NVFP4,
    CUDA), kitchen (MXFP8) or the eager softmax wrapper (non-causal FP8/NVFP4), so an 8-bit
    ``p_bmm`` changes nothing on ModelOpt, while qrt quantizes the probabilities wherever
    ``p_bmm`` is on (see docs/modelopt.md)."""
    torch, _, nn_modules, _ = modelopt
    model, args, kwargs = converted
    seen: dict[str, tuple[int, ...]] = {}

    def record(name: str) -> Callable[..., None]:
        def hook(_module: Any, inputs: tuple[Any, ...], _output: Any) -> None:
            seen.setdefault(name, tuple(inputs[0].shape))
        return hook

    for name in _quantizer_names(model, nn_modules):
        quantizer = model.get_submodule(name)
        quantizer.register_forward_hook(record(name))
        if not name.endswith("p_bmm_quantizer"):  # still called, cheaper (p_bmm: the pin below)
            quantizer.disable()
    with torch.no_grad(), contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model(*args, **kwargs)
    sites = {s.modelopt_name: s for s in _hf_inventory(arch).sites if s.modelopt_name is not None}
    p_bmm = [n for n in sites if n.endswith("p_bmm_quantizer")]
    assert p_bmm and not [n for n in p_bmm if n in seen], "ModelOpt now runs its p_bmm_quantizer"
    explained = {}
    for name, shape in seen.items():
        site = sites.get(name)
        if site is None or site.fused is not None:  # a known difference; experts: test_fused_experts.py
            continue
        ours = tuple(site.shape or ())
        if (ours[::-1] if weight_transposed(site) else ours) != shape:
            reason = _frame_difference(name, shape, site)
            assert reason, f"{arch}: ModelOpt's {name} sees {shape}, qrt's site {site.quantizer_path} is {site.shape}"
            explained[name] = reason
    eager_keys = [n for n, r in explained.items() if "transposed" in r]
    assert bool(eager_keys) == (arch == "gemma2"), explained  # the one eager attention here


@pytest.mark.parametrize("arch", HF_ARCHS)
def test_role_defaults_on_hf_models_equal_modelopts(modelopt: Any, arch: str) -> None:  # noqa: F811
    """No entries: what ModelOpt's conversion creates, and how it starts (``p_bmm`` on).

    And the universe itself, name for name in both directions: every ModelOpt name a qrt site
    carries is a quantizer ModelOpt creates on this model (even where both leave it off),
    and every quantizer ModelOpt creates is a qrt site's name or a known difference; and the
    tensors under those names are the same (:func:`_assert_same_tensors`)."""
    torch = modelopt[0]
    theirs, owners, converted = _modelopt_hf_model(modelopt, arch, [])
    bmm = {n: s for n, s in theirs.items() if n.endswith("_bmm_quantizer")}
    assert bmm and all(_is_on(s) for s in bmm.values()), bmm
    assert {n.rpartition(".")[2] for n in bmm} == {"q_bmm_quantizer", "k_bmm_quantizer", "v_bmm_quantizer", "p_bmm_quantizer"}
    inv = _hf_inventory(arch)
    ours = {s.modelopt_name for s in inv.sites if s.modelopt_name is not None}
    assert not sorted(ours - set(theirs)), f"{arch}: qrt names quantizers ModelOpt does not create"
    unexplained = [n for n in set(theirs) - ours if not _known_difference(torch, n, owners[n], theirs[n], inv)]
    assert not unexplained, f"{arch}: ModelOpt's quantizers without a qrt site"
    assert _compare_hf(modelopt, arch, [], "no entries") >= 20
    _assert_same_tensors(modelopt, arch, converted)


HF_PRESETS = (
    "INT8_DEFAULT_CFG", "FP8_DEFAULT_CFG", "NVFP4_DEFAULT_CFG", "INT4_AWQ_CFG", "W4A8_AWQ_BETA_CFG",
    "FP8_KV_CFG", "NVFP4_MLP_ONLY_CFG", "NVFP4_EXPERTS_ONLY_CFG",
)
"""The presets issue 17 measured on every architecture; all 39 run on Llama."""


@pytest.mark.parametrize("name", sorted(presets()))
def test_every_preset_on_hf_llama_equals_modelopt(modelopt: Any, name: str) -> None:  # noqa: F811
    _compare_hf(modelopt, "llama", presets()[name]["quant_cfg"], f"llama {name}")


FULL_SWEEP = pytest.mark.skipif(not os.environ.get("QRT_FULL_MODELOPT"), reason="the full sweep: QRT_FULL_MODELOPT=1")

NEWER_ARCHS = ("qwen3", "mistral", "phi", "phi3", "gemma2", "gemma3", "gpt_neox")
"""Architectures added after the first ten. Their names are compared in full in CI (the set
test in :func:`test_role_defaults_on_hf_models_equal_modelopts`); of the presets, CI runs
:data:`STRUCTURAL_PRESETS` on them, all of :data:`HF_PRESETS` with ``QRT_FULL_MODELOPT=1``
(ModelOpt's ``set_quantizer_by_cfg`` costs about 0.1 s per model and preset: the 35 others
would add 4 to 5 s to CI)."""

STRUCTURAL_PRESETS = ("W4A8_AWQ_BETA_CFG", "FP8_KV_CFG", "NVFP4_MLP_ONLY_CFG")
"""The presets whose entries differ in what they select rather than in attributes: every
quantizer with two-stage weights, the attention's ``*[kv]_bmm_quantizer``, and ``*mlp*``
name patterns. The others of :data:`HF_PRESETS` differ from these in formats only, which do
not depend on the architecture (checked on the first ten and with all 39 presets on Llama)."""


def _arch_presets() -> list[Any]:
    return [
        pytest.param(arch, name, id=f"{arch}-{name}",
                     marks=[FULL_SWEEP] if arch in NEWER_ARCHS and name not in STRUCTURAL_PRESETS else [])
        for arch in HF_ARCHS if arch != "llama"
        for name in HF_PRESETS
    ]


@pytest.mark.parametrize(("arch", "name"), _arch_presets())
def test_presets_on_hf_architectures_equal_modelopt(modelopt: Any, arch: str, name: str) -> None:  # noqa: F811
    _compare_hf(modelopt, arch, presets()[name]["quant_cfg"], f"{arch} {name}")


@FULL_SWEEP
@pytest.mark.parametrize("arch", [a for a in HF_ARCHS if a != "llama"])
def test_all_presets_on_hf_architectures_equal_modelopt(modelopt: Any, arch: str) -> None:  # noqa: F811
    """All 39 presets on every architecture (3 to 10 s each, ModelOpt's
    ``set_quantizer_by_cfg`` most of it: CI runs :data:`HF_PRESETS`)."""
    for name, preset in sorted(presets().items()):
        _compare_hf(modelopt, arch, preset["quant_cfg"], f"{arch} {name}")


def test_no_list_reaches_norm_weights_or_activation_inputs(modelopt: Any) -> None:  # noqa: F811
    """The broadest entries switch on exactly ModelOpt's quantizers on Llama and Gemma: no
    RMSNorm weight (Gemma's ``1 + weight`` too), no ``mlp.act_fn`` input, no weight of Gemma's
    scaled embedding (it overrides ``forward``, so ModelOpt does not convert it)."""
    broad = [{"quantizer_name": "*", "cfg": {"num_bits": 4}}, {"quantizer_name": "*", "enable": True}]
    for arch in ("llama", "gemma"):
        _compare_hf(modelopt, arch, broad, f"{arch} broad")
        plan = resolve(wildcard_from_data(broad), _hf_inventory(arch))
        on = {d.site.quantizer_path for d in plan.decisions if d.state.enabled}
        assert not [p for p in on if "norm" in p or "act_fn" in p or "embed_tokens" in p and "embedding" in p], on


LAYER_NORM = "torch.nn.modules.normalization.LayerNorm"


@pytest.mark.parametrize("arch", ["qwen3", "gemma2", "gemma3", "phi", "gpt_neox"])
def test_no_list_reaches_norm_weights_on_newer_architectures(modelopt: Any, arch: str) -> None:  # noqa: F811
    """The same on the architectures with more norms: Qwen3's and Gemma-3's ``q_norm``/
    ``k_norm`` (RMSNorm, Gemma-3's ``1 + weight``), Gemma-2's four norms per layer, and the
    ``nn.LayerNorm`` of Phi and GPT-NeoX — a registry class, so ModelOpt quantizes its input
    and output, never its weight (``QuantInputBase`` has no weight quantizer). Nor the MLP's
    activation module (``act_fn``, ``activation_fn``, ``act``)."""
    broad = [{"quantizer_name": "*", "cfg": {"num_bits": 4}}, {"quantizer_name": "*", "enable": True}]
    _compare_hf(modelopt, arch, broad, f"{arch} broad")
    inv = _hf_inventory(arch)
    norms = {m.name: m.type for m in inv.modules if "Norm" in m.type.rpartition(".")[2]}
    assert norms, arch
    plan = resolve(wildcard_from_data(broad), inv)
    on = [d.site for d in plan.decisions if d.state.enabled]
    for site in on:
        owner = site.module or ""
        param_owner = site.tensor[len("param:"):].rpartition(".")[0] if site.tensor.startswith("param:") else None
        assert param_owner not in norms, f"{arch}: {site.quantizer_path} quantizes a norm's weight"
        if owner in norms:
            assert norms[owner] == LAYER_NORM and site.role in ("input", "output"), site.quantizer_path
        assert not owner.rpartition(".")[2].startswith("act"), site.quantizer_path
    if arch in ("phi", "gpt_neox"):
        assert any(s.module in norms and s.role == "input" for s in on), "LayerNorm's input quantizer is ModelOpt's"


def test_parent_class_is_exact_in_modelopt_too(modelopt: Any) -> None:  # noqa: F811
    """ModelOpt 0.47 converts a subclass that inherits ``forward`` (here
    ``test_universe.PlainLinear``/``PlainEmbedding``) to a class of its own, so
    ``parent_class: nn.Linear`` does not reach it; qrt's plan says the same."""
    from tests.frontends.wildcard import test_universe as universe

    _, conversion, nn_modules, _ = modelopt
    lists = [
        [{"quantizer_name": "*", "parent_class": "nn.Linear", "enable": False}],
        [{"quantizer_name": "*", "parent_class": "nn.Embedding", "cfg": {"num_bits": 4}}],
        [{"quantizer_name": "*weight_quantizer", "cfg": {"num_bits": 4}}, {"quantizer_name": "*", "enable": True}],
    ]
    for quant_cfg in lists:
        model, _ = universe.build()
        with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            conversion.replace_quant_module(model)
            conversion.set_quantizer_by_cfg(model, _for_modelopt(quant_cfg))
        names = _quantizer_names(model, nn_modules)
        assert set(names) == universe.IN_REACH | {"plain.input_quantizer"}
        theirs = _modelopt_states(model, dict.fromkeys(names), nn_modules)
        plan = resolve(wildcard_from_data(quant_cfg), universe.inventory())
        for d in plan.decisions:
            if d.site.modelopt_name is None:
                assert not d.state.enabled, d.site.quantizer_path
                continue
            ours = {"enable": d.state.enabled, "attributes": attributes_for_site(d.state.spec, d.site)}
            assert _comparable(ours) == theirs[d.site.modelopt_name], f"{quant_cfg}: {d.site.modelopt_name}"


def test_conv1d_is_a_linear_for_parent_class(modelopt: Any) -> None:  # noqa: F811
    """ModelOpt 0.47 converts transformers' ``Conv1D`` into its ``nn.Linear`` class
    (``_QuantConv1D.convert`` transposes the weight to ``(out, in)`` and calls the ``nn.Linear``
    dynamic class's ``convert``), so ``parent_class: nn.Linear`` reaches GPT-2's ``c_attn``
    and ``Conv1D`` itself (registry key ``Conv1D``) reaches nothing; qrt's plan says the same."""
    for entry in (
        [{"quantizer_name": "*", "parent_class": "nn.Linear", "enable": False}],
        [{"quantizer_name": "*", "parent_class": "nn.Linear", "cfg": {"num_bits": 4, "axis": 0}}],
    ):
        theirs, _ = _modelopt_hf(modelopt, "gpt2", entry)
        assert _is_on(theirs["transformer.h.0.attn.c_attn.weight_quantizer"]) is entry[0].get("enable", True)
        _compare_hf(modelopt, "gpt2", entry, f"gpt2 {entry}")
    plan = resolve(wildcard_from_data([{"quantizer_name": "*", "parent_class": "transformers.pytorch_utils.Conv1D",
                                        "enable": False}]), _hf_inventory("gpt2"))
    assert all(d.state.enabled for d in plan.decisions if (d.site.modelopt_name or "").endswith("c_attn.weight_quantizer"))


GPT2_LISTS: list[list[dict[str, Any]]] = [
    [{"quantizer_name": "*weight_quantizer", "cfg": {"num_bits": 8, "axis": 0}}],
    [{"quantizer_name": "*weight_quantizer", "cfg": {"num_bits": 8, "axis": -1}}],
    [{"quantizer_name": "*weight_quantizer", "cfg": {"num_bits": 4, "block_sizes": {-1: 8}}}],
    [{"quantizer_name": "*weight_quantizer", "cfg": {"num_bits": 4, "block_sizes": {-2: 8, "type": "static"}}}],
    [{"quantizer_name": "*weight_quantizer",
      "cfg": {"num_bits": (2, 1), "block_sizes": {-1: 16, "type": "dynamic", "scale_bits": (4, 3)}}}],
    [{"quantizer_name": "*mlp*", "parent_class": "nn.Linear",
      "cfg": [{"num_bits": 4, "block_sizes": {-1: 8}}, {"num_bits": 8, "axis": 0}]},
     {"quantizer_name": "*c_attn*", "cfg": {"num_bits": 8, "axis": 1}, "enable": False},
     {"quantizer_name": "*attn.c_*", "enable": True}],
]
"""Axes and blocks on GPT-2's ``Conv1D`` weights (and its ``nn.Linear`` head): per-channel
both ways, blocks along either dimension, dynamic FP4 blocks, stages, parent_class, toggles."""


@pytest.mark.parametrize("index", range(len(GPT2_LISTS)))
def test_conv1d_axes_agree_with_modelopt_in_its_frame(modelopt: Any, index: int) -> None:  # noqa: F811
    """Every GPT-2 quantizer agrees with ModelOpt attribute by attribute in ModelOpt's
    ``(out, in)`` frame, while the plan stores the other dimension of the ``(in, out)``
    weight wherever an axis is named (issue 17: the same numbers used to land on the stored
    weight's dimension, per-input-feature scales where ModelOpt has per-output ones)."""
    quant_cfg = GPT2_LISTS[index]
    assert _compare_hf(modelopt, "gpt2", quant_cfg, f"gpt2 list {index}") >= 10
    plan = resolve(wildcard_from_data(quant_cfg), _hf_inventory("gpt2"))
    specs = {d.site.quantizer_path: (d.site, plan.spec(d)) for d in plan.decisions}
    site, spec = specs["transformer.h.0.attn.c_attn.weight_quantizer"]
    head = specs["lm_head.weight_quantizer"][1]
    if index < 5:  # one entry for every weight: the Conv1D stores the other dimension
        assert site.shape == (16, 48)
        swap = {0: 1, 1: 0, -1: -2, -2: -1}
        assert spec.granularity.axis == swap[head.granularity.axis], (spec, head)


def test_calibrated_conv1d_scales_equal_modelopts_amax_transposed(modelopt: Any) -> None:  # noqa: F811
    """After calibration, ModelOpt's per-channel ``amax`` of ``c_attn`` (one per output
    feature, ``(48, 1)`` on its ``(out, in)`` weight) is qrt's scale on the stored ``(in, out)``
    weight, transposed (``(1, 48)``), value for value (int8: scale × 127 = amax)."""
    import modelopt.torch.quantization as mtq

    from qrt.runtime.quant.quantizer import Quantizer

    torch = modelopt[0]
    quant_cfg = [{"quantizer_name": "*", "enable": False},
                 {"quantizer_name": "*weight_quantizer", "cfg": {"num_bits": 8, "axis": 0}}]
    theirs, ids, _ = _hf_model("gpt2")
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mtq.quantize(theirs, {"quant_cfg": _for_modelopt(quant_cfg), "algorithm": "max"}, lambda m: m(*ids))
    ours, ids, _ = _hf_model("gpt2")
    q = Quantizer(ours, quant_cfg)
    q.prepare(ids)
    with q.calibration_mode():
        ours(*ids)
    for name in ("transformer.h.0.attn.c_attn.weight_quantizer", "transformer.h.0.mlp.c_proj.weight_quantizer"):
        amax = theirs.get_submodule(name).amax
        scale = ours.get_submodule(name).scale
        assert scale.T.shape == amax.shape, (name, scale.shape, amax.shape)
        torch.testing.assert_close(scale.T * 127, amax, rtol=1e-2, atol=0)
