"""Canonical op names (no torch needed) and user-registered op types."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from qrt import OpRegistry, RegistryError, canonical_op_type, default_registry, inspect_model
from qrt.ops.registry import OpType, canonical_name


@pytest.mark.parametrize(
    ("raw", "canonical"),
    [
        ("add", "add"),
        ("__add__", "add"),
        ("__radd__", "add"),
        ("__iadd__", "add"),
        ("add_", "add"),
        ("add.Tensor", "add"),
        ("aten::add_.Tensor", "add"),
        ("__matmul__", "matmul"),
        ("__rtruediv__", "div"),
        ("__and__", "bitwise_and"),
        ("concat", "cat"),
        ("concatenate", "cat"),
        ("multiply", "mul"),
        ("_max_pool2d", "max_pool2d"),
        ("relu_", "relu"),
        ("__getitem__", "getitem"),
    ],
)
def test_canonical_names(raw: str, canonical: str) -> None:
    assert canonical_name(raw) == canonical


def test_canonical_op_type_of_real_callables() -> None:
    assert canonical_op_type(torch.ops.aten.add.Tensor) == "add"
    assert canonical_op_type(torch.Tensor.add_) == "add"
    assert canonical_op_type(torch.concat) == "cat"
    assert canonical_op_type(torch.nn.functional.max_pool2d) == "max_pool2d"


def test_registry_canonicalises_aliases() -> None:
    assert default_registry.canonical("concatenate") == "cat"
    assert "concat" in default_registry
    assert default_registry.get("multiply").name == "mul"


class Custom(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.tanh(x).cumsum(-1)


def test_user_registered_op_type_gets_sites() -> None:
    reg = default_registry.copy()
    before = inspect_model(Custom(), torch.randn(3), registry=reg)
    assert [s.op_name for s in before.sites if s.op_name] == ["tanh", "tanh"]
    reg.register(OpType("cumsum", inputs=(0,), outputs=(0,)))
    after = inspect_model(Custom(), torch.randn(3), registry=reg)
    assert [s.quantizer_path for s in after.sites if s.op_name == "cumsum"] == [
        "cumsum.input_quantizer_0",
        "cumsum.output_quantizer_0",
    ]
    assert "cumsum" not in default_registry  # the copy was changed, not the default


def test_registry_errors_are_clear() -> None:
    reg = OpRegistry([OpType("linear")])
    with pytest.raises(RegistryError, match="already registered"):
        reg.register(OpType("linear"))
    with pytest.raises(RegistryError, match="did you mean 'linear'"):
        reg.unregister("linaer")
    with pytest.raises(RegistryError, match="not an identifier"):
        OpType("my op")
