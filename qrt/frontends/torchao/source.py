"""The rule source of a torchao config (:class:`qrt.frontends.source.RuleSource`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from qrt.frontends.torchao.config import TorchAoFqnConfig
from qrt.frontends.torchao.match import ModelReading, read_model
from qrt.inventory.model import Inventory
from qrt.ir.rule import RuleSet
from qrt.ir.site import Site
from qrt.frontends.rule_source import InventoryKey

if TYPE_CHECKING:
    from qrt.resolver.plan import Plan

__all__ = ["TorchAoSource"]


@dataclass
class TorchAoSource:
    """Compiles per inventory (the matching reads each module's class and parameters);
    explain adds torchao's own reading of the site's module, step by step."""

    config: TorchAoFqnConfig
    label: str = "torchao config"
    checkpoint: str | None = None
    """The checkpoint folder the config came from, whose ``config.json`` also builds the model."""
    _compiled: dict[InventoryKey, RuleSet] = field(default_factory=dict)
    _readings: dict[InventoryKey, ModelReading] = field(default_factory=dict)

    def reading(self, inv: Inventory) -> ModelReading:
        """torchao's reading of every module of ``inv`` (once per inventory: explain asks per site)."""
        key = InventoryKey(inv)
        if key not in self._readings:
            self._readings[key] = read_model(self.config, inv)
        return self._readings[key]

    def rules_for(self, inv: Inventory) -> RuleSet:
        from qrt.frontends.torchao.compile import compile_torchao

        key = InventoryKey(inv)
        if key not in self._compiled:
            self._compiled[key] = compile_torchao(self.config, inv, self.reading(inv))
        return self._compiled[key]

    def check(self, plan: Plan) -> None:
        return None

    def notes(self, site: Site, inv: Inventory) -> list[str]:
        from qrt.frontends.torchao.compile import module_notes

        return module_notes(self.config, inv, site.module, self.reading(inv))
