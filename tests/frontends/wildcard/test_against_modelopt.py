"""End to end against ModelOpt 0.47: qrt's plan for a list equals what ModelOpt does with it.

Unlike ``test_reference.py`` (which feeds the literal loop the quantizer names ModelOpt made),
this traces a real model with qrt — inventory, quantizer paths, role-default rules, the
compiled entries, the resolver, the spec mapping back to attributes — and compares every
quantizer ModelOpt creates on the same model with the qrt site of the same name, for
hand-written lists and all 39 presets. Skipped where ModelOpt is not installed (it is a test
extra).

Known differences, each asserted so that a change on either side shows:

* ``Embedding``'s input quantizer: ModelOpt keeps it disabled whatever the list says;
  SEMANTICS §4 starts it on like every input quantizer (and an entry decides after that).
"""

from __future__ import annotations

import contextlib
import io
import warnings
from collections.abc import Callable
from functools import cache
from typing import Any

import pytest

from qrt.api import as_inventory, resolve
from qrt.inventory.model import Inventory
from qrt.frontends.wildcard import wildcard_from_data
from qrt.frontends.wildcard.spec_map import attributes_from_spec
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
    return [
        name
        for name, module in model.named_modules()
        if isinstance(module, (nn_modules.TensorQuantizer, nn_modules.SequentialQuantizer))
        and not name.rpartition(".")[2].isdigit()
    ]


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
    compared = 0
    for name in names:
        if name == EMBEDDING_INPUT:
            assert theirs[name][0] is False, f"{label}: ModelOpt now enables {name}"
            continue
        decision = plan.decision(name)  # every ModelOpt quantizer has a qrt site of that name
        state = decision.state
        assert state.spec is not None
        ours = {"enable": state.enabled, "attributes": attributes_from_spec(state.spec)}
        assert _comparable(ours) == theirs[name], f"{label}: {name}"
        compared += 1
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
# Hugging Face architectures (tiny random configs, built locally)

_TINY = dict(
    vocab_size=64, hidden_size=16, intermediate_size=32, num_hidden_layers=1,
    num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=32,
)


def _hf_llama() -> tuple[Any, tuple[Any, ...]]:
    import torch
    import transformers

    torch.manual_seed(0)
    model = transformers.LlamaForCausalLM(transformers.LlamaConfig(**_TINY)).eval()
    return model, (torch.randint(0, 64, (1, 6)),)


HF_MODELS: dict[str, Callable[[], tuple[Any, tuple[Any, ...]]]] = {"llama": _hf_llama}
"""Tiny Hugging Face models by architecture: a fresh model (same seed, same weights) and its
example inputs."""


@cache
def _hf_inventory(arch: str) -> Inventory:
    model, inputs = HF_MODELS[arch]()
    return as_inventory(model, *inputs)


def _modelopt_hf(modelopt: Any, arch: str, quant_cfg: Any) -> dict[str, Any]:  # noqa: F811
    """Every quantizer ModelOpt 0.47's conversion puts on a fresh ``arch`` model (its HF
    plugins included: ``replace_quant_module`` registers the attention classes on the fly),
    with its state after ``set_quantizer_by_cfg``."""
    _, conversion, nn_modules, _ = modelopt
    model, _ = HF_MODELS[arch]()
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        conversion.replace_quant_module(model)
        conversion.set_quantizer_by_cfg(model, _for_modelopt(quant_cfg))
    names = _quantizer_names(model, nn_modules)
    return _modelopt_states(model, dict.fromkeys(names), nn_modules)


def _compare_hf(modelopt: Any, arch: str, quant_cfg: Any, label: str) -> int:  # noqa: F811
    """ModelOpt → qrt: every quantizer ModelOpt creates has a qrt site answering to its name
    (its quantizer path or a ModelOpt alias such as ``p_bmm_quantizer``) that agrees on
    enable and every attribute. Returns how many were compared."""
    theirs = _modelopt_hf(modelopt, arch, quant_cfg)
    plan = resolve(wildcard_from_data(quant_cfg), _hf_inventory(arch))
    by_name = {n: d for d in plan.decisions for n in (d.site.quantizer_path, *d.site.aliases)}
    compared = 0
    for name, state in theirs.items():
        if name.endswith("embed_tokens.input_quantizer"):
            # the token ids are integers: no site (SEMANTICS §1); ModelOpt keeps it off
            assert name not in by_name and state[0] is False, f"{label}: {name}"
            continue
        assert name in by_name, f"{label}: ModelOpt's {name} has no qrt site"
        decision = by_name[name]
        assert decision.state.spec is not None
        ours = {"enable": decision.state.enabled, "attributes": attributes_from_spec(decision.state.spec)}
        assert _comparable(ours) == state, f"{label}: {name}"
        compared += 1
    return compared


@pytest.mark.parametrize("arch", sorted(HF_MODELS))
def test_role_defaults_on_hf_models_equal_modelopts(modelopt: Any, arch: str) -> None:  # noqa: F811
    """No entries: what ModelOpt's conversion creates, and how it starts (``p_bmm`` on)."""
    theirs = _modelopt_hf(modelopt, arch, [])
    bmm = {n: s for n, s in theirs.items() if n.endswith("_bmm_quantizer")}
    assert len(bmm) == 4 and all(s[0] for s in bmm.values()), bmm
    assert _compare_hf(modelopt, arch, [], "no entries") >= 20


@pytest.mark.parametrize("name", sorted(presets()))
@pytest.mark.parametrize("arch", sorted(HF_MODELS))
def test_every_preset_on_hf_models_equals_modelopt(modelopt: Any, arch: str, name: str) -> None:  # noqa: F811
    _compare_hf(modelopt, arch, presets()[name]["quant_cfg"], f"{arch} {name}")
