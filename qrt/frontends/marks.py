"""Where a key of a JSON/YAML front-end file was written: the marks a position-keeping read
records (``path → (line, column)``), looked up for error locations and rule origins.

A value that has no mark of its own (a list item, a default filled in) is placed at the
nearest key above it that has one, so an error always names a line the user can open."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from qrt.ir.origin import Origin

__all__ = ["MarkedDocument"]


class MarkedDocument:
    """A document's file and marks; ``prefix`` is the path of the part being read (a config
    inside a checkpoint's ``config.json``, one recipe stage)."""

    def __init__(self, file: str, marks: Mapping[tuple[Any, ...], tuple[int, int]], prefix: tuple[Any, ...]) -> None:
        self.file, self.marks, self.prefix = file, marks, prefix

    def _mark(self, path: tuple[Any, ...]) -> tuple[int, int] | None:
        full = (*self.prefix, *path)
        while full and full not in self.marks:
            full = full[:-1]
        return self.marks.get(full) if full else None

    def locate(self, path: tuple[Any, ...]) -> str:
        """``file:line:column`` of ``path`` (or of the nearest key above it), else the file."""
        mark = self._mark(path)
        return self.file if mark is None else f"{self.file}:{mark[0]}:{mark[1]}"

    def origin(self, path: tuple[Any, ...], config_path: str) -> Origin:
        """The origin of a rule compiled from ``path``, reported as ``config_path``."""
        mark = self._mark(path)
        if mark is None:
            return Origin(file=self.file, config_path=config_path)
        return Origin(file=self.file, line=mark[0], column=mark[1], config_path=config_path)
