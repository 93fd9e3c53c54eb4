"""A lint finding is qrt's one diagnostic model (:mod:`qrt.diagnostics`), shared with the
errors that stop a command; this module names it for the linter's own modules."""

from __future__ import annotations

from qrt.diagnostics import Diagnostic, Location, Severity

__all__ = ["Diagnostic", "Location", "Severity"]
