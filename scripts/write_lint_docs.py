"""Write ``docs/lint.md`` from the code table (``qrt/lint/codes.py``).

    python scripts/write_lint_docs.py

``tests/lint/test_codes.py`` fails when the file and the table disagree.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run from a checkout without installing

from qrt.lint.codes import CODES, CodeInfo  # noqa: E402

HEAD = """\
# `qrt lint` codes, and every other code qrt emits

`qrt lint PATH... [--model SPEC]` checks DSL rule files, hierarchical YAML configs and
ModelOpt `quant_cfg` lists (or `modelopt:NAME`) before a long run. Each finding has a stable
code, a severity, the `file:line:col` it is about and, where one exists, a fix.

This page is also the list of every code qrt emits: the errors that stop a command or an API
call carry a code of this table too (the last column names the exception class: `except
qrt.ConfigError` catches it). The same model describes both (`qrt/diagnostics.py`): an
error's location is kept as file, line and column, and `QrtError.diagnostics()` gives it as
findings, which is how `qrt lint` reports an input it cannot read.

* Exit codes: `0` clean, `1` a finding at or above `--fail-on` (default `warning`), `2` an
  input that cannot be read (its `QRT2xx` finding says why) or a usage error.
* `--select QRT0,QRT201` / `--ignore QRT003` take codes or prefixes; `--format text|json|
  sarif|github`; `-o FILE`.
* A comment `# qrt: noqa` on a line suppresses its findings, `# qrt: noqa QRT002, QRT006`
  only those codes (DSL and YAML files).
* Checks marked *model* run with `--model` (any model spec; a saved inventory needs no torch).
  Without a model nothing imports torch.
* `qrt lint --explain CODE` prints an entry of this page.

| code | name | severity | reported by | what | raised as |
| --- | --- | --- | --- | --- | --- |
"""


def _reported_by(c: CodeInfo) -> str:
    if not c.lint:
        return "a command or the API"
    return "lint, with a model" if c.needs_model else "lint"


def render_docs() -> str:
    rows = "".join(
        f"| [{c.code}](#{c.code.lower()}) | {c.name} | {c.severity.label} | "
        f"{_reported_by(c)} | {c.summary} | {f'`qrt.{c.raised_as}`' if c.raised_as else ''} |\n"
        for c in CODES.values()
    )
    parts = [HEAD + rows]
    for c in CODES.values():
        kind = ", model" if c.needs_model else ("" if c.lint else ", raised by a command, not a lint finding")
        raised = f" Raised as `qrt.{c.raised_as}`." if c.raised_as else ""
        part = f"\n## {c.code}\n\n**{c.name}** ({c.severity.label}{kind}): {c.summary}.\n\n{c.explanation}{raised}\n"
        if c.bad:
            lang = "yaml" if c.file.endswith((".yaml", ".yml")) else ""
            where = f" (against `--model {c.model}`)" if c.model else ""
            part += f"\nBad, `{c.file}`{where}:\n\n```{lang}\n{c.bad}```\n\nFixed:\n\n```{lang}\n{c.fixed}```\n"
        parts.append(part)
    return "".join(parts)


def main() -> int:
    target = ROOT / "docs" / "lint.md"
    target.write_text(render_docs(), encoding="utf-8")
    print(f"wrote {target.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
