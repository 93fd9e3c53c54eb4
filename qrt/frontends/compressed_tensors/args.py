"""compressed-tensors ``QuantizationArgs`` → :class:`~qrt.ir.spec.QuantizationSpec`, exactly.

A config's ``weights`` / ``input_activations`` / ``output_activations`` (and
``kv_cache_scheme``) are compressed-tensors 0.20 ``QuantizationArgs``
(``compressed_tensors/quantization/quant_args.py``). They are read in two steps:

1. **Checked as compressed-tensors checks them.** Unknown keys are refused (its model is
   ``extra="forbid"``); ``strategy`` is inferred from ``group_size`` as its
   ``validate_model_after`` does (none → ``tensor``, ``> 0`` → ``group``, ``-1`` →
   ``channel``); every combination it refuses is refused here with its reason (``group``
   without a positive ``group_size``, ``block`` without ``block_structure``, a static
   ``token`` strategy, ``dynamic: local`` off ``tensor_group``, ``actorder: true`` …), and
   ``QuantizationScheme``'s own checks (activation strategies, no ``actorder`` on activations)
   by :func:`check_scheme_args`.
2. **Mapped field by field** (:func:`spec_from_args`):

   =====================================  =================================================
   compressed-tensors 0.20                qrt spec
   =====================================  =================================================
   ``type: int``, ``num_bits: N`` (2–8)   ``intN`` (signed codes, as compressed-tensors
                                          stores them; ``symmetric: false`` adds a zero point)
   ``type: float``, ``num_bits: 8`` / 4   ``float8_e4m3fn`` / ``float4_e2m1fn_x2``
   ``symmetric``                          ``qscheme`` symmetric / asymmetric
   ``strategy: tensor``                   ``per_tensor``
   ``strategy: channel`` (weights)        ``per_channel(axis=0)``: one scale per output row
   ``strategy: group``, ``group_size: G``  ``per_block(axis=1, block_size=G)`` on a weight
                                          (its input features; weights are 2-D), ``axis=-1``
                                          on an activation: runs along the last dimension
   ``strategy: tensor_group`` (FP4)       ``per_block(G)``, the same axis, with ``float8_e4m3fn``
                                          scales: NVFP4, whose per-tensor global scale qrt's
                                          float4 format always has
   ``scale_dtype: torch.uint8``, float    ``scale_dtype: float8_e8m0fnu`` (MX: power-of-two
   elements in groups                     scales stored as bytes)
   ``scale_dtype`` float16/bfloat16/      the same ``scale_dtype``
   float32/float8_e4m3fn
   ``dynamic: true`` (activations)        ``qparam_calculator: static`` (from the tensor on
                                          every call, as ModelOpt's ``type: dynamic`` reads)
   weights (not dynamic)                  ``qparam_calculator: static`` (from the weight
                                          itself, as compressed-tensors computes them)
   =====================================  =================================================

   What qrt has no field for travels as an **extra** under compressed-tensors' own key, so
   nothing is dropped and a runtime that does not know it refuses the spec
   (:mod:`qrt.ir.spec`): ``strategy: token`` / ``attn_head`` (on a per-tensor base),
   ``block_structure`` (2-D weight blocks, on a per-tensor base), ``dynamic: local``,
   ``observer`` and ``observer_kwargs`` (llm-compressor's calibration, which qrt's
   calculators do not reproduce), ``actorder`` (GPTQ's column order), and a ``zp_dtype``
   other than the one compressed-tensors infers for an asymmetric spec.

   **Errors, never approximations**: a format qrt has no dtype for (FP6 E2M3, integers of more
   than 8 bits, any other float width), ``tensor_group`` on anything but FP4 with
   ``float8_e4m3fn`` scales, FP4 ``group`` without ``torch.uint8`` scales (qrt's float4 would
   add NVFP4's global scale), per-channel activations, other scale dtypes. Each names the key.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from pydantic import ValidationError

from qrt.errors import did_you_mean
from qrt.frontends.compressed_tensors.errors import CompressedTensorsConfigError
from qrt.ir.spec import PerBlock, PerChannel, PerTensor, QuantizationSpec, spec_error_message

__all__ = [
    "ARG_FIELDS",
    "ROLES",
    "STRATEGIES",
    "Locate",
    "check_args",
    "check_scheme_args",
    "spec_from_args",
]

ARG_FIELDS: tuple[str, ...] = (
    "num_bits", "type", "symmetric", "group_size", "strategy", "block_structure", "dynamic",
    "actorder", "scale_dtype", "zp_dtype", "observer", "observer_kwargs",
)
"""``QuantizationArgs``' fields in compressed-tensors 0.20, in its declaration order."""

STRATEGIES: tuple[str, ...] = ("tensor", "channel", "group", "block", "token", "tensor_group", "attn_head")
ROLES: tuple[str, ...] = ("weights", "input_activations", "output_activations")
_INPUT_STRATEGIES = ("token", "tensor", "group", "tensor_group", "attn_head")
_DYNAMIC_STRATEGIES = ("token", "tensor", "tensor_group", "group")

Locate = Callable[[tuple[Any, ...]], "str | None"]
"""``file:line:col`` of a key path inside the document, where known."""


def _fail(message: str, where: str, locate: Locate, path: tuple[Any, ...], hint: str | None = None) -> CompressedTensorsConfigError:
    return CompressedTensorsConfigError(f"{where}: {message}", location=locate(path), hint=hint)


def _torch_dtype(value: Any) -> str | None:
    """``"torch.uint8"`` / ``"uint8"`` → ``"uint8"``; compressed-tensors writes ``str(dtype)``."""
    if value is None:
        return None
    if not isinstance(value, str):
        return None
    return value.strip().removeprefix("torch.")


def check_args(raw: Any, where: str, locate: Locate, path: tuple[Any, ...]) -> dict[str, Any]:
    """One ``QuantizationArgs`` mapping, checked as compressed-tensors 0.20 checks it, with its
    inferred ``strategy`` filled in; every key the user wrote is kept."""
    if not isinstance(raw, Mapping):
        raise _fail(f"quantization args must be a mapping of {', '.join(ARG_FIELDS)}, got {raw!r}",
                    where, locate, path)
    for key in raw:
        if key not in ARG_FIELDS:
            hint = did_you_mean(str(key), ARG_FIELDS) or f"valid keys: {', '.join(ARG_FIELDS)}"
            raise _fail(f"unknown key {key!r} (compressed-tensors' QuantizationArgs forbids extra keys)",
                        where, locate, (*path, key), hint=hint)
    a: dict[str, Any] = {"num_bits": 8, "type": "int", "symmetric": True, "group_size": None, "strategy": None,
                         "block_structure": None, "dynamic": False, "actorder": None, "scale_dtype": None,
                         "zp_dtype": None, "observer": None, "observer_kwargs": {}}
    a.update(raw)

    def bad(key: str, message: str, hint: str | None = None) -> CompressedTensorsConfigError:
        return _fail(message, f"{where}.{key}", locate, (*path, key) if key in raw else path, hint)

    if isinstance(a["num_bits"], bool) or not isinstance(a["num_bits"], int):
        raise bad("num_bits", f"must be an integer, got {a['num_bits']!r}")
    kind = a["type"].lower() if isinstance(a["type"], str) else a["type"]
    if kind not in ("int", "float"):
        raise bad("type", f"must be 'int' or 'float', got {a['type']!r}")
    a["type"] = kind
    if not isinstance(a["symmetric"], bool):
        raise bad("symmetric", f"must be true or false, got {a['symmetric']!r}")
    group = a["group_size"]
    if group is not None and (isinstance(group, bool) or not isinstance(group, int)):
        raise bad("group_size", f"must be an integer or null, got {group!r}")
    if group is not None and group < -1:
        raise bad("group_size", f"invalid group size {group}: use group_size > 0 for strategy 'group' and -1 for 'channel'")
    strategy = a["strategy"]
    if strategy is not None:
        if not isinstance(strategy, str) or strategy.lower() not in STRATEGIES:
            raise bad("strategy", f"unknown strategy {strategy!r}; valid: {', '.join(STRATEGIES)}",
                      did_you_mean(str(strategy).lower(), STRATEGIES) or None)
        strategy = strategy.lower()
    else:  # validate_model_after's inference
        if group is None:
            strategy = "tensor"
        elif group > 0:
            strategy = "group"
        elif group == -1:
            strategy = "channel"
        else:
            raise bad("group_size", f"invalid group size {group}: use group_size > 0 for strategy 'group' and -1 for 'channel'")
    a["strategy"] = strategy
    dynamic = a["dynamic"]
    if isinstance(dynamic, str):
        if dynamic.lower() != "local":
            raise bad("dynamic", f"must be true, false or 'local', got {dynamic!r}")
        dynamic = "local"
    elif not isinstance(dynamic, bool):
        raise bad("dynamic", f"must be true, false or 'local', got {dynamic!r}")
    a["dynamic"] = dynamic
    if strategy == "token" and not dynamic:
        raise bad("strategy", "static token quantization is not possible: compressed-tensors needs dynamic: true")
    if strategy in ("group", "tensor_group") and (group is None or group <= 0):
        raise bad("group_size", f"strategy {strategy!r} needs group_size set to a positive value")
    if group is not None and group > 0 and strategy not in ("group", "tensor_group"):
        raise bad("group_size", f"a positive group_size needs strategy 'group' or 'tensor_group', not {strategy!r}")
    blocks = a["block_structure"]
    if isinstance(blocks, str):  # compressed-tensors still reads "128x128"
        try:
            blocks = [int(x) for x in blocks.split("x")]
        except ValueError:
            raise bad("block_structure", f"invalid block_structure {a['block_structure']!r}: a list [rows, cols] of positive integers") from None
    if blocks is not None:
        if (not isinstance(blocks, (list, tuple)) or len(blocks) != 2
                or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in blocks)):
            raise bad("block_structure", f"invalid block_structure {a['block_structure']!r}: a list [rows, cols] of positive integers")
        blocks = list(blocks)
    a["block_structure"] = blocks
    if strategy == "block" and blocks is None:
        raise bad("strategy", "strategy 'block' needs a block_structure [rows, cols]")
    if blocks is not None and strategy != "block":
        raise bad("block_structure", f"block_structure needs strategy 'block', not {strategy!r}")
    if dynamic and strategy not in _DYNAMIC_STRATEGIES:
        raise bad("dynamic", f"dynamic quantization needs one of the strategies {', '.join(_DYNAMIC_STRATEGIES)}, not {strategy!r}")
    if dynamic == "local" and strategy != "tensor_group":
        raise bad("dynamic", "dynamic 'local' is only possible with strategy 'tensor_group'")
    actorder = a["actorder"]
    if isinstance(actorder, bool):
        if actorder:
            raise bad("actorder", "actorder: true (GROUP ordering) was removed from compressed-tensors; write 'weight' or null")
        actorder = None
    elif actorder is not None:
        if not isinstance(actorder, str) or actorder.lower() not in ("weight", "static"):
            raise bad("actorder", f"actorder {actorder!r} is not possible: write 'weight' (alias 'static') or null")
        actorder = "weight"
    a["actorder"] = actorder
    for key in ("scale_dtype", "zp_dtype"):
        if a[key] is not None and not isinstance(a[key], str):
            raise bad(key, f"must be a torch dtype name such as 'torch.float16', got {a[key]!r}")
    if a["observer"] is not None and not isinstance(a["observer"], str):
        raise bad("observer", f"must be an observer name or null, got {a['observer']!r}")
    if not isinstance(a["observer_kwargs"], Mapping):
        raise bad("observer_kwargs", f"must be a mapping, got {a['observer_kwargs']!r}")
    a["_written"] = frozenset(raw)
    return a


def check_scheme_args(role: str, a: Mapping[str, Any], where: str, locate: Locate, path: tuple[Any, ...]) -> None:
    """``QuantizationScheme.validate_model_after``: activation strategies and ``actorder``."""
    if role == "input_activations" and a["strategy"] not in _INPUT_STRATEGIES:
        raise _fail(f"strategy {a['strategy']!r} is not possible for input activations; compressed-tensors "
                    f"accepts {', '.join(_INPUT_STRATEGIES)}", f"{where}.strategy", locate, (*path, "strategy"))
    if role != "weights" and a["actorder"] is not None:
        raise _fail(f"actorder cannot apply to {role.replace('_', ' ')}", f"{where}.actorder", locate, (*path, "actorder"))


def _default_zp_dtype(a: Mapping[str, Any]) -> str | None:
    """``validate_model_after``'s inferred ``zp_dtype``."""
    if a["type"] == "float" and a["num_bits"] in (4, 6):
        return "float8_e4m3fn"
    if a["type"] == "float":
        return "float8_e4m3fn" if a["num_bits"] == 8 else None
    return "int8" if a["num_bits"] <= 8 else "int16" if a["num_bits"] <= 16 else "int32"


_SCALE_FIELDS = {"float16": "float16", "bfloat16": "bfloat16", "float32": "float32", "float8_e4m3fn": "float8_e4m3fn"}


def spec_from_args(a: Mapping[str, Any], role: str, where: str, locate: Locate, path: tuple[Any, ...]) -> QuantizationSpec:
    """The spec for checked args (:func:`check_args`); see the module docstring's table.
    ``role`` is ``weights``, ``input_activations``, ``output_activations`` or ``kv_cache``."""

    def bad(key: str, message: str, hint: str | None = None) -> CompressedTensorsConfigError:
        written = a.get("_written", frozenset())
        return _fail(message, f"{where}.{key}", locate, (*path, key) if key in written else path, hint)

    bits, kind, strategy = a["num_bits"], a["type"], a["strategy"]
    if kind == "int":
        if not 2 <= bits <= 8:
            raise bad("num_bits", f"{bits}-bit integers have no qrt dtype (qrt has int2 to int8)")
        dtype = f"int{bits}"
    elif bits == 8:
        dtype = "float8_e4m3fn"
    elif bits == 4:
        dtype = "float4_e2m1fn_x2"
    else:
        raise bad("num_bits", f"{bits}-bit floats ({'FP6 E2M3' if bits == 6 else 'no such format'}) have no qrt dtype "
                  "(qrt has float8_e4m3fn and float4_e2m1fn_x2)")
    data: dict[str, Any] = {"dtype": dtype, "qscheme": "symmetric" if a["symmetric"] else "asymmetric"}
    extras: dict[str, Any] = {}
    scale = _torch_dtype(a["scale_dtype"])
    group = a["group_size"]
    weights = role == "weights"
    if strategy == "tensor":
        data["granularity"] = PerTensor()
    elif strategy == "channel":
        if not weights:
            raise bad("strategy", f"per-channel {role.replace('_', ' ')} have no qrt equivalent (compressed-tensors "
                      "scales a weight's output rows; which dimension of an activation it would scale is not defined)")
        data["granularity"] = PerChannel(axis=0)
    elif strategy in ("group", "tensor_group"):
        # a weight compressed-tensors quantizes is 2-D (Linear, Embedding): its last axis is 1,
        # written so, as qrt's resolver writes a per_block default on a Linear weight
        data["granularity"] = PerBlock(axis=1 if weights else -1, block_size=group)
    else:  # token, attn_head, block: no qrt granularity
        data["granularity"] = PerTensor()
        if strategy == "block":
            extras["block_structure"] = list(a["block_structure"])
        else:
            extras["strategy"] = strategy
    if strategy == "tensor_group":
        if dtype != "float4_e2m1fn_x2" or scale != "float8_e4m3fn":
            raise bad("strategy", f"tensor_group of {dtype} with {scale or 'default'} scales has no qrt equivalent; "
                      "qrt reads tensor_group as NVFP4 (float 4-bit, float8_e4m3fn group scales under a per-tensor scale)")
        data["scale_dtype"] = "float8_e4m3fn"
    elif scale == "uint8":
        if kind != "float" or strategy != "group":
            raise bad("scale_dtype", f"torch.uint8 scales on {kind} {strategy} quantization have no qrt equivalent "
                      "(qrt reads them as MX power-of-two scales of float groups)")
        data["scale_dtype"] = "float8_e8m0fnu"
    elif scale is not None:
        if scale not in _SCALE_FIELDS:
            raise bad("scale_dtype", f"scale_dtype {a['scale_dtype']!r} has no qrt equivalent; valid: torch.uint8 (MX), "
                      + ", ".join(f"torch.{s}" for s in _SCALE_FIELDS))
        data["scale_dtype"] = _SCALE_FIELDS[scale]
    if dtype == "float4_e2m1fn_x2" and strategy == "group" and data.get("scale_dtype") != "float8_e8m0fnu":
        raise bad("strategy", "FP4 groups without torch.uint8 (MX) scales have no qrt equivalent: qrt's float4 "
                  "with other scales is NVFP4, which adds a per-tensor global scale (write strategy tensor_group)")
    if weights and a["dynamic"] is False:
        data["qparam_calculator"] = "static"  # weight qparams come from the weight itself
    if a["dynamic"] is True and role != "weights":
        data["qparam_calculator"] = "static"
    elif a["dynamic"] == "local":
        extras["dynamic"] = "local"
    elif a["dynamic"] is True:
        extras["dynamic"] = True
    if a["observer"] is not None:
        extras["observer"] = a["observer"]
    if a["observer_kwargs"]:
        extras["observer_kwargs"] = dict(a["observer_kwargs"])
    if a["actorder"] is not None:
        extras["actorder"] = a["actorder"]
    zp = _torch_dtype(a["zp_dtype"])
    if not a["symmetric"] and zp is not None and zp != _default_zp_dtype(a):
        extras["zp_dtype"] = a["zp_dtype"]
    if extras:
        data["extras"] = extras
    try:
        return QuantizationSpec.model_validate(data)
    except ValidationError as exc:
        raise CompressedTensorsConfigError(
            f"{where}: no qrt spec for these args: {spec_error_message(exc)}", location=locate(path)) from None
