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
from typing import Any

import pytest

from qrt.api import resolve
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
