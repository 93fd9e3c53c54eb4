"""The report as one self-contained HTML page: the shipped template with the report's JSON in it.

The page (HTML, CSS and JavaScript) is a package data file, ``qrt/_data/report.html``, not a
Python string: it is edited, linted and reviewed as what it is. It loads nothing from the
network; the data sits in a ``<script type="application/json">`` element, with every ``<``
written ``\\u003c`` (the same JSON to a parser) so no name in a model can end the element early.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

__all__ = ["PLACEHOLDER", "render_html", "template"]

PLACEHOLDER = "/*QRT_REPORT_DATA*/"


def template() -> str:
    """The page template, wherever qrt is installed (``qrt._data`` is a package in both a
    checkout and a wheel)."""
    try:
        return resources.files("qrt._data").joinpath("report.html").read_text(encoding="utf-8")
    except (FileNotFoundError, ModuleNotFoundError):  # pragma: no cover  (a broken install)
        return (Path(__file__).resolve().parent.parent / "_data" / "report.html").read_text(encoding="utf-8")


def render_html(report: dict[str, Any]) -> str:
    """The page for ``report`` (:mod:`qrt.tools.report`)."""
    data = json.dumps(report, separators=(",", ":"), ensure_ascii=False)
    # "<" occurs only inside JSON strings, where \u003c is the same character to JSON.parse:
    # no "</script>" or "<!--" in a module name can end or change the element
    data = data.replace("<", "\\u003c").replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
    page = template()
    if PLACEHOLDER not in page:  # pragma: no cover  (the shipped template has it)
        raise RuntimeError("qrt/_data/report.html has no data placeholder")
    return page.replace(PLACEHOLDER, data, 1)
