"""Every mistake in a rule file is a located :class:`~qrt.errors.QrtError`: ``file:line:col``,
the offending line with a caret under the column, what was expected or valid, and the closest
valid word where one is close. One test per kind of mistake."""

from __future__ import annotations

from pathlib import Path

import pytest

from qrt.errors import IncludeError, QrtError, RuleSyntaxError, SpecError
from qrt.frontends.dsl import load_rules, parse_rules
from qrt.ir.patterns import PatternError


def fail(text: str, cls: type[QrtError], *, file: str = "rules.qrt", base_dir: Path | None = None) -> QrtError:
    with pytest.raises(cls) as info:
        parse_rules(text, file=file, base_dir=base_dir or Path("."))
    err = info.value
    assert isinstance(err, QrtError) and err.code.startswith("QRT")
    return err


def assert_caret(err: QrtError, line_text: str, column: int) -> None:
    """The message shows ``line_text`` with a caret under ``column`` (1-based)."""
    lines = str(err).splitlines()
    index = lines.index("    " + line_text)
    assert lines[index + 1] == "    " + " " * (column - 1) + "^", str(err)


def test_misspelled_predicate_keyword() -> None:
    err = fail("* -> off\nmodul /x/ -> off\n", RuleSyntaxError)
    assert err.location == "rules.qrt:2:1"
    assert str(err).startswith("rules.qrt:2:1: unexpected word 'modul'")
    assert_caret(err, "modul /x/ -> off", 1)
    assert "expected one of: '*', 'bias', 'expert', 'in', 'include', 'input'" in str(err)
    assert "did you mean 'module'?" in str(err)
    assert "__ANON" not in str(err) and "WORD" not in str(err)


def test_misspelled_role() -> None:
    err = fail("op linear inptu[0] -> off", RuleSyntaxError)
    assert err.location == "rules.qrt:1:11"
    assert_caret(err, "op linear inptu[0] -> off", 11)
    assert "did you mean 'input'?" in str(err)
    assert "'module_input'" in str(err)  # the expected list names the roles


def test_missing_arrow() -> None:
    err = fail("module /x/ off", RuleSyntaxError)
    assert err.location == "rules.qrt:1:12"
    assert_caret(err, "module /x/ off", 12)
    assert "'->'" in str(err)
    assert "`<selector> -> <effect> [priority (...)]`" in str(err)


def test_star_beside_other_predicates_adds_nothing() -> None:
    # the issue's own illustration writes `in name /R/ * -> off`: `*` accepts every site
    from qrt.frontends.dsl import parse_rules

    assert parse_rules("in name /m/ * -> off") == parse_rules("in name /m/ -> off")


def test_unterminated_regex_and_string() -> None:
    err = fail("module /x -> off", RuleSyntaxError)
    assert err.location == "rules.qrt:1:8"
    assert "unterminated regex" in str(err) and "a /regex/" in str(err)
    err = fail('quantizer "abc -> off', RuleSyntaxError)
    assert err.location == "rules.qrt:1:11" and "unterminated string" in str(err)


def test_missing_effect() -> None:
    err = fail("weight ->\n", RuleSyntaxError)
    assert err.location == "rules.qrt:1:10"
    assert "unexpected end of line" in str(err)
    assert "'off'" in str(err) and "'patch'" in str(err) and 'a "string"' in str(err)


def test_bad_regex_is_reported_at_the_regex() -> None:
    err = fail("op linear module /model.(layers/ -> off", PatternError)
    assert err.location == "rules.qrt:1:18"
    assert_caret(err, "op linear module /model.(layers/ -> off", 18)
    assert "missing )" in str(err)
    err = fail("module /(a)\\1/ -> off", PatternError)
    assert "backreference is not supported" in str(err)


def test_misspelled_dtype() -> None:
    err = fail("weight -> int9 per_channel", SpecError)
    assert err.location == "rules.qrt:1:11"
    assert_caret(err, "weight -> int9 per_channel", 11)
    assert "did you mean 'int8'" in str(err)
    assert "float8_e4m3fn" in str(err)  # the dtypes are listed


def test_undefined_spec_name() -> None:
    err = fail("spec act8 = int8\nspec w4 = int4 per_block(32)\ninput -> act9\n", SpecError)
    assert err.location == "rules.qrt:3:10"
    assert "'act9' is neither a spec defined above nor a dtype" in str(err)
    assert "did you mean 'act8'?" in str(err)
    assert "defined specs: act8, w4" in str(err)
    err = fail('input -> "act8"', SpecError)
    assert "no spec named 'act8'" in str(err)


def test_a_spec_is_not_usable_before_its_definition() -> None:
    err = fail("input -> act8\nspec act8 = int8\n", SpecError)
    assert err.location == "rules.qrt:1:10"


def test_unknown_spec_field() -> None:
    err = fail("spec w = int4 per_block(32) foo=1", SpecError)
    assert err.location == "rules.qrt:1:29"
    assert_caret(err, "spec w = int4 per_block(32) foo=1", 29)
    assert "unknown spec field 'foo'" in str(err)
    assert (
        "valid fields: dtype, qscheme, granularity, scale_dtype, qparam_calculator, "
        "range_calculator, fake_quantize"
    ) in str(err)
    err = fail("* -> patch scale_dtyp=float16", SpecError)
    assert err.location == "rules.qrt:1:12" and "did you mean 'scale_dtype'?" in str(err)


def test_bad_field_value() -> None:
    err = fail("* -> int8 qparam_calculator=moving_avg", SpecError)
    assert err.location == "rules.qrt:1:29"
    assert "unknown qparam_calculator 'moving_avg'" in str(err)
    assert "did you mean 'moving_average'?" in str(err)
    assert "default" in str(err)


def test_bad_granularity() -> None:
    err = fail("* -> int8 per_chanel", SpecError)
    assert err.location == "rules.qrt:1:11" and "did you mean 'per_channel'?" in str(err)
    err = fail("* -> int4 per_block", SpecError)
    assert "per_block needs a block size" in str(err)
    err = fail("* -> int4 per_block(32, axsi=1)", SpecError)
    assert err.location == "rules.qrt:1:25" and "did you mean 'axis'?" in str(err)
    err = fail("* -> int4 per_block(0)", SpecError)
    assert "block_size must be a positive integer" in str(err)


def test_invalid_spec_combination() -> None:
    err = fail("spec f = float8_e4m3fn asymmetric", SpecError)
    assert err.location == "rules.qrt:1:10"  # the body: no one item is wrong on its own
    assert "no zero point" in str(err)


def test_spec_redefinition_points_at_both_lines() -> None:
    err = fail("spec w = int8\n\nspec w = int4\n", SpecError)
    assert err.location == "rules.qrt:3:6"
    assert_caret(err, "spec w = int4", 6)
    assert "first defined at rules.qrt:1:6" in str(err)
    assert "      spec w = int8" in str(err).splitlines()  # the first line, in the hint


def test_spec_named_like_a_keyword() -> None:
    err = fail("spec int8 = int4", RuleSyntaxError)
    assert err.location == "rules.qrt:1:6" and 'spec "int8"' in str(err)


def test_predicate_given_twice() -> None:
    err = fail("module /a/ weight module /b/ -> off", RuleSyntaxError)
    assert err.location == "rules.qrt:1:26"
    assert "module is given twice" in str(err) and "rules.qrt:1:8" in str(err)
    err = fail("weight state -> off", RuleSyntaxError)
    assert "role" in str(err)


@pytest.mark.parametrize(
    ("text", "location", "message"),
    [
        ("* -> off priority (1, x)", "rules.qrt:1:23", "priority values must be integers, got 'x'"),
        ("* -> off priority ()", "rules.qrt:1:10", "priority needs at least one integer"),
        ("* -> off priority 1, 2", "rules.qrt:1:20", "unexpected ','"),
        ("* -> off priority", "rules.qrt:1:18", "unexpected end of line"),
    ],
)
def test_priority_of_the_wrong_shape(text: str, location: str, message: str) -> None:
    err = fail(text, RuleSyntaxError)
    assert err.location == location
    assert message in str(err)
    assert "`priority 2` or `priority (1, 0)`" in str(err)


def test_bad_string_escape() -> None:
    err = fail('quantizer "a\\qb" -> off', RuleSyntaxError)
    assert err.location == "rules.qrt:1:11" and "invalid escape" in str(err)


def test_scope_depth_must_not_be_negative() -> None:
    err = fail("in type Foo at -1 -> off", PatternError)
    assert err.location == "rules.qrt:1:16"


# ---------------------------------------------------------------------------------------------
# Includes


def test_missing_include(tmp_path: Path) -> None:
    main = tmp_path / "main.qrt"
    main.write_text('* -> off\ninclude "nope/missing.qrt"\n')
    with pytest.raises(IncludeError) as info:
        load_rules(main)
    err = info.value
    assert err.location == f"{main}:2:9"
    assert_caret(err, 'include "nope/missing.qrt"', 9)
    assert f"tried {tmp_path / 'nope' / 'missing.qrt'}" in str(err)


def test_unknown_preset() -> None:
    err = fail("include preset w8a9", IncludeError)
    assert err.location == "rules.qrt:1:16"
    assert "no shipped preset named 'w8a9'" in str(err)
    assert "did you mean 'w8a8'?" in str(err)
    assert "shipped presets: kv_fp8, w4a16, w8a8" in str(err)


def test_include_cycle(tmp_path: Path) -> None:
    (tmp_path / "a.qrt").write_text('* -> off\ninclude "b.qrt"\n')
    (tmp_path / "b.qrt").write_text('include "a.qrt"\n')
    with pytest.raises(IncludeError) as info:
        load_rules(tmp_path / "a.qrt")
    err = info.value
    a, b = tmp_path / "a.qrt", tmp_path / "b.qrt"
    assert err.location == f"{b}:1:1"
    assert f"include cycle: {a} -> {b} -> {a}" in str(err)
    assert f"included from {a}:2:1" in str(err)


def test_a_file_including_itself(tmp_path: Path) -> None:
    me = tmp_path / "self.qrt"
    me.write_text('include "self.qrt"\n')
    with pytest.raises(IncludeError, match=f"include cycle: {me} -> {me}"):
        load_rules(me)


def test_errors_inside_an_included_file_name_that_file(tmp_path: Path) -> None:
    (tmp_path / "inner.qrt").write_text("\nweight -> int9\n")
    (tmp_path / "main.qrt").write_text('include "inner.qrt"\n')
    with pytest.raises(SpecError) as info:
        load_rules(tmp_path / "main.qrt")
    assert info.value.location == f"{tmp_path / 'inner.qrt'}:2:11"
    assert f"included from {tmp_path / 'main.qrt'}:1:1" in str(info.value)


def test_missing_rule_file(tmp_path: Path) -> None:
    with pytest.raises(IncludeError, match="not found"):
        load_rules(tmp_path / "none.qrt")


def test_unknown_bare_op_type_is_a_likely_typo() -> None:
    err = fail("op linera weight -> int8", RuleSyntaxError)
    assert err.location == "rules.qrt:1:4"
    assert "did you mean 'linear'" in str(err)
    from qrt.frontends.dsl import parse_rules

    # quoted: an op type the user registers themselves
    assert parse_rules('op "my_op" -> off').rules[0].selector.op_type == "my_op"
