"""A rule: ``(selector, effect, priority, order, origin)`` (docs/semantics.md §2).

``priority`` is a tuple of ints compared lexicographically and set by the front end (the
DSL's default is ``(0,)``); ``order`` is the rule's position in its rule set. The fold sorts
matching rules by ``(priority, order)``; ``origin`` is for reporting only.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace

from qrt.ir.effect import Effect
from qrt.ir.origin import Origin
from qrt.ir.patterns import PatternError
from qrt.ir.selector import Selector

__all__ = ["Rule", "RuleSet"]


@dataclass(frozen=True, slots=True)
class Rule:
    selector: Selector
    effect: Effect
    priority: tuple[int, ...] = (0,)
    order: int = 0
    origin: Origin = field(default_factory=Origin, compare=False)
    baseline: bool = field(default=False, compare=False)
    """A front end's starting point for every site, not a setting anyone wrote: ModelOpt's
    lists start every quantizer off with default attributes. A site only the baseline set has
    no quantizer in a runtime, where a site a user's rule switched off keeps a disabled one.
    Behaviour reads this flag; the origin (for reporting) says the same in words."""

    def __post_init__(self) -> None:
        if not isinstance(self.priority, tuple) or not self.priority or not all(
            isinstance(p, int) and not isinstance(p, bool) for p in self.priority
        ):
            raise PatternError(
                f"priority must be a non-empty tuple of integers, got {self.priority!r}",
                location=self.origin.position,
                hint="write it as (0,) or (1, 2, 0)",
            )

    @property
    def sort_key(self) -> tuple[tuple[int, ...], int]:
        return (self.priority, self.order)


@dataclass(frozen=True)
class RuleSet:
    """An ordered rule set; ``order`` of each rule is its index (renumbered on build)."""

    rules: tuple[Rule, ...] = ()

    @classmethod
    def of(cls, rules: Iterable[Rule]) -> RuleSet:
        return cls(tuple(replace(r, order=i) for i, r in enumerate(rules)))

    def __iter__(self) -> Iterator[Rule]:
        return iter(self.rules)

    def __len__(self) -> int:
        return len(self.rules)

    def __add__(self, other: RuleSet | Sequence[Rule]) -> RuleSet:
        return RuleSet.of([*self.rules, *other])
