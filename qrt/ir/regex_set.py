"""Many regexes matched against one name in one pass, at any count: RE2 sets, split to fit.

An RE2 ``Set`` compiles all its patterns into one automaton whose size is capped by
``max_mem`` (8 MiB by default). Past a few thousand patterns (10,000 ``module_name_configs``
keys, a 5,000-entry ModelOpt list, 20,000 ``op_name_config`` keys) ``Compile`` fails with
"failed to compile Set", which reached users as an internal error. Why this shape:

* **A larger budget first.** Each set may use :data:`MAX_MEM` (256 MiB); with it, 10,000
  name patterns compile in about 0.1 s into one set, so matching stays one pass.
* **Split when that is not enough.** At most :data:`CHUNK` patterns go into one set, and a
  set that still fails to compile is halved until each half compiles; a name is matched
  against every set and the hits are merged. The cost grows with the number of sets, not
  with the number of patterns in each.
* **One pattern that cannot compile alone** is a user's pattern RE2 cannot hold in memory
  (``(((a{100}){100}){100})``): a :class:`~qrt.ir.patterns.PatternError` naming it, never an
  internal error.

Hits are the indices of the patterns in the order given, as ``re2.Set.Match`` gives them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from qrt.ir.patterns import PatternError

__all__ = ["CHUNK", "MAX_MEM", "RegexSet"]

MAX_MEM = 256 * 1024 * 1024
"""RE2 memory budget of one set (the default, 8 MiB, fails at a few thousand patterns)."""

CHUNK = 4096
"""Patterns per set at most: keeps each DFA small enough that matching never runs out of
its cache (RE2 then gives up on the set silently, reporting no match)."""


def _options() -> Any:
    import re2

    options = re2.Options()
    options.max_mem = MAX_MEM
    return options


class RegexSet:
    """Full-match ``patterns`` (RE2 syntax) against a text; :meth:`match` gives the indices
    of those that match."""

    def __init__(self, patterns: Sequence[str]) -> None:
        self._sets: list[tuple[int, Any]] = []
        self.size = len(patterns)
        for start in range(0, len(patterns), CHUNK):
            self._build(list(patterns[start : start + CHUNK]), start)

    def _build(self, patterns: list[str], offset: int) -> None:
        import re2

        compiled = re2.Set.FullMatchSet(_options())
        try:
            for pattern in patterns:
                compiled.Add(pattern)
            compiled.Compile()
        except re2.error:
            if len(patterns) == 1:
                raise PatternError(
                    f"RE2 cannot compile the regex {patterns[0]!r}: it takes more than "
                    f"{MAX_MEM // (1024 * 1024)} MiB once its repeats are expanded",
                    offending=patterns[0],
                    hint="write a shorter pattern: fewer nested counted repeats such as {100}",
                ) from None
            half = len(patterns) // 2
            self._build(patterns[:half], offset)
            self._build(patterns[half:], offset + half)
            return
        self._sets.append((offset, compiled))

    def __bool__(self) -> bool:
        return bool(self._sets)

    @property
    def sets(self) -> int:
        """How many RE2 sets the patterns took (1 for all but very large rule sets)."""
        return len(self._sets)

    def match(self, text: str) -> list[int]:
        """Indices (in the order given) of the patterns that fully match ``text``."""
        if len(self._sets) == 1:
            offset, only = self._sets[0]
            hits = only.Match(text) or ()
            return [offset + h for h in hits] if offset else list(hits)
        out: list[int] = []
        for offset, compiled in self._sets:
            out.extend(offset + h for h in compiled.Match(text) or ())
        return out
