"""Differential: qrt's reading of a compressed-tensors config equals compressed-tensors' own.

On tiny random Hugging Face models built here (Llama, Qwen2, Mixtral, Qwen2-MoE, GPT-2, OPT:
hidden 16, one layer, vocabulary 64), for generated configs (targets as exact module names,
``re:`` patterns — prefix-anchored, overlapping, alphabetically ordered against their
specificity — and class names such as ``Linear``, ``Embedding``, ``Module``, ``Conv1D``; the
same target in several groups; ``ignore`` lists), compressed-tensors 0.20's
``apply_quantization_config`` runs on the real model and each module's
``quantization_scheme`` is read; qrt resolves the same config on the model's traced inventory.
For every ``nn.Linear`` and ``nn.Embedding`` (the modules compressed-tensors quantizes), the
decision of the module's weight, input and output sites equals the spec of the scheme
compressed-tensors attached (none: not quantized); and the plan written back as a
compressed-tensors config (``qrt convert --to compressed-tensors``) makes compressed-tensors
attach the same schemes. Skipped where compressed-tensors is not installed.
"""

from __future__ import annotations

import copy
import logging
from typing import Any

import pytest

torch = pytest.importorskip("torch")
ct = pytest.importorskip("compressed_tensors")
transformers = pytest.importorskip("transformers")

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from qrt.api import resolve  # noqa: E402
from qrt.frontends.compressed_tensors import compressed_tensors_from_data  # noqa: E402
from qrt.frontends.compressed_tensors.args import check_args, spec_from_args  # noqa: E402
from qrt.frontends.compressed_tensors.compile import ROLE_SITES  # noqa: E402
from qrt.frontends.compressed_tensors.source import CompressedTensorsSource  # noqa: E402

_TINY = dict(hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2,
             num_key_value_heads=1, vocab_size=64, max_position_embeddings=32)


def _configs() -> dict[str, Any]:
    t = transformers
    return {
        "llama": t.LlamaConfig(**_TINY),
        "qwen2": t.Qwen2Config(**_TINY),
        "mixtral": t.MixtralConfig(**_TINY, num_local_experts=2, num_experts_per_tok=1),
        "qwen2_moe": t.Qwen2MoeConfig(**_TINY, num_experts=2, num_experts_per_tok=1, moe_intermediate_size=8,
                                      shared_expert_intermediate_size=8),
        "gpt2": t.GPT2Config(n_embd=16, n_layer=1, n_head=2, vocab_size=64, n_positions=32),
        "opt": t.OPTConfig(hidden_size=16, ffn_dim=32, num_hidden_layers=1, num_attention_heads=2, vocab_size=64,
                           max_position_embeddings=32, word_embed_proj_dim=16),
    }


_MODELS: dict[str, tuple[Any, Any]] = {}


def _model(name: str) -> tuple[Any, Any]:
    """The model (float, never quantized itself) and its traced inventory, built once."""
    if name not in _MODELS:
        from qrt.runtime.trace import trace_model

        torch.manual_seed(0)
        model = transformers.AutoModelForCausalLM.from_config(_configs()[name]).eval()
        ids = torch.randint(0, 64, (1, 6))
        _MODELS[name] = (model, trace_model(model, (ids,), {}))
    return _MODELS[name]


# A few distinct schemes, so that which group won shows in the decisions.
_SCHEMES: list[dict[str, Any]] = [
    {"weights": {"num_bits": 4, "type": "int", "symmetric": True, "strategy": "group", "group_size": 8}},
    {"weights": {"num_bits": 8, "type": "int", "symmetric": False, "strategy": "channel"},
     "input_activations": {"num_bits": 8, "type": "int", "symmetric": True, "strategy": "token", "dynamic": True}},
    {"weights": {"num_bits": 8, "type": "float", "symmetric": True, "strategy": "tensor"},
     "output_activations": {"num_bits": 8, "type": "float", "symmetric": True, "strategy": "tensor"}},
    {"input_activations": {"num_bits": 8, "type": "float", "symmetric": True, "strategy": "tensor"}},
]

_CLASSES = ["Linear", "Embedding", "Module", "Conv1D", "LlamaMLP", "MixtralSparseMoeBlock", "OPTAttention",
            "GPT2MLP", "Qwen2MoeSparseMoeBlock", "LinearBase", "PreTrainedModel"]
_REGEXES = ["re:.*q_proj", "re:.*mlp.*", "re:.*mlp\\.down_proj$", "re:.*(gate|up)_proj$", "re:lm_head",
            "re:model", "re:.*proj", "re:.*\\.0\\..*", "re:.*fc[12]", "re:.*c_attn", "re:.*embed.*", "re:.*experts.*",
            "re:.*gate$", "re:.*shared_expert.*", "re:.*", "re:transformer\\.h\\.0\\.mlp", "re:(?i).*O_PROJ"]


@st.composite
def _config(draw: Any, names: list[str]) -> dict[str, Any]:
    pool = st.one_of(st.sampled_from(names), st.sampled_from(_REGEXES), st.sampled_from(_CLASSES))
    n_groups = draw(st.integers(1, 3))
    groups = {}
    for i in range(n_groups):
        scheme = copy.deepcopy(draw(st.sampled_from(_SCHEMES)))
        scheme["targets"] = draw(st.lists(pool, min_size=1, max_size=4, unique=True))
        groups[f"group_{i}"] = scheme
    ignore = draw(st.lists(pool, max_size=2, unique=True))
    return {"config_groups": groups, "ignore": ignore, "quant_method": "compressed-tensors"}


def _theirs(model: Any, data: dict[str, Any]) -> dict[str, Any]:
    """Each module's scheme as compressed-tensors applies the config (on a copy)."""
    from compressed_tensors.quantization import QuantizationConfig, apply_quantization_config

    copy_ = copy.deepcopy(model)
    logging.disable(logging.WARNING)
    try:
        apply_quantization_config(copy_, QuantizationConfig.model_validate(copy.deepcopy(data)), show_progress=False)
    finally:
        logging.disable(logging.NOTSET)
    return {name: getattr(m, "quantization_scheme", None) for name, m in copy_.named_modules()}


def _compare(name: str, data: dict[str, Any]) -> int:
    model, inv = _model(name)
    theirs = _theirs(model, data)
    plan = resolve(CompressedTensorsSource(compressed_tensors_from_data(data)), inv)
    checked = 0
    for module_name, module in model.named_modules():
        if not isinstance(module, (torch.nn.Linear, torch.nn.Embedding)):
            continue
        kind = "linear" if isinstance(module, torch.nn.Linear) else "embedding"
        scheme = theirs[module_name]
        for role, (site_role, key) in ROLE_SITES.items():
            sites = [s for s in inv.sites if s.module == module_name and s.op_type == kind and s.role == site_role
                     and s.key == key]
            args = getattr(scheme, role) if scheme is not None else None
            want = None
            if args is not None:
                raw = {k: v for k, v in args.model_dump(mode="json").items() if k in args.model_fields_set}
                want = spec_from_args(check_args(raw, role, lambda p: None, ()), role, role, lambda p: None, ())
            for site in sites:
                got = plan.spec(plan.decision(site.quantizer_path))
                assert got == want, (name, data, site.quantizer_path, got, want)
                checked += 1
    _check_written(model, plan, theirs)
    return checked


def _dump(scheme: Any) -> Any:
    if scheme is None:
        return None
    return {role: (None if getattr(scheme, role) is None else getattr(scheme, role).model_dump(mode="json"))
            for role in ROLE_SITES}


def _check_written(model: Any, plan: Any, theirs: dict[str, Any]) -> None:
    """``qrt convert --to compressed-tensors`` of the plan, applied by compressed-tensors
    itself, gives every Linear and Embedding the scheme the original config gave it."""
    from qrt.frontends.compressed_tensors.writer import config_from_plan

    written, reasons = config_from_plan(plan)
    assert reasons == []
    again = _theirs(model, written)
    for module_name, module in model.named_modules():
        if isinstance(module, (torch.nn.Linear, torch.nn.Embedding)):
            ours, before = _dump(again[module_name]), _dump(theirs[module_name])
            if before is not None and isinstance(module, torch.nn.Embedding):
                # an Embedding's input is token ids: no site, so qrt neither reads nor writes
                # the input_activations compressed-tensors attaches there (explain says so)
                before["input_activations"] = None
            if before is not None and all(v is None for v in before.values()):
                before = None  # a scheme that quantizes nothing is written as no group
            assert ours == before, (module_name, written, ours, before)


@pytest.mark.parametrize("name", sorted(_configs()))
def test_generated_configs_decide_as_compressed_tensors_does(name: str) -> None:
    model, _ = _model(name)
    names = [n for n, _ in model.named_modules() if n]

    @settings(max_examples=6)
    @given(_config(names))
    def check(data: dict[str, Any]) -> None:
        assert _compare(name, data) > 0

    check()


def test_the_documented_quirks() -> None:
    """#847: overlapping regexes are ordered alphabetically, not by specificity; an exact name
    beats any regex, any name match beats a class match; a regex is anchored at the start only;
    the same target in two groups takes the later group's scheme; ``Module`` matches all."""
    layers = "model.layers.0"
    cases = [
        # 're:.*mlp.*' < 're:.*mlp\.down_proj$' alphabetically: the broad one wins down_proj
        {"group_0": {**_SCHEMES[1], "targets": ["re:.*mlp\\.down_proj$"]},
         "group_1": {**_SCHEMES[0], "targets": ["re:.*mlp.*"]}},
        {"group_0": {**_SCHEMES[0], "targets": ["Linear"]},
         "group_1": {**_SCHEMES[2], "targets": [f"{layers}.self_attn.q_proj", "re:.*proj"]}},
        {"group_0": {**_SCHEMES[0], "targets": ["re:q_proj", "Module"]},
         "group_1": {**_SCHEMES[1], "targets": ["Module"]}},
    ]
    checked = sum(_compare("llama", {"config_groups": c, "ignore": ["lm_head"]}) for c in cases)
    assert checked > 20
    model, inv = _model("llama")
    plan = resolve(CompressedTensorsSource(compressed_tensors_from_data({"config_groups": cases[0]})), inv)
    down = plan.spec(plan.decision(f"{layers}.mlp.down_proj.weight_quantizer"))
    assert down is not None and down.dtype == "int4"  # group_1's scheme, though group_0's target is narrower


def test_kv_cache_scheme_reaches_no_transformers_5_attention_as_in_compressed_tensors() -> None:
    """compressed-tensors 0.20's ``is_cached_attention_module`` wants a ``past_key_value(s)``
    parameter; transformers 5's attention forwards take ``cache``: the scheme reaches nothing,
    in compressed-tensors and in qrt, and explain says why."""
    from compressed_tensors.quantization.lifecycle.initialize import is_cached_attention_module

    from qrt.api import explain

    kv = {"num_bits": 8, "type": "float", "symmetric": True, "strategy": "tensor"}
    data = {"config_groups": {"W4A16": ["re:.*mlp.*"]}, "kv_cache_scheme": kv}
    for name in ("llama", "opt"):
        model, inv = _model(name)
        theirs = {n for n, m in model.named_modules() if is_cached_attention_module(m)}
        plan = resolve(CompressedTensorsSource(compressed_tensors_from_data(data)), inv)
        kv_sites = [s for s in inv.sites if any(a.endswith(("k_bmm_quantizer", "v_bmm_quantizer")) for a in s.aliases)]
        assert kv_sites and theirs == set()
        assert all(plan.spec(plan.decision(s.quantizer_path)) is None for s in kv_sites)
        notes = explain(plan, queries=[kv_sites[0].quantizer_path])[0].notes
        assert any("kv_cache_scheme does not reach" in n and "past_key_value" in n for n in notes)
