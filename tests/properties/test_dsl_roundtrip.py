"""docs/semantics.md §5 property 6 for the DSL: rules → text → rules is the identity, and the text is
canonical (printing what was parsed gives the same text back).

Three sources of rule sets: the shared ``rule_sets()`` as they are (inline specs), the same
with spec names attached (named specs), and rule sets drawn from the corners of the IR the
shared strategy does not reach: regexes with slashes, ``\\/`` pairs, quotes and line breaks,
keys and type names that are not words, keyword-like names, specs with any subset of fields
explicit, patches of every field, negative and long priorities.
"""

from __future__ import annotations

import re
from typing import Any

from hypothesis import assume, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from qrt.frontends.dsl import parse_rules, print_rules
from qrt.ir.effect import Effect, Off, Patch, Set
from qrt.ir.rule import Rule, RuleSet
from qrt.ir.selector import ScopeMatch, Selector
from qrt.ir.site import ROLES
from qrt.ir.spec import (
    FAKE_QUANTIZERS,
    QPARAM_CALCULATORS,
    QSCHEMES,
    QUANT_DTYPES,
    RANGE_CALCULATORS,
    SCALE_DTYPES,
    QuantizationSpec,
)
from qrt.ops.registry import default_registry
from tests.strategies import rule_sets

# ---------------------------------------------------------------------------------------------
# Strategies


def _named(rules: RuleSet, names: list[str | None]) -> RuleSet:
    """``rules`` with spec names on its Set effects; one name never stands for two specs."""
    bound: dict[str, QuantizationSpec] = {}
    out: list[Rule] = []
    for i, rule in enumerate(rules):
        effect = rule.effect
        name = names[i % len(names)] if names else None
        if isinstance(effect, Set) and name is not None:
            spec = bound.setdefault(name, effect.spec)
            effect = Set(spec, enable=effect.enable, spec_name=name)
        out.append(Rule(rule.selector, effect, rule.priority))
    return RuleSet.of(out)


SPEC_NAMES = st.sampled_from(
    ["w4", "act8", "kv", "off", "int8", "per_block", "default", "patch", "my spec", 'q"t', "a.b", "é"]
)

named_rule_sets = st.builds(_named, rule_sets(), st.lists(st.none() | SPEC_NAMES, min_size=1, max_size=4))

ODD = st.text(alphabet=list('ab/\\"#*. \n\t[]é-_0'), max_size=8)
REGEXES = st.one_of(
    st.sampled_from(
        ["", "a/b", r"a\/b", r"a\\/b", r"a\\", "a#b", 'a"b', "x\ny", r"[/]", r"\d+\.\w", "(a|b)/c"]
    ),
    ODD.map(re.escape),
)
NAMES = st.one_of(
    st.sampled_from(["Linear", "nn.Linear", "torch.nn.modules.linear.Linear", "at", "type", "in"]),
    ODD,
)
KEYS = st.one_of(
    st.integers(-3, 3), st.sampled_from(["*", "weight", "bias", "x", "off", "input", "a.b", "0"]), ODD
)
OP_TYPES = st.one_of(
    st.sampled_from(["linear", "cat", "add", "input", "type", "my_op"]),
    ODD.filter(lambda t: default_registry.canonical(t) == t),
)


@st.composite
def odd_selectors(draw: st.DrawFn) -> Selector:
    def maybe(strategy: st.SearchStrategy[Any]) -> Any:
        return draw(strategy) if draw(st.booleans()) else None

    scope = maybe(
        st.builds(ScopeMatch, name=REGEXES, type=st.none() | NAMES, depth=st.none() | st.integers(0, 3))
        | st.builds(ScopeMatch, type=NAMES, depth=st.none() | st.integers(0, 3))
    )
    op_name = maybe(REGEXES)
    return Selector(
        module_name=maybe(REGEXES),
        module_type=maybe(NAMES),
        scope=scope,
        op_type=maybe(OP_TYPES),
        op_name=op_name,
        op_name_relative=draw(st.booleans()) if op_name is not None else False,
        role=maybe(st.sampled_from(ROLES)),
        key=maybe(KEYS),
        quantizer_path=maybe(ODD),
        parent_class=maybe(NAMES),
    )


GRANULARITIES = st.one_of(
    st.just({"type": "per_tensor"}),
    st.builds(lambda a: {"type": "per_channel", **({"axis": a} if a is not None else {})},
              st.none() | st.integers(-2, 3)),
    st.builds(
        lambda b, a: {"type": "per_block", **({"axis": a} if a is not None else {}), "block_size": b},
        st.integers(1, 128),
        st.none() | st.integers(-2, 3),
    ),
)
FIELD_VALUES: dict[str, st.SearchStrategy[Any]] = {
    "dtype": st.sampled_from(QUANT_DTYPES),
    "qscheme": st.sampled_from(QSCHEMES),
    "granularity": GRANULARITIES,
    "scale_dtype": st.none() | st.sampled_from(SCALE_DTYPES),
    "qparam_calculator": st.none() | st.sampled_from(QPARAM_CALCULATORS),
    "range_calculator": st.none() | st.sampled_from(RANGE_CALCULATORS),
    "fake_quantize": st.none() | st.sampled_from(FAKE_QUANTIZERS),
}


@st.composite
def field_dicts(draw: st.DrawFn, min_size: int = 0) -> dict[str, Any]:
    names = draw(st.lists(st.sampled_from(list(FIELD_VALUES)), unique=True, min_size=min_size))
    return {name: draw(FIELD_VALUES[name]) for name in names}


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**40), 2**40) | st.text(alphabet='ab"\\ _-9é', max_size=6)
    | st.sampled_from(["true", "null", "max", "x.y"]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(alphabet="ab-1", max_size=3), inner, max_size=3),
    max_leaves=6,
)
EXTRAS = st.dictionaries(st.sampled_from(["narrow_range", "calibrator", "block_sizes", "x", "_y2"]), JSON_VALUES, max_size=3)


def _spec(data: dict[str, Any]) -> QuantizationSpec:
    try:
        return QuantizationSpec.model_validate(data)
    except ValidationError:
        assume(False)
        raise  # pragma: no cover


@st.composite
def specs(draw: st.DrawFn, stages: bool = True) -> QuantizationSpec:
    """Specs with any subset of fields explicit, sometimes extras and further stages."""
    data = draw(field_dicts())
    if draw(st.integers(0, 3)) == 0:
        data["extras"] = draw(EXTRAS)
    if stages and draw(st.integers(0, 3)) == 0:
        data["then"] = draw(st.lists(specs(stages=False), min_size=1, max_size=3))
    return _spec(data)


@st.composite
def odd_effects(draw: st.DrawFn) -> Effect:
    kind = draw(st.sampled_from(["set", "off", "patch"]))
    if kind == "off":
        return Off()
    if kind == "set":
        return Set(draw(specs()), enable=draw(st.booleans()), spec_name=draw(st.none() | SPEC_NAMES))
    enable = draw(st.none() | st.booleans())
    fields = draw(field_dicts(min_size=1 if enable is None else 0))
    return Patch(enable=enable, fields=fields)


@st.composite
def odd_rule_sets(draw: st.DrawFn) -> RuleSet:
    rules = draw(
        st.lists(
            st.builds(
                Rule,
                selector=odd_selectors(),
                effect=odd_effects(),
                priority=st.lists(st.integers(-5, 5), min_size=1, max_size=4).map(tuple),
            ),
            max_size=8,
        )
    )
    return RuleSet.of(rules)


@st.composite
def consistent_odd_rule_sets(draw: st.DrawFn) -> RuleSet:
    """``odd_rule_sets`` where a spec name stands for one spec (the printer's precondition)."""
    rules = draw(odd_rule_sets())
    bound: dict[str, QuantizationSpec] = {}
    out = []
    for rule in rules:
        effect = rule.effect
        if isinstance(effect, Set) and effect.spec_name is not None:
            spec = bound.setdefault(effect.spec_name, effect.spec)
            effect = Set(spec, enable=effect.enable, spec_name=effect.spec_name)
        out.append(Rule(rule.selector, effect, rule.priority))
    return RuleSet.of(out)


# ---------------------------------------------------------------------------------------------
# Properties


def check_round_trip(rules: RuleSet) -> None:
    text = print_rules(rules)
    again = parse_rules(text)
    assert again == rules, text
    assert print_rules(again) == text
    # explicit fields survive too (equality of specs looks at values only)
    first_named: dict[str, QuantizationSpec] = {}
    for before, after in zip(rules, again):
        assert after.origin.file == "<string>"
        if isinstance(before.effect, Set):
            assert isinstance(after.effect, Set)
            spec = before.effect.spec
            if before.effect.spec_name is not None:
                spec = first_named.setdefault(before.effect.spec_name, spec)
            written = spec.explicit_fields() - {"extras", "then"}
            got = after.effect.spec.explicit_fields() - {"extras", "then"}
            assert got == (written or {"dtype"}), text


@settings(max_examples=200)
@given(rule_sets())
def test_round_trip_inline_specs(rules: RuleSet) -> None:
    check_round_trip(rules)


@settings(max_examples=200)
@given(named_rule_sets)
def test_round_trip_named_specs(rules: RuleSet) -> None:
    check_round_trip(rules)


@settings(max_examples=3 * settings().max_examples)  # the corners get 3x the profile's examples (ci: 120)
@given(consistent_odd_rule_sets())
def test_round_trip_corners_of_the_ir(rules: RuleSet) -> None:
    check_round_trip(rules)


@given(consistent_odd_rule_sets())
def test_parsed_origins_point_at_the_printed_lines(rules: RuleSet) -> None:
    text = print_rules(rules)
    lines = text.split("\n")
    for rule in parse_rules(text):
        assert rule.origin.line is not None and rule.origin.column == 1
        assert " -> " in lines[rule.origin.line - 1]
