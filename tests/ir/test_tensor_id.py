"""Tensor identities: the text written in inventories, plans and caches reads back to the same
parts, and the questions the rest of qrt asks of it (``param_name``, ``producer_op``) agree
with the parse."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from qrt.ir.tensor_id import TensorId, const, model_input, op_output, param, param_name, producer_op

names = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,6}(\.[A-Za-z0-9_]{1,6}){0,4}", fullmatch=True)
keys = st.one_of(st.integers(0, 9), st.from_regex(r"[a-z_]{1,8}", fullmatch=True))


@given(names, st.one_of(st.none(), st.integers(0, 300)))
def test_a_parameter_reads_back(fqn: str, expert: int | None) -> None:
    text = param(fqn, expert)
    parsed = TensorId.parse(text)
    assert (parsed.kind, parsed.name, parsed.expert) == ("param", fqn, expert)
    assert str(parsed) == text
    assert param_name(text) == (fqn if expert is None else f"{fqn}[{expert}]")
    assert producer_op(text) is None


@given(names, keys)
def test_an_op_result_reads_back(op: str, key: int | str) -> None:
    text = op_output(op, key)
    parsed = TensorId.parse(text)
    assert (parsed.kind, parsed.name, parsed.key) == ("op", op, str(key))
    assert str(parsed) == text and producer_op(text) == op and param_name(text) is None


def test_inputs_and_constants() -> None:
    assert TensorId.parse(model_input("input_ids")) == TensorId("input", "input_ids")
    assert TensorId.parse(const(3)) == TensorId("const", "3")
    assert producer_op(model_input(0)) is None and param_name(const(0)) is None


@pytest.mark.parametrize("text", ["", "param:", "weight", "op:x", "tensor:x", "op::0"])
def test_text_that_is_no_identity_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="not a tensor identity"):
        TensorId.parse(text)
