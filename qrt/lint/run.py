"""``lint``: read each input, run the checks, apply selection and inline suppressions.

The result keeps whether any input could not be read, because that, not a finding's
severity, is what makes ``qrt lint`` exit 2.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from pathlib import Path
from dataclasses import dataclass, field

from qrt.inventory.model import Inventory
from qrt.lint.diagnostics import Diagnostic, Severity
from qrt.lint.inputs import LintInput, read_input
from qrt.lint.model_checks import RuleUse, model_findings
from qrt.lint.static import static_findings

__all__ = ["LintResult", "lint", "suppressed_codes"]

_NOQA = re.compile(r"#\s*qrt:\s*noqa\b(?::?\s*(?P<codes>[A-Za-z0-9_,\s]+))?", re.IGNORECASE)


@dataclass
class LintResult:
    findings: list[Diagnostic] = field(default_factory=list)
    unreadable: list[str] = field(default_factory=list)
    """labels of inputs that could not be read (exit 2)"""
    uses: dict[str, list[RuleUse]] = field(default_factory=dict)
    """per input, what each rule does on the model (with a model only)"""
    inputs: dict[str, LintInput] = field(default_factory=dict)
    model_skipped: bool = False
    """the model was to be built lazily, and was not: an input could not be read"""

    def count(self, severity: Severity) -> int:
        return sum(1 for f in self.findings if f.severity == severity)

    def exit_code(self, fail_on: Severity) -> int:
        if self.unreadable:
            return 2
        return 1 if any(f.severity >= fail_on for f in self.findings) else 0


def suppressed_codes(line: str) -> set[str] | None:
    """The codes a ``# qrt: noqa`` comment on ``line`` suppresses: a set, empty for all, or
    ``None`` when there is no such comment."""
    found = _NOQA.search(line)
    if found is None:
        return None
    codes = found.group("codes") or ""
    return {c.upper() for c in re.split(r"[\s,]+", codes) if re.fullmatch(r"QRT\d+", c, re.IGNORECASE)}


_SUFFIXES = (".qrt", ".yaml", ".yml")


def _expand(paths: Sequence[str]) -> list[str | LintInput]:
    """Folders become the rule files and YAML configs below them (JSON files are named one by
    one: a folder's JSON is more often an inventory or a plan than a config). A folder with
    none is an unreadable input, not a clean pass: ``qrt lint quant/`` on a misspelt or empty
    folder (or a folder named ``x.yaml``) must not say "All clean"."""
    out: list[str | LintInput] = []
    for label in paths:
        path = Path(label)
        if path.is_dir():
            found = [str(p) for p in sorted(path.rglob("*")) if p.suffix.lower() in _SUFFIXES and p.is_file()]
            out.extend(found)
            if not found:
                out.append(LintInput(label, None, errors=[Diagnostic(
                    "QRT203", Severity.ERROR,
                    f"{label} is a folder with no rule files or configs in it "
                    f"({', '.join('*' + s for s in _SUFFIXES)}; JSON files are linted when named one by one)",
                    file=label)]))
        else:
            out.append(label)
    return out


def _selected(code: str, select: Sequence[str], ignore: Sequence[str]) -> bool:
    if select and not any(code.startswith(s.upper()) for s in select):
        return False
    return not any(code.startswith(s.upper()) for s in ignore)


def _suppressed(finding: Diagnostic, item: LintInput) -> bool:
    """A ``# qrt: noqa`` on the finding's line, in the file the finding names (an included
    file's own comment suppresses its own findings)."""
    if finding.line is None or item.text is None:
        return False
    lines = item.lines_of(finding.file)
    if not 0 < finding.line <= len(lines):
        return False
    codes = suppressed_codes(lines[finding.line - 1])
    return codes is not None and (not codes or finding.code in codes)


def lint(
    paths: Sequence[str],
    inventory: Inventory | Callable[[], Inventory] | None = None,
    *,
    select: Sequence[str] = (),
    ignore: Sequence[str] = (),
    targets: Sequence[str] = (),
) -> LintResult:
    """Lint every input in ``paths`` (files or ``modelopt:NAME``), against ``inventory`` if given.

    ``inventory`` may be a function that builds it: it is then called only after every input
    was read, and not at all when one cannot be (a syntax error is reported at once, not after
    a model build that can take seconds; ``model_skipped`` says so).

    ``targets`` names consumers to check compressed-tensors configs against (``vllm``:
    :mod:`qrt.lint.vllm_checks`), with a model only."""
    result = LintResult()
    items = [(label, read_input(label)) if isinstance(label, str) else (label.label, label)
             for label in _expand(paths)]
    if callable(inventory):
        if any(item.errors for _, item in items):
            inventory, result.model_skipped = None, True
        else:
            inventory = inventory()
    types = frozenset(m.type for m in inventory.modules) if inventory is not None else None
    seen: set[Diagnostic] = set()
    for label, item in items:
        result.inputs[label] = item
        found: list[Diagnostic] = list(item.errors)
        if item.errors:
            result.unreadable.append(label)
        else:
            found.extend(static_findings(item, types))
            if inventory is not None:
                more, uses = model_findings(item, inventory)
                found.extend(more)
                result.uses[label] = uses
                if "vllm" in targets:
                    from qrt.lint.vllm_checks import vllm_findings

                    found.extend(vllm_findings(item, inventory))
        # once per run: a file included by two inputs (or linted and included) has its
        # findings reported once, at its own lines
        for f in found:
            if f not in seen and _selected(f.code, select, ignore) and not _suppressed(f, item):
                seen.add(f)
                result.findings.append(f)
    result.findings.sort(key=lambda f: (f.file or "", f.line or 0, f.column or 0, f.code))
    return result
