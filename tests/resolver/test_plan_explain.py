"""Plans and explanations on real models, built from programmatic rules."""

from __future__ import annotations

import json

import jsonschema
import pytest

from qrt import Inventory, inspect_model
from qrt.api import explain, resolve
from qrt.ir.effect import Off, Patch, Set
from qrt.ir.origin import Origin
from qrt.ir.rule import Rule, RuleSet
from qrt.ir.selector import Selector
from qrt.ir.spec import QuantizationSpec
from qrt.resources import schema
from qrt.runtime.examples import EXAMPLES

W4 = QuantizationSpec(dtype="int4", granularity={"type": "per_block", "block_size": 4})
WC = QuantizationSpec(dtype="int8", granularity="per_channel")


@pytest.fixture(scope="module")
def cnn() -> Inventory:
    ex = EXAMPLES["cnn"]
    return inspect_model(ex.build().eval(), *ex.inputs(None, "cpu"))


def rules() -> RuleSet:
    return RuleSet.of([
        Rule(Selector(role="state", key="weight"), Set(WC), origin=Origin("r.qrt", 1, 1)),
        Rule(Selector(op_type="conv_transpose2d", role="state", key="weight"), Set(W4), origin=Origin("r.qrt", 2, 1)),
        Rule(Selector(module_name=r"encoder\.1"), Off(), origin=Origin("r.qrt", 3, 1)),
        Rule(Selector(quantizer_path="fc.*"), Patch(fields={"qscheme": "asymmetric"}), origin=Origin("r.qrt", 4, 1)),
        Rule(Selector(role="module_state", key="weight", module_name="fc"), Set(WC), origin=Origin("r.qrt", 5, 1)),
    ])


def test_plan_json_matches_schema_and_resolves_default_axes(cnn: Inventory) -> None:
    plan = resolve(rules(), cnn)
    data = plan.to_json()
    jsonschema.validate(data, schema("plan"))
    json.dumps(data)
    by = {s["quantizer_path"]: s for s in data["sites"]}
    # default-axis tables (docs/semantics.md §3): conv per-channel axis 0; conv-transpose per-block axis 0; linear module state 0
    assert by["encoder.0.weight_quantizer"]["decision"]["granularity"] == {"type": "per_channel", "axis": 0, "block_size": None}
    assert by["decoder.deconv1.weight_quantizer"]["decision"]["granularity"] == {"type": "per_block", "axis": 0, "block_size": 4}
    assert by["fc.module_state_quantizer_weight"]["decision"]["granularity"]["axis"] == 0
    assert by["encoder.1.weight_quantizer"]["decision"] is None
    assert by["encoder.1.weight_quantizer"]["origin"] == "r.qrt:3:1"
    assert by["fc.weight_quantizer"]["decision"]["qscheme"] == "asymmetric"
    assert by["fc.weight_quantizer"]["origin"] == "r.qrt:4:1"
    assert by["encoder.0.input_quantizer"] == {**by["encoder.0.input_quantizer"], "decision": None, "origin": None}
    # batch-norm weight is per-channel with no table row: axis stays open
    assert by["encoder.1.module_state_quantizer_weight"]["decision"] is None


def test_explain_shows_the_cascade(cnn: Inventory) -> None:
    plan = resolve(rules(), cnn)
    (ex,) = explain(plan, queries=["decoder.deconv1.weight_quantizer"])
    assert [(s.status, s.rule.origin.line) for s in ex.steps] == [("replaced", 1), ("decided", 2)]
    assert "same priority, earlier in the rule set" in ex.steps[0].reason
    assert ex.final is not None and ex.final.granularity.axis == 0
    assert "axis 0 from the default-axis table for conv_transpose2d" == ex.axis_note
    assert set(ex.default_fields) == {"qscheme", "scale_dtype", "qparam_calculator", "range_calculator", "fake_quantize"}

    (fc,) = explain(plan, queries=["fc.linear:state[weight]"])
    assert [s.status for s in fc.steps] == ["decided", "applied"]
    assert fc.steps[0].reason == "then patched: qscheme"
    assert fc.to_json()["cascade"][1]["effect"] == "patch qscheme=asymmetric"


def test_priority_loss_is_named(cnn: Inventory) -> None:
    rs = RuleSet.of([
        Rule(Selector(op_type="linear"), Set(WC), priority=(1,)),
        Rule(Selector(op_type="linear"), Off(), priority=(0,)),
    ])
    (ex,) = explain(resolve(rs, cnn), queries=["fc.weight_quantizer"])
    assert [s.status for s in ex.steps] == ["replaced", "decided"]
    assert ex.steps[0].reason.startswith("lower priority")


def test_query_globs_and_misses(cnn: Inventory) -> None:
    plan = resolve(rules(), cnn)
    assert len(explain(plan, queries=["encoder.*.weight_quantizer"])) == 3  # conv, bn, conv
    from qrt import QueryError

    with pytest.raises(QueryError, match="did you mean"):
        explain(plan, queries=["decoder.deconv.weight_quantizer"])
