"""Reading a compressed-tensors ``quantization_config`` (alone, or inside a ``config.json``).

The document is compressed-tensors 0.20's ``QuantizationConfig``
(``compressed_tensors/quantization/quant_config.py``) as ``ModelCompressor.update_config``
writes it into a checkpoint's ``config.json`` (``version``, ``quant_method``,
``sparsity_config``, ``transform_config`` beside the model's dump), or as a user writes it:

* ``config_groups``: name → a ``QuantizationScheme`` (``targets``, ``weights``,
  ``input_activations``, ``output_activations``, ``format``), or a list of targets, in which
  case the group's name is a preset (``QuantizationConfig.model_post_init`` →
  ``preset_name_to_scheme``, :mod:`.presets`);
* ``ignore``: targets never quantized; ``kv_cache_scheme``: args for the attention's cached
  keys and values; ``format`` / ``quantization_status``: how the checkpoint stores it.

Where compressed-tensors ignores a key it does not know (``QuantizationConfig`` is
``extra="ignore"``), qrt refuses it by name: a misspelt ``ignore`` would otherwise quantize
what the user meant to keep. ``sparsity_config``, ``transform_config`` and
``moe_sparsity_config`` must be empty: sparsity and rotations have no qrt equivalent.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from qrt.errors import did_you_mean
from qrt.frontends.compressed_tensors.args import ROLES, check_args, check_scheme_args, spec_from_args
from qrt.frontends.compressed_tensors.errors import CompressedTensorsConfigError
from qrt.frontends.compressed_tensors.positions import key_marks
from qrt.frontends.compressed_tensors.presets import PRESET_SCHEMES, preset_scheme
from qrt.frontends.marks import MarkedDocument
from qrt.ir.origin import Origin
from qrt.ir.spec import QuantizationSpec

__all__ = [
    "COMPRESSION_FORMATS",
    "CONFIG_KEYS",
    "CompressedTensorsConfig",
    "Group",
    "Target",
    "compressed_tensors_from_data",
    "compressed_tensors_from_text",
    "is_compressed_tensors_document",
]

QUANT_METHOD = "compressed-tensors"
CONFIG_KEYS: tuple[str, ...] = (
    "config_groups", "quant_method", "kv_cache_scheme", "format", "quantization_status",
    "global_compression_ratio", "ignore", "moe_sparsity_config", "version", "sparsity_config",
    "transform_config",
)
"""The keys a ``quantization_config`` may hold: ``QuantizationConfig``'s fields and what
``ModelCompressor.update_config`` adds."""
SCHEME_KEYS: tuple[str, ...] = ("targets", *ROLES, "format")
COMPRESSION_FORMATS: tuple[str, ...] = (
    "dense", "sparse-bitmask", "sparse-24-bitmask", "int-quantized", "float-quantized", "naive-quantized",
    "pack-quantized", "marlin-24", "mixed-precision", "nvfp4-pack-quantized", "mxfp4-pack-quantized",
    "mxfp6-pack-quantized", "mxfp8-quantized",
)
"""compressed-tensors 0.20's ``CompressionFormat`` values."""
STATUSES: tuple[str, ...] = ("initialized", "calibration", "frozen", "compressed", "decompressed")


@dataclass(frozen=True)
class Target:
    """One target string as written: ``text`` (an exact module name, ``re:REGEX`` or a class
    name), the group it belongs to and its index in that group's ``targets``."""

    text: str
    group: str
    index: int
    origin: Origin


@dataclass(frozen=True)
class Group:
    """One ``config_groups`` entry: its targets and the spec of each role (``None``: that role
    is not quantized by this scheme)."""

    name: str
    targets: tuple[Target, ...]
    weights: QuantizationSpec | None
    input_activations: QuantizationSpec | None
    output_activations: QuantizationSpec | None
    format: str | None
    preset: str | None
    """The preset the group's name named, when its value was a list of targets."""
    origin: Origin

    def spec(self, role: str) -> QuantizationSpec | None:
        return getattr(self, role)  # type: ignore[no-any-return]


@dataclass(frozen=True)
class CompressedTensorsConfig:
    """A read ``quantization_config``: groups in order, ``ignore``, the KV-cache spec and the
    storage facts (kept and shown, never used to decide)."""

    groups: tuple[Group, ...]
    ignore: tuple[Target, ...]
    kv_cache: QuantizationSpec | None = None
    kv_cache_origin: Origin | None = None
    format: str = "fakequant"
    quantization_status: str = "initialized"
    facts: tuple[tuple[str, str], ...] = ()
    """Other keys as written (``version``, ``global_compression_ratio``) for reports."""
    file: str = "<data>"
    data: Any = field(default=None, compare=False, repr=False)
    """The ``quantization_config`` mapping as read (for writers and reports)."""

    def target_to_scheme(self) -> dict[str, Group]:
        """``apply_quantization_config``'s ``target_to_scheme``: every target string → the group
        whose scheme it selects; a string in several groups keeps its first position and the
        *last* group's scheme (an ``OrderedDict`` assigned group by group)."""
        out: dict[str, Group] = {}
        for group in self.groups:
            for target in group.targets:
                out[target.text] = group
        return out


def is_compressed_tensors_document(data: Any) -> bool:
    """A compressed-tensors config by its shape: ``config_groups`` at the top, or a
    ``quantization_config`` holding ``config_groups`` or ``quant_method: compressed-tensors``
    (a checkpoint's ``config.json``). A hierarchical config's ``quantization_config`` has
    neither."""
    if not isinstance(data, Mapping):
        return False
    if "config_groups" in data:
        return True
    inner = data.get("quantization_config")
    return isinstance(inner, Mapping) and ("config_groups" in inner or inner.get("quant_method") == QUANT_METHOD)


class _Reader(MarkedDocument):
    def __init__(self, file: str, marks: Mapping[tuple[Any, ...], tuple[int, int]], prefix: tuple[Any, ...],
                 label: str = "") -> None:
        super().__init__(file, marks, prefix)
        self.label = label
        """Prepended to config paths (a recipe's modifier, ``quant_stage.quant_modifiers.GPTQModifier``)."""

    def origin(self, path: tuple[Any, ...], config_path: str) -> Origin:
        """Where ``path`` was written, or the nearest key above it that was (a preset's
        targets, written as a recipe's ``scheme``, stand where the scheme does)."""
        return super().origin(path, f"{self.label}.{config_path}" if self.label else config_path)

    def fail(self, message: str, path: tuple[Any, ...], hint: str | None = None) -> CompressedTensorsConfigError:
        return CompressedTensorsConfigError(message, location=self.locate(path), hint=hint)

    def targets(self, value: Any, path: tuple[Any, ...], where: str, group: str) -> tuple[Target, ...]:
        if not isinstance(value, list) or not all(isinstance(t, str) for t in value):
            raise self.fail(f"{where}: must be a list of target strings (module names, 're:' regexes or class "
                            f"names), got {value!r}", path)
        return tuple(Target(t, group, i, self.origin((*path, i), f"{where}[{i}]")) for i, t in enumerate(value))

    def args(self, raw: Any, role: str, path: tuple[Any, ...], where: str) -> QuantizationSpec | None:
        if raw is None:
            return None
        checked = check_args(raw, where, self.locate, path)
        if role != "kv_cache":
            check_scheme_args(role, checked, where, self.locate, path)
        return spec_from_args(checked, role, where, self.locate, path)

    def group(self, name: Any, value: Any) -> Group:
        path = ("config_groups", name)
        where = f"config_groups[{name!r}]"
        if not isinstance(name, str):
            raise self.fail(f"{where}: a group name must be a string", path)
        preset = None
        if isinstance(value, list):  # a preset named by the group, targets as the value
            scheme = preset_scheme(name)
            if scheme is None:
                raise self.fail(f"{where}: a list of targets makes the group's name a preset scheme, and "
                                f"{name!r} is none", path,
                                hint=did_you_mean(name.upper(), PRESET_SCHEMES) or "presets: " + ", ".join(PRESET_SCHEMES))
            preset = name.upper()
            targets = self.targets(value, path, where, name)
            specs = {role: self.args(scheme.get(role), role, path, f"preset {preset}.{role}") for role in ROLES}
            return Group(name, targets, **specs, format=None, preset=preset, origin=self.origin(path, where))
        if not isinstance(value, Mapping):
            raise self.fail(f"{where}: must be a QuantizationScheme mapping ({', '.join(SCHEME_KEYS)}) or a "
                            f"list of targets for a preset, got {value!r}", path)
        for key in value:
            if key not in SCHEME_KEYS:
                raise self.fail(f"{where}: unknown key {key!r} (compressed-tensors' QuantizationScheme forbids "
                                f"extra keys)", (*path, key),
                                hint=did_you_mean(str(key), SCHEME_KEYS) or "valid keys: " + ", ".join(SCHEME_KEYS))
        if "targets" not in value:
            raise self.fail(f"{where}: no 'targets' (the modules the scheme applies to)", path)
        targets = self.targets(value["targets"], (*path, "targets"), f"{where}.targets", name)
        specs = {role: self.args(value.get(role), role, (*path, role), f"{where}.{role}") for role in ROLES}
        fmt = value.get("format")
        if fmt is not None and fmt not in COMPRESSION_FORMATS:
            raise self.fail(f"{where}.format: unknown compression format {fmt!r}", (*path, "format"),
                            hint="valid: " + ", ".join(COMPRESSION_FORMATS))
        if fmt == "mixed-precision":
            raise self.fail(f"{where}.format: mixed-precision cannot be the format of one scheme", (*path, "format"))
        return Group(name, targets, **specs, format=fmt, preset=None, origin=self.origin(path, where))

    def document(self, data: Any) -> CompressedTensorsConfig:
        if not isinstance(data, Mapping):
            raise self.fail(f"a quantization_config must be a mapping, got {type(data).__name__}", ())
        for key in data:
            if key not in CONFIG_KEYS:
                raise self.fail(
                    f"unknown key {key!r} in the quantization_config: compressed-tensors would ignore it "
                    "silently, qrt refuses it", (key,),
                    hint=did_you_mean(str(key), CONFIG_KEYS) or "valid keys: " + ", ".join(CONFIG_KEYS))
        method = data.get("quant_method", QUANT_METHOD)
        if method != QUANT_METHOD:
            raise self.fail(f"quant_method {method!r}: this reader reads compressed-tensors configs", ("quant_method",))
        for key in ("sparsity_config", "transform_config", "moe_sparsity_config"):
            if data.get(key):
                raise self.fail(f"{key}: {'sparsity' if 'sparsity' in key else 'transforms (rotations)'} have no qrt "
                                "equivalent; qrt reads quantization only", (key,))
        groups_raw = data.get("config_groups")
        if not isinstance(groups_raw, Mapping):
            raise self.fail("config_groups: must be a mapping of group names to schemes", ("config_groups",))
        groups = tuple(self.group(name, value) for name, value in groups_raw.items())
        ignore_raw = data.get("ignore") or []
        if not isinstance(ignore_raw, list) or not all(isinstance(t, str) for t in ignore_raw):
            raise self.fail(f"ignore: must be a list of target strings, got {ignore_raw!r}", ("ignore",))
        ignore = tuple(Target(t, "ignore", i, self.origin(("ignore", i), f"ignore[{i}]")) for i, t in enumerate(ignore_raw))
        kv = self.args(data.get("kv_cache_scheme"), "kv_cache", ("kv_cache_scheme",), "kv_cache_scheme")
        fmt = data.get("format", "fakequant")
        if not isinstance(fmt, str):
            raise self.fail(f"format: must be a string, got {fmt!r}", ("format",))
        status = data.get("quantization_status", "initialized")
        if status not in STATUSES:
            raise self.fail(f"quantization_status: unknown status {status!r}", ("quantization_status",),
                            hint="valid: " + ", ".join(STATUSES))
        facts = tuple((k, str(data[k])) for k in ("version", "global_compression_ratio") if data.get(k) is not None)
        return CompressedTensorsConfig(
            groups, ignore, kv, self.origin(("kv_cache_scheme",), "kv_cache_scheme") if kv is not None else None,
            fmt, status, facts, self.file, data)


def compressed_tensors_from_data(data: Any, *, file: str = "<data>",
                                 marks: Mapping[tuple[Any, ...], tuple[int, int]] | None = None) -> CompressedTensorsConfig:
    """A config from data: a ``quantization_config`` mapping, or a ``config.json`` holding one."""
    prefix: tuple[Any, ...] = ()
    if isinstance(data, Mapping) and "config_groups" not in data and isinstance(data.get("quantization_config"), Mapping):
        prefix, data = ("quantization_config",), data["quantization_config"]
    return _Reader(file, marks or {}, prefix).document(data)


def compressed_tensors_from_text(text: str, *, file: str) -> CompressedTensorsConfig:
    """A config from a file's text (JSON, or YAML by the file's suffix), with positions."""
    from qrt.frontends.yaml_load import structured_from_text

    data = structured_from_text(text, file=file, error=CompressedTensorsConfigError)
    return compressed_tensors_from_data(data, file=file, marks=key_marks(text))
