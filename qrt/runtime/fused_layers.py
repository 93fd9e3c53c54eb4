"""Layers an inference engine fuses into one matrix, and the scales they must share.

vLLM runs a decoder layer's ``q_proj``/``k_proj``/``v_proj`` as one ``QKVParallelLinear`` and
``gate_proj``/``up_proj`` as one ``MergedColumnParallelLinear``: one weight, so one NVFP4
per-tensor (global) scale for the fused matrix — it takes the largest when a checkpoint's
differ, and warns, which changes the numbers the checkpoint was calibrated for (measured
3.8–7.6% on the outputs). llm-compressor therefore gives such layers one global scale before
it computes block scales (``update_fused_layer_weight_global_scales`` in
``llmcompressor/modifiers/utils/helpers.py``, with the groups of
``llmcompressor/modeling/fused_modules.py``: q/k/v of an attention module, gate/up of an MLP),
and so does qrt, in fake quantization, finalize and export alike — so a checkpoint's numbers
are the numbers vLLM computes.

Only the NVFP4 weight scale needs this: static int8/FP8 input scales of q/k/v (and of
gate/up) are calibrated on one and the same tensor, so they are equal already; per-channel and
per-group weight scales are per row and fuse without change.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable

import torch
from torch import nn

__all__ = ["FUSED_GROUPS", "fused_linear_groups", "link_fused_weights", "shared_global_scale"]

FUSED_GROUPS: tuple[tuple[str, ...], ...] = (("q_proj", "k_proj", "v_proj"), ("gate_proj", "up_proj"))
"""Children of one module that vLLM fuses (llm-compressor's ``fused_modules`` groups)."""


def fused_linear_groups(model: nn.Module) -> list[list[str]]:
    """Names of the ``nn.Linear`` modules of each fused group in ``model``: every module with
    all the children of one of :data:`FUSED_GROUPS`, each an ``nn.Linear``."""
    out: list[list[str]] = []
    for name, module in model.named_modules():
        for group in FUSED_GROUPS:
            children = [getattr(module, child, None) for child in group]
            if all(isinstance(c, nn.Linear) for c in children):
                prefix = f"{name}." if name else ""
                out.append([prefix + child for child in group])
    return out


def shared_global_scale(weights: list[nn.Parameter]) -> Callable[[], torch.Tensor | None]:
    """The NVFP4 global scale a fused group shares, from its weights as they are when asked:
    the largest of the members' (the group's amax over the fused matrix). Once a member's
    weight is gone (finalize frees each weight as it packs it) the value last computed stands,
    so the members packed after it share it too; ``None`` if it was never computed (a loaded
    model: its packed forms carry the shared value)."""
    from qrt.runtime.formats.nvfp4 import global_scale as nvfp4_global_scale

    refs = [weakref.ref(w) for w in weights]
    last: list[torch.Tensor] = []

    def scale() -> torch.Tensor | None:
        tensors = [r() for r in refs]
        if any(t is None or t.numel() == 0 for t in tensors):
            return last[0].clone() if last else None  # a tensor of its own for each packed form
        value = torch.stack([nvfp4_global_scale(t.detach()) for t in tensors if t is not None]).max()
        last[:] = [value]
        return value.clone()

    return scale


def link_fused_weights(model: nn.Module, placed: list[tuple[object, object]]) -> list[list[str]]:
    """Give the NVFP4 weight quantizers of each fused group one global scale (set their
    ``shared_global``). ``placed``: the ``(site, quantizer)`` pairs the eager runtime placed.
    A group is linked only when every member's weight quantizer is on and NVFP4 with float8
    block scales: a member left in another format is fused by nobody. Returns the groups
    linked (their module names)."""
    from qrt.runtime.quant.fake_quantizer import FakeQuantizer

    weights: dict[str, FakeQuantizer] = {}
    for site, quantizer in placed:
        if (getattr(site, "role", None) == "state" and getattr(site, "key", None) == "weight"
                and getattr(site, "op_type", None) == "linear" and isinstance(quantizer, FakeQuantizer)):
            weights.setdefault(getattr(site, "module", ""), quantizer)
    linked: list[list[str]] = []
    for group in fused_linear_groups(model):
        members = [weights.get(name) for name in group]
        if not all(q is not None and q.enabled and q.fmt.global_scale for q in members):
            continue
        shared = shared_global_scale([model.get_submodule(name).weight for name in group])
        for q in members:
            q.shared_global = shared  # type: ignore[union-attr]
        linked.append(group)
    return linked
