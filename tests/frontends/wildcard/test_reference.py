"""The literal reading of a wildcard list (docs/semantics.md §4), by hand and against ModelOpt 0.47.

The hand-written cases pin each rule: later wins, full replacement vs toggle, parent_class
exactness, stage names, case-sensitive globs. The differential tests build a tiny model, let
ModelOpt 0.47 insert its quantizers (``replace_quant_module``, as its docs describe), apply a
list with its own ``set_quantizer_by_cfg`` and read every quantizer back; the reference, given
the same names, owning classes and §4's role defaults, must say the same. Both run on CPU.
"""

from __future__ import annotations

import contextlib
import io
import warnings
from typing import Any

import pytest

from qrt.frontends.wildcard import (
    attribute_defaults,
    disabled_state,
    name_matches,
    owner_matches,
    reference_states,
    stage_base,
    wildcard_from_data,
)
from tests.frontends.wildcard.test_entries import PRESETS_FILE, presets

LINEAR = "torch.nn.modules.linear.Linear"
CONV = "torch.nn.modules.conv.Conv2d"
MY_LINEAR = "my.models.MyLinear"  # a subclass of nn.Linear


def defaults(**changes: Any) -> dict[str, Any]:
    out = {k: v for k, v in attribute_defaults().items() if k != "enable"}
    out.update(changes)
    return out


def role_default(name: str) -> dict[str, Any] | None:
    """docs/semantics.md §4's role defaults for Linear-like modules."""
    if name.endswith("weight_quantizer"):
        return {"enable": True, "attributes": {"num_bits": 8, "axis": 0}}
    if name.endswith("input_quantizer"):
        return {"enable": True, "attributes": {"num_bits": 8, "axis": None}}
    if name.endswith("output_quantizer"):
        return {"enable": False, "attributes": {}}
    return None


QUANTIZERS = {
    "fc1.input_quantizer": LINEAR,
    "fc1.weight_quantizer": LINEAR,
    "fc1.output_quantizer": LINEAR,
    "fc2.weight_quantizer": MY_LINEAR,
    "conv.weight_quantizer": CONV,
}


def run(entries: Any, quantizers: Any = None, role: Any = role_default) -> dict[str, Any]:
    return reference_states(wildcard_from_data(entries), quantizers or QUANTIZERS, role_default=role)


# =============================================================================================
# Hand-written cases


def test_role_defaults_and_no_entries() -> None:
    states = run([])
    assert states["fc1.weight_quantizer"] == {"enable": True, "attributes": defaults(axis=0)}
    assert states["fc1.input_quantizer"] == {"enable": True, "attributes": defaults()}
    assert states["fc1.output_quantizer"] == {"enable": False, "attributes": defaults()}
    assert list(states) == list(QUANTIZERS)


def test_no_role_default_starts_disabled_with_default_attributes() -> None:
    states = run([], {"m.softmax.output_quantizer_0": None}, role=None)
    assert states == {"m.softmax.output_quantizer_0": disabled_state()}
    assert "enable" not in disabled_state()["attributes"]


def test_later_entry_wins() -> None:
    states = run([
        {"quantizer_name": "*weight_quantizer", "cfg": {"num_bits": 4}},
        {"quantizer_name": "fc1.*", "cfg": {"num_bits": 6}},
    ])
    assert states["fc1.weight_quantizer"]["attributes"]["num_bits"] == 6
    assert states["conv.weight_quantizer"]["attributes"]["num_bits"] == 4
    assert states["fc1.output_quantizer"] == {"enable": True, "attributes": defaults(num_bits=6)}


def test_cfg_is_a_full_replacement() -> None:
    states = run([
        {"quantizer_name": "*weight_quantizer", "cfg": {"num_bits": 4, "unsigned": True}},
        {"quantizer_name": "*weight_quantizer", "cfg": {"num_bits": 4}},
    ])
    # the role default's axis 0 and the first entry's unsigned are gone
    assert states["fc1.weight_quantizer"] == {"enable": True, "attributes": defaults(num_bits=4)}


def test_enable_alone_is_a_toggle_that_keeps_attributes() -> None:
    states = run([
        {"quantizer_name": "*weight_quantizer", "cfg": {"num_bits": 4, "block_sizes": {"-1": 16}}},
        {"quantizer_name": "*", "enable": False},
        {"quantizer_name": "fc1.*", "enable": True},
    ])
    four = defaults(num_bits=4, block_sizes={-1: 16})
    assert states["fc1.weight_quantizer"] == {"enable": True, "attributes": four}
    assert states["conv.weight_quantizer"] == {"enable": False, "attributes": four}
    assert states["fc1.output_quantizer"] == {"enable": True, "attributes": defaults()}


def test_cfg_with_enable_false_replaces_and_disables() -> None:
    states = run([{"quantizer_name": "*input_quantizer", "cfg": {"num_bits": [4, 3]}, "enable": False}])
    assert states["fc1.input_quantizer"] == {"enable": False, "attributes": defaults(num_bits=(4, 3))}


def test_empty_cfg_with_enable_false_is_a_toggle() -> None:
    states = run([{"quantizer_name": "*weight_quantizer", "cfg": {}, "enable": False}])
    assert states["fc1.weight_quantizer"] == {"enable": False, "attributes": defaults(axis=0)}


def test_parent_class_is_exact() -> None:
    states = run([{"quantizer_name": "*", "parent_class": "nn.Linear", "enable": False}])
    assert states["fc1.weight_quantizer"]["enable"] is False
    assert states["fc2.weight_quantizer"]["enable"] is True  # MyLinear subclasses Linear: no match
    assert states["conv.weight_quantizer"]["enable"] is True
    states = run([{"quantizer_name": "*", "parent_class": MY_LINEAR, "enable": False}])
    assert [n for n, s in states.items() if not s["enable"]] == ["fc1.output_quantizer", "fc2.weight_quantizer"]
    assert owner_matches(None, None) and not owner_matches("nn.Linear", None)
    assert owner_matches("nn.Conv2d", CONV) and not owner_matches("nn.Conv2d", LINEAR)


def test_stage_names_match_as_their_quantizer() -> None:
    quantizers = {
        "fc.weight_quantizer.0": LINEAR,
        "fc.weight_quantizer.1": LINEAR,
        "fc.input_quantizer": LINEAR,
    }
    states = run([
        {"quantizer_name": "*", "enable": False},
        {"quantizer_name": "*weight_quantizer", "cfg": {"num_bits": 4}},
        {"quantizer_name": "fc.weight_quantizer.1", "cfg": {"num_bits": [4, 3]}},
    ], quantizers)
    assert states["fc.weight_quantizer.0"] == {"enable": True, "attributes": defaults(num_bits=4)}
    assert states["fc.weight_quantizer.1"] == {"enable": True, "attributes": defaults(num_bits=(4, 3))}
    assert states["fc.input_quantizer"]["enable"] is False
    assert stage_base("a.weight_quantizer.12") == "a.weight_quantizer"
    assert stage_base("a.weight_quantizer") is None and stage_base("layers.0") is None


def test_globs_are_anchored_case_sensitive_fnmatch() -> None:
    assert name_matches("*weight_quantizer", "model.layers.0.mlp.weight_quantizer")  # * crosses dots
    assert not name_matches("weight_quantizer", "fc.weight_quantizer")  # anchored
    assert not name_matches("*Weight_quantizer", "fc.weight_quantizer")  # case-sensitive
    assert name_matches("*[kv]_bmm_quantizer", "attn.k_bmm_quantizer")
    assert not name_matches("*[kv]_bmm_quantizer", "attn.q_bmm_quantizer")
    assert name_matches("fc?.weight_quantizer", "fc1.weight_quantizer")
    assert not name_matches("fc?.weight_quantizer", "fc10.weight_quantizer")
    states = run([{"quantizer_name": "*WEIGHT_QUANTIZER", "enable": False}])
    assert all(s["enable"] for n, s in states.items() if "weight" in n)


def test_sequential_cfg_gives_a_list_of_stages() -> None:
    states = run([
        {"quantizer_name": "fc1.weight_quantizer", "cfg": [{"num_bits": 4, "block_sizes": {-1: 128}}, {"num_bits": [4, 3]}]},
        {"quantizer_name": "*", "enable": False},
    ])
    assert states["fc1.weight_quantizer"] == {
        "enable": False,
        "attributes": [defaults(num_bits=4, block_sizes={-1: 128}), defaults(num_bits=(4, 3))],
    }
    states = run([
        {"quantizer_name": "fc1.weight_quantizer", "cfg": [{"num_bits": 4}, {"num_bits": [4, 3]}]},
        {"quantizer_name": "*weight_quantizer", "cfg": {"num_bits": 6}},
    ])
    assert states["fc1.weight_quantizer"] == {"enable": True, "attributes": defaults(num_bits=6)}


def test_trailing_legacy_default_overrides_everything() -> None:
    states = run({"*weight_quantizer": {"num_bits": 4}, "default": {"enable": False}})
    assert not any(s["enable"] for s in states.values())
    assert states["fc1.weight_quantizer"]["attributes"]["num_bits"] == 4


def test_quantizers_as_pairs_and_duplicates() -> None:
    states = reference_states(wildcard_from_data([]), [("a.input_quantizer", LINEAR)])
    assert states == {"a.input_quantizer": disabled_state()}
    with pytest.raises(ValueError, match="twice"):
        reference_states([], [("a", LINEAR), ("a", LINEAR)])


def test_states_do_not_share_attribute_dicts() -> None:
    states = run([{"quantizer_name": "*", "cfg": {"num_bits": 4}}])
    states["fc1.weight_quantizer"]["attributes"]["num_bits"] = 2
    assert states["conv.weight_quantizer"]["attributes"]["num_bits"] == 4


# =============================================================================================
# Against ModelOpt 0.47 on a tiny CPU model

READ_BACK = (
    "num_bits", "axis", "block_sizes", "bias", "unsigned", "narrow_range", "fake_quant",
    "trt_high_precision_dtype", "pass_through_bwd", "effective_bits", "use_constant_amax",
    "constant_amax", "backend",
)


@pytest.fixture(scope="module")
def modelopt() -> Any:
    torch = pytest.importorskip("torch")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        conversion = pytest.importorskip("modelopt.torch.quantization.conversion")
        nn_modules = pytest.importorskip("modelopt.torch.quantization.nn")

    class MyLinear(torch.nn.Linear):
        """A subclass: ModelOpt converts it to a class of its own (made once per process)."""

    return torch, conversion, nn_modules, MyLinear


def _build(modelopt: Any) -> tuple[Any, dict[str, str]]:
    torch, conversion, _, MyLinear = modelopt
    nn = torch.nn
    model = nn.Sequential(
        nn.Linear(8, 8), nn.ReLU(), MyLinear(8, 8), nn.Conv2d(2, 2, 1), nn.BatchNorm1d(8),
        nn.LeakyReLU(), nn.AvgPool1d(2), nn.Sequential(nn.Linear(8, 8)),
    )
    owners = {name: f"{type(m).__module__}.{type(m).__qualname__}" for name, m in model.named_modules()}
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        conversion.replace_quant_module(model)
    return model, owners


def _quantizers(model: Any, owners: dict[str, str], nn_modules: Any) -> dict[str, str]:
    found = {}
    for name, module in model.named_modules():
        if isinstance(module, (nn_modules.TensorQuantizer, nn_modules.SequentialQuantizer)):
            parent = name.rpartition(".")[0]
            if parent in owners:  # not a stage of a sequential quantizer
                found[name] = owners[parent]
    return found


def _read(quantizer: Any) -> dict[str, Any]:
    out = {name: getattr(quantizer, f"_{name}", getattr(quantizer, name, None)) for name in READ_BACK}
    out["type"] = "dynamic" if quantizer._dynamic else "static"
    rotate = quantizer._rotate
    out["rotate"] = rotate if isinstance(rotate, bool) else rotate.enable
    return out


def _modelopt_states(model: Any, quantizers: dict[str, str], nn_modules: Any) -> dict[str, Any]:
    states = {}
    for name in quantizers:
        q = model.get_submodule(name)
        if isinstance(q, nn_modules.SequentialQuantizer):
            states[name] = [(s.is_enabled, _read(s)) for s in q]
        else:
            states[name] = (q.is_enabled, _read(q))
    return states


def _comparable(state: dict[str, Any]) -> Any:
    def attrs(a: dict[str, Any]) -> dict[str, Any]:
        out = {k: a[k] for k in READ_BACK}
        out["type"] = a["type"]
        rotate = a["rotate"]
        out["rotate"] = rotate if isinstance(rotate, bool) else rotate.get("enable", False)
        out["block_sizes"] = None if a["block_sizes"] is None else dict(a["block_sizes"])
        return out

    if isinstance(state["attributes"], list):
        return [(state["enable"], attrs(a)) for a in state["attributes"]]
    return (state["enable"], attrs(state["attributes"]))


_SIMPLE = {  # the rows of docs/semantics.md §4's role defaults this model has (no Embedding)
    "weight_quantizer": {"enable": True, "attributes": {"num_bits": 8, "axis": 0}},
    "input_quantizer": {"enable": True, "attributes": {"num_bits": 8, "axis": None}},
    "output_quantizer": {"enable": False, "attributes": {"num_bits": 8, "axis": None}},
}


def _section4_role_default(name: str) -> dict[str, Any] | None:
    return _SIMPLE.get(name.rpartition(".")[2])


def _compare(modelopt: Any, quant_cfg: list[dict[str, Any]], label: str = "") -> None:
    _, conversion, nn_modules, _ = modelopt
    model, owners = _build(modelopt)
    quantizers = _quantizers(model, owners, nn_modules)
    ours = reference_states(wildcard_from_data(quant_cfg), quantizers, role_default=_section4_role_default)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        conversion.set_quantizer_by_cfg(model, _for_modelopt(quant_cfg))
    theirs = _modelopt_states(model, quantizers, nn_modules)
    for name in quantizers:
        assert _comparable(ours[name]) == theirs[name], f"{label} {name}"


def _for_modelopt(quant_cfg: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The same list, with qrt's normalised attributes (integer axis keys, tuples), which is
    what ModelOpt 0.47 reads (it refuses the JSON spelling ``"-1"``)."""
    return wildcard_from_data(quant_cfg).to_list(normalised=True)


def test_role_defaults_equal_modelopts(modelopt: Any) -> None:
    _, _, nn_modules, _ = modelopt
    model, owners = _build(modelopt)
    quantizers = _quantizers(model, owners, nn_modules)
    assert "0.weight_quantizer" in quantizers and "4.input_quantizer" in quantizers
    assert "1.input_quantizer" not in quantizers  # ReLU is not in ModelOpt's registry
    ours = reference_states([], quantizers, role_default=_section4_role_default)
    theirs = _modelopt_states(model, quantizers, nn_modules)
    assert {n: _comparable(s) for n, s in ours.items()} == theirs


HAND_LISTS = [
    [{"quantizer_name": "*", "enable": False}, {"quantizer_name": "*weight_quantizer", "cfg": {"num_bits": 4, "block_sizes": {-1: 4, "type": "static"}}}],
    [{"quantizer_name": "*weight_quantizer", "cfg": {"num_bits": 4, "unsigned": True}}, {"quantizer_name": "*weight_quantizer", "cfg": {"num_bits": 6}}],
    [{"quantizer_name": "*output_quantizer", "enable": True}, {"quantizer_name": "*input_quantizer", "cfg": {"num_bits": [4, 3]}, "enable": False}],
    [{"quantizer_name": "*", "parent_class": "nn.Linear", "enable": False}, {"quantizer_name": "4.*", "cfg": {"narrow_range": True}}],
    [{"quantizer_name": "*", "parent_class": "nn.BatchNorm1d", "cfg": {"num_bits": 4, "axis": 0}}, {"quantizer_name": "?.input_quantizer", "enable": False}],
    [{"quantizer_name": "*[03].weight_quantizer", "cfg": [{"num_bits": 4, "block_sizes": {-1: 4}}, {"num_bits": [4, 3]}]}, {"quantizer_name": "*", "enable": False}, {"quantizer_name": "0.*", "enable": True}],
    [{"quantizer_name": "*weight_quantizer", "cfg": [{"num_bits": 4, "block_sizes": {-1: 4}}, {"num_bits": [4, 3]}]}, {"quantizer_name": "*weight_quantizer", "cfg": {"num_bits": 8, "axis": 0}}],
    [{"quantizer_name": "*WEIGHT_QUANTIZER", "enable": False}, {"quantizer_name": "*", "cfg": {}, "enable": False}, {"quantizer_name": "7.0.*", "enable": True}],
    [{"quantizer_name": "*", "cfg": {"num_bits": 8, "type": "dynamic", "block_sizes": {-1: None, "type": "dynamic"}, "trt_high_precision_dtype": "Half", "calibrator": "histogram"}}],
]


@pytest.mark.parametrize("index", range(len(HAND_LISTS)))
def test_hand_lists_equal_modelopt(modelopt: Any, index: int) -> None:
    _compare(modelopt, HAND_LISTS[index], f"list {index}")


def test_legacy_dict_equals_modelopt(modelopt: Any) -> None:
    _, conversion, nn_modules, _ = modelopt
    legacy = {
        "*weight_quantizer": {"num_bits": 4, "block_sizes": {-1: 4}, "enable": True},
        "*input_quantizer": {"num_bits": 8, "axis": None},
        "nn.Linear": {"*output_quantizer": {}, "*input_quantizer": {"enable": False}},
        "default": {"enable": False},
        "0.*": {},
    }
    model, owners = _build(modelopt)
    quantizers = _quantizers(model, owners, nn_modules)
    ours = reference_states(wildcard_from_data(legacy), quantizers, role_default=_section4_role_default)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        conversion.set_quantizer_by_cfg(model, legacy)  # ModelOpt converts the legacy dict itself
    theirs = _modelopt_states(model, quantizers, nn_modules)
    assert {n: _comparable(s) for n, s in ours.items()} == theirs


def test_every_preset_equals_modelopt(modelopt: Any) -> None:
    if not presets():
        pytest.skip(f"{PRESETS_FILE} not found")
    assert len(presets()) == 39
    for name, preset in presets().items():
        _compare(modelopt, preset["quant_cfg"], name)


def test_a_second_sequential_cfg_known_difference(modelopt: Any) -> None:
    """Two list ``cfg`` entries on one quantizer: §4 (and the reference) replace the stages;
    ModelOpt 0.47 nests a sequential quantizer inside each stage, because its stage names
    (``x.weight_quantizer.0``) match ``*weight_quantizer`` too and each gets the list. If this
    starts failing, ModelOpt fixed it and the reference and ModelOpt agree again."""
    _, conversion, nn_modules, _ = modelopt
    twice = [
        {"quantizer_name": "0.weight_quantizer", "cfg": [{"num_bits": 4, "block_sizes": {-1: 4}}, {"num_bits": [4, 3]}]},
        {"quantizer_name": "0.weight_quantizer", "cfg": [{"num_bits": 6}, {"num_bits": [4, 3]}]},
    ]
    model, owners = _build(modelopt)
    ours = reference_states(wildcard_from_data(twice), _quantizers(model, owners, nn_modules))
    assert [a["num_bits"] for a in ours["0.weight_quantizer"]["attributes"]] == [6, (4, 3)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        conversion.set_quantizer_by_cfg(model, _for_modelopt(twice))
    assert isinstance(model.get_submodule("0.weight_quantizer.0"), nn_modules.SequentialQuantizer)
