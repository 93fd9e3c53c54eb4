"""Default axes of per-channel and per-block weight specs (docs/semantics.md §3).

A weight spec may leave ``axis`` open; the axis then depends on the layout of the weight:
output channels first for Linear/Conv/Embedding (per-channel axis 0, per-block axis 1),
swapped for transposed convolutions and for ``addmm`` weights such as transformers' ``Conv1D``
(stored ``(in, out)``: per-channel axis 1, per-block axis 0). For an op's
state the row is chosen by the op type that reads it — ``linear``, ``conv1d``–``conv3d``,
``conv_transpose1d``–``3d`` and ``embedding`` are the functional forms of those modules, so
``F.linear`` in a custom module resolves like ``nn.Linear``; for a module-level state spec,
by the class of the module that owns the parameter.

One expert's matrix of a fused mixture-of-experts parameter (``gate_up_proj[i]``, stored
``(out, in)``) takes the ``linear`` row: per-channel on its output features, per-block along
its input features.

One more case is not in the tables but has only one answer: a one-dimensional tensor (a
norm's affine weight, a learned scale) has a single axis, so per-channel and per-block specs
on it use axis 0. Without this, the no-argument W8A8 config — which quantizes every state
tensor named ``weight`` — would be an error on any model with a BatchNorm or an RMSNorm.

Where no row applies the axis stays open (``None``) in the plan; for hierarchical configs
that is an error (docs/semantics.md §3), and lint reports it for the other front ends.
"""

from __future__ import annotations

from qrt.ir.site import Site
from qrt.ir.spec import QuantizationSpec

__all__ = ["AxisFiller", "default_axis", "resolve_axes"]

# op type → (per-channel axis, per-block axis)
_BY_OP: dict[str, tuple[int, int]] = {
    "linear": (0, 1),
    "embedding": (0, 1),
    **{f"conv{d}d": (0, 1) for d in (1, 2, 3)},
    **{f"conv_transpose{d}d": (1, 0) for d in (1, 2, 3)},
    # addmm(bias, x, weight) multiplies by a weight stored (in, out): its columns are the
    # output features. transformers' Conv1D (GPT-2's projections) runs exactly this
    "addmm": (1, 0),
}

# module class (bare name) → the op type whose row it uses
_BY_MODULE: dict[str, str] = {
    "Linear": "linear",
    "NonDynamicallyQuantizableLinear": "linear",
    "Embedding": "embedding",
    **{f"Conv{d}d": f"conv{d}d" for d in (1, 2, 3)},
    **{f"ConvTranspose{d}d": f"conv_transpose{d}d" for d in (1, 2, 3)},
    "Conv1D": "addmm",  # transformers.pytorch_utils.Conv1D: weight (in, out), run by addmm
}


def _row(site: Site, owner_type: str | None) -> tuple[int, int] | None:
    if site.role == "state" and site.expert is not None:
        return _BY_OP["linear"]  # one expert's ``(out, in)`` matrix, read as a linear layer's
    if site.role == "state" and site.op_type is not None:
        if site.key != "weight":
            return None
        return _BY_OP.get(site.op_type)
    if site.role == "module_state" and owner_type is not None:
        if str(site.key).rpartition(".")[2] != "weight":
            return None
        op = _BY_MODULE.get(owner_type.rpartition(".")[2])
        return _BY_OP.get(op) if op else None
    return None


def default_axis(spec: QuantizationSpec, site: Site, owner_type: str | None = None) -> int | None:
    """The axis the tables give this site's spec, or ``None`` where none applies."""
    gran = spec.granularity
    if gran.type == "per_tensor":
        return None
    row = _row(site, owner_type)
    if row is None:
        return 0 if site.shape is not None and len(site.shape) == 1 else None
    return row[0] if gran.type == "per_channel" else row[1]


def resolve_axes(spec: QuantizationSpec, site: Site, owner_type: str | None = None) -> QuantizationSpec:
    """``spec`` with an open axis filled from the tables where they apply."""
    gran = spec.granularity
    if gran.type == "per_tensor" or getattr(gran, "axis", None) is not None:
        return spec
    axis = default_axis(spec, site, owner_type)
    return spec if axis is None else spec.with_axis(axis)


class AxisFiller:
    """:func:`resolve_axes` over many sites, computed once per distinct (spec, table row,
    one-dimensional tensor): the only facts of a site :func:`default_axis` reads. A
    70B-shaped Llama's 1,122 weight sites with an open axis have two; filling each one anew
    (``with_axis`` checks and builds a spec) was a third of ``qrt lint --model``'s checks.
    Specs are compared by identity (the resolver shares one per rule), each kept alive by the
    memo that names it."""

    def __init__(self) -> None:
        self._memo: dict[tuple[int, tuple[int, int] | None, bool], tuple[QuantizationSpec, QuantizationSpec]] = {}

    def __call__(self, spec: QuantizationSpec, site: Site, owner_type: str | None = None) -> QuantizationSpec:
        gran = spec.granularity
        if gran.type == "per_tensor" or getattr(gran, "axis", None) is not None:
            return spec
        key = (id(spec), _row(site, owner_type), site.shape is not None and len(site.shape) == 1)
        found = self._memo.get(key)
        if found is None or found[0] is not spec:
            found = (spec, resolve_axes(spec, site, owner_type))
            self._memo[key] = found
        return found[1]
