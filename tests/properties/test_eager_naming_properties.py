"""Hypothesis: on generated module trees, every quantizer eager mode places is called once per
run of the op the trace named for it, with that op's tensor.

The trace names a site's op; the eager runner has to find the same op again in every later
forward, by naming ops the same way as they run (``qrt/runtime/op_naming.py``). Here the
generated model is its own oracle: each forward logs, under the name docs/semantics.md §1
gives it (a counter per op type per module invocation; no name for a call that returns its
input), every registered op it runs with its tensors by role and key. The prepared model runs
with its quantizers passing values through, each quantizer recording what it is called with;
a quantizer must see exactly the tensors the log holds for its sites, in order, and nothing
else — a quantizer applied to another op, twice, or not at all fails.

The trees mix what makes naming hard: nested and shared modules, loops, parameters read by
several ops and by a parent module (one quantizer, several sites), list arguments
(``torch.cat``), and calls that return their input (``contiguous``, ``to`` of a same-dtype
tensor and of a bool buffer on its own device).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from qrt.frontends.hierarchical import ExecutionMode, QuantizerConfig
from qrt.runtime.quant.quantizer import Quantizer

STEPS = ("add", "sub", "mul", "relu", "sigmoid", "softmax", "linear", "matmul", "cat", "contiguous", "to", "mask")


@dataclass
class Tree:
    program: list[tuple[str, int]]
    """("op", index into STEPS) | ("call", child) | ("child_param", child)"""
    children: list[Tree]


@st.composite
def trees(draw: st.DrawFn, depth: int = 0) -> Tree:
    n = 0 if depth >= 2 else draw(st.integers(0, 2))
    children = [draw(trees(depth + 1)) for _ in range(n)]
    step = st.tuples(st.just("op"), st.integers(0, len(STEPS) - 1))
    if children:
        child = st.integers(0, n - 1)
        step = step | st.tuples(st.just("call"), child) | st.tuples(st.just("child_param"), child)
    return Tree(draw(st.lists(step, min_size=1, max_size=6)), children)


Log = list[tuple[str, dict[tuple[str, Any], torch.Tensor]]]


class Logged(nn.Module):
    """Runs its program, logging each registered op under its documented name."""

    def __init__(self, tree: Tree, log: Log) -> None:
        super().__init__()
        self.program = tree.program
        self.log = log
        self.qname = ""
        self.w = nn.Parameter(torch.randn(4, 4))
        self.w2 = nn.Parameter(torch.randn(4, 8))
        self.s = nn.Parameter(torch.rand(4) + 0.5)
        self.register_buffer("keep", torch.rand(4) > 0.2)
        for i, child in enumerate(tree.children):
            setattr(self, f"c{i}", Logged(child, log))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        counters: dict[str, int] = {}

        def op(op_type: str, tensors: dict[tuple[str, Any], torch.Tensor]) -> None:
            n = counters.get(op_type, 0)
            counters[op_type] = n + 1
            name = (f"{self.qname}." if self.qname else "") + op_type + (f"_{n}" if n else "")
            self.log.append((name, tensors))

        for kind, arg in self.program:
            if kind == "call":
                x = getattr(self, f"c{arg}")(x)
                continue
            if kind == "child_param":  # a child's parameter read by this module's op: state "c<i>.s"
                s = getattr(self, f"c{arg}").s
                y = x * s
                op("mul", {("input", 0): x, ("state", f"c{arg}.s"): s, ("output", 0): y})
                x = y
                continue
            step = STEPS[arg]
            if step == "add":
                y = x + x
                op("add", {("input", 0): x, ("input", 1): x, ("output", 0): y})
            elif step == "sub":
                y = torch.sub(x, 0.5)
                op("sub", {("input", 0): x, ("output", 0): y})
            elif step == "mul":
                y = x * self.s
                op("mul", {("input", 0): x, ("state", "s"): self.s, ("output", 0): y})
            elif step in ("relu", "sigmoid", "softmax"):
                y = F.relu(x) if step == "relu" else torch.sigmoid(x) if step == "sigmoid" else x.softmax(-1)
                op(step, {("input", 0): x, ("output", 0): y})
            elif step == "linear":
                y = F.linear(x, self.w)
                op("linear", {("input", 0): x, ("state", "weight"): self.w, ("output", 0): y})
            elif step == "matmul":
                y = x @ self.w
                op("matmul", {("input", 0): x, ("state", "w"): self.w, ("output", 0): y})
            elif step == "cat":
                t = torch.tanh(x)
                op("tanh", {("input", 0): x, ("output", 0): t})
                joined = torch.cat([x, t], -1)
                op("cat", {("input", 0): x, ("input", 1): t, ("output", 0): joined})
                y = F.linear(joined, self.w2)
                op("linear", {("input", 0): joined, ("state", "weight"): self.w2, ("output", 0): y})
            elif step == "contiguous":
                y = x.contiguous()  # returns x: not an op
            elif step == "to":
                y = x.to(x.dtype)  # returns x: not an op
            else:  # "mask": a bool buffer moved to where it already is (not an op), then used
                keep = self.keep.to(x.device)
                y = torch.where(keep, x, 0.0)
            x = y
        return x


def _build(tree: Tree) -> tuple[Logged, Log]:
    log: Log = []
    model = Logged(tree, log)
    for name, module in model.named_modules():
        if isinstance(module, Logged):
            module.qname = name
    return model.eval(), log


@settings(max_examples=max(1, settings().max_examples // 4))  # a prepare per example: a quarter of the profile's
@given(trees())
def test_every_eager_quantizer_runs_once_per_named_op_with_its_tensor(tree: Tree) -> None:
    torch.manual_seed(0)
    model, log = _build(tree)
    x = torch.randn(2, 4)
    q = Quantizer(model, QuantizerConfig(execution_mode=ExecutionMode.EAGER))
    q.prepare((x,))
    q.disable_observer()
    q.disable_fake_quant()  # values pass through: the prepared forward computes the float one's

    seen: dict[int, list[torch.Tensor]] = {}
    for quantizer in q.quantizers():
        quantizer.register_forward_pre_hook(
            lambda m, args: seen.setdefault(id(m), []).append(args[0].detach().clone()))
    sites: dict[int, set[tuple[str, str, Any]]] = {}
    for decision in q.plan.decisions:
        if decision.site.op_name is None:
            continue
        placed = q.state.quantizers.get(decision.site.quantizer_path)
        if placed is not None:
            sites.setdefault(id(placed), set()).add((decision.site.op_name, decision.site.role, decision.site.key))

    for _ in range(2):  # a second forward names its ops as the first did
        seen.clear()
        log.clear()
        model(x)
        for quantizer in q.quantizers():
            mine = sites.get(id(quantizer), set())
            want = [t for name, tensors in log for (role, key), t in tensors.items() if (name, role, key) in mine]
            got = seen.get(id(quantizer), [])
            assert len(got) == len(want), (quantizer.path, len(got), len(want))
            for g, w in zip(got, want):
                assert torch.equal(g, w), quantizer.path
