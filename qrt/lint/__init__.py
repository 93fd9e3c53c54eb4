"""``qrt lint``: config mistakes found before a long quantization run.

Modules, in import order: ``diagnostics`` (a finding), ``codes`` (every code with its
documentation and examples), ``patterns`` (suspicious regexes and globs), ``locate``,
``inputs`` (reading any front end; unreadable input becomes findings), ``static`` (checks
without a model), ``model_checks`` (checks on a model's inventory), ``run`` (selection,
suppression), ``report`` (text, JSON, SARIF, GitHub).
"""

from __future__ import annotations

from qrt.lint.codes import CODES, CodeInfo
from qrt.lint.diagnostics import Diagnostic, Severity
from qrt.lint.run import LintResult, lint

__all__ = ["CODES", "CodeInfo", "Diagnostic", "LintResult", "Severity", "lint"]
