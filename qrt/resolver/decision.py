"""The result of resolving one site: the fold's final state and the rules that made it."""

from __future__ import annotations

from dataclasses import dataclass

from qrt.ir.effect import NOT_QUANTIZED, FoldState, apply_effect
from qrt.ir.rule import Rule
from qrt.ir.site import Site
from qrt.ir.spec import QuantizationSpec

__all__ = ["Decision", "fold"]


@dataclass(frozen=True, slots=True)
class Decision:
    site: Site
    state: FoldState
    matched: tuple[Rule, ...]
    """every matching rule, in fold order ``(priority, order)``"""

    @property
    def spec(self) -> QuantizationSpec | None:
        """The spec the site is quantized with, or ``None`` (not quantized)."""
        return self.state.decision

    @property
    def decided_by(self) -> Rule | None:
        """The last rule applied: the one whose effect the final state shows."""
        return self.matched[-1] if self.matched else None


def fold(rules: tuple[Rule, ...], role: str, start: FoldState = NOT_QUANTIZED) -> FoldState:
    """Apply ``rules`` (already in fold order) to ``start``: "not quantized" when resolving a
    site; a placed quantizer's own state when a ModelOpt list is applied to a prepared model
    (``set_quantizer_by_cfg``: an ``enable`` toggle keeps the quantizer's spec). The one fold
    every reader of a decision uses."""
    state = start
    for rule in rules:
        state = apply_effect(state, rule.effect, role)
    return state
