"""Find the column of the text a finding is about, from a rule's or key's line.

Rules and config keys carry the position of their start; a finding about a pattern inside a
rule should point at the pattern. The text is searched from that position on, a few lines
down at most (a YAML entry spans lines); when it is not found the start is used.
"""

from __future__ import annotations

from collections.abc import Sequence

from qrt.ir.origin import Origin

__all__ = ["Span", "span_of"]

Span = tuple[int | None, int | None, int | None]
"""``(line, column, end_column)``, 1-based."""


def span_of(lines: Sequence[str], origin: Origin, *needles: str, reach: int = 6) -> Span:
    """The first of ``needles`` found at or after ``origin`` (within ``reach`` lines)."""
    line, column = origin.line, origin.column
    if line is None:
        return None, None, None
    for needle in needles:
        if not needle:
            continue
        for offset in range(reach):
            index = line - 1 + offset
            if index >= len(lines):
                break
            start = (column or 1) - 1 if offset == 0 else 0
            found = lines[index].find(needle, start)
            if found >= 0:
                return index + 1, found + 1, found + 1 + len(needle)
    return line, column, None
