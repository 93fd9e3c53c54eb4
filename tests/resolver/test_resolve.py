"""Targeted resolver cases: each docs/semantics.md §2 mechanism on real inventories."""

from __future__ import annotations

import pytest
import torch

from qrt import inspect_model
from qrt.ir.effect import Off, Patch, Set
from qrt.ir.patterns import PatternError, regex_fullmatch
from qrt.ir.rule import Rule, RuleSet
from qrt.ir.selector import ScopeMatch, Selector
from qrt.ir.spec import QuantizationSpec, default_activation_spec
from qrt.resolver.fast import resolve
from qrt.resolver.reference import resolve_reference
from qrt.runtime.examples import EXAMPLES

INT4 = QuantizationSpec(dtype="int4", granularity={"type": "per_block", "block_size": 32})
INT8 = QuantizationSpec(dtype="int8")


@pytest.fixture(scope="module")
def llama():
    ex = EXAMPLES["tiny_llama"]
    return inspect_model(ex.build().eval(), *ex.inputs(None, "cpu"))


@pytest.fixture(scope="module")
def mha():
    ex = EXAMPLES["mha"]
    return inspect_model(ex.build().eval(), *ex.inputs(None, "cpu"))


def decided(rules, inv):  # type: ignore[no-untyped-def]
    fast = {d.site.quantizer_path: d.spec for d in resolve(RuleSet.of(rules), inv.sites)}
    ref = {d.site.quantizer_path: d.spec for d in resolve_reference(RuleSet.of(rules), inv.sites)}
    assert fast == ref
    return fast


def test_relative_op_name_inside_a_named_module(llama) -> None:
    rule = Rule(
        Selector(scope=ScopeMatch(name=r"model\.layers\.0"), op_name=r"self_attn\.scaled_dot_product_attention",
                 op_name_relative=True, role="input", key=0),
        Set(INT8),
    )
    got = {p for p, spec in decided([rule], llama).items() if spec is not None}
    assert got == {"model.layers.0.self_attn.scaled_dot_product_attention.input_quantizer_0"}


def test_relative_op_name_inside_a_module_type(llama) -> None:
    rule = Rule(
        Selector(scope=ScopeMatch(type="qrt.runtime.examples.LlamaAttention"), op_name="scaled_dot_product_attention",
                 op_name_relative=True, role="output", key="p"),
        Set(INT8),
    )
    got = sorted(p for p, spec in decided([rule], llama).items() if spec is not None)
    assert got == [f"model.layers.{i}.self_attn.scaled_dot_product_attention.output_quantizer_p" for i in (0, 1)]


def test_module_input_key_by_argument_name(mha) -> None:
    by_name = Rule(Selector(module_name="attn", role="module_input", key="value"), Set(INT8))
    by_pos = Rule(Selector(module_name="attn", role="module_input", key=2), Set(INT8))
    assert decided([by_name], mha) == decided([by_pos], mha)
    assert decided([by_name], mha)["attn.module_input_quantizer_2"] == INT8


def test_later_rule_wins_then_priority_beats_order(llama) -> None:
    w = Selector(op_type="linear", role="state", key="weight")
    path = "lm_head.weight_quantizer"
    assert decided([Rule(w, Set(INT8)), Rule(w, Set(INT4))], llama)[path] == INT4
    assert decided([Rule(w, Set(INT8), (1,)), Rule(w, Set(INT4), (0,))], llama)[path] == INT8
    assert decided([Rule(w, Set(INT8)), Rule(Selector(module_name="lm_head"), Off())], llama)[path] is None


def test_patch_changes_only_what_it_names(llama) -> None:
    w = Selector(op_type="linear", role="state", key="weight")
    rules = [Rule(w, Set(INT4)), Rule(Selector(quantizer_path="*lm_head*"), Patch(fields={"dtype": "int8"}))]
    spec = decided(rules, llama)["lm_head.weight_quantizer"]
    assert spec is not None and spec.dtype == "int8" and spec.granularity == INT4.granularity
    # a toggle keeps the spec; enabling a never-set site starts from the role default
    off_on = [Rule(w, Set(INT4)), Rule(w, Patch(enable=False)), Rule(w, Patch(enable=True))]
    assert decided(off_on, llama)["lm_head.weight_quantizer"] == INT4
    on = [Rule(Selector(op_type="softmax"), Patch(enable=True))]
    assert set(decided(on, llama).values()) <= {None, default_activation_spec()}


def test_quantizer_path_globs_match_aliases(llama) -> None:
    rule = Rule(Selector(quantizer_path="*[kv]_bmm_quantizer"), Set(INT8))
    got = sorted(p for p, spec in decided([rule], llama).items() if spec is not None)
    assert got == [
        f"model.layers.{i}.self_attn.scaled_dot_product_attention.input_quantizer_{k}" for i in (0, 1) for k in (1, 2)
    ]


def test_parent_class_is_exact_modelopt_style(llama) -> None:
    rule = Rule(Selector(quantizer_path="*weight_quantizer", parent_class="nn.Linear"), Set(INT8))
    got = [p for p, spec in decided([rule], llama).items() if spec is not None]
    assert "lm_head.weight_quantizer" in got and "model.norm.mul_1.weight_quantizer" not in got


@pytest.mark.parametrize(
    ("pattern", "message"),
    [(r"(a)\1", "backreference"), (r"(?=a)b", "lookahead"), ("(unclosed", "invalid regular expression")],
)
def test_patterns_re2_cannot_run_are_refused_up_front(pattern: str, message: str) -> None:
    with pytest.raises(PatternError, match=message):
        Selector(module_name=pattern)


def test_pathological_regex_does_not_hang() -> None:
    # Python's backtracking re would not finish this; RE2 is linear in the name's length
    assert not regex_fullmatch("(a+)+b", "a" * 5000 + "c")


def test_bad_priority_is_reported() -> None:
    with pytest.raises(PatternError, match="tuple of integers"):
        Rule(Selector(), Off(), priority=[1])  # type: ignore[arg-type]


def test_bare_class_name_must_be_unambiguous_in_the_model() -> None:
    from torch import nn

    from qrt import ResolveError
    from qrt.api import resolve

    class Linear(nn.Module):  # a second class named Linear
        def __init__(self) -> None:
            super().__init__()
            self.inner = nn.Linear(2, 2)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.inner(x)

    inv = inspect_model(Linear(), torch.randn(1, 2))
    rules = RuleSet.of([Rule(Selector(module_type="Linear"), Off())])
    with pytest.raises(ResolveError, match="ambiguous in this model"):
        resolve(rules, inv)
    exact = RuleSet.of([Rule(Selector(module_type="torch.nn.modules.linear.Linear"), Off())])
    assert len(resolve(exact, inv)) == len(inv.sites)
