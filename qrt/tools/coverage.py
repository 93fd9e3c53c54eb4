"""Byte-weighted coverage: how much of a model's weight memory a plan quantizes, and into what.

"Did it quantize anything?" is answered by bytes, not by sites: a plan that quantizes 300 of
331 sites may still leave the embedding and the head — a third of a small model's weights —
in float, and a plan whose only enabling rule missed quantizes nothing at all while every
command succeeds. This module counts, torch-free, from the inventory's tensor table (every
parameter's shape and dtype) and the plan's decisions:

* **Weights** are the model's parameters (``param:<fqn>`` tensors): biases and norm weights
  included, since they are memory too. Bytes before are ``elements × dtype bits / 8``.
* **Which decision a weight gets** follows the eager runtime (``qrt/runtime/quant/eager.py``
  ``install``; ``qrt/runtime/finalize/weights.py``): a quantized ``module_state`` site serves
  every read of its parameter (the first one in plan order); otherwise the ops reading it as
  ``state`` each have their own site. A weight counts as quantized when every such reader is
  quantized; one read unquantized elsewhere (a tied embedding whose head alone is quantized)
  keeps its dense copy, so it counts as float and is listed as ``kept_dense``.
* **Bytes after** come from the decision's spec alone: ``bits × elements`` (the format's
  nominal bits: int4 is 4, fp8 8, fp4 4) plus, per scale group, the scale
  (``scale_dtype``'s bits, float32 where the spec leaves it to the runtime) and for an
  asymmetric integer spec an 8-bit zero point; NVFP4-style FP4 (``float8_e4m3fn`` block scales)
  adds its fp32 global scale. Groups: one per tensor, one per channel along the axis, or
  ``ceil(size / block_size)`` blocks along the axis for every other index. An axis the
  resolver left open counts as the output channel (axis 0) for per-channel and the last axis
  for per-block. Only the first stage of a sequential spec (``then``) is counted: finalize
  packs no multi-stage weight, and the later stages re-quantize scales, not elements.
  ``finalize`` stores int3/int5–int7 one code per byte (no portable packing), so for those the
  figure here is the format's size, not that of today's checkpoint.
* **Format names** are the ones users say: ``int8``, ``int4``, ``uint4`` …, ``fp8_e4m3``,
  ``fp8_e5m2``, ``mxfp8``, ``mxfp8_e5m2``, ``mxfp4`` (e8m0 block scales), ``nvfp4`` (e4m3 block
  scales), ``fp4_e2m1`` (other FP4 scales).

Per module, the figures cover the parameters of the module and its submodules, so the root's
are the whole model's and a tree can be coloured and summed at any level.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from qrt.formats import display_name, element_bits, global_scale_bits
from qrt.inventory.model import Inventory

__all__ = [
    "COVERAGE_THRESHOLD",
    "Coverage",
    "FormatBytes",
    "ModuleBytes",
    "WeightBytes",
    "coverage_of_plan",
    "coverage_of_rows",
    "format_name",
    "human_bytes",
    "render_coverage",
    "spec_bits",
]

COVERAGE_THRESHOLD = 0.5
"""The share of the weight bytes below which a config meant to quantize weights is reported
(lint QRT029) and ``qrt run`` refuses it. Why one half: in the models people quantize the
layers a weight config is for hold most of the bytes — a Llama-3-8B's linear layers are 87 %
of its weights, a Qwen2.5-0.5B's with its large tied embedding still 72 % — so a config
below half has missed something (a pattern that names no module, a later entry that turns
the weights off again), while configs that leave the head, the embedding or the attention in
float on purpose stay well above it."""

_FLOAT_BITS = {
    "float64": 64, "float32": 32, "float16": 16, "bfloat16": 16, "float8_e4m3fn": 8, "float8_e5m2": 8,
    "float8_e4m3fnuz": 8, "float8_e5m2fnuz": 8, "float8_e8m0fnu": 8, "int64": 64, "int32": 32, "int16": 16,
    "int8": 8, "uint8": 8, "bool": 8, "complex64": 64, "complex128": 128,
}  # fmt: skip
"""bits of a stored (unquantized) element, by the inventory's dtype name"""

_DEFAULT_BITS = 32
"""an inventory without dtypes (an old file) is read as float32"""

_STATE_ROLES = ("state", "module_state")


def format_name(decision: Mapping[str, Any]) -> str:
    """The format a decision (the plan's spec JSON) stores weights in, as users name it
    (:func:`qrt.formats.display_name`)."""
    return display_name(decision["dtype"], decision.get("scale_dtype"))


def _groups(granularity: Mapping[str, Any], shape: tuple[int, ...]) -> int:
    """How many scales a tensor of ``shape`` has under ``granularity``."""
    kind = granularity.get("type", "per_tensor")
    if kind == "per_tensor" or not shape:
        return 1
    rank = len(shape)
    axis = granularity.get("axis")
    if kind == "per_channel":
        axis = 0 if axis is None else axis
        return shape[axis % rank] if -rank <= axis < rank else 1
    axis = -1 if axis is None else axis
    if not -rank <= axis < rank:
        return 1
    block = max(int(granularity.get("block_size") or 1), 1)
    others = math.prod(n for d, n in enumerate(shape) if d != axis % rank)
    return others * math.ceil(shape[axis % rank] / block)


def spec_bits(decision: Mapping[str, Any], shape: tuple[int, ...]) -> int:
    """Bits a weight of ``shape`` takes under ``decision``: elements, scales, zero points and
    a global scale where the format has them (the module docstring says how)."""
    elements = math.prod(shape) if shape else 1
    groups = _groups(decision.get("granularity") or {}, shape)
    scale = decision.get("scale_dtype") or "float32"
    per_group = _FLOAT_BITS.get(scale, _DEFAULT_BITS)
    dtype = decision["dtype"]
    if decision.get("qscheme") == "asymmetric" and dtype.startswith(("int", "uint")):
        per_group += 8
    extra = global_scale_bits(dtype, decision.get("scale_dtype"))
    return elements * element_bits(dtype) + groups * per_group + extra


@dataclass(frozen=True)
class WeightBytes:
    """One parameter: its size before and after, and the decision that gives it."""

    name: str
    module: str
    shape: tuple[int, ...]
    dtype: str | None
    bits_before: int
    bits_after: int
    format: str | None
    """the quantized format, ``None`` when it stays float"""
    site: str | None = None
    """the quantizer path whose decision it gets"""
    decision: Mapping[str, Any] | None = None
    kept_dense: bool = False
    """quantized where one op reads it, read unquantized elsewhere: its float copy stays"""

    @property
    def elements(self) -> int:
        return math.prod(self.shape) if self.shape else 1

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name, "module": self.module, "shape": list(self.shape), "dtype": self.dtype,
            "elements": self.elements, "bytes_before": _bytes(self.bits_before),
            "bytes_after": _bytes(self.bits_after), "format": self.format, "site": self.site,
            "kept_dense": self.kept_dense,
        }


def _bytes(bits: int) -> float:
    """Bits as bytes; whole bytes stay integers in JSON."""
    return bits // 8 if bits % 8 == 0 else bits / 8


@dataclass
class FormatBytes:
    """Sums over a set of weights: tensors, elements, bits before and after."""

    tensors: int = 0
    elements: int = 0
    bits_before: int = 0
    bits_after: int = 0

    def add(self, w: WeightBytes) -> None:
        self.tensors += 1
        self.elements += w.elements
        self.bits_before += w.bits_before
        self.bits_after += w.bits_after

    @property
    def bits_per_weight(self) -> float:
        return self.bits_after / self.elements if self.elements else 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "tensors": self.tensors, "elements": self.elements, "bytes_before": _bytes(self.bits_before),
            "bytes_after": _bytes(self.bits_after), "bits_per_weight": round(self.bits_per_weight, 4),
        }


@dataclass
class ModuleBytes(FormatBytes):
    """A module's weights and its submodules': all, and the quantized ones, by format."""

    quantized: FormatBytes = field(default_factory=FormatBytes)
    formats: dict[str, int] = field(default_factory=dict)
    """quantized bits before, by format (what the tree colours by)"""

    def add(self, w: WeightBytes) -> None:
        super().add(w)
        if w.format is not None:
            self.quantized.add(w)
            self.formats[w.format] = self.formats.get(w.format, 0) + w.bits_before

    @property
    def fraction(self) -> float:
        """Quantized weight bytes / all weight bytes (0 for a module without weights)."""
        return self.quantized.bits_before / self.bits_before if self.bits_before else 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            **super().to_json(),
            "quantized_bytes": _bytes(self.quantized.bits_before),
            "fraction": round(self.fraction, 6),
            "formats": {k: _bytes(v) for k, v in sorted(self.formats.items())},
        }


@dataclass(frozen=True)
class Coverage:
    """Every weight of a model under one plan, and the sums people ask for."""

    weights: tuple[WeightBytes, ...]
    modules: tuple[str, ...] = ()
    """the inventory's module names (the tree); parameters are summed into their owners"""

    @property
    def total(self) -> ModuleBytes:
        out = ModuleBytes()
        for w in self.weights:
            out.add(w)
        return out

    @property
    def fraction(self) -> float:
        return self.total.fraction

    def by_format(self) -> dict[str, FormatBytes]:
        """Sums per format, the float weights under ``"float"``; largest first."""
        out: dict[str, FormatBytes] = {}
        for w in self.weights:
            out.setdefault(w.format or "float", FormatBytes()).add(w)
        return dict(sorted(out.items(), key=lambda kv: (kv[0] == "float", -kv[1].bits_before, kv[0])))

    def by_module(self) -> dict[str, ModuleBytes]:
        """Sums per module, each over its own parameters and its submodules'; every module of
        the inventory has an entry (a module without weights has zeros)."""
        known = set(self.modules) | {""}
        out: dict[str, ModuleBytes] = {name: ModuleBytes() for name in ("", *self.modules)}
        for w in self.weights:
            owner = w.module
            while owner not in known and owner:
                owner = owner.rpartition(".")[0]
            chain = [owner]
            while owner:
                owner = owner.rpartition(".")[0]
                if owner in known:
                    chain.append(owner)
            for name in chain:
                out.setdefault(name, ModuleBytes()).add(w)
        return out

    def float_weights(self, n: int = 3) -> list[WeightBytes]:
        """The ``n`` largest weights left in float: what a user most likely meant to reach."""
        return sorted((w for w in self.weights if w.format is None), key=lambda w: (-w.bits_before, w.name))[:n]

    def to_json(self) -> dict[str, Any]:
        total = self.total
        return {
            "bytes_before": _bytes(total.bits_before),
            "bytes_after": _bytes(total.bits_after),
            "quantized_bytes": _bytes(total.quantized.bits_before),
            "fraction": round(total.fraction, 6),
            "bits_per_weight": round(total.bits_per_weight, 4),
            "tensors": total.tensors,
            "quantized_tensors": total.quantized.tensors,
            "formats": {k: v.to_json() for k, v in self.by_format().items()},
            "kept_dense": [w.name for w in self.weights if w.kept_dense],
        }


def _weight_decision(sites: Iterable[Any], decisions: Mapping[str, Any]) -> tuple[str | None, Any, bool]:
    """``(site, decision, kept_dense)`` for one parameter, as the eager runtime reads it."""
    readers: list[tuple[str, Any]] = []
    for site in sites:
        if site.role == "module_state":
            decision = decisions.get(site.quantizer_path)
            if decision is not None:
                return site.quantizer_path, decision, False
        elif site.role == "state" and site.op_name is not None:
            readers.append((site.quantizer_path, decisions.get(site.quantizer_path)))
    quantized = [(p, d) for p, d in readers if d is not None]
    if not quantized:
        return None, None, False
    if len(quantized) < len(readers):
        return quantized[0][0], quantized[0][1], True
    return quantized[0][0], quantized[0][1], False


def coverage_of_rows(inventory: Inventory, decisions: Mapping[str, Any],
                     tensors: Sequence[tuple[Any, ...]] | None = None) -> Coverage:
    """Coverage from an inventory and its plan's decisions by quantizer path (the plan JSON's
    ``decision`` objects, ``None`` for not quantized): what a plan file gives. ``tensors``: the
    tensors as rows (:meth:`~qrt.inventory.model.Inventory.tensor_rows`) where the inventory
    passed holds only the sites to read."""
    weights = []
    by_tensor = inventory.sites_by_tensor
    for tensor_id, shape_, dtype, *_ in inventory.tensor_rows() if tensors is None else tensors:
        if not tensor_id.startswith("param:"):
            continue
        name = tensor_id[len("param:"):]
        shape = tuple(shape_ or ())
        elements = math.prod(shape) if shape else 1
        before = elements * _FLOAT_BITS.get(dtype or "", _DEFAULT_BITS)
        sites = [s for s in by_tensor.get(tensor_id, ()) if s.role in _STATE_ROLES]
        path, decision, dense = _weight_decision(sites, decisions)
        if decision is None or dense:
            weights.append(WeightBytes(name, name.rpartition(".")[0], shape, dtype, before, before, None,
                                       path, decision, dense))
            continue
        weights.append(WeightBytes(name, name.rpartition(".")[0], shape, dtype, before,
                                   spec_bits(decision, shape), format_name(decision), path, decision))
    return Coverage(tuple(weights), tuple(m.name for m in inventory.modules if m.name))


def coverage_of_plan(plan: Any) -> Coverage:
    """Coverage of a resolved :class:`~qrt.resolver.plan.Plan` (default axes filled in)."""
    from qrt.resolver.plan import plan_spec_json

    decisions: dict[str, Any] = {}
    for d in plan.decisions:
        site = d.site
        if site.role in _STATE_ROLES and site.tensor.startswith("param:") and d.spec is not None:
            decisions[site.quantizer_path] = plan_spec_json(plan.spec(d))
    return coverage_of_rows(plan.inventory, decisions)


def human_bytes(n: float) -> str:
    """``1536`` → ``1.5 KiB``."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return ""  # pragma: no cover


def render_coverage(cov: Coverage) -> str:
    """The text block ``qrt resolve --summary`` and ``qrt run`` print."""
    total = cov.total
    before, after = total.bits_before / 8, total.bits_after / 8
    ratio = f", {before / after:.2f}x smaller" if after and before != after else ""
    lines = [
        f"weights: {human_bytes(before)} -> {human_bytes(after)}{ratio}; "
        f"{100 * total.fraction:.1f}% of the weight bytes quantized "
        f"({total.quantized.tensors} of {total.tensors} tensors), "
        f"{total.bits_per_weight:.2f} bits per weight"
    ]
    rows = cov.by_format()
    width = max((len(k) for k in rows), default=5)
    for name, f in rows.items():
        share = 100 * f.bits_before / total.bits_before if total.bits_before else 0.0
        lines.append(
            f"  {name:<{width}}  {human_bytes(f.bits_before / 8):>10} -> {human_bytes(f.bits_after / 8):>10}"
            f"  {share:5.1f}% of the weights  {f.tensors:>5} tensors  {f.bits_per_weight:.2f} bits/weight"
        )
    dense = [w.name for w in cov.weights if w.kept_dense]
    if dense:
        lines.append(f"  kept float (also read unquantized): {', '.join(dense)}")
    return "\n".join(lines) + "\n"
