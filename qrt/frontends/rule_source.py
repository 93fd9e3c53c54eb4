"""What every front end's rule source is, and the key it compiles its rules under.

A front end reads a config into a source that gives the rules for an inventory, checks a
resolved plan the way its front end requires, and adds front-end facts to explanations
(:class:`RuleSource`). The door that detects a file's style and builds the right source is
:mod:`qrt.frontends.source`, above every front end; this module sits below them all, so each
front end's source can name the protocol and the cache key without importing the door.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from qrt.inventory.model import Inventory
from qrt.ir.rule import RuleSet
from qrt.ir.site import Site

if TYPE_CHECKING:
    from qrt.resolver.plan import Plan

__all__ = ["InventoryKey", "RuleSource"]


class RuleSource(Protocol):
    label: str

    def rules_for(self, inv: Inventory) -> RuleSet: ...

    def check(self, plan: Plan) -> None: ...

    def notes(self, site: Site, inv: Inventory) -> list[str]: ...



class InventoryKey:
    """A cache key for "this inventory object": hashed by identity, equal only to itself, and
    holding the inventory so its ``id`` cannot be given to another one while the entry lives
    (a bare ``id(inv)`` key would hand a later inventory the rules compiled for a collected
    one). Sources compile their rules once per inventory with it."""

    __slots__ = ("inv",)

    def __init__(self, inv: Inventory) -> None:
        self.inv = inv

    def __hash__(self) -> int:
        return id(self.inv)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, InventoryKey) and other.inv is self.inv
