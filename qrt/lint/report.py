"""Lint results as text (for people), JSON (for scripts), SARIF 2.1.0 (for code scanning) and
GitHub workflow annotations.

The JSON form is a public interface (``schemas/lint.schema.json``); SARIF follows the OASIS
2.1.0 schema (the tests validate against it); the GitHub form is one ``::error``/``::warning``
/``::notice`` command per finding, which Actions shows on the pull request's lines.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from qrt._version import __version__
from qrt.errors import shown_line, shown_offset
from qrt.lint.codes import CODES
from qrt.lint.diagnostics import Diagnostic, Severity
from qrt.lint.locate import read_lines
from qrt.lint.run import LintResult

__all__ = ["FORMATS", "render"]

FORMATS = ("text", "json", "sarif", "github")
LINT_JSON_VERSION = 1


def _source_line(result: LintResult, finding: Diagnostic) -> str | None:
    """The line a finding names, from the file it names (an input, or a file one includes)."""
    if finding.line is None:
        return None
    lines = next(
        (
            item.lines_of(finding.file) for item in result.inputs.values()
            if item.text is not None and (item.path == finding.file or finding.file in item.sources)
        ),
        None,
    )
    if lines is None:  # an included file that only an error names (its syntax error, say)
        lines = read_lines(finding.file)
    return lines[finding.line - 1] if 0 < finding.line <= len(lines) else None


def _text(result: LintResult, color: bool) -> str:
    def paint(text: str, code: str) -> str:
        return f"\033[{code}m{text}\033[0m" if color else text

    colors = {Severity.ERROR: "31", Severity.WARNING: "33", Severity.INFO: "36"}
    out: list[str] = []
    for f in result.findings:
        head = f"{paint(f.location, '1')}: {paint(f.code, colors[f.severity])} [{f.severity.label}] {f.message}"
        out.append(head)
        line = _source_line(result, f)
        if line is not None:
            out.append(f"    {shown_line(line)}")
            if f.column is not None:
                offset = shown_offset(line, f.column)
                width = max(1, (f.end_column - f.column) if f.end_column else 1)
                out.append("    " + " " * offset + paint("^" * width, colors[f.severity]))
        if f.config_path:
            out.append(f"    at {f.config_path}")
        if f.fix:
            out.append("    " + paint("fix:", "32") + " " + f.fix.replace("\n", "\n         "))
    for label, uses in result.uses.items():
        if not uses:
            continue
        out.append(f"\nrules of {label} on the model (selected → decided):")
        for use in uses:
            where = use.rule.origin.position or use.rule.origin.config_path or f"rule {use.rule.order}"
            out.append(f"  {where:<48} {use.selected:>7} → {use.decided:<7}")
    errors, warnings, infos = (result.count(s) for s in (Severity.ERROR, Severity.WARNING, Severity.INFO))
    total = len(result.findings)
    if total:
        out.append(f"\nFound {total} finding(s): {errors} error(s), {warnings} warning(s), {infos} info.")
    else:
        out.append(f"All clean: {len(result.inputs)} input(s), no findings.")
    return "\n".join(out) + "\n"


def _json(result: LintResult) -> dict[str, Any]:
    return {
        "qrt_lint": LINT_JSON_VERSION,
        "inputs": list(result.inputs),
        "unreadable": list(result.unreadable),
        "findings": [f.to_json() for f in result.findings],
        "summary": {
            "findings": len(result.findings),
            "error": result.count(Severity.ERROR),
            "warning": result.count(Severity.WARNING),
            "info": result.count(Severity.INFO),
        },
        "rules": {label: [u.to_json() for u in uses] for label, uses in result.uses.items()},
    }


_SARIF_LEVEL = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "note"}


def _uri(file: str | None) -> str:
    if not file:
        return "unknown"
    path = Path(file)
    try:
        return path.resolve().relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        return path.resolve().as_uri() if path.is_absolute() or path.exists() else file


def _sarif(result: LintResult) -> dict[str, Any]:
    used = sorted({f.code for f in result.findings} | set(CODES))
    rules = []
    for code in used:
        info = CODES.get(code)
        rule: dict[str, Any] = {"id": code}
        if info is not None:
            rule.update(
                name=info.name,
                shortDescription={"text": info.summary},
                fullDescription={"text": info.explanation},
                defaultConfiguration={"level": _SARIF_LEVEL[info.severity]},
                help={"text": f"{info.explanation}\n\nBad:\n{info.bad}\nFixed:\n{info.fixed}"},
            )
        rules.append(rule)
    index = {r["id"]: i for i, r in enumerate(rules)}
    results = []
    for f in result.findings:
        region: dict[str, Any] = {}
        if f.line is not None:
            region["startLine"] = f.line
            if f.column is not None:
                region["startColumn"] = f.column
                if f.end_column is not None and f.end_column > f.column:
                    region["endColumn"] = f.end_column
        physical: dict[str, Any] = {"artifactLocation": {"uri": _uri(f.file)}}
        if region:
            physical["region"] = region
        item: dict[str, Any] = {
            "ruleId": f.code,
            "ruleIndex": index[f.code],
            "level": _SARIF_LEVEL[f.severity],
            "message": {"text": f.message + (f" Fix: {f.fix}" if f.fix else "")},
            "locations": [{"physicalLocation": physical}],
        }
        if f.config_path:
            item["locations"][0]["logicalLocations"] = [{"fullyQualifiedName": f.config_path}]
        results.append(item)
    return {
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "qrt lint",
                        "version": __version__,
                        "informationUri": "https://github.com/qrt-dev/qrt",
                        "rules": rules,
                    }
                },
                "results": results,
            }
        ],
    }


def _escape(text: str, *, prop: bool = False) -> str:
    text = text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    if prop:
        text = text.replace(":", "%3A").replace(",", "%2C")
    return text


_GITHUB = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "notice"}


def _github(result: LintResult) -> str:
    lines = []
    for f in result.findings:
        props = [f"file={_escape(f.file or '', prop=True)}"]
        if f.line is not None:
            props.append(f"line={f.line}")
            if f.column is not None:
                props.append(f"col={f.column}")
                if f.end_column is not None:
                    props.append(f"endColumn={f.end_column}")
        props.append(f"title={_escape(f.code + ' ' + CODES[f.code].name if f.code in CODES else f.code, prop=True)}")
        message = f.message + (f" — fix: {f.fix}" if f.fix else "")
        lines.append(f"::{_GITHUB[f.severity]} {','.join(props)}::{_escape(message)}")
    return "\n".join(lines) + ("\n" if lines else "")


def render(result: LintResult, fmt: str, *, color: bool = False) -> str:
    """``result`` in ``fmt`` (one of :data:`FORMATS`)."""
    if fmt == "text":
        return _text(result, color)
    if fmt == "json":
        return json.dumps(_json(result), indent=2) + "\n"
    if fmt == "sarif":
        return json.dumps(_sarif(result), indent=2) + "\n"
    if fmt == "github":
        return _github(result)
    raise ValueError(f"unknown format {fmt!r}; valid: {', '.join(FORMATS)}")
