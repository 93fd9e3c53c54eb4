"""llm-compressor recipes: the quantization config their modifiers resolve to, and the
algorithms they name, recorded (not run).

A recipe (``llmcompressor/recipe/recipe.py``, ``Recipe.from_dict``) is a mapping of stages —
keys ending in ``_stage`` — each a mapping of modifier groups — keys ending in
``_modifiers`` — each a mapping of modifier class name → its arguments, applied in order.
(llm-compressor skips any other key silently; qrt refuses it by name.)

**Quantization modifiers** (``QuantizationModifier``, ``GPTQModifier``: llm-compressor's
``QuantizationMixin``) become a compressed-tensors config exactly as
``QuantizationMixin.resolve_quantization_config`` builds it:

* ``scheme`` and ``config_groups`` together are an error; ``scheme: NAME`` (a preset,
  :mod:`.presets`) is ``{NAME: targets}``; ``scheme: {NAME: targets, ...}`` gives one group per
  preset, named ``group_0``, ``group_1`` … in order; ``targets`` is a string or a list
  (default ``["Linear"]``);
* no ``scheme`` and no ``config_groups``: one group of ``targets`` with no args — nothing is
  quantized;
* observers (``_apply_observer_overrides``): ``weight_observer`` / ``input_observer`` /
  ``output_observer``, or the ``observer`` dict (``weights``/``input``/``output``; not both
  forms), override every scheme's; where neither is given, args that do not name an observer
  themselves get ``memoryless_minmax`` (weights) or ``minmax`` (activations), none when
  ``dynamic: true``;
* ``ignore`` and ``kv_cache_scheme`` pass through;
* ``GPTQModifier`` then sets ``actorder`` on every group whose weights use the ``group``
  strategy: its own ``actorder`` argument, or ``static`` (``weight``) where neither names one.

Several quantization modifiers apply in order, each re-marking the modules it selects
(:func:`~.compile.compile_sequence`). **Algorithm modifiers** (``SmoothQuantModifier``,
``AWQModifier``, ``SparseGPTModifier``, ``QuIPModifier``, ``SpinQuantModifier`` …) change
weights or add transforms but not which tensor gets which format; they are recorded with their
arguments and position and reported by ``explain``, never run; GPTQ's own arguments
(``block_size``, ``dampening_frac``, ``actorder`` …) likewise. A modifier qrt does not know is
an error (llm-compressor's ``ModifierFactory`` refuses it too).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from qrt.errors import did_you_mean
from qrt.frontends.compressed_tensors.config import CompressedTensorsConfig, _Reader
from qrt.frontends.compressed_tensors.errors import CompressedTensorsConfigError
from qrt.frontends.compressed_tensors.positions import key_marks
from qrt.frontends.compressed_tensors.presets import PRESET_SCHEMES
from qrt.ir.origin import Origin

__all__ = [
    "ALGORITHM_MODIFIERS",
    "QUANTIZATION_MODIFIERS",
    "Algorithm",
    "Recipe",
    "is_recipe_document",
    "recipe_from_data",
    "recipe_from_text",
]

QUANTIZATION_MODIFIERS: tuple[str, ...] = ("QuantizationModifier", "GPTQModifier")
ALGORITHM_MODIFIERS: tuple[str, ...] = (
    "SmoothQuantModifier", "AWQModifier", "SparseGPTModifier", "WandaPruningModifier", "MagnitudePruningModifier",
    "ConstantPruningModifier", "QuIPModifier", "SpinQuantModifier", "LogarithmicEqualizationModifier",
    "OutputDistillationModifier", "AutoRoundModifier",
)
_MIXIN_ARGS = ("config_groups", "targets", "ignore", "scheme", "kv_cache_scheme", "weight_observer",
               "input_observer", "output_observer", "observer", "bypass_divisibility_checks")
_MODIFIER_ARGS = ("index", "group", "start", "end", "update")
_GPTQ_ARGS = ("sequential_targets", "block_size", "dampening_frac", "actorder", "offload_hessians")
_DEFAULT_OBSERVERS = (("weights", "memoryless_minmax"), ("input_activations", "minmax"), ("output_activations", "minmax"))


@dataclass(frozen=True)
class Algorithm:
    """A modifier recorded, not run: its class, where it stands, and its arguments."""

    name: str
    stage: str
    args: tuple[tuple[str, str], ...]
    origin: Origin

    def describe(self) -> str:
        shown = ", ".join(f"{k}={v}" for k, v in self.args)
        return f"{self.name} in {self.stage} ({shown}) at {self.origin}" if shown else f"{self.name} in {self.stage} at {self.origin}"


@dataclass(frozen=True)
class Recipe:
    """The compressed-tensors configs of a recipe's quantization modifiers, in order, and its
    other modifiers, recorded."""

    configs: tuple[CompressedTensorsConfig, ...]
    algorithms: tuple[Algorithm, ...]
    file: str = "<data>"


def is_recipe_document(data: Any) -> bool:
    """An llm-compressor recipe by its shape: some top-level key ending in ``_stage``."""
    return isinstance(data, Mapping) and any(isinstance(k, str) and k.endswith("_stage") for k in data)


def _observers(args: Mapping[str, Any], reader: _Reader, path: tuple[Any, ...]) -> dict[str, str | None]:
    individual = {"weights": args.get("weight_observer"), "input_activations": args.get("input_observer"),
                  "output_activations": args.get("output_observer")}
    table = args.get("observer")
    if table is not None:
        if any(v is not None for v in individual.values()):
            raise reader.fail("both the observer dict and weight/input/output_observer: use one of them", (*path, "observer"))
        if not isinstance(table, Mapping) or any(k not in ("weights", "input", "output") for k in table):
            raise reader.fail(f"observer: a mapping with keys weights, input, output; got {table!r}", (*path, "observer"))
        individual = {"weights": table.get("weights", individual["weights"]),
                      "input_activations": table.get("input", individual["input_activations"]),
                      "output_activations": table.get("output", individual["output_activations"])}
    return individual


def _with_observers(scheme: dict[str, Any], overrides: Mapping[str, str | None]) -> dict[str, Any]:
    """``_apply_observer_overrides`` on one scheme's args (as JSON)."""
    out = copy.deepcopy(scheme)
    for role, default in _DEFAULT_OBSERVERS:
        args = out.get(role)
        if args is None:
            continue
        value = overrides.get(role)
        if value is None:
            if args.get("observer") is not None:
                continue
            value = None if args.get("dynamic") is True else default
        args["observer"] = value
    return out


def _targets(value: Any, reader: _Reader, path: tuple[Any, ...], where: str) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(t, str) for t in value):
        return list(value)
    raise reader.fail(f"{where}: a target string or a list of them, got {value!r}", path)


def _quantization_config(args: Mapping[str, Any], reader: _Reader, path: tuple[Any, ...], where: str) -> dict[str, Any]:
    """``resolve_quantization_config`` as JSON: a ``quantization_config`` mapping."""
    scheme, groups = args.get("scheme"), args.get("config_groups")
    targets = _targets(args.get("targets", ["Linear"]), reader, (*path, "targets"), f"{where}.targets")
    if scheme is not None and groups is not None:
        raise reader.fail(f"{where}: both scheme and config_groups; give one", (*path, "scheme"))
    overrides = _observers(args, reader, path)
    if scheme is not None:
        if isinstance(scheme, str):
            scheme = {scheme: targets}
        if not isinstance(scheme, Mapping):
            raise reader.fail(f"{where}.scheme: a preset name or a mapping of preset names to targets, got {scheme!r}",
                              (*path, "scheme"))
        out_groups: dict[str, Any] = {}
        for i, (name, group_targets) in enumerate(scheme.items()):
            if not isinstance(name, str) or name.upper() not in PRESET_SCHEMES:
                raise reader.fail(f"{where}.scheme: {name!r} is no preset scheme", (*path, "scheme", name),
                                  hint=did_you_mean(str(name).upper(), PRESET_SCHEMES) or "presets: " + ", ".join(PRESET_SCHEMES))
            preset = copy.deepcopy(PRESET_SCHEMES[name.upper()])
            tlist = _targets(group_targets, reader, (*path, "scheme", name), f"{where}.scheme[{name!r}]")
            out_groups[f"group_{i}"] = _with_observers({"targets": tlist, **preset}, overrides)
    elif groups:
        if not isinstance(groups, Mapping):
            raise reader.fail(f"{where}.config_groups: a mapping of group names to schemes", (*path, "config_groups"))
        out_groups = {name: (_with_observers(dict(g), overrides) if isinstance(g, Mapping) else g) for name, g in groups.items()}
    else:
        out_groups = {"group_0": {"targets": targets}}
    data: dict[str, Any] = {"config_groups": out_groups, "ignore": list(args.get("ignore") or [])}
    if args.get("kv_cache_scheme") is not None:
        data["kv_cache_scheme"] = args["kv_cache_scheme"]
    return data


_STATIC = object()


def _gptq_actorder(qdata: dict[str, Any], args: Mapping[str, Any], reader: _Reader, path: tuple[Any, ...],
                   where: str) -> None:
    """``GPTQModifier.resolve_quantization_config``: on every group whose weights use the
    ``group`` strategy, the modifier's ``actorder`` (default ``static``, i.e. ``weight``, where
    the args name none) — a conflicting one is an error, as in llm-compressor."""
    wanted = args.get("actorder", _STATIC)
    for name, group in qdata["config_groups"].items():
        weights = group.get("weights") if isinstance(group, Mapping) else None
        if not isinstance(weights, dict):
            continue
        strategy = weights.get("strategy")
        size = weights.get("group_size")
        if not (strategy == "group" or (strategy is None and isinstance(size, int) and size > 0)):
            continue
        existing = weights.get("actorder")
        if wanted is _STATIC:
            weights["actorder"] = "static" if existing is None else existing
        elif existing is None or existing == wanted:
            weights["actorder"] = wanted
        else:
            raise reader.fail(f"{where}.actorder: {wanted!r} conflicts with config_groups[{name!r}].weights.actorder "
                              f"{existing!r}; llm-compressor refuses both", (*path, "actorder"))


def recipe_from_data(data: Any, *, file: str = "<data>",
                     marks: Mapping[tuple[Any, ...], tuple[int, int]] | None = None) -> Recipe:
    """A recipe from loaded YAML/JSON (see the module docstring)."""
    reader = _Reader(file, marks or {}, ())
    if not isinstance(data, Mapping):
        raise reader.fail(f"a recipe is a mapping of stages, got {type(data).__name__}", ())
    configs: list[CompressedTensorsConfig] = []
    algorithms: list[Algorithm] = []
    for stage, stage_val in data.items():
        if stage == "args":
            continue
        if not (isinstance(stage, str) and stage.endswith("_stage") and isinstance(stage_val, Mapping)):
            raise reader.fail(f"{stage!r}: a recipe's top-level keys are stages (NAME_stage: a mapping of modifier "
                              "groups); llm-compressor would skip this key silently, qrt refuses it", (stage,))
        for group, group_val in stage_val.items():
            if not (isinstance(group, str) and group.endswith("_modifiers") and isinstance(group_val, Mapping)):
                raise reader.fail(f"{stage}.{group}: a stage holds modifier groups (NAME_modifiers: a mapping of "
                                  "modifier names to arguments)", (stage, group))
            for name, args in group_val.items():
                path = (stage, group, name)
                where = f"{stage}.{group}.{name}"
                args = {} if args is None else args
                if not isinstance(args, Mapping):
                    raise reader.fail(f"{where}: the modifier's arguments must be a mapping", path)
                if name in QUANTIZATION_MODIFIERS:
                    allowed = (*_MIXIN_ARGS, *_MODIFIER_ARGS, *(_GPTQ_ARGS if name == "GPTQModifier" else ()))
                    for key in args:
                        if key not in allowed:
                            raise reader.fail(f"{where}: unknown argument {key!r}", (*path, key),
                                              hint=did_you_mean(str(key), allowed) or "valid: " + ", ".join(allowed))
                    sub = _Reader(file, marks or {}, path, label=where)
                    qdata = _quantization_config(args, reader, path, where)
                    if name == "GPTQModifier":
                        _gptq_actorder(qdata, args, reader, path, where)
                    config = sub.document(qdata)
                    configs.append(config)
                    extra = {k: v for k, v in args.items() if k in _GPTQ_ARGS or k in _MODIFIER_ARGS}
                    if name != "QuantizationModifier" or extra:
                        algorithms.append(Algorithm(name, stage, tuple((k, repr(v)) for k, v in extra.items()),
                                                    reader.origin(path, where)))
                elif name in ALGORITHM_MODIFIERS:
                    algorithms.append(Algorithm(name, stage, tuple((str(k), repr(v)) for k, v in args.items()),
                                                reader.origin(path, where)))
                else:
                    raise reader.fail(f"{where}: unknown modifier {name!r}", path,
                                      hint=did_you_mean(str(name), (*QUANTIZATION_MODIFIERS, *ALGORITHM_MODIFIERS))
                                      or "known: " + ", ".join((*QUANTIZATION_MODIFIERS, *ALGORITHM_MODIFIERS)))
    if not configs:
        raise reader.fail("the recipe has no quantization modifier (QuantizationModifier or GPTQModifier): "
                          "it decides no tensor's format", ())
    return Recipe(tuple(configs), tuple(algorithms), file)


def recipe_from_text(text: str, *, file: str) -> Recipe:
    from qrt.frontends.yaml_load import structured_from_text

    data = structured_from_text(text, file=file, error=CompressedTensorsConfigError)
    return recipe_from_data(data, file=file, marks=key_marks(text))
