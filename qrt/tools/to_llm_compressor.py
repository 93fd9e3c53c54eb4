"""A plan → an llm-compressor recipe (``qrt convert --to llm-compressor``), exact or refused.

The recipe is one stage with one ``QuantizationModifier``: what it quantizes is the
compressed-tensors config of the plan (:func:`qrt.frontends.compressed_tensors.writer.config_from_plan`:
one group per distinct weight/input/output triple, targets by exact module name or ``Linear``),
written as the modifier's ``config_groups`` — or, where the plan has one group and a preset
scheme resolves to exactly the same specs, as ``scheme: NAME`` with ``targets`` (llm-compressor's
``QuantizationMixin.resolve_quantization_config``, reproduced by
:mod:`qrt.frontends.compressed_tensors.recipe`, decides that; it is checked here by reading both
forms). ``kv_cache_scheme`` passes through.

Decisions with no equivalent (everything compressed-tensors cannot hold: another op's tensors,
module boundaries, specs that do not map back) refuse the conversion, named with their reason,
as for ``--to compressed-tensors``. Decisions the recipe format takes for itself are written into
the recipe's header and allowed by the verification:

* **observers**: llm-compressor gives args that name no observer its defaults
  (``memoryless_minmax`` on weights — the weight's own min and max, what qrt's
  ``qparam_calculator=static`` computes — and ``minmax`` on static activations); the recipe read
  back carries them as the spec extra ``observer``. A source spec that names an observer keeps it.
* **algorithms** (GPTQ, AWQ, SmoothQuant) are not written: a qrt plan decides formats, not how
  weights are calibrated; ``QuantizationModifier`` is llm-compressor's round-to-nearest.
"""

from __future__ import annotations

from typing import Any

__all__ = ["DEFAULT_OBSERVERS", "recipe_from_plan", "same_but_default_observer"]

DEFAULT_OBSERVERS = ("memoryless_minmax", "minmax")
"""The observers llm-compressor fills in (``_apply_observer_overrides``): weights, activations."""

_STAGE, _GROUP, _MODIFIER = "quant_stage", "quant_modifiers", "QuantizationModifier"


def _modifier_config(modifier: dict[str, Any]) -> Any:
    """The compressed-tensors config llm-compressor resolves the modifier to (qrt's reading)."""
    from qrt.frontends.compressed_tensors.recipe import recipe_from_data

    return recipe_from_data({_STAGE: {_GROUP: {_MODIFIER: modifier}}}).configs[0]


def _preset(group: dict[str, Any]) -> str | None:
    """The preset whose scheme resolves to exactly this group's specs, or ``None``."""
    from qrt.frontends.compressed_tensors.compile import ROLE_SITES
    from qrt.frontends.compressed_tensors.errors import CompressedTensorsConfigError
    from qrt.frontends.compressed_tensors.presets import PRESET_SCHEMES

    want = _modifier_config({"config_groups": {"group_0": group}}).groups[0]
    for name in PRESET_SCHEMES:
        try:
            got = _modifier_config({"scheme": name, "targets": group["targets"]}).groups[0]
        except CompressedTensorsConfigError:  # a preset qrt cannot read (FP6, ...)
            continue
        if all(got.spec(role) == want.spec(role) for role in ROLE_SITES):
            return name
    return None


def recipe_from_plan(plan: Any) -> tuple[dict[str, Any], list[tuple[str, str]], list[str]]:
    """The recipe of a plan's decisions, ``(quantizer path, reason)`` for every decision it
    cannot hold, and the notes the recipe's header states (presets used, observers added)."""
    from qrt.frontends.compressed_tensors.writer import config_from_plan

    config, reasons = config_from_plan(plan)
    groups = config["config_groups"]
    notes = [f"llm-compressor adds its default observers where the args name none: {DEFAULT_OBSERVERS[0]} on "
             f"weights (the weight's own min/max, qrt's qparam_calculator=static), {DEFAULT_OBSERVERS[1]} on "
             "static activations",
             "no algorithm modifier (GPTQ, AWQ, SmoothQuant) is written: QuantizationModifier rounds to nearest"]
    modifier: dict[str, Any]
    preset = _preset(next(iter(groups.values()))) if len(groups) == 1 else None
    if preset is not None:
        targets = next(iter(groups.values()))["targets"]
        modifier = {"targets": targets, "scheme": preset}
        notes.insert(0, f"scheme {preset}: the preset resolves to exactly the plan's specs")
    else:
        modifier = {"config_groups": groups}
    if config.get("kv_cache_scheme") is not None:
        modifier["kv_cache_scheme"] = config["kv_cache_scheme"]
    if config.get("ignore"):
        modifier["ignore"] = config["ignore"]
    return {_STAGE: {_GROUP: {_MODIFIER: modifier}}}, reasons, notes


def same_but_default_observer(before: Any, after: Any) -> bool:
    """Specs equal, but for an ``observer`` extra llm-compressor added by default to a spec
    that named none."""
    if before == after:
        return True
    if before is None or after is None:
        return False
    a, b = before.to_json(), after.to_json()
    extras = dict(b.get("extras", {}))
    if "observer" in a.get("extras", {}) or extras.get("observer") not in DEFAULT_OBSERVERS:
        return False
    extras.pop("observer")
    if extras:
        b["extras"] = extras
    else:
        b.pop("extras", None)
    return bool(a == b)
