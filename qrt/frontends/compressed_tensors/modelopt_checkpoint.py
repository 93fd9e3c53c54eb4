"""A checkpoint ModelOpt exported (``hf_quant_config.json``) as rules.

ModelOpt 0.47's ``export_hf_checkpoint`` writes the checkpoint's quantization once as its own
``hf_quant_config.json`` (``modelopt/torch/export/unified_export_hf.py``,
``_write_hf_export_config``) and again, converted, into ``config.json``'s
``quantization_config`` (``convert_hf_config.py``, ``convert_hf_quant_config_format``, with
``quant_method: modelopt``). The first is the faithful one, and qrt reads it::

    {"producer": {"name": "modelopt", "version": …},
     "quantization": {"quant_algo": "FP8", "kv_cache_quant_algo": "FP8" | null,
                      "exclude_modules": ["lm_head", "model.layers.0.mlp*"], "group_size": …}}

(``quant_utils.py``, ``process_layer_quant_config``: one format for every quantized layer and
``exclude_modules`` — prefix wildcards summarised by ``_prefix_wildcard_summarize_exclude_modules``
— or ``quant_algo: MIXED_PRECISION`` with ``quantized_layers: {MODULE: {quant_algo,
group_size}}`` and no exclusions.) A deployment engine applies the format to every Linear not
excluded, matching ``exclude_modules`` against module names with ``fnmatch`` (vLLM's
``modelopt.py`` imports it for that), and the KV-cache format to every attention's cached keys
and values.

A format's specs are those of the ModelOpt preset that exports it (the shipped
``rules/modelopt`` lists, ModelOpt 0.47's values): the preset's ``*weight_quantizer`` and
``*input_quantizer`` entries, with ``group_size`` as the last axis's block size where the
checkpoint names one; the KV format's from ``FP8_KV_CFG`` / ``NVFP4_KV_CFG``. A ``quant_algo``
with no such preset, or a key qrt does not know, is an error naming it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from pathlib import Path
from typing import TYPE_CHECKING, Any

from qrt.errors import did_you_mean
from qrt.frontends.compressed_tensors.errors import CompressedTensorsConfigError
from qrt.frontends.compressed_tensors.match import module_views
from qrt.inventory.model import Inventory
from qrt.ir.effect import Off, Set
from qrt.ir.origin import Origin
from qrt.ir.rule import Rule, RuleSet
from qrt.ir.selector import Selector
from qrt.ir.site import Site
from qrt.frontends.rule_source import InventoryKey

if TYPE_CHECKING:
    from qrt.resolver.plan import Plan

__all__ = ["HF_QUANT_CONFIG", "ALGO_PRESETS", "ModelOptCheckpoint", "ModelOptCheckpointSource", "read_hf_quant_config"]

HF_QUANT_CONFIG = "hf_quant_config.json"
ALGO_PRESETS: dict[str, str] = {
    "FP8": "FP8_DEFAULT_CFG",
    "FP8_PER_CHANNEL_PER_TOKEN": "FP8_PER_CHANNEL_PER_TOKEN_CFG",
    "NVFP4": "NVFP4_DEFAULT_CFG",
    "W4A16_NVFP4": "W4A16_NVFP4_CFG",
    "W4A16_AWQ": "INT4_AWQ_CFG",
    "W4A8_AWQ": "W4A8_AWQ_BETA_CFG",
    "W8A8_SQ_PER_CHANNEL": "INT8_SMOOTHQUANT_CFG",
    "W8A16": "INT8_WEIGHT_ONLY_CFG",
    "MXFP8": "MXFP8_DEFAULT_CFG",
    "W4A8_NVFP4_FP8": "W4A8_NVFP4_FP8_CFG",
    "W4A8_MXFP4_FP8": "W4A8_MXFP4_FP8_CFG",
}
"""``quant_algo`` (``process_layer_quant_config``'s names) → the preset that exports it."""
KV_PRESETS: dict[str, str] = {"FP8": "FP8_KV_CFG", "NVFP4": "NVFP4_KV_CFG"}
QUANTIZATION_KEYS = ("quant_algo", "kv_cache_quant_algo", "exclude_modules", "group_size", "has_zero_point",
                     "pre_quant_scale", "quantized_layers")
LAYER_KEYS = ("quant_algo", "group_size", "has_zero_point", "pre_quant_scale")


@dataclass(frozen=True)
class Format:
    """One ``quant_algo`` with its ``group_size``: the preset's weight and input ``cfg``."""

    algo: str
    group_size: int | None
    weight: Any
    input: Any
    origin: Origin


@dataclass(frozen=True)
class ModelOptCheckpoint:
    """A read ``hf_quant_config.json``: one format for every Linear (or one per layer), the
    exclusions, the KV-cache format."""

    default: Format | None
    layers: dict[str, Format]
    exclude: tuple[tuple[str, Origin], ...]
    kv: Any
    kv_origin: Origin | None
    file: str


def _fail(file: str, marks: Mapping[tuple[Any, ...], tuple[int, int]], path: tuple[Any, ...], message: str,
          hint: str | None = None) -> CompressedTensorsConfigError:
    full = path
    while full and full not in marks:
        full = full[:-1]
    loc = f"{file}:{marks[full][0]}:{marks[full][1]}" if full else file
    return CompressedTensorsConfigError(f"{HF_QUANT_CONFIG}: {message}", location=loc, hint=hint)


def _preset_cfgs(preset: str) -> tuple[Any, Any]:
    """The preset's last ``*weight_quantizer`` / ``*input_quantizer`` instruction: a cfg, or
    ``None`` when it switches the quantizer off."""
    from qrt.frontends.wildcard.presets import load_modelopt_preset

    weight = inp = None
    for entry in load_modelopt_preset(preset).entries:
        if entry.pattern == "*weight_quantizer":
            weight = None if entry.enable is False else entry.cfg
        elif entry.pattern == "*input_quantizer":
            inp = None if entry.enable is False else entry.cfg
        elif entry.pattern == "*[kv]_bmm_quantizer":
            weight = entry.cfg
    return weight, inp


def _with_group(cfg: Any, group: int | None) -> Any:
    if cfg is None or group is None or not isinstance(cfg, Mapping):
        return cfg
    blocks = cfg.get("block_sizes")
    if not isinstance(blocks, Mapping) or -1 not in blocks:
        return cfg
    return {**cfg, "block_sizes": {**blocks, -1: group}}


def read_hf_quant_config(path: Path) -> ModelOptCheckpoint:
    from qrt.files import parse_json, read_text
    from qrt.frontends.compressed_tensors.positions import key_marks

    file = str(path)
    text = read_text(path, what="ModelOpt hf_quant_config.json", error=CompressedTensorsConfigError)
    data = parse_json(text, file=file, error=CompressedTensorsConfigError)
    marks = key_marks(text)
    if not isinstance(data, Mapping) or not isinstance(data.get("quantization"), Mapping):
        raise _fail(file, marks, (), "no 'quantization' mapping (ModelOpt writes {'producer': …, 'quantization': {…}})")
    q = data["quantization"]
    for key in data:
        if key not in ("producer", "quantization"):
            raise _fail(file, marks, (key,), f"unknown key {key!r}", "ModelOpt writes producer and quantization")
    for key in q:
        if key not in QUANTIZATION_KEYS:
            raise _fail(file, marks, ("quantization", key), f"unknown key quantization.{key}",
                        did_you_mean(str(key), QUANTIZATION_KEYS) or "keys: " + ", ".join(QUANTIZATION_KEYS))

    def fmt(entry: Mapping[str, Any], path: tuple[Any, ...], where: str) -> Format | None:
        algo = entry.get("quant_algo")
        if algo is None:
            return None
        if algo not in ALGO_PRESETS:
            raise _fail(file, marks, (*path, "quant_algo"), f"{where}.quant_algo {algo!r} has no qrt reading",
                        "qrt reads " + ", ".join(ALGO_PRESETS) + (" and MIXED_PRECISION" if where == "quantization" else ""))
        group = entry.get("group_size")
        if group is not None and (not isinstance(group, int) or isinstance(group, bool) or group <= 0):
            raise _fail(file, marks, (*path, "group_size"), f"{where}.group_size must be a positive integer, got {group!r}")
        weight, inp = _preset_cfgs(ALGO_PRESETS[algo])
        mark = path + ("quant_algo",)
        line = marks.get(mark)
        origin = Origin(file=file, line=line[0] if line else None, column=line[1] if line else None,
                        config_path=f"{where}.quant_algo ({algo} as {ALGO_PRESETS[algo]})")
        return Format(algo, group, _with_group(weight, group), _with_group(inp, group), origin)

    layers: dict[str, Format] = {}
    default = None
    if q.get("quant_algo") == "MIXED_PRECISION":
        table = q.get("quantized_layers")
        if not isinstance(table, Mapping):
            raise _fail(file, marks, ("quantization",), "MIXED_PRECISION without a quantized_layers mapping")
        for name, entry in table.items():
            where = f"quantized_layers[{name!r}]"
            if not isinstance(entry, Mapping) or any(k not in LAYER_KEYS for k in entry):
                raise _fail(file, marks, ("quantization", "quantized_layers", name),
                            f"{where}: a mapping of {', '.join(LAYER_KEYS)}, got {entry!r}")
            f = fmt(entry, ("quantization", "quantized_layers", name), where)
            if f is not None:
                layers[str(name)] = f
    else:
        default = fmt(q, ("quantization",), "quantization")
    exclude_raw = q.get("exclude_modules") or []
    if not isinstance(exclude_raw, list) or not all(isinstance(e, str) for e in exclude_raw):
        raise _fail(file, marks, ("quantization", "exclude_modules"), f"exclude_modules must be a list of module "
                    f"name patterns, got {exclude_raw!r}")
    exclude = []
    for i, pattern in enumerate(exclude_raw):
        m = marks.get(("quantization", "exclude_modules", i))
        exclude.append((pattern, Origin(file=file, line=m[0] if m else None, column=m[1] if m else None,
                                        config_path=f"exclude_modules[{i}]")))
    kv_algo = q.get("kv_cache_quant_algo")
    kv = kv_origin = None
    if kv_algo is not None:
        if kv_algo not in KV_PRESETS:
            raise _fail(file, marks, ("quantization", "kv_cache_quant_algo"),
                        f"kv_cache_quant_algo {kv_algo!r} has no qrt reading", "qrt reads " + ", ".join(KV_PRESETS))
        kv = _preset_cfgs(KV_PRESETS[kv_algo])[0]
        m = marks.get(("quantization", "kv_cache_quant_algo"))
        kv_origin = Origin(file=file, line=m[0] if m else None, column=m[1] if m else None,
                           config_path=f"kv_cache_quant_algo ({kv_algo} as {KV_PRESETS[kv_algo]})")
    return ModelOptCheckpoint(default, layers, tuple(exclude), kv, kv_origin, file)


def _excluded(name: str, ckpt: ModelOptCheckpoint) -> tuple[str, Origin] | None:
    for pattern, origin in ckpt.exclude:
        if fnmatchcase(name, pattern):
            return pattern, origin
    return None


@dataclass
class ModelOptCheckpointSource:
    """Rules of a ModelOpt export on one inventory: the format on every Linear's weight and
    input (``off`` where the preset leaves one float), ``off`` on excluded modules, the KV
    format on ``k_bmm_quantizer``/``v_bmm_quantizer``."""

    config: ModelOptCheckpoint
    label: str = "ModelOpt checkpoint"
    checkpoint: str | None = None
    _compiled: dict[InventoryKey, RuleSet] = field(default_factory=dict)

    def rules_for(self, inv: Inventory) -> RuleSet:
        key = InventoryKey(inv)
        if key not in self._compiled:
            self._compiled[key] = RuleSet.of(self._rules(inv))
        return self._compiled[key]

    def _rules(self, inv: Inventory) -> list[Rule]:
        from qrt.frontends.wildcard.spec_map import spec_for_site

        ckpt = self.config
        rules: list[Rule] = []
        for view in module_views(inv):
            if view.kind != "linear":
                continue
            fmt = ckpt.layers.get(view.name, ckpt.default)
            escaped = re.escape(view.name)
            for site in inv.sites:
                if site.module != view.name or site.op_type != "linear" or (site.role, site.key) not in (
                        ("state", "weight"), ("input", 0)):
                    continue
                selector = Selector(module_name=escaped, op_type="linear", role=site.role, key=site.key)
                if fmt is not None:
                    cfg = fmt.weight if site.role == "state" else fmt.input
                    effect = Off() if cfg is None else Set(spec_for_site(cfg, site, where=fmt.origin.config_path or "cfg"))
                    rules.append(Rule(selector, effect, (1,), origin=fmt.origin))
                hit = _excluded(view.name, ckpt)
                if hit is not None:
                    rules.append(Rule(selector, Off(), (2,), origin=hit[1]))
        if ckpt.kv is not None and ckpt.kv_origin is not None:
            for leaf in ("k_bmm_quantizer", "v_bmm_quantizer"):
                for site in inv.sites:
                    if any(a.endswith("." + leaf) for a in (site.quantizer_path, *site.aliases)):
                        spec = spec_for_site(ckpt.kv, site, where=ckpt.kv_origin.config_path or "cfg")
                        rules.append(Rule(Selector(quantizer_path=_glob_escape(site.quantizer_path)), Set(spec), (1,),
                                          origin=ckpt.kv_origin))
        return rules

    def check(self, plan: Plan) -> None:
        return None

    def notes(self, site: Site, inv: Inventory) -> list[str]:
        ckpt = self.config
        hit = _excluded(site.module, ckpt)
        fmt = ckpt.layers.get(site.module, ckpt.default)
        if site.op_type != "linear":
            return []
        if hit is not None:
            return [f"ModelOpt export: {site.module} matches exclude_modules pattern {hit[0]!r} (fnmatch): kept float"]
        if fmt is None:
            return [f"ModelOpt export: {site.module} is in no quantized_layers entry: float"]
        return [f"ModelOpt export: quant_algo {fmt.algo} on every Linear not excluded; its specs are those of "
                f"ModelOpt's {ALGO_PRESETS[fmt.algo]}" + (f" with group_size {fmt.group_size}" if fmt.group_size else "")]


def _glob_escape(name: str) -> str:
    return re.sub(r"([*?\[])", r"[\1]", name)
