"""The selector DSL read into IR: every statement, predicate and effect; includes and presets;
origins; the printer's canonical spellings. Errors live in ``test_dsl_errors.py``."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from qrt.errors import RuleSyntaxError, SpecError
from qrt.frontends.dsl import available_presets, load_rules, parse_rules, print_rules
from qrt.ir.effect import Off, Patch, Set
from qrt.ir.origin import Origin
from qrt.ir.rule import Rule, RuleSet
from qrt.ir.selector import ScopeMatch, Selector
from qrt.ir.spec import PerBlock, PerChannel, QuantizationSpec
from qrt.resources import data_dir
from tests.conftest import ROOT


def one(text: str) -> Rule:
    rules = parse_rules(text)
    assert len(rules) == 1, rules
    return rules.rules[0]


def sel(text: str) -> Selector:
    return one(f"{text} -> off").selector


# ---------------------------------------------------------------------------------------------
# Selectors


def test_star_matches_everything() -> None:
    assert sel("*") == Selector()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("module /model\\.layers\\.\\d+/", Selector(module_name=r"model\.layers\.\d+")),
        ("type torch.nn.Linear", Selector(module_type="torch.nn.Linear")),
        ("parent nn.Linear", Selector(parent_class="nn.Linear")),
        ('type "pkg.f.<locals>.Net"', Selector(module_type="pkg.f.<locals>.Net")),
        ("op linear", Selector(op_type="linear")),
        ("op concat", Selector(op_type="cat")),
        ("op __add__", Selector(op_type="add")),
        ("opname /.*softmax/", Selector(op_name=".*softmax")),
        ("opname relative /self_attn\\.softmax/", Selector(op_name=r"self_attn\.softmax", op_name_relative=True)),
        ("input", Selector(role="input")),
        ("input[0]", Selector(role="input", key=0)),
        ("output[-1]", Selector(role="output", key=-1)),
        ("module_input[x]", Selector(role="module_input", key="x")),
        ('module_input["my arg"]', Selector(role="module_input", key="my arg")),
        ('input["0"]', Selector(role="input", key="0")),
        ("module_state[out_proj.weight]", Selector(role="module_state", key="out_proj.weight")),
        ("module_output[*]", Selector(role="module_output", key="*")),
        ("state[off]", Selector(role="state", key="off")),
        ("weight", Selector(role="state", key="weight")),
        ("bias", Selector(role="state", key="bias")),
        ("state[weight]", Selector(role="state", key="weight")),
        ("key 1", Selector(key=1)),
        ("input key 1", Selector(role="input", key=1)),
        ('quantizer "*[kv]_bmm_quantizer"', Selector(quantizer_path="*[kv]_bmm_quantizer")),
        ("in name /model\\.layers\\.0/", Selector(scope=ScopeMatch(name=r"model\.layers\.0"))),
        ("in type LlamaDecoderLayer", Selector(scope=ScopeMatch(type="LlamaDecoderLayer"))),
        ("in name /m.*/ type pkg.Block", Selector(scope=ScopeMatch(name="m.*", type="pkg.Block"))),
        ("in name /m/ at 2", Selector(scope=ScopeMatch(name="m", depth=2))),
        ("in type Foo at 0", Selector(scope=ScopeMatch(type="Foo", depth=0))),
        ("in name /m/ type T at 1", Selector(scope=ScopeMatch(name="m", type="T", depth=1))),
        # `type` after `at` is a predicate of its own, not part of the scope
        ("in name /m/ at 1 type T", Selector(scope=ScopeMatch(name="m", depth=1), module_type="T")),
    ],
)
def test_each_predicate(text: str, expected: Selector) -> None:
    assert sel(text) == expected


def test_predicates_conjoin_in_any_order() -> None:
    a = sel('quantizer "*" weight op linear module /x/ in type Blk parent nn.Linear type T')
    b = sel('type T parent nn.Linear module /x/ in type Blk op linear weight quantizer "*"')
    assert a == b == Selector(
        module_name="x", module_type="T", parent_class="nn.Linear", scope=ScopeMatch(type="Blk"),
        op_type="linear", role="state", key="weight", quantizer_path="*",
    )


def test_regex_literal_escapes_only_the_slash() -> None:
    assert sel(r"module /a\/b\.c/").module_name == r"a/b\.c"
    assert sel(r"module /a\\b/").module_name == r"a\\b"
    assert sel("module /a#b/").module_name == "a#b"  # `#` inside a regex is no comment
    assert sel("module //").module_name == ""
    # the string form says what /.../ cannot: the escape pair \/ itself, or a newline
    assert sel(r'module "a\\/b"').module_name == "a\\/b"
    assert sel(r'module "a\nb"').module_name == "a\nb"


def test_strings_use_json_escapes() -> None:
    assert sel(r'quantizer "a\"b\\c\u00e9"').quantizer_path == 'a"b\\cé'


def test_keywords_are_names_where_no_keyword_fits() -> None:
    assert sel('op "input"').op_type == "input"
    assert sel("type module").module_type == "module"
    assert sel("in type at at 0").scope == ScopeMatch(type="at", depth=0)


# ---------------------------------------------------------------------------------------------
# Effects and specs


def test_off_enable_disable() -> None:
    assert one("* -> off").effect == Off()
    assert one("* -> enable").effect == Patch(enable=True)
    assert one("* -> disable").effect == Patch(enable=False)
    assert one("* -> patch enable").effect == Patch(enable=True)


def test_patch_fields() -> None:
    effect = one(
        "* -> patch disable dtype=int4 qscheme=asymmetric granularity=per_block(32, axis=1) "
        "scale_dtype=default qparam_calculator=minmax range_calculator=mse fake_quantize=lsq"
    ).effect
    assert effect == Patch(
        enable=False,
        fields={
            "dtype": "int4",
            "qscheme": "asymmetric",
            "granularity": {"type": "per_block", "axis": 1, "block_size": 32},
            "scale_dtype": None,
            "qparam_calculator": "minmax",
            "range_calculator": "mse",
            "fake_quantize": "lsq",
        },
    )
    assert one("* -> patch granularity=per_channel").effect == Patch(
        fields={"granularity": {"type": "per_channel"}}
    )
    # the patch values merge into a spec as they are
    merged = QuantizationSpec(dtype="int8").merged(effect.fields)  # type: ignore[union-attr]
    assert merged.granularity == PerBlock(block_size=32, axis=1)


def test_inline_specs_keep_exactly_the_written_fields() -> None:
    effect = one("* -> int4 per_block(32)").effect
    assert isinstance(effect, Set) and effect.enable and effect.spec_name is None
    assert effect.spec == QuantizationSpec(dtype="int4", granularity=PerBlock(block_size=32))
    assert effect.spec.explicit_fields() == {"dtype", "granularity"}

    bare = one("* -> float8_e4m3fn").effect
    assert isinstance(bare, Set) and bare.spec.explicit_fields() == {"dtype"}

    full = one(
        "* -> uint8 asymmetric per_channel(axis=0) scale_dtype=float16 "
        "qparam_calculator=static range_calculator=percentile fake_quantize=ste"
    ).effect
    assert isinstance(full, Set)
    assert full.spec.to_json() == {
        "dtype": "uint8", "qscheme": "asymmetric", "granularity": {"type": "per_channel", "axis": 0},
        "scale_dtype": "float16", "qparam_calculator": "static",
        "range_calculator": "percentile", "fake_quantize": "ste",
    }
    assert full.spec.explicit_fields() == set(full.spec.to_json())

    disabled = one("* -> int8 disabled").effect
    assert isinstance(disabled, Set) and not disabled.enable


def test_a_body_without_a_dtype_leaves_the_dtype_a_default() -> None:
    effect = one("* -> per_channel scale_dtype=float16").effect
    assert isinstance(effect, Set)
    assert effect.spec.explicit_fields() == {"granularity", "scale_dtype"}
    assert effect.spec.dtype == "int8"


def test_named_specs() -> None:
    rules = parse_rules(
        "spec act8 = int8 per_tensor qparam_calculator=moving_average\n"
        "spec w4   = int4 per_block(32) scale_dtype=float8_e4m3fn\n"
        "spec w4x  = int4 asymmetric per_block(32, axis=1)\n"
        "spec wc   = uint8 per_channel(axis=0) range_calculator=mse fake_quantize=lsq\n"
        'spec "int8" = int4 per_block(64)\n'
        "input -> act8\n"
        "weight -> w4 disabled\n"
        'bias -> "int8"\n'
        "state -> wc priority 3\n"
    )
    act8 = QuantizationSpec(dtype="int8", granularity="per_tensor", qparam_calculator="moving_average")
    w4 = QuantizationSpec(dtype="int4", granularity=PerBlock(block_size=32), scale_dtype="float8_e4m3fn")
    assert [r.effect for r in rules] == [
        Set(act8, spec_name="act8"),
        Set(w4, enable=False, spec_name="w4"),
        Set(QuantizationSpec(dtype="int4", granularity=PerBlock(block_size=64)), spec_name="int8"),
        Set(QuantizationSpec(dtype="uint8", granularity=PerChannel(axis=0), range_calculator="mse",
                             fake_quantize="lsq"), spec_name="wc"),
    ]
    assert rules.rules[1].effect.spec.explicit_fields() == {"dtype", "granularity", "scale_dtype"}  # type: ignore[union-attr]


# ---------------------------------------------------------------------------------------------
# Priority, order, origins, comments


def test_priority_forms() -> None:
    assert one("* -> off").priority == (0,)
    assert one("* -> off priority 2").priority == (2,)
    assert one("* -> off priority (1, 0)").priority == (1, 0)
    assert one("* -> off priority (1, -2, 3,)").priority == (1, -2, 3)
    assert one("* -> off priority (7)").priority == (7,)


def test_comments_blank_lines_and_origins() -> None:
    text = (
        "# a header comment\n"
        "\n"
        "   module /a#b/ -> off   # trailing comment\n"
        "\t\n"
        "spec s = int8 # comment after a spec\n"
        "  weight -> s\n"
    )
    rules = parse_rules(text, file="r.qrt")
    assert [r.order for r in rules] == [0, 1]
    assert [r.origin for r in rules] == [Origin("r.qrt", 3, 4), Origin("r.qrt", 6, 3)]
    assert parse_rules("") == RuleSet() == parse_rules("# nothing\n\n")
    assert len(parse_rules("* -> off")) == 1  # no newline at the end is fine
    assert len(parse_rules("* -> off\r\n* -> enable\r\n")) == 2


# ---------------------------------------------------------------------------------------------
# Includes and presets


def test_include_relative_to_the_including_file(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "inner.qrt").write_text("spec w4 = int4 per_block(32)\nweight -> w4\n")
    (tmp_path / "sub" / "mid.qrt").write_text('input -> off\ninclude "inner.qrt"\n')
    main = tmp_path / "main.qrt"
    main.write_text('* -> enable\ninclude "sub/mid.qrt"\nbias -> w4 priority 1\n')
    rules = load_rules(main)
    assert [r.order for r in rules] == [0, 1, 2, 3]
    assert [r.effect for r in rules][:3] == [
        Patch(enable=True),
        Off(),
        Set(QuantizationSpec(dtype="int4", granularity=PerBlock(block_size=32)), spec_name="w4"),
    ]
    # the spec from the included file is usable after the include
    assert rules.rules[3].effect == rules.rules[2].effect
    files = [Path(r.origin.file or "").name for r in rules]
    assert files == ["main.qrt", "mid.qrt", "inner.qrt", "main.qrt"]
    assert (rules.rules[2].origin.line, rules.rules[2].origin.column) == (2, 1)


def test_parse_rules_takes_a_base_dir(tmp_path: Path) -> None:
    (tmp_path / "x.qrt").write_text("* -> off\n")
    assert parse_rules('include "x.qrt"', base_dir=tmp_path) == RuleSet.of([Rule(Selector(), Off())])


def test_the_same_file_included_twice_is_no_redefinition(tmp_path: Path) -> None:
    (tmp_path / "common.qrt").write_text("spec a8 = int8\ninput -> a8\n")
    rules = parse_rules('include "common.qrt"\ninclude "common.qrt"\n', base_dir=tmp_path)
    assert len(rules) == 2
    assert rules.rules[0].effect == rules.rules[1].effect
    assert rules.rules[0].selector == rules.rules[1].selector


def test_presets_are_shipped_and_parse() -> None:
    assert set(available_presets()) >= {"w8a8", "w4a16", "kv_fp8"}
    for name in ("w8a8", "w4a16", "kv_fp8"):
        assert (data_dir("rules") / f"{name}.qrt").is_file()
        rules = parse_rules(f"include preset {name}")
        assert len(rules) > 0
        assert all(r.origin.file and r.origin.file.endswith(f"{name}.qrt") for r in rules)
        assert parse_rules(print_rules(rules)) == rules


def test_preset_contents() -> None:
    w8a8 = parse_rules("include preset w8a8")
    by_selector = {r.selector: r.effect for r in w8a8}
    weight = by_selector[Selector(op_type="linear", role="state", key="weight")]
    assert isinstance(weight, Set) and weight.spec.dtype == "int8"
    assert weight.spec.granularity.type == "per_channel"
    assert by_selector[Selector(op_type="conv2d", role="state", key="weight")] == weight
    act = by_selector[Selector(op_type="linear", role="input", key=0)]
    assert isinstance(act, Set) and act.spec.granularity.type == "per_tensor"

    w4a16 = parse_rules("include preset w4a16")
    weight = next(r.effect for r in w4a16 if r.selector.key == "weight")
    assert isinstance(weight, Set) and weight.spec.granularity == PerBlock(block_size=32)
    assert {r.selector.role for r in w4a16 if r.effect == Off()} == {"input", "output", None}
    # fused MoE experts' matrices take the weight spec; the routers stay float
    experts = next(r.effect for r in w4a16 if r.selector == Selector(op_type="grouped_mm", role="state"))
    assert experts == next(r.effect for r in w4a16 if r.selector.key == "weight")
    assert Selector(module_name=r"(.*\.)?(gate|router|shared_expert_gate)", op_type="linear") in {
        r.selector for r in w4a16 if r.effect == Off()}

    (kv,) = parse_rules("include preset kv_fp8")
    assert kv.selector == Selector(quantizer_path="*[kv]_bmm_quantizer")
    assert isinstance(kv.effect, Set) and kv.effect.spec.dtype == "float8_e4m3fn"


def test_presets_combine_and_later_rules_win() -> None:
    rules = parse_rules("include preset w8a8\ninclude preset w4a16\ninclude preset kv_fp8\n")
    assert [r.order for r in rules] == list(range(len(rules)))
    names = {r.effect.spec_name for r in rules if isinstance(r.effect, Set)}
    assert names == {"w8a8_weight", "w8a8_act", "w4a16_weight", "kv_fp8"}


def test_grammar_is_a_shipped_file() -> None:
    grammar = data_dir("grammar") / "qrt.lark"
    assert grammar.is_file()
    assert "spec_def" in grammar.read_text(encoding="utf-8")


# ---------------------------------------------------------------------------------------------
# Printer


def test_printer_canonical_text() -> None:
    text = (
        "spec w4 = int4 per_block(32)\n"
        'weight quantizer "a\\"b" module /x\\/y/ op concat priority 1 -> w4 disabled priority (2, 1)\n'
    )
    with pytest.raises(RuleSyntaxError):
        parse_rules(text)  # `priority` belongs after the effect
    rules = parse_rules(
        "spec w4 = int4 per_block(32)\n"
        'weight quantizer "a\\"b" module /x\\/y/ op concat -> w4 disabled priority (2, 1)\n'
        "in name /m/ type T at 1 input[0] -> patch enable dtype=int4\n"
        "* -> disable\n"
    )
    assert print_rules(rules) == (
        "spec w4 = int4 per_block(32)\n"
        "\n"
        'module /x\\/y/ op cat weight quantizer "a\\"b" -> w4 disabled priority (2, 1)\n'
        "in name /m/ type T at 1 input[0] -> patch enable dtype=int4\n"
        "* -> disable\n"
    )


def test_printer_quotes_what_a_word_cannot_say() -> None:
    rules = RuleSet.of(
        [
            Rule(Selector(module_type="a.<locals>.B", role="module_input", key="x y"), Off()),
            Rule(Selector(module_name="a\\/b", op_name="x\ny"), Off()),
            Rule(Selector(), Set(QuantizationSpec(dtype="int4"), spec_name="off")),
            Rule(Selector(), Set(QuantizationSpec(), spec_name="my spec")),
        ]
    )
    text = print_rules(rules)
    assert 'type "a.<locals>.B"' in text and 'module_input["x y"]' in text
    assert 'module "a\\\\/b"' in text and 'opname "x\\ny"' in text
    assert 'spec "off" = int4' in text and '-> "my spec"' in text
    assert parse_rules(text) == rules


def test_printer_rejects_two_specs_under_one_name() -> None:
    rules = RuleSet.of(
        [
            Rule(Selector(), Set(QuantizationSpec(dtype="int8"), spec_name="s")),
            Rule(Selector(), Set(QuantizationSpec(dtype="int4"), spec_name="s")),
        ]
    )
    with pytest.raises(SpecError, match="'s' names two different specs"):
        print_rules(rules)


def test_printer_rejects_patch_values_it_cannot_write() -> None:
    with pytest.raises(SpecError, match="not a spec field"):
        print_rules(RuleSet.of([Rule(Selector(), Patch(fields={"bits": 4}))]))
    with pytest.raises(SpecError, match="cannot print dtype"):
        print_rules(RuleSet.of([Rule(Selector(), Patch(fields={"dtype": 4}))]))


def test_importing_the_dsl_does_not_import_torch() -> None:
    code = (
        "import sys\n"
        "from qrt.frontends.dsl import parse_rules, print_rules\n"
        "print_rules(parse_rules('include preset w8a8'))\n"
        "assert 'torch' not in sys.modules\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stderr


def test_tensor_predicate() -> None:
    from qrt.frontends.dsl import parse_rules, print_rules
    from qrt.ir.selector import Selector

    rules = parse_rules('tensor "param:lm_head.weight" -> off')
    assert rules.rules[0].selector == Selector(tensor="param:lm_head.weight")
    assert parse_rules(print_rules(rules)) == rules
