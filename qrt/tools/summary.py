"""``qrt resolve --summary``: how many sites of each op type and role get each decision.

The shape of a plan at a glance — "every linear weight is int4 in blocks of 128, the
attention outputs are off" — before reading any site.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from qrt.tools.plan_view import decision_text

__all__ = ["summary_rows", "render_summary"]


def summary_rows(plan: Any) -> list[tuple[str, str, str, int]]:
    """``(op type, role, decision, sites)`` rows, sorted by op type, role, then most sites."""
    counts: Counter[tuple[str, str, str]] = Counter()
    for row in plan.to_json()["sites"]:
        counts[(row["op_type"] or "(module)", row["role"], decision_text(row["decision"]))] += 1
    return sorted(((*k, n) for k, n in counts.items()), key=lambda r: (r[0], r[1], -r[3], r[2]))


def render_summary(plan: Any) -> str:
    rows = summary_rows(plan)
    total = sum(r[3] for r in rows)
    quantized = sum(r[3] for r in rows if r[2] != "not quantized")
    width_op = max([len("op type"), *(len(r[0]) for r in rows)])
    width_role = max([len("role"), *(len(r[1]) for r in rows)])
    lines = [f"{'op type':<{width_op}}  {'role':<{width_role}}  {'sites':>6}  decision"]
    for op, role, decision, n in rows:
        lines.append(f"{op:<{width_op}}  {role:<{width_role}}  {n:>6}  {decision}")
    lines.append(f"{quantized} of {total} sites quantized")
    return "\n".join(lines) + "\n"
