"""A torchao config → the engine's rules on one model, and torchao's reading for explain.

torchao decides per module (:mod:`.match`); the rules say what it decided, on the sites of the
``linear`` op each ``nn.Linear`` runs (state ``weight`` and input 0):

* the entry that decided the module's weight (:attr:`~.match.ModuleReading.weight_entry`, or
  the key that sent it to ``None``) ``set``\\ s its config's weight and input specs — ``off``
  where the config leaves one float, both ``off`` for ``None`` — at priority ``(1,)``;
* every other key that reaches the module, in map order, the same at ``(0, -index)``: it
  loses, and explain lists it beside the winner;
* transformers' ``modules_to_not_convert``: ``off`` on both at ``(2,)``.

A weight ``Int4WeightOnlyConfig`` leaves float (its input features not a multiple of the group
size) is ``off`` from the winning key, and explain says why. Rules name modules exactly (the
matching reads each module's class and parameters), so a config compiles per inventory.
"""

from __future__ import annotations

import re

from qrt.frontends.torchao.config import Entry, TorchAoFqnConfig
from qrt.frontends.torchao.errors import TorchAoConfigError
from qrt.frontends.torchao.match import ModelReading, ModuleReading, read_model
from qrt.inventory.model import Inventory
from qrt.ir.effect import Effect, Off, Set
from qrt.ir.origin import Origin
from qrt.ir.rule import Rule, RuleSet
from qrt.ir.selector import Selector
from qrt.ir.spec import QuantizationSpec

__all__ = ["compile_torchao", "module_notes", "specs_of"]


def _effect(spec: QuantizationSpec | None) -> Effect:
    return Off() if spec is None else Set(spec)


def _indivisible(entry: Entry, shape: tuple[int, ...] | None) -> bool:
    c = entry.config
    return bool(c and c.skips_indivisible and c.group_size and shape and shape[-1] % c.group_size)


def specs_of(entry: Entry | None, shape: tuple[int, ...] | None) -> tuple[QuantizationSpec | None, QuantizationSpec | None]:
    """(weight, input) specs an entry gives a Linear whose weight has ``shape``."""
    if entry is None or entry.config is None or _indivisible(entry, shape):
        return None, None
    return entry.config.weight, entry.config.input


def _rules(name: str, weight: QuantizationSpec | None, act: QuantizationSpec | None, priority: tuple[int, ...],
           origin: Origin) -> list[Rule]:
    escaped = re.escape(name)
    return [
        Rule(Selector(module_name=escaped, op_type="linear", role="state", key="weight"), _effect(weight), priority,
             origin=origin),
        Rule(Selector(module_name=escaped, op_type="linear", role="input", key=0), _effect(act), priority,
             origin=origin),
    ]


def _raise(config: TorchAoFqnConfig, reading: ModuleReading) -> None:
    refusal = reading.refusal
    assert refusal is not None
    origin = refusal.entry.origin if refusal.entry is not None else Origin(file=config.file)
    raise TorchAoConfigError(f"{refusal.entry.describe() + ': ' if refusal.entry else ''}{refusal.message}",
                             location=origin.position or config.file)


def compile_torchao(config: TorchAoFqnConfig, inv: Inventory, model: ModelReading | None = None) -> RuleSet:
    """The rule set of a config on one inventory (read by :func:`~.match.read_model` unless
    given); see the module docstring."""
    model = model or read_model(config, inv)
    rules: list[Rule] = []
    for name, reading in model.modules.items():
        if reading.refusal is not None:
            _raise(config, reading)
        if model.views[name].kind != "linear" or reading.visited is None:
            continue
        shape = dict(model.params.get(name, [])).get("weight")
        winner = reading.weight_entry or reading.decided_by
        if winner is not None:
            rules += _rules(name, *specs_of(reading.weight_entry, shape), (1,), winner.origin)
        for entry in reading.candidates:
            if entry is not winner:
                rules += _rules(name, *specs_of(entry, shape), (0, -entry.index), entry.origin)
        if reading.skipped_by is not None:
            origin = config.not_convert_origin or Origin(file=config.file, config_path="modules_to_not_convert")
            rules += _rules(name, None, None, (2,), origin)
    return RuleSet.of(rules)


def module_notes(config: TorchAoFqnConfig, inv: Inventory, module_name: str, model: ModelReading | None = None) -> list[str]:
    """torchao's reading of one module, step by step, for explain."""
    model = model or read_model(config, inv)
    reading = model.modules.get(module_name)
    view = model.views.get(module_name)
    if reading is None or view is None:
        return []
    kind = view.classes[0].rpartition(".")[2] if view.classes else "?"
    who = "transformers (TorchAoConfig) then torchao" if config.transformers else "torchao"
    if reading.visited is None:
        why = "no key names or matches it or its parameters" + (
            "" if config.get("_default") is None else ", and _default reaches nn.Linear modules only")
        return [f"{who}: quantize_ does not visit {module_name} ({kind}): {why}"]
    lines = [f"{who}: {module_name} ({kind}): " + "; ".join(reading.steps)]
    shape = dict(model.params.get(module_name, [])).get("weight")
    entry = reading.weight_entry
    if entry is not None and _indivisible(entry, shape):
        lines.append(f"torchao: {entry.config.text} leaves {module_name}.weight float: its {shape[-1]} input "  # type: ignore[union-attr,index]
                     f"features are no multiple of the group size {entry.config.group_size} "  # type: ignore[union-attr]
                     "(_int4_weight_only_quantize_tensor skips it)")
    if reading.skipped_by is not None:
        lines.append(f"transformers: modules_to_not_convert entry {reading.skipped_by!r} skips {module_name}.weight "
                     "(should_convert_module)"
                     + ("" if config.modules_to_not_convert is not None else
                        "; the list is transformers' default for modules_to_not_convert: null (get_keys_to_not_convert)"))
    return lines
