"""A lint finding: a stable code, a severity, one line of message, where, and how to fix it.

Findings are plain values so every output format (text, JSON, SARIF, GitHub annotations)
renders the same facts, and tests can compare them.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field, replace
from typing import Any

__all__ = ["Diagnostic", "Severity", "parse_location"]


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
        parts = [self.file or "<unknown>"]
        if self.line is not None:
            parts.append(str(self.line))
            if self.column is not None:
                parts.append(str(self.column))
        return ":".join(parts)

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


def parse_location(location: str | None) -> tuple[str | None, int | None, int | None]:
    """``file:line:col`` (or ``file:line``, or ``file``) → its parts."""
    if not location:
        return None, None, None
    parts = location.rsplit(":", 2)
    if len(parts) == 3 and parts[1].isdigit() and parts[2].isdigit():
        return parts[0], int(parts[1]), int(parts[2])
    parts = location.rsplit(":", 1)
    if len(parts) == 2 and parts[1].isdigit():
        return parts[0], int(parts[1]), None
    return location, None, None
