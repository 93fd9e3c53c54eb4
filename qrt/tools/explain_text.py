"""``qrt explain`` and ``qrt resolve`` as text for a person at a terminal."""

from __future__ import annotations

import json

from collections.abc import Sequence

from qrt.resolver.explain import Explanation, describe_effect
from qrt.resolver.plan import Plan
from qrt.tools.style import Style

__all__ = ["render_explanations", "render_plan_text"]

_STATUS_STYLE = {
    "decided": "green",
    "applied": "green",
    "patched": "yellow",
    "replaced": "red",
    "overridden": "red",
}


def _spec_line(spec_json: dict | None) -> str:
    if spec_json is None:
        return "not quantized"
    g = spec_json["granularity"]
    gran = g["type"] + "".join(
        f" {k}={g[k]}" for k in ("axis", "block_size") if g.get(k) is not None
    )
    rest = " ".join(
        f"{k}={v}"
        for k, v in spec_json.items()
        if k not in ("dtype", "qscheme", "granularity", "extras", "then") and v is not None
    )
    extras = " ".join(
        f"extra.{k}={json.dumps(v, sort_keys=True)}" for k, v in (spec_json.get("extras") or {}).items()
    )
    text = f"{spec_json['dtype']} {spec_json['qscheme']} {gran}"
    text += "".join(f" {part}" for part in (rest, extras) if part)
    for stage in spec_json.get("then") or ():
        text += f", then {_spec_line(stage)}"
    return text


def render_explanations(explanations: Sequence[Explanation], style: Style | None = None) -> str:
    st = style or Style(False)
    out: list[str] = []
    for ex in explanations:
        data = ex.to_json()
        s = ex.site
        head = f"{st.bold(s.quantizer_path)}  {st.dim(s.label)}"
        out.append(head)
        if s.aliases:
            out.append(f"  also named {', '.join(s.aliases)}")
        out.append(f"  module {s.module or '<root>'} ({s.module_type})")
        if not ex.steps:
            out.append("  no rule matches this site")
        for n, step in enumerate(ex.steps, 1):
            paint = getattr(st, _STATUS_STYLE[step.status])
            prio = ",".join(str(p) for p in step.rule.priority)
            out.append(
                f"  {n}. {paint(step.status.ljust(10))} {describe_effect(step.rule)}"
                f"  {st.dim(f'priority ({prio}) #{step.rule.order}')}  {st.cyan(str(step.rule.origin))}"
            )
            out.append(f"     {st.dim(step.reason)}")
        for note in ex.notes:
            out.append(f"  {st.magenta(note)}")
        out.append(f"  => {st.bold(_spec_line(data['decision']))}")
        if ex.final is not None:
            if ex.default_fields:
                out.append(f"     {st.dim('from defaults: ' + ', '.join(ex.default_fields))}")
            if ex.axis_note:
                out.append(f"     {st.dim(ex.axis_note)}")
        out.append("")
    return "\n".join(out)


def render_plan_text(plan: Plan, style: Style | None = None) -> str:
    st = style or Style(False)
    data = plan.to_json()
    width = max((len(s["quantizer_path"]) for s in data["sites"]), default=10)
    lines = []
    for s in data["sites"]:
        decision = _spec_line(s["decision"])
        text = st.green(decision) if s["decision"] else st.dim(decision)
        origin = f"  {st.dim(s['origin'])}" if s["origin"] else ""
        lines.append(f"{s['quantizer_path'].ljust(width)}  {text}{origin}")
    summary = data["summary"]
    lines.append("")
    lines.append(st.dim(f"{summary['quantized']} of {summary['sites']} sites quantized"))
    return "\n".join(lines) + "\n"
