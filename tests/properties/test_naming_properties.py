"""Hypothesis: random small module trees of registered ops get deterministic, unique op names.

A generated tree is a set of modules; each runs a program of steps: an op of a registered type,
or a call of one of its children (children may be called several times: shared modules and
loops). An independent oracle walks the same program with docs/semantics.md §1's rule — a counter per
(module invocation, op type) — and the traced names must equal its names, in first-seen order.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st
from torch import nn

from qrt import inspect_model

OPS = ("add", "mul", "relu", "softmax", "linear", "sigmoid", "sub")


@dataclass
class Spec:
    program: list[tuple[str, object]]  # ("op", name) | ("call", child index)
    children: list[Spec]


@st.composite
def specs(draw: st.DrawFn, depth: int = 0) -> Spec:
    n_children = 0 if depth >= 2 else draw(st.integers(0, 2))
    children = [draw(specs(depth + 1)) for _ in range(n_children)]
    steps = st.tuples(st.just("op"), st.sampled_from(OPS))
    if children:
        steps = steps | st.tuples(st.just("call"), st.integers(0, n_children - 1))
    program = draw(st.lists(steps, min_size=1, max_size=6))
    return Spec(program, children)


class Gen(nn.Module):
    def __init__(self, spec: Spec) -> None:
        super().__init__()
        self.program = spec.program
        self.w = nn.Parameter(torch.randn(4, 4))
        for i, child in enumerate(spec.children):
            setattr(self, f"c{i}", Gen(child))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for kind, arg in self.program:
            if kind == "call":
                x = getattr(self, f"c{arg}")(x)
            elif arg == "add":
                x = x + x
            elif arg == "sub":
                x = torch.sub(x, 0.5)
            elif arg == "mul":
                x = x * 0.5
            elif arg == "relu":
                x = F.relu(x)
            elif arg == "sigmoid":
                x = torch.sigmoid(x)
            elif arg == "softmax":
                x = x.softmax(-1)
            elif arg == "linear":
                x = F.linear(x, self.w)
        return x


def oracle(spec: Spec, name: str = "", seen: dict[str, None] | None = None) -> list[str]:
    seen = {} if seen is None else seen
    counters: dict[str, int] = {}
    for kind, arg in spec.program:
        if kind == "call":
            child = f"{name}.c{arg}" if name else f"c{arg}"
            oracle(spec.children[int(arg)], child, seen)  # type: ignore[arg-type]
            continue
        n = counters.get(str(arg), 0)
        counters[str(arg)] = n + 1
        base = f"{name}.{arg}" if name else str(arg)
        seen[base + (f"_{n}" if n else "")] = None
    return list(seen)


@given(specs())
def test_names_follow_the_rule_and_are_unique_and_deterministic(spec: Spec) -> None:
    model = Gen(spec)
    x = torch.randn(2, 4)
    first = [op.name for op in inspect_model(model, x).ops if op.registered]
    second = [op.name for op in inspect_model(model, x).ops if op.registered]
    assert first == second
    assert len(first) == len(set(first))
    assert first == oracle(spec)


@given(specs())
def test_every_site_has_a_unique_quantizer_path_and_meta_agrees(spec: Spec) -> None:
    model = Gen(spec)
    inv = inspect_model(model, torch.randn(2, 4))
    paths = [s.quantizer_path for s in inv.sites]
    assert len(paths) == len(set(paths))
    meta_model = Gen(spec).to("meta")
    meta_inv = inspect_model(meta_model, torch.randn(2, 4, device="meta"))
    assert [s.quantizer_path for s in meta_inv.sites] == paths
