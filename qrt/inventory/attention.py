"""ModelOpt's names for attention tensors (docs/semantics.md §4).

So that KV-cache and FP8-attention presets (``*[kv]_bmm_quantizer``, ``*p_bmm_quantizer``)
reach the right tensors, the query/key/value inputs of an attention and its probabilities
also carry ``<attention module>.q_bmm_quantizer`` … ``.p_bmm_quantizer``. Two shapes are
recognised from the recorded dataflow:

* a fused ``scaled_dot_product_attention``: inputs 0/1/2 and its ``p`` output site;
* an eager attention inside one module: ``matmul(q, k)`` → (scale, soft-cap, mask, cast …)
  → ``softmax`` → (dropout, cast …) → ``matmul(p, v)``. Soft-capping (Gemma-2's
  ``attn_logit_softcapping``: ``tanh(scores / c) * c`` in ``eager_attention_forward`` of
  ``transformers/models/gemma2/modeling_gemma2.py``) is an elementwise step of the score path
  like the scale, so ``tanh`` passes; ModelOpt's quantizers do not depend on it either (its
  ``_QuantAttention`` wraps the attention interface's ``query``/``key``/``value`` and the
  ``softmax``, ``plugins/huggingface.py``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from qrt.inventory.model import OpRecord
from qrt.ir.tensor_id import producer_op

if TYPE_CHECKING:
    from qrt.inventory.build import RawSite

__all__ = ["attention_aliases"]

_MATMULS = frozenset({"matmul", "bmm"})
_PASS = frozenset(
    {"div", "mul", "add", "sub", "to", "float", "half", "bfloat16", "type", "type_as",
     "masked_fill", "where", "dropout", "contiguous", "view", "reshape", "clamp", "tanh"}
)
_SDPA_KEYS: dict[int | str, str] = {0: "q", 1: "k", 2: "v", "query": "q", "key": "k", "value": "v"}

AliasKey = tuple[str | None, str, object]


def attention_aliases(
    ops: Sequence[OpRecord], raw_sites: Sequence[RawSite]
) -> dict[AliasKey, tuple[str, ...]]:
    by_name = {op.name: op for op in ops}
    consumers: dict[str, list[tuple[OpRecord, object]]] = {}
    for op in ops:
        for use in op.inputs:
            consumers.setdefault(use.tensor, []).append((op, use.key))
    out: dict[AliasKey, list[str]] = {}

    def add(op: OpRecord, role: str, key: object, letter: str) -> None:
        prefix = f"{op.module}." if op.module else ""
        out.setdefault((op.name, role, key), []).append(f"{prefix}{letter}_bmm_quantizer")

    for op in ops:
        if op.op_type == "scaled_dot_product_attention":
            for use in op.inputs:
                letter = _SDPA_KEYS.get(use.key)
                if letter:
                    add(op, "input", use.key, letter)
            add(op, "output", "p", "p")
        elif op.op_type == "softmax" and op.inputs and op.outputs:
            first = _walk_back(op.inputs[0].tensor, by_name, op.module)
            second = _walk_forward(op.outputs[0].tensor, consumers, op.module)
            if first is None or second is None:
                continue
            add(first, "input", 0, "q")
            add(first, "input", 1, "k")
            add(second, "input", 1, "v")
            add(op, "output", 0, "p")
    have = {(r.op_name, r.role, r.key) for r in raw_sites}
    return {k: tuple(v) for k, v in out.items() if k in have}


def _walk_back(tensor: str, by_name: dict[str, OpRecord], module: str) -> OpRecord | None:
    for _ in range(8):
        op = by_name.get(producer_op(tensor) or "")
        if op is None or op.module != module:
            return None
        if op.op_type in _MATMULS:
            return op
        if op.op_type not in _PASS or not op.inputs:
            return None
        # follow the operand that came from the score path (the first non-constant one)
        tensor = next((u.tensor for u in op.inputs if producer_op(u.tensor) is not None), "")
    return None


def _walk_forward(
    tensor: str, consumers: dict[str, list[tuple[OpRecord, object]]], module: str
) -> OpRecord | None:
    for _ in range(8):
        uses = [(op, key) for op, key in consumers.get(tensor, []) if op.module == module]
        if len(uses) != 1:
            return None
        op, key = uses[0]
        if op.op_type in _MATMULS:
            return op if key == 0 else None
        if op.op_type not in _PASS or not op.outputs:
            return None
        tensor = op.outputs[0].tensor
    return None
