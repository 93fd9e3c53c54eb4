"""The 39 ModelOpt presets shipped in ``rules/modelopt/``: loadable by name, equal to the data."""

from __future__ import annotations

import pytest

from qrt.errors import QrtError
from qrt.frontends.source import WildcardSource, load_rule_source
from qrt.frontends.wildcard import wildcard_from_data
from qrt.frontends.wildcard.presets import available_modelopt_presets, load_modelopt_preset
from tests.frontends.wildcard.test_entries import presets


def test_all_39_presets_ship() -> None:
    assert len(available_modelopt_presets()) == 39
    assert set(available_modelopt_presets()) == set(presets())
    for wanted in ("INT8_DEFAULT_CFG", "INT8_SMOOTHQUANT_CFG", "FP8_DEFAULT_CFG", "INT4_AWQ_CFG",
                   "INT4_BLOCKWISE_WEIGHT_ONLY_CFG", "W4A8_AWQ_BETA_CFG", "NVFP4_DEFAULT_CFG",
                   "MXFP4_DEFAULT_CFG", "MXFP8_DEFAULT_CFG"):
        assert wanted in available_modelopt_presets()


@pytest.mark.parametrize("name", sorted(presets()))
def test_shipped_preset_says_what_the_released_config_says(name: str) -> None:
    shipped = load_modelopt_preset(name)
    data = presets()[name]
    released = wildcard_from_data(data["quant_cfg"])
    def facts(config):  # type: ignore[no-untyped-def]
        return [(e.pattern, e.parent_class, e.enable, e.attributes()) for e in config]
    assert facts(shipped) == facts(released)
    assert shipped.algorithm == data["algorithm"]
    # positions point into the shipped file
    assert shipped[0].origin.file.endswith(f"{name}.yaml") and shipped[0].origin.line


def test_a_preset_by_name_is_a_rule_source() -> None:
    source = load_rule_source("modelopt:FP8_DEFAULT_CFG")
    assert isinstance(source, WildcardSource) and source.label == "modelopt:FP8_DEFAULT_CFG"
    assert load_modelopt_preset("modelopt:FP8_DEFAULT_CFG") == load_modelopt_preset("FP8_DEFAULT_CFG")


def test_an_unknown_preset_name_suggests_the_closest() -> None:
    with pytest.raises(QrtError) as info:
        load_rule_source("modelopt:FP8_DEFALT_CFG")
    assert "FP8_DEFAULT_CFG" in str(info.value) and "shipped presets" in str(info.value)
