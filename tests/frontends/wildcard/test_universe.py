"""docs/semantics.md §4: a list reaches ModelOpt's quantizers, and nothing else — without ModelOpt.

The sites ModelOpt 0.47 would put no quantizer on (a norm's weight, an activation function's
input, an ``Embedding`` subclass that overrides ``forward``, a module of a class outside the
registry) carry no ModelOpt name and are never matched by an entry, however broad. A subclass
that inherits its registry class's ``forward`` is converted, so it is in reach and starts as
its base does; ``parent_class`` still names exactly one class. ``test_against_modelopt.py``
checks the same model against ModelOpt itself where it is installed.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import pytest

torch = pytest.importorskip("torch")
nn = torch.nn

from qrt.api import as_inventory, resolve  # noqa: E402
from qrt.frontends.dsl import parse_rules, print_rules  # noqa: E402
from qrt.frontends.wildcard import reference_site_states, wildcard_from_data  # noqa: E402
from qrt.frontends.wildcard.compile import compile_wildcard  # noqa: E402
from qrt.frontends.wildcard.spec_map import attributes_from_spec  # noqa: E402
from qrt.inventory.io import inventory_from_json, inventory_to_json  # noqa: E402
from qrt.inventory.model import Inventory  # noqa: E402


class RMSNorm(nn.Module):
    """A norm of no registry class (Llama's shape): its weight is outside ModelOpt's reach."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: Any) -> Any:
        return self.weight * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-6))


class ScaledEmbedding(nn.Embedding):
    """Overrides ``forward`` (Gemma's scaled word embedding): ModelOpt does not convert it."""

    def forward(self, ids: Any) -> Any:
        return super().forward(ids) * 2.0


class PlainEmbedding(nn.Embedding):
    """Inherits ``Embedding.forward``: ModelOpt converts it (to a class of its own)."""


class PlainLinear(nn.Linear):
    """Inherits ``Linear.forward`` (as ``NonDynamicallyQuantizableLinear`` does)."""


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.scaled = ScaledEmbedding(10, 8)
        self.plain = PlainEmbedding(10, 8)
        self.norm = RMSNorm(8)
        self.ln = nn.LayerNorm(8)
        self.fc = nn.Linear(8, 8)
        self.act_fn = nn.SiLU()
        self.sub = PlainLinear(8, 8)

    def forward(self, ids: Any) -> Any:
        x = self.scaled(ids) + self.plain(ids)
        x = self.ln(self.norm(x))
        return self.sub(self.act_fn(self.fc(x)))


def build() -> tuple[Any, tuple[Any, ...]]:
    torch.manual_seed(0)
    return Net().eval(), (torch.randint(0, 10, (2, 3)),)


@cache
def inventory() -> Inventory:
    model, inputs = build()
    return as_inventory(model, *inputs)


OUT_OF_REACH = [
    "norm.mul_1.weight_quantizer",  # the RMSNorm weight (second mul of its forward)
    "ln.weight_quantizer",  # LayerNorm: ModelOpt's QuantInputBase has no weight quantizer
    "act_fn.input_quantizer",  # SiLU is no registry class
    "scaled.embedding.weight_quantizer",  # overrides Embedding.forward: not converted
]
IN_REACH = {
    "fc.input_quantizer", "fc.weight_quantizer", "fc.output_quantizer",
    "sub.input_quantizer", "sub.weight_quantizer", "sub.output_quantizer",
    "plain.weight_quantizer", "plain.output_quantizer",
    "ln.input_quantizer", "ln.output_quantizer",
}


def _states(quant_cfg: Any) -> dict[str, Any]:
    plan = resolve(wildcard_from_data(quant_cfg), inventory())
    return {
        d.site.quantizer_path: {"enable": d.state.enabled, "attributes": attributes_from_spec(d.state.spec)}
        for d in plan.decisions
    }


def test_the_universe_is_what_modelopt_would_convert() -> None:
    inv = inventory()
    paths = {s.quantizer_path for s in inv.sites}
    assert set(OUT_OF_REACH) <= paths, sorted(paths)
    named = {s.quantizer_path: s.modelopt_name for s in inv.sites if s.modelopt_name is not None}
    assert set(named) == IN_REACH
    assert all(path == name for path, name in named.items())
    modules = {m.name: m for m in inv.modules}
    assert modules["plain"].forward_bases == ("torch.nn.modules.sparse.Embedding",)
    assert modules["sub"].forward_bases == ("torch.nn.modules.linear.Linear",)
    assert modules["scaled"].forward_bases == () and modules["fc"].forward_bases == ()


@pytest.mark.parametrize(
    "quant_cfg",
    [
        [{"quantizer_name": "*weight_quantizer", "cfg": {"num_bits": 4}}],
        [{"quantizer_name": "*input_quantizer", "cfg": {"num_bits": [4, 3]}}],
        [{"quantizer_name": "*", "cfg": {"num_bits": 4}}],
        [{"quantizer_name": "*", "enable": True}],
        [{"quantizer_name": "*", "enable": False}, {"quantizer_name": "*", "enable": True}],
        [{"quantizer_name": "norm.mul_1.weight_quantizer", "cfg": {"num_bits": 4}}],
        [{"quantizer_name": "act_fn.input_quantizer", "cfg": {"num_bits": 8}}],
        [{"quantizer_name": "*", "parent_class": "nn.Embedding", "cfg": {"num_bits": 4}}],
    ],
)
def test_no_entry_reaches_a_site_modelopt_has_no_quantizer_for(quant_cfg: Any) -> None:
    states = _states(quant_cfg)
    for path in OUT_OF_REACH:
        assert states[path]["enable"] is False, path
    assert not any(s["enable"] for p, s in states.items() if p not in IN_REACH)


def test_a_forward_inheriting_subclass_starts_like_its_base() -> None:
    states = _states([])
    assert states["sub.weight_quantizer"] == states["fc.weight_quantizer"]
    assert states["sub.weight_quantizer"]["enable"] and states["sub.weight_quantizer"]["attributes"]["axis"] == 0
    assert states["plain.weight_quantizer"]["enable"]
    assert states["plain.weight_quantizer"]["attributes"]["axis"] is None  # per tensor, as Embedding
    assert states["sub.input_quantizer"]["enable"] and not states["sub.output_quantizer"]["enable"]


def test_parent_class_names_exactly_one_class() -> None:
    """ModelOpt 0.47 tests ``isinstance`` against the class it generated for exactly
    ``nn.Linear``; a forward-inheriting subclass is converted to a class of its own and does
    not match (measured against ModelOpt in ``test_against_modelopt.py``)."""
    states = _states([{"quantizer_name": "*", "parent_class": "nn.Linear", "enable": False}])
    assert not states["fc.weight_quantizer"]["enable"]
    assert states["sub.weight_quantizer"]["enable"]
    name = f"{PlainLinear.__module__}.{PlainLinear.__qualname__}"
    states = _states([{"quantizer_name": "*", "parent_class": name, "enable": False}])
    assert not states["sub.weight_quantizer"]["enable"] and states["fc.weight_quantizer"]["enable"]


def test_compiled_rules_equal_the_literal_loop_over_modelopts_quantizers() -> None:
    quant_cfg = [
        {"quantizer_name": "*weight_quantizer", "cfg": {"num_bits": 4, "block_sizes": {-1: 4}}},
        {"quantizer_name": "*output_quantizer", "enable": True},
        {"quantizer_name": "*", "parent_class": "nn.LayerNorm", "enable": False},
    ]
    config = wildcard_from_data(quant_cfg)
    assert _states(quant_cfg) == reference_site_states(config, list(inventory().sites))


def test_a_saved_inventory_keeps_the_universe() -> None:
    inv = inventory()
    loaded = inventory_from_json(inventory_to_json(inv))
    assert loaded.modules == inv.modules
    assert [s.modelopt_name for s in loaded.sites] == [s.modelopt_name for s in inv.sites]


def test_the_dsl_writes_a_modelopt_glob_and_reads_it_back() -> None:
    rules = compile_wildcard(wildcard_from_data([{"quantizer_name": "*weight_quantizer", "enable": False}]))
    text = print_rules(rules)
    assert 'modelopt_name "*weight_quantizer"' in text
    again = parse_rules(text)
    assert [r.selector for r in again] == [r.selector for r in rules]
    plan = resolve(again, inventory())
    assert not any(d.state.enabled for d in plan.decisions if d.site.modelopt_name is None)


def test_explain_says_why_a_list_cannot_reach_a_site() -> None:
    from qrt.api import explain

    config = wildcard_from_data([{"quantizer_name": "*", "cfg": {"num_bits": 4}}])
    plan = resolve(config, inventory())
    (norm,) = explain(plan, queries="norm.mul_1.weight_quantizer")
    assert norm.final is None
    assert any("no entry of a list reaches it" in n for n in norm.notes), norm.notes
    (fc,) = explain(plan, queries="fc.weight_quantizer")
    assert any("ModelOpt's quantizer fc.weight_quantizer" in n for n in fc.notes), fc.notes


def test_conv1d_activation_and_class_as_modelopt_sees_them() -> None:
    """transformers' ``Conv1D`` runs ``addmm(bias, x, weight)``: ModelOpt's ``input_quantizer``
    is the activation, operand 1; and ModelOpt converts the module into ``nn.Linear``'s class,
    so ``parent_class: nn.Linear`` reaches it."""
    conv1d = pytest.importorskip("transformers.pytorch_utils").Conv1D

    class Block(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.c_fc = conv1d(16, 8)  # nf=16 outputs, nx=8 inputs

        def forward(self, x: Any) -> Any:
            return self.c_fc(x)

    torch.manual_seed(0)
    inv = as_inventory(Block().eval(), torch.randn(2, 3, 8))
    names = {s.quantizer_path: (s.modelopt_name, s.modelopt_class) for s in inv.sites if s.modelopt_name}
    linear = "torch.nn.modules.linear.Linear"
    assert names == {
        "c_fc.input_quantizer_1": ("c_fc.input_quantizer", linear),
        "c_fc.weight_quantizer": ("c_fc.weight_quantizer", linear),
        "c_fc.output_quantizer": ("c_fc.output_quantizer", linear),
    }
    plan = resolve(wildcard_from_data([{"quantizer_name": "*", "parent_class": "nn.Linear", "enable": False}]), inv)
    assert not any(d.state.enabled for d in plan.decisions)
    plan = resolve(wildcard_from_data([]), inv)
    assert plan.decision("c_fc.input_quantizer_1").state.enabled
