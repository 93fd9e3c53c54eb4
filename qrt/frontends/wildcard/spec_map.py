"""ModelOpt quantizer attributes ↔ :class:`~qrt.ir.spec.QuantizationSpec`, exactly both ways.

Why exactness is built in rather than hoped for: a user's ``cfg`` must survive a trip through
qrt untouched (nothing they wrote is dropped, converting back gives what they wrote), and a
config converted between front ends must resolve to the same decisions. So the mapping is
made of two halves:

* **Fields where an exact equivalent exists** are mapped (:func:`spec_from_attributes`):

  ================================  ==========================================================
  ModelOpt 0.47                     qrt spec
  ================================  ==========================================================
  ``num_bits: N`` (2–8)             ``intN``, ``uintN`` with ``unsigned: true``
  ``num_bits: [4, 3]`` / ``[5, 2]``  ``float8_e4m3fn`` / ``float8_e5m2``
  ``num_bits: [2, 1]`` in blocks    ``float4_e2m1fn_x2``
  ``axis: null``, no blocks         ``per_tensor``
  ``axis: A`` (one integer)         ``per_channel(axis=A)``
  ``block_sizes: {A: B, ...}``      ``per_block(B, axis=A)`` (one blocked axis)
  ``scale_bits: [4, 3]`` / ``[8, 0]``  ``scale_dtype`` ``float8_e4m3fn`` / ``float8_e8m0fnu``
  ``calibrator: max``               ``qparam_calculator=minmax range_calculator=minmax``
  ``… type: dynamic`` (either)      ``qparam_calculator=static`` (from the tensor each call)
  ``calibrator: histogram``         ``range_calculator=histogram``
  a list ``cfg`` (stages)           the first stage, with the others in ``then``
  ================================  ==========================================================

* **Everything else is an extra.** The attributes are mapped to a spec, the spec is mapped
  back with :func:`attributes_from_spec`'s canonical choices, and every top-level attribute
  whose value differs is carried in ``extras`` under its own name, as JSON (tuples as lists,
  integer keys as strings). Converting back applies the extras over the canonical attributes,
  so ``attributes_from_spec(spec_from_attributes(a)) == a`` for every valid ``a`` — checked
  by property tests, not argued.

**Frames.** ModelOpt applies a quantizer's attributes to the tensor its converted module
holds; a plan indexes the tensor as stored (docs/semantics.md §3). The two differ on one kind of site:
the weight of transformers' ``Conv1D``, stored ``(in, out)``, which ModelOpt's conversion
transposes to ``(out, in)`` (:func:`qrt.inventory.modelopt.weight_transposed`). There the
attributes are translated before they are mapped (``transposed=True``, or the site helpers
:func:`spec_for_site` / :func:`attributes_for_site`): every axis an attribute names — ``axis``,
the integer keys of ``block_sizes`` (and of its ``scale_block_sizes``) and of ``bias`` — swaps
the matrix's two dimensions, ``0 ↔ 1`` and ``-1 ↔ -2``, sign kept. The swap is its own
inverse, so converting back with the same site gives exactly what was written
(``axis: -1`` stays ``-1``, it does not come back as ``0``).

The other direction is partial: a spec qrt can write that ModelOpt cannot say
(``asymmetric``, a moving-average calibration, a per-channel axis left for the resolver …)
raises :class:`NoModelOptEquivalent` with one reason per field, which ``qrt convert`` prints.
A spec is convertible exactly when mapping it back gives the same spec.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping, Sequence
from typing import Any


from qrt.errors import QrtError
from qrt.frontends.wildcard.attributes import ATTRIBUTE_FIELDS, attribute_defaults, validate_attributes
from qrt.frontends.wildcard.errors import WildcardConfigError
from qrt.inventory.modelopt import weight_transposed
from qrt.ir.site import Site
from qrt.ir.spec import PerBlock, PerChannel, PerTensor, QuantizationSpec

__all__ = [
    "NoModelOptEquivalent",
    "Attributes",
    "attributes_for_site",
    "attributes_from_spec",
    "json_attributes",
    "normalise_attributes",
    "spec_for_site",
    "spec_from_attributes",
    "transposed_attributes",
]

Attributes = dict[str, Any]
"""One stage's attributes, every 0.47 attribute except ``enable``, normalised."""

_FLOATS: dict[tuple[int, int], str] = {
    (4, 3): "float8_e4m3fn",
    (5, 2): "float8_e5m2",
    (2, 1): "float4_e2m1fn_x2",
}
_FLOAT_BITS = {dtype: pair for pair, dtype in _FLOATS.items()}
_SCALE_BITS: dict[tuple[int, int], str] = {(4, 3): "float8_e4m3fn", (8, 0): "float8_e8m0fnu"}
_SCALE_DTYPES = {dtype: pair for pair, dtype in _SCALE_BITS.items()}
SEQUENTIAL_ONE = "sequential"
"""The one extra that is not a ModelOpt attribute: ``sequential: true`` on a spec without
``then`` says its ``cfg`` was a list of one stage (0.47 builds a sequential quantizer)."""


class NoModelOptEquivalent(QrtError):
    """A spec that a ModelOpt ``cfg`` cannot express exactly; ``reasons`` has one line each."""

    code = "QRT209"

    def __init__(self, reasons: Sequence[str]) -> None:
        self.reasons = tuple(reasons)
        super().__init__("; ".join(self.reasons))


# =============================================================================================
# Normal forms


def normalise_attributes(attributes: Mapping[str, Any], *, where: str = "attributes") -> Attributes:
    """Checked, normalised and completed with the 0.47 defaults; ``enable`` left out."""
    given = validate_attributes(attributes, where=where)
    full = {**attribute_defaults(), **given}
    full.pop("enable", None)
    return full


def _to_json(value: Any) -> Any:
    """Tuples → lists, integer keys → strings: the JSON form the presets file documents."""
    if isinstance(value, Mapping):
        return {str(k): _to_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_to_json(v) for v in value]
    return value


def json_attributes(attributes: Attributes | list[Attributes]) -> Any:
    """Attributes, stages or a whole config in JSON form (tuples as lists, keys as strings)."""
    return _to_json(attributes)


# =============================================================================================
# Frames: ModelOpt's view of a transposed weight ↔ the stored tensor

_SWAP = {0: 1, 1: 0, -1: -2, -2: -1}
"""An axis of a matrix in one frame → the same dimension in its transpose, sign kept (so
``-1``, the input features in ModelOpt's ``(out, in)`` view, is ``-2`` on the stored
``(in, out)`` tensor, never rewritten as ``0``). Other axes have no counterpart on a matrix
and are left for the numerics check to refuse with the site's shape."""


def _swap(key: Any) -> Any:
    if isinstance(key, int) and not isinstance(key, bool):
        return _SWAP.get(key, key)
    return key


def _swap_keys(value: Any) -> Any:
    if not isinstance(value, Mapping):
        return value
    return {
        _swap(k): (_swap_keys(v) if k == "scale_block_sizes" else v) for k, v in value.items()
    }


def _transposed_stage(attributes: Mapping[str, Any], where: str) -> dict[str, Any]:
    a = validate_attributes(attributes, where=where)
    axis = a.get("axis")
    if isinstance(axis, tuple):
        a["axis"] = tuple(_swap(x) for x in axis)
    elif axis is not None:
        a["axis"] = _swap(axis)
    for name in ("block_sizes", "bias"):
        if a.get(name) is not None:
            a[name] = _swap_keys(a[name])
    return a


def transposed_attributes(
    attributes: Mapping[str, Any] | Sequence[Mapping[str, Any]], *, where: str = "cfg"
) -> Any:
    """The same ``cfg`` (a dict or a list of stages), normalised, with every axis it names
    moved to the transposed matrix (``0 ↔ 1``, ``-1 ↔ -2``): its own inverse, see the module
    docstring."""
    if isinstance(attributes, Mapping):
        return _transposed_stage(attributes, where)
    return [_transposed_stage(stage, f"{where}[{i}]") for i, stage in enumerate(attributes)]


def spec_for_site(
    attributes: Mapping[str, Any] | Sequence[Mapping[str, Any]], site: Site, *, where: str = "cfg"
) -> QuantizationSpec:
    """The spec a ``cfg`` gives on ``site``, its axes indexing the tensor as stored."""
    return spec_from_attributes(attributes, where=where, transposed=weight_transposed(site))


def attributes_for_site(spec: QuantizationSpec, site: Site) -> Attributes | list[Attributes]:
    """The ModelOpt attributes of ``site``'s spec, in ModelOpt's frame (what a list writes)."""
    return attributes_from_spec(spec, transposed=weight_transposed(site))


# =============================================================================================
# ModelOpt → spec


def _blocked_axes(block_sizes: Mapping[Any, Any] | None) -> list[tuple[int, int]]:
    if not block_sizes:
        return []
    return [(k, v) for k, v in block_sizes.items() if isinstance(k, int) and v is not None]


def _mapped_fields(a: Attributes) -> dict[str, Any]:
    """The spec fields with an exact ModelOpt counterpart, read from one stage."""
    data: dict[str, Any] = {}
    num_bits = a["num_bits"]
    blocks = a["block_sizes"]
    blocked = _blocked_axes(blocks)
    per_block = len(blocked) == 1
    if isinstance(num_bits, int) and not isinstance(num_bits, bool) and 2 <= num_bits <= 8:
        data["dtype"] = f"{'u' if a['unsigned'] else ''}int{num_bits}"
    elif isinstance(num_bits, tuple) and num_bits in _FLOATS:
        if num_bits != (2, 1) or per_block:
            data["dtype"] = _FLOATS[num_bits]
    if blocks is None:
        axis = a["axis"]
        if axis is None:
            data["granularity"] = PerTensor()
        elif isinstance(axis, int):
            data["granularity"] = PerChannel(axis=axis)
    elif per_block:
        axis, size = blocked[0]
        data["granularity"] = PerBlock(axis=axis, block_size=size)
        scale = blocks.get("scale_bits")
        if isinstance(scale, tuple) and scale in _SCALE_BITS:
            data["scale_dtype"] = _SCALE_BITS[scale]
    dynamic = a["type"] == "dynamic" or (isinstance(blocks, Mapping) and blocks.get("type") == "dynamic")
    if a["calibrator"] == "max":
        data["qparam_calculator"] = "static" if dynamic else "minmax"
        data["range_calculator"] = "minmax"
    elif a["calibrator"] == "histogram" and not dynamic:
        data["range_calculator"] = "histogram"
    return data


def _build(data: dict[str, Any]) -> QuantizationSpec:
    """A spec from mapped fields; a combination qrt refuses drops to the fields that fit (the
    difference then travels as extras)."""
    for drop in ((), ("scale_dtype",), ("scale_dtype", "dtype")):
        try:
            return QuantizationSpec.model_validate({k: v for k, v in data.items() if k not in drop})
        except Exception as exc:  # pydantic is loaded only by a spec the plain check refuses
            from pydantic import ValidationError

            if not isinstance(exc, ValidationError):
                raise
            continue
    return QuantizationSpec.model_validate({k: v for k, v in data.items() if k == "granularity"})


def _stage_spec(attributes: Mapping[str, Any], where: str) -> QuantizationSpec:
    a = normalise_attributes(attributes, where=where)
    base = _build(_mapped_fields(a))
    canonical = _canonical_attributes(base, [])
    extras = {}
    for name, value in a.items():
        if canonical.get(name) != value:
            try:
                json.dumps(_to_json(value), allow_nan=False)
            except (TypeError, ValueError):
                raise WildcardConfigError(
                    f"{where}.{name}: {value!r} has no JSON form, so qrt cannot carry it",
                    hint="write it as JSON data (a calibrator as 'max' or 'histogram')",
                ) from None
            extras[name] = _to_json(value)
    if not extras:
        return base
    return base.model_copy(update={"extras": QuantizationSpec(extras=extras).extras})


def spec_from_attributes(
    attributes: Mapping[str, Any] | Sequence[Mapping[str, Any]],
    *,
    where: str = "cfg",
    transposed: bool = False,
) -> QuantizationSpec:
    """The spec for a ``cfg`` (a dict, or a list of stages); exact, see the module docstring.
    ``transposed``: the attributes index the transpose of the tensor the spec is for (ModelOpt's
    view of a ``Conv1D`` weight); the spec's axes are translated to the tensor itself."""
    if transposed:
        attributes = transposed_attributes(attributes, where=where)
    if isinstance(attributes, Mapping):
        return _stage_spec(attributes, where)
    stages = [_stage_spec(stage, f"{where}[{i}]") for i, stage in enumerate(attributes)]
    if not stages:
        raise ValueError(f"{where}: a list cfg needs at least one stage")
    if len(stages) == 1:
        return stages[0].model_copy(
            update={"extras": QuantizationSpec(extras={**stages[0].extra_values(), SEQUENTIAL_ONE: True}).extras}
        )
    return stages[0].model_copy(update={"then": tuple(stages[1:])})


# =============================================================================================
# spec → ModelOpt


def _canonical_attributes(spec: QuantizationSpec, reasons: list[str]) -> Attributes:
    """The attributes a spec's fields say (no extras), noting what ModelOpt cannot say."""
    a = attribute_defaults()
    a.pop("enable")
    dtype = spec.dtype
    if dtype in _FLOAT_BITS:
        a["num_bits"] = _FLOAT_BITS[dtype]
    else:
        a["unsigned"] = dtype.startswith("u")
        a["num_bits"] = int(dtype.lstrip("uint"))
    if spec.qscheme != "symmetric":
        reasons.append("qscheme asymmetric: ModelOpt quantizers have no zero point")
    g = spec.granularity
    dynamic = spec.qparam_calculator == "static"
    if isinstance(g, PerChannel):
        if g.axis is None:
            reasons.append(
                "per_channel without an axis: the axis comes from the model (convert with "
                "--model so that it is resolved), ModelOpt needs it written"
            )
        a["axis"] = g.axis
    elif isinstance(g, PerBlock):
        if g.axis is None:
            reasons.append(
                "per_block without an axis: the axis comes from the model (convert with --model "
                "so that it is resolved), ModelOpt needs it written"
            )
        blocks: dict[Any, Any] = {g.axis if g.axis is not None else -1: g.block_size}
        blocks["type"] = "dynamic" if dynamic else "static"
        if spec.scale_dtype in _SCALE_DTYPES:
            blocks["scale_bits"] = _SCALE_DTYPES[spec.scale_dtype]
        a["block_sizes"] = blocks
    if spec.scale_dtype is not None and (not isinstance(g, PerBlock) or spec.scale_dtype not in _SCALE_DTYPES):
        reasons.append(
            f"scale_dtype {spec.scale_dtype}: ModelOpt writes scale bits only for blocks, as "
            f"float8_e4m3fn or float8_e8m0fnu"
        )
    calculators = (spec.qparam_calculator, spec.range_calculator)
    if calculators == ("minmax", "minmax"):
        a["calibrator"] = "max"
    elif calculators == ("static", "minmax"):
        a["calibrator"] = "max"
        if not isinstance(g, PerBlock):
            a["type"] = "dynamic"
    elif calculators == (None, "histogram"):
        a["calibrator"] = "histogram"
    else:
        reasons.append(
            f"qparam_calculator={spec.qparam_calculator or 'default'} "
            f"range_calculator={spec.range_calculator or 'default'}: ModelOpt calibrates with a "
            f"running max (qparam_calculator=minmax range_calculator=minmax), per call "
            f"(qparam_calculator=static range_calculator=minmax) or a histogram "
            f"(range_calculator=histogram)"
        )
    if spec.fake_quantize is not None:
        reasons.append(
            f"fake_quantize {spec.fake_quantize}: ModelOpt's straight-through gradient "
            f"(pass_through_bwd) is qrt's default; leave fake_quantize unset"
        )
    return a


def _stage_attributes(spec: QuantizationSpec, reasons: list[str], label: str) -> Attributes:
    """One stage's attributes. Exact when mapping them back gives the same stage; otherwise
    the reasons noted on the way (or a general one) say why."""
    notes: list[str] = []
    a = _canonical_attributes(spec, notes)
    extras = spec.extra_values()
    extras.pop(SEQUENTIAL_ONE, None)
    own = [
        f"extra {name!r} is not a ModelOpt quantizer attribute"
        for name in extras
        if name not in ATTRIBUTE_FIELDS or name == "enable"
    ]
    if not own:
        a.update(extras)
        try:
            a = normalise_attributes(a, where=label or "cfg")
        except QrtError as exc:
            own.append(f"its extras make invalid ModelOpt attributes: {exc.message}")
    if not own:
        wanted = spec.model_copy(update={"then": (), "extras": QuantizationSpec(extras=extras).extras})
        if _stage_spec(a, label or "cfg") != wanted:
            own = notes or ["mapping it to ModelOpt attributes and back does not give the same spec"]
    reasons += [f"{label}: {r}" if label else r for r in own]
    return a


def attributes_from_spec(spec: QuantizationSpec, *, transposed: bool = False) -> Attributes | list[Attributes]:
    """The full ModelOpt attributes of a spec (a list for stages); raises
    :class:`NoModelOptEquivalent` naming every part ModelOpt cannot express. ``transposed``:
    ModelOpt sees the transpose of the spec's tensor, so the axes are written in that frame."""
    reasons: list[str] = []
    stages = spec.stages
    sequential = bool(spec.then) or spec.extra_values().get(SEQUENTIAL_ONE) is True
    labels = [f"stage {i}" if sequential else "" for i in range(len(stages))]
    out = [_stage_attributes(stage, reasons, label) for stage, label in zip(stages, labels)]
    if reasons:
        raise NoModelOptEquivalent(reasons)
    if transposed:
        out = [_transposed_stage(stage, "cfg") for stage in out]
    return copy.deepcopy(out if sequential else out[0])
