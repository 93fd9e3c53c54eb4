"""``qrt report``: the facts of a plan (or of a plan diff) as one JSON document, for a page to draw.

A report holds, for one model:

* ``modules``: the module tree (each with its parent's index) and, per module, the weight bytes
  of its subtree before and after, the share quantized and by format (:mod:`qrt.tools.coverage`);
* ``sites``: every site with its module, its decision (an index into ``decisions``, each
  decision's text and format written once) and the explain cascade (an index into
  ``explanations``); an explanation is the text ``qrt explain`` prints below a site's three
  heading lines, written by :func:`qrt.tools.explain_text.render_explanations` itself, so the
  page shows exactly what the command does. Sites with the same cascade share one entry: on an
  80-layer model most cascades repeat per layer;
* ``coverage`` and ``weights``: the whole model's bytes, by format, and every parameter;
* in diff mode, ``diff``: what ``qrt diff`` reports (:mod:`qrt.tools.plan_diff`, the same
  groups, the same sites), and each site's decision on the ``a`` side.

Inputs: a resolved :class:`~qrt.resolver.plan.Plan` (a config on ``--model``, a saved quantized
model's manifest), a plan file (its rows; the cascade is the winning rule the file records,
weight bytes only with the inventory), or two sides of a diff. The JSON shape is public
(``schemas/report.schema.json``): later versions add keys, never rename them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from qrt.inventory.model import Inventory
from qrt.tools.coverage import Coverage, coverage_of_plan, coverage_of_rows, format_name
from qrt.tools.plan_view import PlanView, decision_text

__all__ = ["REPORT_VERSION", "diff_report", "plan_report", "rows_report"]

REPORT_VERSION = 1

_HEAD = re.compile(r"^(\S.*\n)(  also named .*\n)?(  module .*\n)")


class _Tables:
    """Interned decisions and explanations: each distinct one written once."""

    def __init__(self) -> None:
        self.decisions: list[dict[str, Any]] = []
        self._decisions: dict[str, int] = {}
        self.explanations: list[str] = []
        self._explanations: dict[str, int] = {}

    def decision(self, spec: Mapping[str, Any] | None) -> int | None:
        if spec is None:
            return None
        text = decision_text(dict(spec))
        found = self._decisions.get(text)
        if found is None:
            found = self._decisions[text] = len(self.decisions)
            self.decisions.append({"text": text, "format": format_name(spec), "spec": dict(spec)})
        return found

    def explanation(self, body: str) -> int:
        found = self._explanations.get(body)
        if found is None:
            found = self._explanations[body] = len(self.explanations)
            self.explanations.append(body)
        return found


def _modules(names_types: Sequence[tuple[str, str]], coverage: Coverage | None) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """The tree: every module once, parents before children, each with its parent's index."""
    index: dict[str, int] = {}
    out: list[dict[str, Any]] = []
    sums = coverage.by_module() if coverage is not None else {}
    types = dict(names_types)
    types.setdefault("", "")

    def add(name: str) -> int:
        if name in index:
            return index[name]
        parent = None
        if name:
            up = name.rpartition(".")[0]
            while up and up not in types:
                up = up.rpartition(".")[0]
            parent = add(up)
        index[name] = len(out)
        entry: dict[str, Any] = {"name": name, "type": types.get(name, ""), "parent": parent}
        if name in sums:
            entry.update(sums[name].to_json())
        out.append(entry)
        return index[name]

    for name in types:
        add(name)
    return out, index


def _site_entry(site: Any, module: int, tables: _Tables, spec: Mapping[str, Any] | None, origin: str | None,
                explain: int | None) -> dict[str, Any]:
    return {
        "path": site.quantizer_path, "module": module, "label": site.label, "role": site.role,
        "key": site.key, "aliases": list(site.aliases), "decision": tables.decision(spec),
        "origin": origin, "explain": explain,
    }


def plan_report(plan: Any, label: str) -> dict[str, Any]:
    """The report of a resolved plan: every site with its whole explain cascade."""
    from qrt.resolver.explain import explain_decision
    from qrt.resolver.plan import plan_spec_json
    from qrt.tools.explain_text import render_explanations

    inv: Inventory = plan.inventory
    coverage = coverage_of_plan(plan)
    modules, index = _modules([(m.name, m.type) for m in inv.modules], coverage)
    tables = _Tables()
    sites = []
    for decision in plan.decisions:  # what qrt.api.explain does per site, without a query lookup
        notes = tuple(plan.source.notes(decision.site, inv)) if plan.source is not None else ()
        ex = explain_decision(decision, inv, notes)
        text = render_explanations([ex])
        head = _HEAD.match(text)
        body = text[head.end():] if head else text
        rule = ex.decided_by or (ex.steps[-1].rule if ex.steps else None)
        origin = (rule.origin.position or str(rule.origin)) if rule is not None else None
        spec = plan_spec_json(ex.final) if ex.final is not None else None
        sites.append(_site_entry(ex.site, index.get(ex.site.module, 0), tables, spec, origin,
                                 tables.explanation(body)))
    return _document("plan", [label], inv.model, inv.sha256, modules, tables, sites, coverage)


def rows_report(view: PlanView, rows: Iterable[Mapping[str, Any]], inventory: Inventory | None) -> dict[str, Any]:
    """The report of a plan file: its rows (and, given its model's inventory, the weight bytes).
    A plan file records the rule that won, not the cascade: each site's explanation says so."""
    rows = list(rows)
    if inventory is not None:  # a lock file's rows name no module: the inventory does
        where = {site.quantizer_path: site.module for site in inventory.sites}
        rows = [{**r, "module": r.get("module", where.get(r["quantizer_path"], ""))} for r in rows]
    else:
        rows = [{**r, "module": r.get("module", "")} for r in rows]
    decisions = {r["quantizer_path"]: r.get("decision") for r in rows}
    coverage = coverage_of_rows(inventory, decisions) if inventory is not None else None
    if inventory is not None:
        pairs = [(m.name, m.type) for m in inventory.modules]
    else:
        pairs = sorted({(r["module"], r["module_type"]) for r in rows})
    modules, index = _modules(pairs, coverage)
    tables = _Tables()
    sites = []
    for r in rows:
        origin = r.get("origin")
        body = (f"  => {_decision_line(r.get('decision'))}\n     decided by {origin or 'no rule'}\n"
                "     (a plan file records the rule that won; `qrt report CONFIG --model SPEC` shows the "
                "whole cascade)\n")
        site = _RowSite(r)
        sites.append(_site_entry(site, index.get(r["module"], 0), tables, r.get("decision"), origin,
                                 tables.explanation(body)))
    return _document("plan", [view.label], view.model, view.inventory_sha256, modules, tables, sites, coverage)


def _decision_line(spec: Mapping[str, Any] | None) -> str:
    from qrt.tools.explain_text import _spec_line

    return _spec_line(dict(spec) if spec is not None else None)


class _RowSite:
    """A plan file's row read as far as a site is needed here."""

    def __init__(self, row: Mapping[str, Any]) -> None:
        self.quantizer_path = row["quantizer_path"]
        self.module = row["module"]
        self.role = row["role"]
        self.key = row["key"]
        self.aliases = tuple(row.get("aliases") or ())
        owner = row.get("op_name") if row.get("op_name") is not None else (row["module"] or "<root>")
        self.label = f"{owner}:{self.role}[{self.key}]"


def diff_report(a: PlanView, b: PlanView, inventory: Inventory | None) -> dict[str, Any]:
    """Two sides and what ``qrt diff`` reports between them (its own grouping, its sites)."""
    from qrt.tools.plan_diff import _json, diff_views

    result = diff_views(a, b)
    tables = _Tables()
    cov_a = cov_b = None
    if inventory is not None:
        cov_a = coverage_of_rows(inventory, {p: r.decision for p, r in a.rows.items()})
        cov_b = coverage_of_rows(inventory, {p: r.decision for p, r in b.rows.items()})
        modules, index = _modules([(m.name, m.type) for m in inventory.modules], cov_b)
        by_path = {s.quantizer_path: s for s in inventory.sites}
    else:
        modules, index = _modules([], None)
        by_path = {}
    paths = list(a.rows) + [p for p in b.rows if p not in a.rows]
    sites = []
    for path in paths:
        ra, rb = a.rows.get(path), b.rows.get(path)
        ref = rb or ra
        assert ref is not None
        site = by_path.get(path)
        module = index.get(site.module, 0) if site is not None else 0
        label = site.label if site is not None else f"{ref.op_type or '(module)'}:{ref.role}[{ref.key}]"
        entry = {
            "path": path, "module": module, "label": label, "role": ref.role, "key": ref.key,
            "aliases": list(site.aliases) if site is not None else [],
            "decision": tables.decision(rb.decision) if rb is not None else None,
            "origin": rb.origin if rb is not None else None, "explain": None,
            "a_decision": tables.decision(ra.decision) if ra is not None else None,
            "a_origin": ra.origin if ra is not None else None,
            "absent": "a" if ra is None else "b" if rb is None else None,
        }
        sites.append(entry)
    diff = _json(result)
    diff["coverage_a"] = cov_a.to_json() if cov_a is not None else None
    diff["coverage_b"] = cov_b.to_json() if cov_b is not None else None
    model = b.model or a.model
    sha = (inventory.sha256 if inventory is not None else None) or b.inventory_sha256
    doc = _document("diff", [a.label, b.label], model, sha, modules, tables, sites, cov_b)
    doc["diff"] = diff
    return doc


def _document(kind: str, inputs: list[str], model: Mapping[str, Any], sha: str | None, modules: list[dict[str, Any]],
              tables: _Tables, sites: list[dict[str, Any]], coverage: Coverage | None) -> dict[str, Any]:
    from qrt._version import __version__

    return {
        "qrt_report": REPORT_VERSION,
        "kind": kind,
        "qrt_version": __version__,
        "inputs": inputs,
        "model": dict(model),
        "inventory_sha256": sha,
        "coverage": coverage.to_json() if coverage is not None else None,
        "modules": modules,
        "decisions": tables.decisions,
        "explanations": tables.explanations,
        "sites": sites,
        "weights": [w.to_json() for w in coverage.weights] if coverage is not None else [],
        "diff": None,
    }
