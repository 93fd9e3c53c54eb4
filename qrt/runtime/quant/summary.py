"""``qrt.summary(model)``: every quantizer of a prepared model with its spec and state —
the counterpart of ModelOpt's quant summary."""

from __future__ import annotations

from torch import nn

from qrt.runtime.quant.fake_quantizer import FakeQuantizer, _spec_text

__all__ = ["summary"]


def summary(model: nn.Module) -> str:
    rows = []
    for name, q in model.named_modules(remove_duplicate=False):
        if not isinstance(q, FakeQuantizer) or name.rsplit(".", 1)[-1].isdigit():
            continue
        state = "on " if q.enabled else "off"
        flags = f"obs={'on ' if q.observer_enabled else 'off'} fq={'on ' if q.fake_quant_enabled else 'off'}"
        calib = "calibrated" if q.calibrated else "not calibrated"
        spec = _spec_text(q.spec) + "".join(f", then {_spec_text(s.spec)}" for s in q.stages)
        rows.append((name, state, flags, calib, spec, q.calculator))
    if not rows:
        return "no quantizers: the model is not prepared, or its config quantizes nothing\n"
    width = max(len(r[0]) for r in rows)
    lines = [f"{'quantizer':<{width}}  state  {'switches':<15}  {'qparams':<14}  spec"]
    for name, state, flags, calib, spec, calc in rows:
        lines.append(f"{name:<{width}}  {state}    {flags}  {calib:<14}  {spec} ({calc})")
    enabled = sum(1 for r in rows if r[1].strip() == "on")
    lines.append(f"{len(rows)} quantizers, {enabled} enabled")
    return "\n".join(lines) + "\n"
