"""Built-in example models: ``--model two_add`` (or ``builtin:two_add``) and friends.

They exist so that a new user can run qrt with nothing of their own, and so that tests and
benchmarks cover the shapes quantization configs meet in practice: the two-add model of docs/semantics.md §1,
a small CNN (conv/bn/relu/maxpool/conv-transpose/linear), ``nn.MultiheadAttention``, and a
Llama-style decoder whose size is a parameter (the 70B-shaped benchmark builds it on meta).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "EXAMPLES",
    "Example",
    "TwoAddModule",
    "TwoAddModel",
    "SmallCNN",
    "AttentionBlock",
    "LlamaConfig",
    "TinyLlama",
]


class TwoAddModule(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = x + x
        b = a + a
        return b


class TwoAddModel(nn.Module):
    """The naming example of docs/semantics.md §1: ops ``submodule_a.add``, ``submodule_a.add_1``, …"""

    def __init__(self) -> None:
        super().__init__()
        self.submodule_a = TwoAddModule()
        self.submodule_b = TwoAddModule()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.submodule_a(x)
        x = self.submodule_b(x)
        return x


class SmallCNN(nn.Module):
    """An encoder/decoder CNN: conv → bn → relu → maxpool, a transposed conv back up, a head."""

    def __init__(self, channels: int = 3, classes: int = 10) -> None:
        super().__init__()
        self.encoder = nn.Sequential(
            nn.Conv2d(channels, 8, 3, padding=1),
            nn.BatchNorm2d(8),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(8, 16, 3, padding=1),
            nn.ReLU(),
        )
        self.decoder = nn.Module()
        self.decoder.deconv1 = nn.ConvTranspose2d(16, 8, 2, stride=2)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(8, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.encoder(x)
        h = F.relu(self.decoder.deconv1(h))
        h = self.pool(h).flatten(1)
        return self.fc(h)


class AttentionBlock(nn.Module):
    """``nn.MultiheadAttention`` with a residual and a norm (module-boundary example)."""

    def __init__(self, dim: int = 32, heads: int = 4) -> None:
        super().__init__()
        self.attn = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.norm = nn.LayerNorm(dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a, _ = self.attn(x, x, x, need_weights=False)
        return self.proj(self.norm(x + a))


@dataclass(frozen=True)
class LlamaConfig:
    vocab_size: int = 256
    hidden_size: int = 64
    intermediate_size: int = 128
    num_hidden_layers: int = 2
    num_attention_heads: int = 4
    num_key_value_heads: int = 2
    rms_norm_eps: float = 1e-6
    rope_theta: float = 10000.0

    @classmethod
    def llama_70b(cls) -> LlamaConfig:
        return cls(
            vocab_size=128256,
            hidden_size=8192,
            intermediate_size=28672,
            num_hidden_layers=80,
            num_attention_heads=64,
            num_key_value_heads=8,
            rope_theta=500000.0,
        )


class RMSNorm(nn.Module):
    def __init__(self, dim: int, eps: float) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        variance = x.pow(2).mean(-1, keepdim=True)
        x = x * torch.rsqrt(variance + self.eps)
        return self.weight * x


def _rotate_half(x: torch.Tensor) -> torch.Tensor:
    x1, x2 = x.chunk(2, dim=-1)
    return torch.cat((-x2, x1), dim=-1)


class LlamaAttention(nn.Module):
    def __init__(self, cfg: LlamaConfig) -> None:
        super().__init__()
        self.heads = cfg.num_attention_heads
        self.kv_heads = cfg.num_key_value_heads
        self.head_dim = cfg.hidden_size // cfg.num_attention_heads
        self.q_proj = nn.Linear(cfg.hidden_size, self.heads * self.head_dim, bias=False)
        self.k_proj = nn.Linear(cfg.hidden_size, self.kv_heads * self.head_dim, bias=False)
        self.v_proj = nn.Linear(cfg.hidden_size, self.kv_heads * self.head_dim, bias=False)
        self.o_proj = nn.Linear(self.heads * self.head_dim, cfg.hidden_size, bias=False)

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
        b, t, _ = x.shape
        q = self.q_proj(x).view(b, t, self.heads, self.head_dim).transpose(1, 2)
        k = self.k_proj(x).view(b, t, self.kv_heads, self.head_dim).transpose(1, 2)
        v = self.v_proj(x).view(b, t, self.kv_heads, self.head_dim).transpose(1, 2)
        q = q * cos + _rotate_half(q) * sin
        k = k * cos + _rotate_half(k) * sin
        out = F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=True)
        return self.o_proj(out.transpose(1, 2).reshape(b, t, -1))


class LlamaMLP(nn.Module):
    def __init__(self, cfg: LlamaConfig) -> None:
        super().__init__()
        self.gate_proj = nn.Linear(cfg.hidden_size, cfg.intermediate_size, bias=False)
        self.up_proj = nn.Linear(cfg.hidden_size, cfg.intermediate_size, bias=False)
        self.down_proj = nn.Linear(cfg.intermediate_size, cfg.hidden_size, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class LlamaDecoderLayer(nn.Module):
    def __init__(self, cfg: LlamaConfig) -> None:
        super().__init__()
        self.input_layernorm = RMSNorm(cfg.hidden_size, cfg.rms_norm_eps)
        self.self_attn = LlamaAttention(cfg)
        self.post_attention_layernorm = RMSNorm(cfg.hidden_size, cfg.rms_norm_eps)
        self.mlp = LlamaMLP(cfg)

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
        x = x + self.self_attn(self.input_layernorm(x), cos, sin)
        return x + self.mlp(self.post_attention_layernorm(x))


class LlamaBackbone(nn.Module):
    def __init__(self, cfg: LlamaConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.embed_tokens = nn.Embedding(cfg.vocab_size, cfg.hidden_size)
        self.layers = nn.ModuleList(LlamaDecoderLayer(cfg) for _ in range(cfg.num_hidden_layers))
        self.norm = RMSNorm(cfg.hidden_size, cfg.rms_norm_eps)

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        head_dim = self.cfg.hidden_size // self.cfg.num_attention_heads
        t = input_ids.shape[1]
        inv_freq = 1.0 / (
            self.cfg.rope_theta
            ** (torch.arange(0, head_dim, 2, device=input_ids.device).float() / head_dim)
        )
        pos = torch.arange(t, device=input_ids.device).float()
        freqs = torch.outer(pos, inv_freq)
        emb = torch.cat((freqs, freqs), dim=-1)
        cos, sin = emb.cos(), emb.sin()
        x = self.embed_tokens(input_ids)
        for layer in self.layers:
            x = layer(x, cos, sin)
        return self.norm(x)


class TinyLlama(nn.Module):
    """A Llama-style decoder (RMSNorm, RoPE, GQA through SDPA, SwiGLU), sized by ``cfg``."""

    def __init__(self, cfg: LlamaConfig | None = None) -> None:
        super().__init__()
        cfg = cfg or LlamaConfig()
        self.model = LlamaBackbone(cfg)
        self.lm_head = nn.Linear(cfg.hidden_size, cfg.vocab_size, bias=False)

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        return self.lm_head(self.model(input_ids))


@dataclass(frozen=True)
class Example:
    name: str
    description: str
    build: Callable[[], nn.Module]
    default_shape: tuple[int, ...]
    integer_input: bool = False
    input_range: int = 0

    def inputs(self, shape: Sequence[int] | None, device: str | torch.device) -> tuple[torch.Tensor, ...]:
        shape = tuple(shape) if shape else self.default_shape
        if self.integer_input:
            return (torch.randint(0, self.input_range, shape, device=device),)
        return (torch.randn(shape, device=device),)


EXAMPLES: dict[str, Example] = {
    e.name: e
    for e in (
        Example("two_add", "the naming example of docs/semantics.md §1: two submodules, two adds each",
                TwoAddModel, (2, 8)),
        Example("cnn", "small CNN: conv/bn/relu/maxpool/conv-transpose/avgpool/linear",
                SmallCNN, (1, 3, 16, 16)),
        Example("mha", "nn.MultiheadAttention block with LayerNorm and a Linear",
                AttentionBlock, (2, 6, 32)),
        Example("tiny_llama", "2-layer Llama-style decoder (RMSNorm, RoPE, GQA SDPA, SwiGLU)",
                TinyLlama, (1, 8), integer_input=True, input_range=256),
    )
}
