"""The rule source of a compressed-tensors config (:class:`qrt.frontends.source.RuleSource`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from qrt.frontends.compressed_tensors.config import CompressedTensorsConfig
from qrt.inventory.model import Inventory
from qrt.ir.rule import RuleSet
from qrt.ir.site import Site
from qrt.frontends.rule_source import InventoryKey

if TYPE_CHECKING:
    from qrt.resolver.plan import Plan

__all__ = ["CompressedTensorsSource", "RecipeSource", "VllmSource", "consumer_view"]


@dataclass
class CompressedTensorsSource:
    """Compiles per inventory (the class half of the matching reads each module's classes);
    explain adds compressed-tensors' own reading of the site's module."""

    config: CompressedTensorsConfig
    label: str = "compressed-tensors config"
    checkpoint: str | None = None
    """The checkpoint folder the config came from, whose ``config.json`` also builds the model."""
    _compiled: dict[InventoryKey, RuleSet] = field(default_factory=dict)

    def rules_for(self, inv: Inventory) -> RuleSet:
        from qrt.frontends.compressed_tensors.compile import compile_compressed_tensors

        key = InventoryKey(inv)
        if key not in self._compiled:
            self._compiled[key] = compile_compressed_tensors(self.config, inv)
        return self._compiled[key]

    def check(self, plan: Plan) -> None:
        return None

    def notes(self, site: Site, inv: Inventory) -> list[str]:
        from qrt.frontends.compressed_tensors.compile import module_notes

        return module_notes(self.config, inv, site.module)


@dataclass
class RecipeSource:
    """An llm-compressor recipe: its quantization modifiers' configs applied in order
    (:func:`~qrt.frontends.compressed_tensors.compile.compile_sequence`); explain adds each
    config's reading of the site's module and the algorithm modifiers recorded, not run."""

    recipe: Any  # Recipe
    label: str = "llm-compressor recipe"
    _compiled: dict[InventoryKey, RuleSet] = field(default_factory=dict)

    def rules_for(self, inv: Inventory) -> RuleSet:
        from qrt.frontends.compressed_tensors.compile import compile_sequence

        key = InventoryKey(inv)
        if key not in self._compiled:
            self._compiled[key] = compile_sequence(list(self.recipe.configs), inv)
        return self._compiled[key]

    def check(self, plan: Plan) -> None:
        return None

    def notes(self, site: Site, inv: Inventory) -> list[str]:
        from qrt.frontends.compressed_tensors.compile import module_notes

        lines = []
        many = len(self.recipe.configs) > 1
        for i, config in enumerate(self.recipe.configs):
            for line in module_notes(config, inv, site.module):
                lines.append(f"quantization modifier {i + 1} of {len(self.recipe.configs)}: {line}" if many else line)
        lines += [f"recorded, not run: {a.describe()}" for a in self.recipe.algorithms]
        return lines


@dataclass
class VllmSource:
    """A compressed-tensors config as vLLM's loader reads it (``--as vllm``;
    :mod:`qrt.frontends.compressed_tensors.vllm`), beside the producer's reading that
    :class:`CompressedTensorsSource` gives. Keeps the checkpoint folder, whose ``config.json``
    is also the model."""

    config: CompressedTensorsConfig
    label: str = "compressed-tensors config, as vLLM reads it"
    checkpoint: str | None = None
    _compiled: dict[InventoryKey, RuleSet] = field(default_factory=dict)

    def rules_for(self, inv: Inventory) -> RuleSet:
        from qrt.frontends.compressed_tensors.vllm import vllm_rules

        key = InventoryKey(inv)
        if key not in self._compiled:
            self._compiled[key] = RuleSet.of(vllm_rules(self.config, inv))
        return self._compiled[key]

    def check(self, plan: Plan) -> None:
        return None

    def notes(self, site: Site, inv: Inventory) -> list[str]:
        from qrt.frontends.compressed_tensors.vllm import vllm_notes

        return vllm_notes(self.config, inv, site.module)


def consumer_view(source: Any, consumer: str) -> Any:
    """``source`` as ``consumer`` reads it (``--as vllm``): a compressed-tensors config or a
    checkpoint folder holding one; any other source is refused (vLLM reads other formats with
    other code)."""
    from qrt.frontends.compressed_tensors.errors import CompressedTensorsConfigError

    if consumer != "vllm":
        raise CompressedTensorsConfigError(f"--as {consumer}: unknown consumer; known: vllm")
    if not isinstance(source, CompressedTensorsSource):
        raise CompressedTensorsConfigError(
            f"--as vllm reads a compressed-tensors config or checkpoint folder; {source.label} is not one",
            hint="convert it first: qrt convert RULES --to compressed-tensors --model MODEL -o config.json")
    return VllmSource(source.config, label=f"{source.label}, as vLLM reads it", checkpoint=source.checkpoint)
