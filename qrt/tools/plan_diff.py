"""What differs between two plans, grouped so a reviewer reads a change, not 160 lines.

Sites are matched by quantizer path. Those whose decisions differ are grouped by module
type, op type, role and the pair of decisions: a change to every ``q_proj`` weight of an
80-layer model is one group of 80 with an example site, and for each side the rule that won
(the most common origin in the group, and how many others there were). Sites on one side only
(a model that grew layers) are groups whose other decision is "absent".

Renders as text (terminal), JSON (``schemas/diff.schema.json``) or Markdown (a pull-request
comment).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from qrt.tools.plan_view import PlanView, SiteRow, decision_text

__all__ = ["DiffGroup", "PlanDiff", "diff_views", "render_diff"]

ABSENT = "absent"


@dataclass
class DiffGroup:
    module_type: str
    op_type: str | None
    role: str
    before: str
    after: str
    sites: list[str] = field(default_factory=list)
    keys: Counter[str] = field(default_factory=Counter)
    origins_a: Counter[str] = field(default_factory=Counter)
    origins_b: Counter[str] = field(default_factory=Counter)

    @property
    def role_text(self) -> str:
        keys = list(self.keys)
        return f"{self.role}[{keys[0]}]" if len(keys) == 1 else self.role

    @staticmethod
    def _origin(counter: Counter[str]) -> str | None:
        if not counter:
            return None
        top, _ = counter.most_common(1)[0]
        more = len(counter) - 1
        return top + (f" (+{more} other rule{'s' if more > 1 else ''})" if more else "")

    def to_json(self) -> dict[str, Any]:
        return {
            "count": len(self.sites),
            "module_type": self.module_type,
            "op_type": self.op_type,
            "role": self.role,
            "keys": sorted(self.keys),
            "a": self.before,
            "b": self.after,
            "example": self.sites[0],
            "sites": list(self.sites),
            "a_rule": self._origin(self.origins_a),
            "b_rule": self._origin(self.origins_b),
        }


@dataclass
class PlanDiff:
    a: PlanView
    b: PlanView
    groups: list[DiffGroup]
    same: int
    """sites decided the same on both sides"""

    @property
    def equal(self) -> bool:
        return not self.groups

    @property
    def changed(self) -> int:
        return sum(len(g.sites) for g in self.groups)


def _side(row: SiteRow | None) -> str:
    return ABSENT if row is None else decision_text(row.decision)


def diff_views(a: PlanView, b: PlanView) -> PlanDiff:
    """Every site whose decision differs between ``a`` and ``b``, grouped."""
    groups: dict[tuple[Any, ...], DiffGroup] = {}
    same = 0
    paths = list(a.rows) + [p for p in b.rows if p not in a.rows]
    for path in paths:
        ra, rb = a.rows.get(path), b.rows.get(path)
        if ra is not None and rb is not None and ra.decision == rb.decision:
            same += 1
            continue
        ref = ra or rb
        assert ref is not None
        before, after = _side(ra), _side(rb)
        key = (ref.module_type, ref.op_type, ref.role, before, after)
        group = groups.get(key)
        if group is None:
            group = groups[key] = DiffGroup(ref.module_type, ref.op_type, ref.role, before, after)
        group.sites.append(path)
        group.keys[str(ref.key)] += 1
        if ra is not None and ra.origin:
            group.origins_a[ra.origin] += 1
        if rb is not None and rb.origin:
            group.origins_b[rb.origin] += 1
    ordered = sorted(groups.values(), key=lambda g: (-len(g.sites), g.module_type, g.op_type or "", g.role))
    return PlanDiff(a, b, ordered, same)


# ---------------------------------------------------------------------------------------------
# Rendering


def _short_type(name: str) -> str:
    return name.rpartition(".")[2] or name


def _text(d: PlanDiff) -> str:
    if d.equal:
        return f"no difference: {d.same} sites decided the same by {d.a.label} and {d.b.label}\n"
    lines = [
        f"{d.changed} of {d.changed + d.same} sites differ, in {len(d.groups)} group(s)",
        f"  a: {d.a.label}",
        f"  b: {d.b.label}",
        "",
    ]
    for g in d.groups:
        what = " ".join(x for x in (_short_type(g.module_type), g.op_type or "(module)", g.role_text) if x)
        lines.append(f"{len(g.sites):>6} × {what}   e.g. {g.sites[0]}")
        for side, decision, origins in (("a", g.before, g.origins_a), ("b", g.after, g.origins_b)):
            rule = DiffGroup._origin(origins)
            lines.append(f"         {side}: {decision}" + (f"   by {rule}" if rule else ""))
    return "\n".join(lines) + "\n"


def _md_cell(text: str | None) -> str:
    return (text or "—").replace("|", "\\|").replace("\n", " ")


def _markdown(d: PlanDiff) -> str:
    if d.equal:
        return f"**qrt diff**: no difference — {d.same} sites decided the same by `{d.a.label}` and `{d.b.label}`.\n"
    out = [
        f"**qrt diff**: {d.changed} of {d.changed + d.same} sites differ between `{d.a.label}` (a) "
        f"and `{d.b.label}` (b), in {len(d.groups)} group(s).",
        "",
        "| sites | module type | op | role | a | b | example | rule a | rule b |",
        "| ---: | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for g in d.groups:
        cells = [
            str(len(g.sites)), f"`{_short_type(g.module_type)}`", g.op_type or "(module)", g.role_text,
            g.before, g.after, f"`{g.sites[0]}`", DiffGroup._origin(g.origins_a), DiffGroup._origin(g.origins_b),
        ]
        out.append("| " + " | ".join(_md_cell(c) for c in cells) + " |")
    return "\n".join(out) + "\n"


def _json(d: PlanDiff) -> dict[str, Any]:
    return {
        "qrt_diff": 1,
        "a": d.a.label,
        "b": d.b.label,
        "equal": d.equal,
        "sites": d.changed + d.same,
        "differ": d.changed,
        "groups": [g.to_json() for g in d.groups],
    }


def render_diff(d: PlanDiff, fmt: str) -> str:
    """``d`` as ``text``, ``json`` or ``markdown``."""
    if fmt == "text":
        return _text(d)
    if fmt == "markdown":
        return _markdown(d)
    if fmt == "json":
        import json

        return json.dumps(_json(d), indent=1) + "\n"
    raise ValueError(f"unknown format {fmt!r}; valid: text, json, markdown")
