"""Eager tracing on small real models: docs/semantics.md §1 naming, roles, keys and tensor identity."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from qrt import inspect_model
from qrt.runtime.examples import EXAMPLES, LlamaConfig, TinyLlama, TwoAddModel


def op_names(inv, registered_only: bool = True) -> list[str]:
    return [op.name for op in inv.ops if op.registered or not registered_only]


def site(inv, path: str):
    (found,) = [s for s in inv.sites if s.quantizer_path == path]
    return found


def test_two_add_names_match_seed_example() -> None:
    inv = inspect_model(TwoAddModel(), torch.randn(2, 3))
    assert op_names(inv, registered_only=False) == [
        "submodule_a.add",
        "submodule_a.add_1",
        "submodule_b.add",
        "submodule_b.add_1",
    ]


class Shared(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.block = nn.Linear(4, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for _ in range(3):  # the same module in a loop: one set of sites
            x = self.block(x)
        y = x + 1
        y = y + 1  # a loop *inside* one forward: distinct names
        return self.block(y)


def test_shared_module_called_repeatedly_keeps_its_names() -> None:
    inv = inspect_model(Shared(), torch.randn(2, 4))
    assert op_names(inv) == ["block.linear", "add", "add_1"]
    block = next(m for m in inv.modules if m.name == "block")
    assert block.called == 4
    # one quantizer per tensor position, however often it ran
    paths = [s.quantizer_path for s in inv.sites if s.op_name == "block.linear"]
    assert paths == [
        "block.input_quantizer",
        "block.weight_quantizer",
        "block.bias_quantizer",
        "block.output_quantizer",
    ]


class LoopInside(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for _ in range(3):
            x = torch.relu(x) * 2
        return x


def test_loop_inside_one_forward_numbers_ops_in_order() -> None:
    inv = inspect_model(LoopInside(), torch.randn(3))
    assert op_names(inv) == ["relu", "mul", "relu_1", "mul_1", "relu_2", "mul_2"]


class Tied(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Embedding(10, 4)
        self.head = nn.Linear(4, 10, bias=False)
        self.head.weight = self.embed.weight  # a parameter shared by two modules

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.head(self.embed(ids))


def test_parameter_shared_by_two_modules_is_one_tensor() -> None:
    inv = inspect_model(Tied(), torch.tensor([[1, 2, 3]]))
    emb_w = site(inv, "embed.weight_quantizer")
    head_w = site(inv, "head.weight_quantizer")
    assert emb_w.tensor == head_w.tensor == "param:embed.weight"
    tied = {s.quantizer_path for s in inv.tied_sites(head_w)}
    assert "embed.weight_quantizer" in tied
    assert "head.module_state_quantizer_weight" in tied
    # integer token ids never get a site
    assert not [s for s in inv.sites if s.op_type == "embedding" and s.role == "input"]
    assert not [s for s in inv.sites if s.dtype and s.dtype.startswith("int")]


class InPlace(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.ones(4))
        self.fc = nn.Linear(4, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.fc(x)
        h.add_(1.0)  # in-place: a new tensor identity on the same object
        h += x
        h = h * self.scale  # an op on a parameter outside any leaf module
        return torch.relu_(h)


def test_in_place_ops_and_root_level_parameters() -> None:
    inv = inspect_model(InPlace(), torch.randn(2, 4))
    assert op_names(inv) == ["fc.linear", "add", "add_1", "mul", "relu"]
    ops = {op.name: op for op in inv.ops}
    # add_ reads fc's output and produces a new identity that += then reads
    assert ops["add"].inputs[0].tensor == "op:fc.linear:0"
    assert ops["add_1"].inputs[0].tensor == "op:add:0"
    assert ops["mul"].inputs[0].tensor == "op:add_1:0"
    scale = site(inv, "mul.scale_quantizer")
    assert (scale.role, scale.key, scale.tensor) == ("state", "scale", "param:scale")
    assert scale.scope == (("", f"{InPlace.__module__}.InPlace"),)


class Spellings(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = x + x
        b = torch.add(a, x)
        c = b.add(1)
        c.add_(2)
        d = torch.ops.aten.add.Tensor(c, a)
        e = torch.cat([d, d])
        f = torch.concat([e, e])
        g = 2 - f
        return torch.matmul(g, g.mT) @ g


def test_one_canonical_spelling_per_op() -> None:
    inv = inspect_model(Spellings(), torch.randn(2, 2))
    names = op_names(inv, registered_only=False)
    assert names == [
        "add", "add_1", "add_2", "add_3", "add_4", "cat", "cat_1", "sub", "mT", "matmul", "matmul_1",
    ]


class Branchy(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        if self.calls % 2:
            return torch.relu(x)
        return torch.sigmoid(x) + x


class TwoBranches(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.b = Branchy()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.b(self.b(x))


def test_data_dependent_invocations_give_the_union_in_first_seen_order() -> None:
    inv = inspect_model(TwoBranches(), torch.randn(3))
    assert op_names(inv) == ["b.relu", "b.sigmoid", "b.add"]


class Boundary(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.attn = nn.MultiheadAttention(8, 2, batch_first=True)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        out, _ = self.attn(x, key=x, value=x, key_padding_mask=mask, need_weights=False)
        return out


def test_module_inputs_are_keyed_by_position_and_name() -> None:
    x = torch.randn(1, 3, 8)
    mask = torch.zeros(1, 3, dtype=torch.bool)
    inv = inspect_model(Boundary(), x, mask)
    attn_inputs = [s for s in inv.sites if s.module == "attn" and s.role == "module_input"]
    assert [(s.key, s.arg_name) for s in attn_inputs] == [(0, "query"), (1, "key"), (2, "value")]
    assert all(s.matches_key(s.arg_name) for s in attn_inputs)
    # the bool mask is not floating point: no site, at the root or at attn
    assert not [s for s in inv.sites if s.arg_name in ("mask", "key_padding_mask")]
    # boundary and op sites on one tensor are tied
    out = site(inv, "attn.module_output_quantizer_0")
    assert out.tensor.startswith("op:attn.")
    assert inv.tensor_table[out.tensor].readers  # read by the root's output boundary


def test_quantizer_paths_are_unique_on_every_builtin() -> None:
    for example in EXAMPLES.values():
        model = example.build().eval()
        inv = inspect_model(model, *example.inputs(None, "cpu"))
        paths = [s.quantizer_path for s in inv.sites]
        assert len(paths) == len(set(paths)), example.name


def test_sdpa_carries_modelopt_attention_names() -> None:
    inv = inspect_model(TinyLlama(), torch.randint(0, 256, (1, 8)))
    sdpa = [s for s in inv.sites if s.op_name == "model.layers.0.self_attn.scaled_dot_product_attention"]
    by_key = {s.key: s for s in sdpa if s.role == "input"}
    assert by_key[0].aliases == ("model.layers.0.self_attn.q_bmm_quantizer",)
    assert by_key[1].aliases == ("model.layers.0.self_attn.k_bmm_quantizer",)
    assert by_key[2].aliases == ("model.layers.0.self_attn.v_bmm_quantizer",)
    (probs,) = [s for s in sdpa if s.key == "p"]
    assert probs.role == "output" and probs.aliases == ("model.layers.0.self_attn.p_bmm_quantizer",)
    assert probs.shape == (1, 4, 8, 8)


class EagerAttention(nn.Module):
    def forward(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        scores = torch.matmul(q, k.transpose(-1, -2)) / 4.0
        probs = F.softmax(scores, dim=-1)
        return torch.matmul(probs, v)


def test_eager_attention_pattern_gets_bmm_names() -> None:
    q = torch.randn(1, 2, 4, 8)
    inv = inspect_model(EagerAttention(), q, q.clone(), q.clone())
    named = {a: s.label for s in inv.sites for a in s.aliases}
    assert named == {
        "q_bmm_quantizer": "matmul:input[0]",
        "k_bmm_quantizer": "matmul:input[1]",
        "v_bmm_quantizer": "matmul_1:input[1]",
        "p_bmm_quantizer": "softmax:output[0]",
    }


def test_meta_device_llama_allocates_no_weights() -> None:
    cfg = LlamaConfig(hidden_size=512, intermediate_size=1024, num_hidden_layers=3, num_attention_heads=8)
    with torch.device("meta"):
        model = TinyLlama(cfg)
    ids = torch.randint(0, cfg.vocab_size, (1, 16), device="meta")
    inv = inspect_model(model, ids)
    assert all(p.is_meta for p in model.parameters())
    w = site(inv, "model.layers.2.mlp.down_proj.weight_quantizer")
    assert w.shape == (512, 1024) and w.dtype == "float32"
    # per layer: 2 norms × 3, q/k/v/o, RoPE 2 × (mul, cat, mul, add), sdpa, 2 residual adds,
    # gate/up/down, silu, mul = 26; plus rope tables (div, div, cat), embedding, norm (3), lm_head
    assert len(op_names(inv)) == 3 * 26 + 8


def test_tracing_leaves_the_model_unchanged() -> None:
    model = TwoAddModel()
    x = torch.randn(2, 3)
    before = model(x)
    inspect_model(model, x)
    assert not any(m._forward_hooks or m._forward_pre_hooks for m in model.modules())
    assert torch.equal(model(x), before)
