"""``qrt.summary(model)``: every quantizer of a prepared model with its spec and state —
the counterpart of ModelOpt's quant summary."""

from __future__ import annotations

from torch import nn

from qrt.runtime.quant.fake_quantizer import FakeQuantizer, _spec_text

__all__ = ["summary", "qparams_state", "LEGEND"]

LEGEND = """\
state     on: the quantizer is applied; off: configured but switched off (as ModelOpt keeps it)
switches  obs: observer, records the tensor's range (on while calibrating);
          fq: fake quantization, rounds the tensor to the format (on after calibration)
qparams   calibrated: scales from the calibration batches; from weight: computed from the
          weight itself (no data needed); dynamic: computed from each tensor as it passes;
          not calibrated: no scale yet, the tensor passes unquantized (calibrate first); -: off
"""
"""What the columns of :func:`summary` mean (the CLI prints it under the table)."""


def qparams_state(q: FakeQuantizer) -> str:
    """Where a quantizer's scales come from, truthfully: a weight quantizer with static qparams
    computes them from the weight the first time it runs (even with the observer off), so it
    is never waiting for calibration data; an off quantizer uses none."""
    if not q.enabled:
        return "-"
    if q.dynamic:
        return "dynamic"
    weight = q.role in ("state", "module_state")
    if q.scale.numel() > 0:
        return "from weight" if weight else "calibrated"
    if weight and (q.calculator == "static" or q.observer_enabled):
        return "from weight"  # observed from the weight at the next forward
    return "not calibrated"


def summary(model: nn.Module) -> str:
    rows = []
    for name, q in model.named_modules(remove_duplicate=False):
        if not isinstance(q, FakeQuantizer) or name.rsplit(".", 2)[-2:-1] == ["stages"]:
            continue  # a stage is shown with its quantizer (one expert's ``….3`` is not a stage)
        state = "on " if q.enabled else "off"
        flags = f"obs={'on ' if q.observer_enabled else 'off'} fq={'on ' if q.fake_quant_enabled else 'off'}"
        calib = qparams_state(q)
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
