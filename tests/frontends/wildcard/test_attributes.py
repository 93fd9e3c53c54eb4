"""ModelOpt 0.47's quantizer attribute vocabulary: names, defaults, accepted shapes, errors.

Where ModelOpt is importable, the vocabulary and the accept/refuse verdicts are checked against
its own ``QuantizerAttributeConfig``; the places qrt is deliberately stricter (or reads JSON's
string axis keys) are listed apart, each with the reason.
"""

from __future__ import annotations

import warnings
from typing import Any

import pytest

from qrt.frontends.wildcard import (
    ATTRIBUTE_FIELDS,
    WildcardConfigError,
    attribute_defaults,
    validate_attributes,
)


def check(cfg: dict[str, Any]) -> dict[str, Any]:
    return validate_attributes(cfg, where="quant_cfg[0].cfg")


def error_of(cfg: dict[str, Any]) -> WildcardConfigError:
    with pytest.raises(WildcardConfigError) as info:
        check(cfg)
    assert info.value.code == "QRT208"
    return info.value


# =============================================================================================
# The vocabulary


def test_defaults_are_modelopt_047s() -> None:
    defaults = attribute_defaults()
    assert defaults["num_bits"] == 8
    assert defaults["axis"] is None
    assert defaults["enable"] is True
    assert defaults["block_sizes"] is None
    assert defaults["type"] == "static"
    assert defaults["calibrator"] == "max"
    assert defaults["trt_high_precision_dtype"] == "Float"
    assert defaults["fake_quant"] is True and defaults["pass_through_bwd"] is True
    assert defaults["unsigned"] is False and defaults["narrow_range"] is False
    assert list(defaults) == list(ATTRIBUTE_FIELDS)


def test_defaults_are_a_fresh_copy() -> None:
    attribute_defaults()["num_bits"] = 4
    assert attribute_defaults()["num_bits"] == 8


def _modelopt_attribute_config():  # type: ignore[no-untyped-def]
    pytest.importorskip("torch")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        config = pytest.importorskip("modelopt.torch.quantization.config")
    return config.QuantizerAttributeConfig


def test_vocabulary_and_defaults_equal_modelopt() -> None:
    attribute_config = _modelopt_attribute_config()
    assert list(ATTRIBUTE_FIELDS) == list(attribute_config.model_fields)
    assert attribute_defaults() == attribute_config().model_dump()


# =============================================================================================
# Accepted shapes, normalised


def test_integer_and_float_bit_widths() -> None:
    assert check({"num_bits": 4}) == {"num_bits": 4}
    assert check({"num_bits": [4, 3]}) == {"num_bits": (4, 3)}
    assert check({"num_bits": (2, 1)}) == {"num_bits": (2, 1)}
    assert check({"num_bits": "nvfp4"}) == {"num_bits": "nvfp4"}  # a custom backend's format


def test_json_normalised_block_sizes_and_bias() -> None:
    cfg = {
        "num_bits": [2, 1],
        "block_sizes": {"-1": 16, "type": "dynamic", "scale_bits": [4, 3]},
        "axis": None,
    }
    assert check(cfg) == {
        "num_bits": (2, 1),
        "block_sizes": {-1: 16, "type": "dynamic", "scale_bits": (4, 3)},
        "axis": None,
    }
    assert check({"bias": {"-2": None, "-4": None, "type": "static"}}) == {
        "bias": {-2: None, -4: None, "type": "static"}
    }


def test_block_sizes_string_keys() -> None:
    got = check(
        {
            "num_bits": 4,
            "block_sizes": {
                -1: 16,
                "-2": None,
                "type": "static",
                "scale_bits": [8, 0],
                "scale_block_sizes": {"-1": 16},
                "four_over_six": 1,
            },
        }
    )
    assert got["block_sizes"] == {
        -1: 16, -2: None, "type": "static", "scale_bits": (8, 0),
        "scale_block_sizes": {-1: 16}, "four_over_six": True,
    }


def test_axis_list_becomes_tuple_and_other_fields() -> None:
    assert check({"axis": [0, -1]}) == {"axis": (0, -1)}
    cfg = {
        "unsigned": True, "narrow_range": True, "fake_quant": False, "type": "dynamic",
        "trt_high_precision_dtype": "BFloat16", "calibrator": "histogram",
        "rotate": {"enable": True, "mode": "rotate_back", "block_size": 64},
        "pass_through_bwd": False, "backend": "mine", "backend_extra_args": {"x": 1},
        "use_constant_amax": True, "effective_bits": 4.5, "learn_amax": False,
    }
    assert check(cfg) == cfg
    assert check({"constant_amax": 2688.0}) == {"constant_amax": 2688.0}
    assert check({"rotate": True}) == {"rotate": True}
    assert check({"calibrator": ["histogram", {}]}) == {"calibrator": ("histogram", {})}


def test_enable_false_inside_cfg_is_an_attribute() -> None:
    assert check({"enable": False}) == {"enable": False}
    assert check({}) == {}


# =============================================================================================
# Errors: unknown names with did-you-mean, bad shapes with what is valid


def test_unknown_attribute_has_did_you_mean_and_the_vocabulary() -> None:
    err = error_of({"num_bit": 8})
    assert "quant_cfg[0].cfg.num_bit" in str(err)
    assert "did you mean 'num_bits'" in str(err)
    assert "block_sizes" in (err.hint or "")


@pytest.mark.parametrize(
    ("cfg", "words"),
    [
        ({"num_bits": (5, 5)}, ["not a known float format", "[4, 3]"]),
        ({"num_bits": [5, 2]}, ["dynamic block quantization", "type: dynamic"]),
        ({"num_bits": 0}, ["must be positive"]),
        ({"num_bits": True}, ["positive integer"]),
        ({"num_bits": [4, 3, 1]}, ["(E, M) pair"]),
        ({"num_bits": 8.0}, ["positive integer"]),
        ({"axis": "0"}, ["integer axis"]),
        ({"axis": 0, "block_sizes": {-1: 16}}, ["axis and block_sizes cannot both be set"]),
        ({"block_sizes": {"x": 16}}, ["'x' is neither an integer axis", "type, scale_bits"]),
        ({"block_sizes": {"tpye": "dynamic", -1: 16}}, ["did you mean 'type'"]),
        ({"block_sizes": {-1: 16.5}}, ["positive integer"]),
        ({"block_sizes": {-1: 0}}, ["positive integer"]),
        ({"block_sizes": {-1: 16, "type": "fast"}}, ["'static', 'dynamic'"]),
        ({"block_sizes": {-1: 16, -2: 16, "type": "dynamic"}}, ["exactly one axis"]),
        ({"block_sizes": {-1: 16, "-1": 16}}, ["given twice"]),
        ({"block_sizes": {-1: 16, "scale_bits": "e4m3"}}, ["scale_bits"]),
        ({"block_sizes": [16]}, ["mapping from integer axes"]),
        ({"bias": {"type": "static"}}, ["at least one integer axis"]),
        ({"bias": {-1: None, "method": "median"}}, ["'mean', 'max_min'"]),
        ({"bias": {"enable": True}}, ["neither an integer axis"]),
        ({"type": "Dynamic"}, ["did you mean 'dynamic'"]),
        ({"calibrator": "minmax"}, ["'max', 'histogram'"]),
        ({"trt_high_precision_dtype": "float16"}, ["'Float', 'Half', 'BFloat16'"]),
        ({"unsigned": "yes"}, ["true or false"]),
        ({"unsigned": 1}, ["true or false"]),
        ({"learn_amax": True}, ["deprecated"]),
        ({"effective_bits": 17}, ["(0, 16]"]),
        ({"constant_amax": 0}, ["positive number"]),
        ({"use_constant_amax": True, "constant_amax": 1.0}, ["cannot both be set"]),
        ({"rotate": {"enable": True, "mode": "x"}}, ["'rotate', 'rotate_back'"]),
        ({"rotate": {"enabled": True}}, ["did you mean 'enable'"]),
        ({"rotate": {"block_size": 0}}, ["positive integer"]),
        ({"enable": True}, ["only enable: true"]),
        ({"enable": "no"}, ["true or false"]),
    ],
)
def test_bad_values_say_what_is_valid(cfg: dict[str, Any], words: list[str]) -> None:
    text = str(error_of(cfg))
    assert text.startswith("quant_cfg[0].cfg.")
    for word in words:
        assert word in text, text


def test_not_a_mapping() -> None:
    assert "expected a mapping of quantizer attributes" in str(error_of([1]))  # type: ignore[arg-type]


def test_locate_puts_the_position_of_the_deepest_known_key() -> None:
    paths: list[tuple[Any, ...]] = []

    def locate(path: tuple[Any, ...]) -> str | None:
        paths.append(path)
        return "f.yaml:3:5" if len(path) <= 1 else None

    with pytest.raises(WildcardConfigError) as info:
        validate_attributes({"block_sizes": {"bad": 1}}, where="quant_cfg[1].cfg", locate=locate)
    assert info.value.location == "f.yaml:3:5"
    assert paths[0] == ("block_sizes", "bad")
    assert "quant_cfg[1].cfg.block_sizes['bad']" in str(info.value)


# =============================================================================================
# Against ModelOpt 0.47 itself

AGREED_VALID = [
    {"num_bits": 4, "block_sizes": {-1: 128, "type": "static"}},
    {"num_bits": (4, 3), "axis": None},
    {"num_bits": (2, 1), "block_sizes": {-1: 16, "type": "dynamic", "scale_bits": (4, 3)}},
    {"num_bits": (3, 2), "block_sizes": {-1: 32, "type": "dynamic", "scale_bits": (8, 0)}},
    {"num_bits": 8, "axis": (0, 1)},
    {"num_bits": 8, "bias": {-1: None, "type": "dynamic", "method": "max_min"}},
    {"num_bits": 8, "rotate": {"enable": True, "block_size": 4}},
    {"enable": False},
    {"num_bits": "custom", "backend": "mine"},
    {"num_bits": (9, 9), "backend": "mine"},
]
AGREED_INVALID = [
    {"num_bits": (5, 5)},
    {"num_bits": (5, 2)},
    {"num_bits": 0},
    {"num_bit": 8},
    {"axis": 0, "block_sizes": {-1: 16}},
    {"block_sizes": {-1: 16, "foo": 1}},
    {"block_sizes": {-1: 16, -2: 16, "type": "dynamic"}},
    {"type": "x"},
    {"calibrator": "minmax"},
    {"enable": True},
    {"learn_amax": True},
    {"effective_bits": 17},
    {"bias": {"type": "static"}},
    {"bias": {-1: None, "method": "median"}},
    {"rotate": {"enable": True, "mode": "x"}},
    {"use_constant_amax": True, "constant_amax": 1.0},
    {"constant_amax": 0},
    {"trt_high_precision_dtype": "fp16"},
]
# Deliberate differences (the module docstring of qrt.frontends.wildcard.attributes says why):
QRT_ONLY_VALID = [  # JSON-normalised spellings ModelOpt 0.47 refuses
    {"block_sizes": {"-1": 16}},
    {"bias": {"-1": None}},
]
MODELOPT_ONLY_VALID = [  # lax coercions and loose checks qrt refuses
    {"unsigned": "yes"},
    {"num_bits": True},
    {"num_bits": 8.0},
    {"axis": "0"},
    {"block_sizes": {-1: 16, "type": "foo"}},
    {"block_sizes": {-1: 0}},
    {"block_sizes": {-1: 16, "scale_bits": "e4m3"}},
]


def _modelopt_accepts(attribute_config: Any, cfg: dict[str, Any]) -> bool:
    try:
        attribute_config(**cfg)
    except (ValueError, TypeError, AssertionError):  # pydantic's ValidationError is a ValueError
        return False
    return True


def _qrt_accepts(cfg: dict[str, Any]) -> bool:
    try:
        check(cfg)
    except WildcardConfigError:
        return False
    return True


def test_verdicts_agree_with_modelopt() -> None:
    attribute_config = _modelopt_attribute_config()
    for cfg in AGREED_VALID:
        assert _modelopt_accepts(attribute_config, cfg) and _qrt_accepts(cfg), cfg
    for cfg in AGREED_INVALID:
        assert not _modelopt_accepts(attribute_config, cfg), cfg
        assert not _qrt_accepts(cfg), cfg


def test_documented_differences_from_modelopt() -> None:
    attribute_config = _modelopt_attribute_config()
    for cfg in QRT_ONLY_VALID:
        assert _qrt_accepts(cfg) and not _modelopt_accepts(attribute_config, cfg), cfg
    for cfg in MODELOPT_ONLY_VALID:
        assert _modelopt_accepts(attribute_config, cfg) and not _qrt_accepts(cfg), cfg
