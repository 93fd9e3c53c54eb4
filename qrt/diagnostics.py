"""One model of a problem qrt reports: where it is, how bad, what it is, how to fix it.

An error that stops a command (:class:`qrt.errors.QrtError`) and a lint finding are the same
facts — a stable code, a location, a message, a fix — so both are built from the values here:
a :class:`Location` kept as its parts (file, line, column, config path) from where it is found
to where it is shown, and a :class:`Diagnostic` that every output format (text, JSON, SARIF,
GitHub annotations) renders. ``QrtError.diagnostics()`` turns an error into findings without
reading its message back; the code table that documents every code is ``qrt/lint/codes.py``
(``docs/lint.md``).

Base layer: imports nothing of qrt, so ``qrt.errors`` can build on it.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field, replace
from typing import Any

__all__ = ["Diagnostic", "Location", "Severity"]


@dataclass(frozen=True)
class Location:
    """Where a problem is: a file (or a name standing for one: ``<string>``, a preset, a
    folder), the 1-based line and column in it when known, and the front end's own address of
    the setting (``quant_cfg[3]``, ``module_name_configs['x']``) when there is one.

    ``str()`` gives the text users have always seen, ``file:line:col``; :meth:`parse` reads
    that text back for the few callers that are handed a string (a location written by hand).
    """

    file: str | None = None
    line: int | None = None
    column: int | None = None
    config_path: str | None = None

    def __str__(self) -> str:
        if self.file is None:
            return self.config_path or ""
        text = self.file
        if self.line is not None:
            text += f":{self.line}"
            if self.column is not None:
                text += f":{self.column}"
        return text

    @classmethod
    def parse(cls, text: str | Location | None) -> Location | None:
        """``file:line:col``, ``file:line`` or ``file`` → its parts; a number with a leading
        zero or a sign is part of the file name (the text comes back unchanged from ``str``)."""
        if text is None or isinstance(text, Location):
            return text
        if not text:
            return None
        head, numbers = text, list[int]()
        for _ in range(2):
            before, sep, last = head.rpartition(":")
            if not sep or not _is_number(last):
                break
            numbers.insert(0, int(last))
            head = before
        if len(numbers) == 2:
            return cls(head, numbers[0], numbers[1])
        if len(numbers) == 1:
            return cls(head, numbers[0])
        return cls(text)


def _is_number(text: str) -> bool:
    return text.isdigit() and text.isascii() and (text == "0" or not text.startswith("0"))


class Severity(enum.IntEnum):
    """Ordered so that ``--fail-on warning`` means "warning or worse"."""

    INFO = 0
    WARNING = 1
    ERROR = 2

    @property
    def label(self) -> str:
        return self.name.lower()

    @classmethod
    def parse(cls, text: str) -> Severity:
        try:
            return cls[text.upper()]
        except KeyError:
            raise ValueError(f"unknown severity {text!r}; valid: error, warning, info") from None


@dataclass(frozen=True)
class Diagnostic:
    """One finding: a stable code, a severity, one line of message, where, and how to fix it.
    Plain values, so every output format renders the same facts and tests can compare them."""

    code: str
    severity: Severity
    message: str
    file: str | None = None
    line: int | None = None
    column: int | None = None
    end_column: int | None = None
    """one past the last column of the offending text on ``line``, when known"""
    config_path: str | None = None
    """the front end's address (``quant_cfg[3]``, ``module_name_configs['x']``, ``rule 4``)"""
    fix: str | None = None
    """a suggested change, e.g. the fully-qualified class name"""
    explanation: str | None = None
    """a longer note on this finding (why it matters here)"""
    data: dict[str, Any] = field(default_factory=dict, compare=False)
    """facts for machine formats (matched counts, shadowing rule …)"""

    @property
    def location(self) -> str:
        return str(Location(self.file or "<unknown>", self.line, self.column if self.line is not None else None))

    def with_location(self, file: str | None, line: int | None, column: int | None) -> Diagnostic:
        return replace(self, file=file, line=line, column=column)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "code": self.code,
            "severity": self.severity.label,
            "message": self.message,
            "file": self.file,
            "line": self.line,
            "column": self.column,
            "end_column": self.end_column,
            "config_path": self.config_path,
            "fix": self.fix,
            "explanation": self.explanation,
        }
        if self.data:
            out["data"] = self.data
        return out
