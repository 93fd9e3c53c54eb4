"""docs/semantics.md §5.5 for front end 1: the compiled hierarchical config, resolved by §2, equals the
direct reading of §3 on every site of generated models and configs."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from qrt import inspect_model
from qrt.frontends.hierarchical import ModuleQuantizerConfig, OpQuantizerConfig, QuantizerConfig
from qrt.frontends.hierarchical.compile import compile_config
from qrt.frontends.hierarchical.direct import read_site
from qrt.ir.spec import QuantizationSpec
from qrt.resolver.fast import resolve

SPECS = [
    QuantizationSpec(dtype="int8"),
    QuantizationSpec(dtype="int4", granularity={"type": "per_block", "block_size": 2}),
    QuantizationSpec(dtype="float8_e4m3fn"),
    None,
]


@dataclass
class Node:
    program: list[tuple[str, object]]
    children: list["Node"]
    kind: int


@st.composite
def nodes(draw: st.DrawFn, depth: int = 0) -> Node:
    n = 0 if depth >= 2 else draw(st.integers(0, 2))
    children = [draw(nodes(depth + 1)) for _ in range(n)]
    step = st.tuples(st.just("op"), st.sampled_from(["add", "linear", "relu", "mul"]))
    if children:
        step = step | st.tuples(st.just("call"), st.integers(0, n - 1))
    return Node(draw(st.lists(step, min_size=1, max_size=4)), children, draw(st.integers(0, 1)))


class GenA(nn.Module):
    def __init__(self, node: Node) -> None:
        super().__init__()
        self.program = node.program
        self.w = nn.Parameter(torch.randn(4, 4))
        for i, child in enumerate(node.children):
            setattr(self, f"c{i}", (GenA if child.kind == 0 else GenB)(child))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for kind, arg in self.program:
            if kind == "call":
                x = getattr(self, f"c{arg}")(x)
            elif arg == "add":
                x = x + x
            elif arg == "mul":
                x = x * self.w[0]
            elif arg == "relu":
                x = F.relu(x)
            else:
                x = F.linear(x, self.w)
        return x


class GenB(GenA):
    pass


TYPES = [f"{__name__}.GenA", f"{__name__}.GenB", "torch.nn.modules.linear.Linear"]
NAMES = ["", "c0", r"c0\.c1", ".*c1", "c[01]", ".*"]
OPNAMES = ["add", "add_1", r"c0\.add", ".*relu", "linear", ".*", "(add|relu).*"]


def spec_dicts(keys):  # type: ignore[no-untyped-def]
    return st.none() | st.dictionaries(st.sampled_from(keys), st.sampled_from(SPECS), max_size=2)


def op_configs() -> st.SearchStrategy:
    return st.none() | st.builds(
        OpQuantizerConfig,
        op_input_spec=spec_dicts(["*", 0, 1]),
        op_output_spec=spec_dicts(["*", 0]),
        op_state_spec=spec_dicts(["*", "weight", "w"]),
    )


def module_configs() -> st.SearchStrategy:
    return st.none() | st.builds(
        ModuleQuantizerConfig,
        op_input_spec=spec_dicts(["*", 0, 1]),
        op_output_spec=spec_dicts(["*", 0]),
        op_state_spec=spec_dicts(["*", "weight", "w"]),
        op_type_config=st.dictionaries(st.sampled_from(["add", "linear", "relu", "mul"]), op_configs(), max_size=2),
        op_name_config=st.dictionaries(st.sampled_from(OPNAMES), op_configs(), max_size=2),
        module_input_spec=st.dictionaries(st.sampled_from(["*", 0]), st.sampled_from(SPECS), max_size=1),
        module_output_spec=st.dictionaries(st.sampled_from(["*", 0]), st.sampled_from(SPECS), max_size=1),
        module_state_spec=st.dictionaries(st.sampled_from(["*", "w"]), st.sampled_from(SPECS), max_size=1),
    )


configs = st.builds(
    QuantizerConfig,
    global_config=module_configs(),
    module_type_configs=st.dictionaries(st.sampled_from(TYPES), module_configs(), max_size=2),
    module_name_configs=st.dictionaries(st.sampled_from(NAMES), module_configs(), max_size=3),
)


@settings(max_examples=200)
@given(nodes(), configs)
def test_compiled_rules_equal_the_direct_reading(node: Node, cfg: QuantizerConfig) -> None:
    model = GenA(node)
    inv = inspect_model(model, torch.randn(2, 4))
    rules = compile_config(cfg, inv).rules
    for decision in resolve(rules, inv.sites):
        reading = read_site(cfg, decision.site, inv)
        assert decision.spec == reading.spec, (decision.site.label, reading.path, reading.note)
