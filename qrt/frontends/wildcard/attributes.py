"""ModelOpt's quantizer attribute vocabulary, as released in 0.47 (``QuantizerAttributeConfig``).

A wildcard entry's ``cfg`` is a dict of these attributes, or a list of such dicts (one per stage
of a sequential quantizer). ModelOpt checks them with pydantic when the config is applied; qrt
checks them when the config is read, so a typo fails with its file position and the names that
would have been valid, before any entry is used.

Three choices a reader would not guess:

* **JSON-normalised input is accepted.** Written as JSON, ``num_bits: (4, 3)`` becomes ``[4, 3]``
  and ``block_sizes: {-1: 16}`` becomes ``{"-1": 16}`` (see the ``_about`` of
  ``modelopt_0.47_presets.json``). Both are read back to the tuple and the integer key. ModelOpt
  0.47 itself refuses the string key ``"-1"``.
* **No lax coercion.** Pydantic turns ``unsigned: "yes"`` into ``True`` and ``num_bits: true``
  into ``1``; here a flag must be a boolean and a bit width an integer, because those spellings
  are typos far more often than intent.
* **Documented rules are enforced where 0.47's validators are looser**: a block size is a
  positive integer or ``None``, ``block_sizes["type"]`` is ``static`` or ``dynamic``,
  ``scale_bits`` is a bit width. Each such place says so in its message.

:func:`validate_attributes` returns the attributes the user wrote, normalised (tuples, integer
axis keys); :func:`attribute_defaults` gives what a full replacement fills the rest with.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from qrt.errors import did_you_mean
from qrt.frontends.wildcard.errors import WildcardConfigError

__all__ = [
    "ATTRIBUTE_FIELDS",
    "FP_FORMATS",
    "AttributeField",
    "attribute_defaults",
    "validate_attributes",
]

Locate = Callable[[tuple[Any, ...]], "str | None"]
"""Maps a key path inside ``cfg`` (``("block_sizes", "-1")``) to ``file:line:col``, if known."""


class _Bad(Exception):
    """Raised by a field check: what is wrong, at which key path below the field."""

    def __init__(self, message: str, path: tuple[Any, ...] = ()) -> None:
        super().__init__(message)
        self.message = message
        self.path = path


@dataclass(frozen=True)
class AttributeField:
    """One attribute of ``QuantizerAttributeConfig``: its default and the values it takes."""

    name: str
    default: Any
    shapes: str
    """The values it accepts, in words, for error messages and docs."""
    check: Callable[[Any], Any]
    """Returns the normalised value, or raises ``_Bad``."""


# =============================================================================================
# Value checks, one per shape


def _kind(value: object) -> str:
    """The kind of a value as a user would name it (YAML's position-keeping list and dict
    subclasses are plain lists and mappings to them)."""
    if isinstance(value, Mapping):
        return "mapping"
    if isinstance(value, (list, tuple)):
        return "list"
    return type(value).__name__


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_pair(value: object) -> bool:
    return isinstance(value, (list, tuple)) and len(value) == 2 and all(_is_int(v) for v in value)


def _bool(value: Any) -> bool:
    if not isinstance(value, bool):
        raise _Bad(f"expected true or false, got {value!r} ({_kind(value)})")
    return value


def _optional_str(value: Any) -> str | None:
    if value is not None and not isinstance(value, str):
        raise _Bad(f"expected a string or null, got {value!r} ({_kind(value)})")
    return value


def _choice(*choices: str) -> Callable[[Any], str]:
    def check(value: Any) -> str:
        if value not in choices or not isinstance(value, str):
            hint = did_you_mean(str(value), choices)
            extra = f" ({hint})" if hint else ""
            raise _Bad(f"expected one of {', '.join(map(repr, choices))}, got {value!r}{extra}")
        return value

    return check


FP_FORMATS: dict[tuple[int, int], str] = {
    (4, 3): "FP8 E4M3",
    (5, 2): "FP8 E5M2",
    (3, 2): "FP6 E3M2",
    (2, 3): "FP6 E2M3",
    (2, 1): "FP4 E2M1",
    (1, 2): "FP4 E1M2",
}
"""The ``(E, M)`` pairs 0.47 accepts for ``num_bits`` (its list also names ``(0, 3)`` and
``(3, 0)``, which its positivity check then refuses, so they are left out here)."""

_FP_ANY_BLOCKS = {(4, 3), (2, 1)}
"""The pairs usable without dynamic block quantization; the others need ``block_sizes`` with
``type: dynamic`` (0.47's ``validate_num_bits``)."""


def _num_bits(value: Any) -> int | tuple[int, int] | str:
    if _is_int(value):
        if value < 1:
            raise _Bad(f"an integer bit width must be positive, got {value}")
        return value
    if isinstance(value, str):  # a format name, for a custom backend
        return value
    if _is_pair(value):
        return (value[0], value[1])
    raise _Bad(
        f"expected a positive integer (8, 4), an (E, M) pair such as [4, 3] or a format name "
        f"for a custom backend, got {value!r} ({_kind(value)})"
    )


def _effective_bits(value: Any) -> float | None:
    if value is None:
        return None
    if not _is_number(value) or not 0 < value <= 16:
        raise _Bad(f"expected a number in (0, 16] or null, got {value!r}")
    return value


def _axis(value: Any) -> int | tuple[int, ...] | None:
    if value is None or _is_int(value):
        return value
    if isinstance(value, (list, tuple)) and all(_is_int(v) for v in value):
        return tuple(value)
    raise _Bad(
        f"expected null (per tensor), an integer axis or a list of integer axes, got {value!r}"
    )


def _learn_amax(value: Any) -> bool:
    if _bool(value):
        raise _Bad("learn_amax is deprecated in ModelOpt and must be false (or left out)")
    return False


_AXIS_KEY = re.compile(r"-?[0-9]+")


def _axis_key(key: Any) -> int | None:
    """An integer axis key, also as JSON writes it (``"-1"``); ``None`` if it is not one."""
    if _is_int(key):
        return key
    if isinstance(key, str) and _AXIS_KEY.fullmatch(key):
        return int(key)
    return None


BLOCK_SIZE_KEYS = ("type", "scale_bits", "scale_block_sizes", "four_over_six")
"""The string keys of ``block_sizes`` besides integer axes."""


def _block_size(value: Any, key: Any) -> int | None:
    if value is None:
        return None
    if not _is_int(value) or value < 1:
        raise _Bad(
            f"block size {value!r} for axis {key}: expected a positive integer, or null for the "
            "whole dimension",
            (key,),
        )
    return value


def _scale_bits(value: Any) -> int | tuple[int, int] | None:
    if value is None:
        return None
    if _is_int(value) and value >= 1:
        return value
    if _is_pair(value) and all(v >= 0 for v in value):
        return (value[0], value[1])
    raise _Bad(
        f"scale_bits: expected the bit width of the block scales, an integer or an (E, M) pair "
        f"such as [4, 3] or [8, 0], got {value!r}",
        ("scale_bits",),
    )


def _scale_block_sizes(value: Any) -> dict[int, int]:
    if not isinstance(value, Mapping):
        raise _Bad(
            "scale_block_sizes: expected a mapping from integer axes to block sizes, got "
            f"{value!r}",
            ("scale_block_sizes",),
        )
    out: dict[int, int] = {}
    for key, size in value.items():
        axis = _axis_key(key)
        if axis is None:
            raise _Bad(
                f"scale_block_sizes key {key!r} is not an integer axis", ("scale_block_sizes", key)
            )
        if not _is_int(size) or size < 1:
            raise _Bad(
                f"scale_block_sizes[{key!r}]: expected a positive integer, got {size!r}",
                ("scale_block_sizes", key),
            )
        out[axis] = size
    return out


def _block_sizes(value: Any) -> dict[int | str, Any] | None:
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise _Bad(
            f"expected a mapping from integer axes (-1, or \"-1\" in JSON) to block sizes, plus "
            f"optional {', '.join(BLOCK_SIZE_KEYS)}; got {value!r} ({_kind(value)})"
        )
    out: dict[int | str, Any] = {}
    for key, size in value.items():
        axis = _axis_key(key)
        if axis is not None:
            if axis in out:
                raise _Bad(f"axis {axis} is given twice (as {key!r})", (key,))
            out[axis] = _block_size(size, key)
        elif key == "type":
            try:
                out[key] = _choice("static", "dynamic")(size)
            except _Bad as exc:
                raise _Bad(f"block_sizes type: {exc.message}", (key,)) from None
        elif key == "scale_bits":
            out[key] = _scale_bits(size)
        elif key == "scale_block_sizes":
            out[key] = _scale_block_sizes(size)
        elif key == "four_over_six":
            if size not in (0, 1) or not isinstance(size, (bool, int)):
                raise _Bad(f"four_over_six: expected true or false, got {size!r}", (key,))
            out[key] = bool(size)
        else:
            hint = did_you_mean(str(key), BLOCK_SIZE_KEYS)
            raise _Bad(
                f"block_sizes key {key!r} is neither an integer axis (-1, or \"-1\" in JSON) nor "
                f"one of {', '.join(BLOCK_SIZE_KEYS)}" + (f" ({hint})" if hint else ""),
                (key,),
            )
    if out.get("type") == "dynamic":
        axes = [k for k in out if isinstance(k, int)]
        if len(axes) != 1:
            raise _Bad(
                f"dynamic block quantization takes exactly one axis (the last, -1); got {axes}"
            )
    return out


BIAS_KEYS = ("type", "method")


def _bias(value: Any) -> dict[int | str, Any] | None:
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise _Bad(
            f"expected a mapping from integer axes to null, plus optional type (static, dynamic) "
            f"and method (mean, max_min); got {value!r}"
        )
    out: dict[int | str, Any] = {}
    for key, item in value.items():
        axis = _axis_key(key)
        if axis is not None:
            ok = (
                item is None
                or isinstance(item, bool)
                or _is_int(item)
                or (isinstance(item, (list, tuple)) and all(_is_int(v) for v in item))
            )
            if not ok:
                raise _Bad(f"bias[{key!r}]: expected null, got {item!r}", (key,))
            out[axis] = tuple(item) if isinstance(item, list) else item
        elif key == "type":
            out[key] = _nested_choice(item, key, "static", "dynamic")
        elif key == "method":
            out[key] = _nested_choice(item, key, "mean", "max_min")
        else:
            hint = did_you_mean(str(key), BIAS_KEYS)
            raise _Bad(
                f"bias key {key!r} is neither an integer axis nor one of type, method"
                + (f" ({hint})" if hint else ""),
                (key,),
            )
    if not any(isinstance(k, int) for k in out):
        raise _Bad("bias needs at least one integer axis key, the axes the bias is computed over")
    return out


def _nested_choice(value: Any, key: str, *choices: str) -> str:
    try:
        return _choice(*choices)(value)
    except _Bad as exc:
        raise _Bad(f"{key}: {exc.message}", (key,)) from None


def _calibrator(value: Any) -> Any:
    if isinstance(value, str):
        return _choice("max", "histogram")(value)
    if callable(value):
        return value
    if isinstance(value, (list, tuple)) and value and (
        isinstance(value[0], str) or callable(value[0])
    ):
        return tuple(value)
    raise _Bad(
        f"expected 'max', 'histogram' or a calibrator constructor (a class, or [class, args, "
        f"kwargs]), got {value!r}"
    )


ROTATE_KEYS = ("enable", "mode", "rotate_fp32", "block_size")


def _rotate(value: Any) -> bool | dict[str, Any]:
    if isinstance(value, bool):
        return value
    if not isinstance(value, Mapping):
        raise _Bad(
            f"expected true, false or a mapping with {', '.join(ROTATE_KEYS)}; got {value!r}"
        )
    out: dict[str, Any] = {}
    for key, item in value.items():
        if key in ("enable", "rotate_fp32"):
            try:
                out[key] = _bool(item)
            except _Bad as exc:
                raise _Bad(f"rotate {key}: {exc.message}", (key,)) from None
        elif key == "mode":
            out[key] = _nested_choice(item, key, "rotate", "rotate_back")
        elif key == "block_size":
            if item is not None and (not _is_int(item) or item < 1):
                raise _Bad(
                    f"rotate block_size: expected a positive integer or null, got {item!r}", (key,)
                )
            out[key] = item
        else:
            hint = did_you_mean(str(key), ROTATE_KEYS)
            raise _Bad(
                f"rotate key {key!r} is not one of {', '.join(ROTATE_KEYS)}"
                + (f" ({hint})" if hint else ""),
                (key,),
            )
    return out


def _backend_extra_args(value: Any) -> dict[str, Any] | None:
    if value is not None and not isinstance(value, Mapping):
        raise _Bad(f"expected a mapping or null, got {value!r}")
    return None if value is None else dict(value)


def _constant_amax(value: Any) -> float | None:
    if value is None:
        return None
    if not _is_number(value) or value <= 0:
        raise _Bad(f"expected a positive number or null, got {value!r}")
    return value


# =============================================================================================
# The vocabulary, in ModelOpt 0.47's declaration order

_FIELDS = (
    AttributeField("enable", True, "true or false", _bool),
    AttributeField(
        "num_bits",
        8,
        "a positive integer, an (E, M) pair such as [4, 3], or a backend's format name",
        _num_bits,
    ),
    AttributeField("effective_bits", None, "a number in (0, 16], or null", _effective_bits),
    AttributeField("axis", None, "null, an integer axis or a list of axes", _axis),
    AttributeField("fake_quant", True, "true or false", _bool),
    AttributeField("unsigned", False, "true or false", _bool),
    AttributeField("narrow_range", False, "true or false", _bool),
    AttributeField("learn_amax", False, "false (deprecated)", _learn_amax),
    AttributeField("type", "static", "'static' or 'dynamic'", _choice("static", "dynamic")),
    AttributeField(
        "block_sizes", None,
        "null, or {axis: block size or null, type, scale_bits, scale_block_sizes, four_over_six}",
        _block_sizes,
    ),
    AttributeField("bias", None, "null, or {axis: null, type, method}", _bias),
    AttributeField(
        "trt_high_precision_dtype", "Float", "'Float', 'Half' or 'BFloat16'",
        _choice("Float", "Half", "BFloat16"),
    ),
    AttributeField("calibrator", "max", "'max', 'histogram' or a constructor", _calibrator),
    AttributeField(
        "rotate", False, "true, false or {enable, mode, rotate_fp32, block_size}", _rotate
    ),
    AttributeField("pass_through_bwd", True, "true or false", _bool),
    AttributeField("backend", None, "a backend name or null", _optional_str),
    AttributeField("backend_extra_args", None, "a mapping or null", _backend_extra_args),
    AttributeField("use_constant_amax", False, "true or false", _bool),
    AttributeField("constant_amax", None, "a positive number or null", _constant_amax),
)

ATTRIBUTE_FIELDS: dict[str, AttributeField] = {f.name: f for f in _FIELDS}
"""Every attribute of ModelOpt 0.47's ``QuantizerAttributeConfig``, by name, in its order."""


def attribute_defaults() -> dict[str, Any]:
    """Every attribute with its 0.47 default (``num_bits`` 8, ``axis`` None, ``enable`` True …):
    what a ``cfg`` entry's full replacement fills unset attributes with. A fresh copy."""
    return {name: copy.deepcopy(f.default) for name, f in ATTRIBUTE_FIELDS.items()}


# =============================================================================================
# Validation


def _fail(
    where: str,
    path: tuple[Any, ...],
    message: str,
    locate: Locate | None,
    hint: str | None = None,
) -> WildcardConfigError:
    label = where + "".join(f".{p}" if i == 0 else f"[{p!r}]" for i, p in enumerate(path))
    location = None
    if locate is not None:
        for cut in range(len(path), -1, -1):  # the deepest key whose position is known
            location = locate(path[:cut])
            if location:
                break
    return WildcardConfigError(f"{label}: {message}", location=location, hint=hint)


def _cross_checks(out: dict[str, Any]) -> tuple[str, tuple[Any, ...]] | None:
    """0.47's checks across attributes (its model validators): the first problem, if any."""
    num_bits = out.get("num_bits", 8)
    block_sizes = out.get("block_sizes")
    if block_sizes is not None and out.get("axis") is not None:
        message = (
            "axis and block_sizes cannot both be set: axis is per-channel, block_sizes per-block; "
            "set axis to null (or leave it out)"
        )
        return message, ("block_sizes",)
    if isinstance(num_bits, tuple) and out.get("backend") is None:
        if num_bits not in FP_FORMATS:
            known = ", ".join(f"[{e}, {m}] ({n})" for (e, m), n in FP_FORMATS.items())
            return (
                f"(E, M) = {list(num_bits)} is not a known float format; valid: {known}",
                ("num_bits",),
            )
        dynamic = isinstance(block_sizes, Mapping) and block_sizes.get("type") == "dynamic"
        if num_bits not in _FP_ANY_BLOCKS and not dynamic:
            message = (
                f"{FP_FORMATS[num_bits]} ({list(num_bits)}) is supported only with dynamic block "
                "quantization: add block_sizes with type: dynamic"
            )
            return message, ("num_bits",)
    if out.get("use_constant_amax") and out.get("constant_amax") is not None:
        return (
            "use_constant_amax and constant_amax cannot both be set; keep one",
            ("constant_amax",),
        )
    return None


def validate_attributes(
    cfg: Mapping[str, Any], *, where: str, locate: Locate | None = None
) -> dict[str, Any]:
    """Check one ``cfg`` dict against the 0.47 vocabulary; return it normalised.

    ``where`` names the dict in messages (``quant_cfg[3].cfg``); ``locate``, if given, turns a
    key path below it into ``file:line:col``. Only the attributes written are returned (with
    ``[4, 3]`` → ``(4, 3)``, ``{"-1": 16}`` → ``{-1: 16}``); :func:`attribute_defaults` has the
    rest. Raises :class:`~qrt.frontends.wildcard.errors.WildcardConfigError` for an unknown
    name (with did-you-mean), a value of the wrong shape, or a combination 0.47 refuses.
    """
    if not isinstance(cfg, Mapping):
        raise _fail(
            where,
            (),
            f"expected a mapping of quantizer attributes, got {cfg!r} ({_kind(cfg)})",
            locate,
            hint=f"valid attributes: {', '.join(ATTRIBUTE_FIELDS)}",
        )
    out: dict[str, Any] = {}
    for name, value in cfg.items():
        field = ATTRIBUTE_FIELDS.get(name) if isinstance(name, str) else None
        if field is None:
            close = did_you_mean(str(name), ATTRIBUTE_FIELDS)
            raise _fail(
                where,
                (name,),
                f"unknown quantizer attribute {name!r}" + (f" ({close})" if close else ""),
                locate,
                hint=f"valid attributes (ModelOpt 0.47): {', '.join(ATTRIBUTE_FIELDS)}",
            )
        try:
            out[name] = field.check(value)
        except _Bad as exc:
            raise _fail(
                where, (name, *exc.path), exc.message, locate, hint=f"{name} takes {field.shapes}"
            ) from None
    if out == {"enable": True}:
        raise _fail(
            where,
            ("enable",),
            "a cfg of only enable: true sets no attribute (ModelOpt 0.47 refuses it)",
            locate,
            hint="to switch quantizers on and keep their attributes, drop cfg and write enable: "
            "true on the entry",
        )
    problem = _cross_checks(out)
    if problem:
        message, path = problem
        raise _fail(where, path, message, locate)
    return out

