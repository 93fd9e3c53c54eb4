"""Where a finding points: the file a rule came from, and the column of the text it is about.

A rule's origin names the file it was written in, which is not always the file being linted:
``include "common.qrt"`` and ``include preset w8a8`` bring in rules written elsewhere. A
finding about such a rule must name that file with its own line (a SARIF result or a GitHub
annotation at ``rules.qrt:14`` in a 7-line file points nowhere), so every location is built
from the origin's file, and source lines are read from that file.

Rules and config keys carry the position of their start; a finding about a pattern inside a
rule should point at the pattern. The text is searched from that position on, a few lines
down at most (a YAML entry spans lines); when it is not found the start is used.
"""

from __future__ import annotations

from collections.abc import Sequence

from qrt.ir.origin import Origin

__all__ = ["Span", "origin_file", "read_lines", "shipped_file", "span_of"]

Span = tuple[int | None, int | None, int | None]
"""``(line, column, end_column)``, 1-based."""


def origin_file(origin: Origin, default: str | None) -> str | None:
    """The file a rule was written in; ``default`` (the linted input) for a rule no file wrote
    (a front end's synthetic default, ``<string>``)."""
    file = origin.file
    return file if file and not file.startswith("<") else default


def read_lines(file: str | None) -> list[str]:
    """The lines of ``file``; none when it cannot be read (a finding then has no source line)."""
    if not file or file.startswith("<"):
        return []
    from qrt.errors import QrtError
    from qrt.files import read_text

    try:
        return read_text(file).splitlines()
    except QrtError:
        return []


def shipped_file(file: str | None) -> bool:
    """Whether ``file`` is a preset shipped with qrt (``rules/`` in the wheel): text a user can
    include but not edit."""
    from qrt.resources import data_dir

    if not file:
        return False
    root = str(data_dir("rules")).rstrip("/\\")
    return file.startswith((root + "/", root + "\\"))


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
