"""``qrt convert --to compressed-tensors``: a plan's decisions written as a compressed-tensors
config, verified by reading it back on the model; what the format cannot hold is refused by
name. Round trips DSL → compressed-tensors → DSL resolve equal."""

from __future__ import annotations

import json
from typing import Any

import pytest

from qrt.api import resolve
from qrt.frontends.compressed_tensors import compressed_tensors_from_data
from qrt.frontends.compressed_tensors.source import CompressedTensorsSource
from qrt.frontends.dsl import parse_rules
from qrt.frontends.source import DslSource, load_rule_source
from qrt.tools.convert import ConvertError, convert

pytest.importorskip("torch")

RULES = """\
spec w4 = int4 symmetric per_block(8, axis=1) qparam_calculator=static
spec fp8 = float8_e4m3fn symmetric per_channel(axis=0) qparam_calculator=static
op linear weight -> w4
module /.*mlp.*/ op linear weight -> fp8
module /.*mlp.*/ op linear input -> float8_e4m3fn symmetric per_tensor qparam_calculator=static extra.strategy=token
module /lm_head/ op linear weight -> off
"""


@pytest.fixture(scope="module")
def inv() -> Any:
    import qrt
    from qrt.runtime.examples import EXAMPLES

    example = EXAMPLES["tiny_llama"]
    return qrt.inspect_model(example.build(), *example.inputs(None, "cpu"))


def test_dsl_to_compressed_tensors_and_back_resolve_equal(inv: Any) -> None:
    source = DslSource(parse_rules(RULES, file="rules.qrt"), label="rules.qrt")
    text = convert(source, "compressed-tensors", inv)  # verified on every site, or refused
    config = json.loads(text)
    assert len(config["config_groups"]) == 2 and config["ignore"] == []
    mlp = next(g for g in config["config_groups"].values() if g["input_activations"] is not None)
    assert mlp["input_activations"] == {"num_bits": 8, "type": "float", "symmetric": True, "strategy": "token",
                                        "dynamic": True}
    ct = CompressedTensorsSource(compressed_tensors_from_data(config))
    back = convert(ct, "dsl", inv)
    plans = [resolve(s, inv) for s in (source, ct, DslSource(parse_rules(back, file="back.qrt")))]
    specs = [[p.spec(d) for d in p.decisions] for p in plans]
    assert specs[0] == specs[1] == specs[2]
    assert sum(s is not None for s in specs[0]) == 14 + 6  # 14 weights (not lm_head), 6 mlp inputs


def test_what_the_format_cannot_hold_is_refused_by_name(inv: Any, tmp_path: Any) -> None:
    rules = tmp_path / "r.qrt"
    rules.write_text("op linear weight -> int4 symmetric per_block(8, axis=1)\nop add input -> int8 symmetric per_tensor\n")
    with pytest.raises(ConvertError) as err:
        convert(load_rule_source(rules), "compressed-tensors", inv)
    text = str(err.value)
    assert "qparam_calculator unset on a weight" in text
    assert "- add input in a RMSNorm: compressed-tensors quantizes the weight, input and output of Linear" in text
    with pytest.raises(ConvertError, match="names modules of a given model"):
        convert(load_rule_source(rules), "compressed-tensors", None)
