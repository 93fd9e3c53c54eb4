"""A plan as rows, whatever it came from: a resolved :class:`~qrt.resolver.plan.Plan`, a plan
JSON file (``qrt resolve -o``) or a lock file (``qrt lock``).

``qrt diff`` and ``qrt lock --check`` compare two of these site by site, so they need the same
few facts from each: the quantizer path, what groups a site (module type, op type, role,
key), the decision as the plan writes it, and the rule that made it. Files are read without
torch; a sealed file (:mod:`qrt.sealed_json`) skips the schema check.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from qrt.errors import PlanFileError
from qrt.files import parse_json
from qrt.resources import schema
from qrt.sealed_json import is_sealed

__all__ = ["PlanFileError", "PlanView", "SiteRow", "decision_text", "view_of_plan", "view_of_json", "plan_kind"]


@dataclass(frozen=True)
class SiteRow:
    quantizer_path: str
    module_type: str
    op_type: str | None
    role: str
    key: Any
    decision: dict[str, Any] | None
    origin: str | None

    @classmethod
    def of(cls, row: dict[str, Any]) -> SiteRow:
        return cls(
            quantizer_path=row["quantizer_path"],
            module_type=row["module_type"],
            op_type=row.get("op_type"),
            role=row["role"],
            key=row["key"],
            decision=row.get("decision"),
            origin=row.get("origin"),
        )


@dataclass
class PlanView:
    label: str
    rows: dict[str, SiteRow]
    model: dict[str, Any] = field(default_factory=dict)
    inventory_sha256: str | None = None
    header: dict[str, Any] = field(default_factory=dict)
    """a lock file's header (qrt version, config and its digest), else empty"""


def view_of_plan(plan: Any, label: str) -> PlanView:
    """The rows of a resolved plan."""
    data = plan.to_json()
    return PlanView(
        label=label,
        rows={r["quantizer_path"]: SiteRow.of(r) for r in data["sites"]},
        model=data.get("model", {}),
        inventory_sha256=data.get("inventory_sha256"),
    )


def plan_kind(data: Any) -> str | None:
    """``"plan"``, ``"lock"`` or ``None`` for parsed JSON data."""
    if isinstance(data, dict):
        if "qrt_plan" in data:
            return "plan"
        if "qrt_lock" in data:
            return "lock"
    return None


_VERSIONS = {"plan": 1, "lock": 1}


def view_of_json(text: str, label: str) -> PlanView:
    """A plan or lock file's rows; :class:`PlanFileError` for anything else."""
    data = parse_json(text, file=label, error=PlanFileError, walk=not is_sealed(text))
    kind = plan_kind(data)
    if kind is None:
        raise PlanFileError(
            "neither a plan nor a lock file: no 'qrt_plan' or 'qrt_lock' key",
            location=label,
            hint="write a plan with `qrt resolve RULES --model SPEC -o plan.json`, a lock file with "
            "`qrt lock CONFIG --model SPEC -o plan.lock`",
        )
    version = data[f"qrt_{kind}"]
    if version != _VERSIONS[kind]:
        raise PlanFileError(
            f"{kind} file format version {version!r} is not supported (this qrt reads version "
            f"{_VERSIONS[kind]})",
            location=label,
            hint=f"write it again with this qrt (`qrt {'lock' if kind == 'lock' else 'resolve'} ...`)",
        )
    if not is_sealed(text):
        import jsonschema

        validator = jsonschema.Draft202012Validator(schema(kind))
        error = jsonschema.exceptions.best_match(validator.iter_errors(data))
        if error is not None:
            where = "".join(f"[{p!r}]" for p in error.absolute_path) or "<top>"
            raise PlanFileError(
                f"{kind} file does not match its schema at {where}: {error.message}",
                location=label,
                hint=f"the file must follow schemas/{kind}.schema.json",
            )
    else:
        _check_sealed_rows(data, kind, label)
    header = {k: v for k, v in data.items() if k not in ("sites", "sha256")} if kind == "lock" else {}
    rows = {r["quantizer_path"]: SiteRow.of(r) for r in data["sites"]}
    if len(rows) != len(data["sites"]):  # an edited file: one row would silently win
        from collections import Counter

        twice = next(p for p, n in Counter(r["quantizer_path"] for r in data["sites"]).items() if n > 1)
        raise PlanFileError(
            f"{kind} file lists site {twice!r} more than once",
            location=label,
            hint=f"a {kind} file has one row per site; write it again with `qrt "
            f"{'lock' if kind == 'lock' else 'resolve'} ...`",
        )
    return PlanView(
        label=label,
        rows=rows,
        model=data.get("model", {}),
        inventory_sha256=data.get("inventory_sha256"),
        header=header,
    )


def _check_sealed_rows(data: dict[str, Any], kind: str, label: str) -> None:
    """A sealed file skips the full schema check (seconds for a 70B model's 11,727 rows), but
    a seal is a digest anyone can recompute: an edited file sealed again must still not crash
    diff or lock. Every row is checked against the schema's row definition once per distinct
    shape — its fields' types, its role, its decision — which is a few dozen validations."""
    import jsonschema

    whole = schema(kind)
    rows = data.get("sites")
    if not isinstance(rows, list) or not all(type(r) is dict for r in rows):
        where, message = "['sites']", "must be a list of objects"
    else:
        validator = jsonschema.Draft202012Validator({"$defs": whole.get("$defs", {}), **whole["properties"]["sites"]["items"]})
        seen: set[tuple[Any, ...]] = set()
        for index, row in enumerate(rows):
            shape = (tuple(sorted((k, type(v).__name__) for k, v in row.items() if k != "decision")), row.get("role"),
                     json.dumps(row.get("decision"), sort_keys=True))
            if shape in seen:
                continue
            seen.add(shape)
            error = jsonschema.exceptions.best_match(validator.iter_errors(row))
            if error is not None:
                where = f"['sites'][{index}]" + "".join(f"[{p!r}]" for p in error.absolute_path)
                message = error.message
                break
        else:
            return
    raise PlanFileError(f"{kind} file does not match its schema at {where}: {message}", location=label,
                        hint=f"the file was edited after qrt wrote it; write it again with `qrt "
                        f"{'lock' if kind == 'lock' else 'resolve'} ...`")


def decision_text(decision: dict[str, Any] | None) -> str:
    """A decision as one short line: ``int4 per_block(128, axis=-1) scale=float8_e4m3fn``."""
    if decision is None:
        return "not quantized"
    g = decision["granularity"]
    args = []
    if g.get("block_size") is not None:
        args.append(str(g["block_size"]))
    if g.get("axis") is not None:
        args.append(f"axis={g['axis']}")
    text = f"{decision['dtype']}"
    if decision.get("qscheme") not in (None, "symmetric"):
        text += f" {decision['qscheme']}"
    text += f" {g['type']}" + (f"({', '.join(args)})" if args else "")
    for name, short in (("scale_dtype", "scale"), ("qparam_calculator", "qparams"),
                        ("range_calculator", "range"), ("fake_quantize", "fq")):
        if decision.get(name) is not None:
            text += f" {short}={decision[name]}"
    for name, value in (decision.get("extras") or {}).items():
        text += f" extra.{name}={json.dumps(value, sort_keys=True)}"
    for stage in decision.get("then") or ():
        text += f", then {decision_text(stage)}"
    return text
