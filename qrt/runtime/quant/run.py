"""``qrt run``: prepare a model under a config, calibrate it, and measure what quantization did.

The quickest end-to-end check of a config on a model: the prepared model's quantizers (the
summary), and its output against the float model on the same fresh inputs — largest absolute
error and cosine similarity of the flattened outputs.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from qrt.runtime.quant.quantizer import Quantizer

__all__ = ["RunReport", "render_routed", "run_config"]


@dataclass
class RunReport:
    summary: str
    quantizers: int
    enabled: int
    max_abs_error: float | None
    """``None`` when no comparison was asked for (``compare=False``)"""
    cosine: float | None
    batches: int
    finalized: dict[str, Any] | None = None
    """``--finalize DIR``: where, how many weights, bytes of the float weights / packed / on disk"""
    mode: str = "eager"
    """the runtime the model was prepared with"""
    config_mode: str | None = None
    """the config's own ``execution_mode`` where it names one (hierarchical configs)"""
    held_out: bool = False
    """calibrated on given samples, and compared on one more of them kept out of calibration"""
    routed: dict[str, list[int]] | None = None
    """fused mixture-of-experts modules: calibration tokens routed to each expert, by module"""


def _like(t: Any, generator: torch.Generator) -> Any:
    """A random tensor like ``t`` (normal floats; integers below ``t``'s largest, as token ids
    are); a constant integer tensor (an all-ones attention mask) is kept as it is."""
    if not isinstance(t, torch.Tensor):
        return t
    if t.is_floating_point():
        return torch.randn(t.shape, generator=generator, dtype=t.dtype).to(t.device)
    if t.numel() > 1 and bool((t == t.flatten()[0]).all()):
        return t
    high = int(t.max().item()) + 1 if t.numel() else 2
    return torch.randint(0, max(high, 2), t.shape, generator=generator, dtype=t.dtype).to(t.device)


def _first_tensor(out: Any) -> torch.Tensor:
    if isinstance(out, torch.Tensor):
        return out
    for name in ("logits", "last_hidden_state"):
        value = getattr(out, name, None)
        if isinstance(value, torch.Tensor):
            return value
    values = out.values() if isinstance(out, dict) else out if isinstance(out, (list, tuple)) else ()
    for value in values:
        if isinstance(value, torch.Tensor):
            return value
    from qrt.errors import ModelSourceError

    raise ModelSourceError(
        f"the model's forward returned {type(out).__name__}, with no tensor to compare against the "
        "float model's",
        hint="return the output tensor (or a tuple, dict or ModelOutput holding it), or pass --no-compare",
    )


def run_config(config: Any, model: torch.nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any] | None = None,
               *, batches: int = 8, seed: int = 0, progress: Any = None,
               finalize_dir: str | None = None, execution_mode: str = "eager",
               calibration: Sequence[torch.Tensor] | None = None, compare: bool = True,
               all_experts: bool = False, bars: Any = None) -> RunReport:
    """Prepare ``model`` (changed in place), calibrate on ``batches`` batches — the example,
    then random batches shaped like it, drawn from ``seed`` — and compare with the float model
    on one more. ``finalize_dir``: then finalize the model into that directory
    (``Quantizer.finalize(mmap_dir=...)``) and report sizes.

    ``execution_mode`` is eager by default whatever the config says: ``qrt run`` measures the
    eager runtime (its summary and ``--finalize`` are eager-only), and a hierarchical config's
    default, graph, needs a model ``torch.export`` can capture.

    ``calibration``: real samples of the model's main input (token ids from ``--calib``)
    instead of random batches: the last is kept out of calibration and used for the
    comparison (a single sample does both).

    ``compare=False`` keeps no float copy of the model (on a large model, that copy is the
    model's size again) and reports no error figures.

    ``all_experts``: calibrate every expert of fused mixture-of-experts modules on every token
    (``Quantizer.calibration_mode(all_experts=True)``); the report counts the tokens the
    model's own routing sent to each expert either way.

    ``bars``: progress bars for tracing, calibration and finalize
    (:class:`qrt.runtime.progress.Bars`; none by default)."""
    from qrt.runtime.progress import Bars

    bars = bars if bars is not None else Bars(False)
    kwargs = dict(kwargs or {})
    model.eval()
    float_bytes = sum(t.numel() * t.element_size() for t in model.state_dict().values())
    reference = copy.deepcopy(model) if compare else None
    quantizer = Quantizer(model, config, execution_mode=execution_mode)
    configured = getattr(getattr(quantizer.source, "config", None), "execution_mode", None)
    with bars.trace() as traced:
        quantizer.prepare(args, example_kwargs=kwargs, progress=traced or progress)
    model = quantizer.model
    generator = torch.Generator().manual_seed(seed)
    samples = [s.to(args[0].device) for s in calibration] if calibration is not None else None
    held_out = samples.pop() if samples is not None and len(samples) > 1 else None
    with torch.no_grad():
        total = len(samples) if samples is not None else max(batches, 1)
        with quantizer.calibration_mode(all_experts=all_experts), bars(total, "calibrating", "batch") as bar:
            if samples is not None:
                for sample in samples:
                    model(sample, *args[1:], **kwargs)
                    bar.update()
            else:
                model(*args, **kwargs)
                bar.update()
                for _ in range(max(batches - 1, 0)):
                    model(*[_like(a, generator) for a in args], **{k: _like(v, generator) for k, v in kwargs.items()})
                    bar.update()
        if samples is not None:
            data, data_kwargs = [held_out if held_out is not None else samples[0], *args[1:]], kwargs
            batches = len(samples)
        else:
            data = [_like(a, generator) for a in args]
            data_kwargs = {k: _like(v, generator) for k, v in kwargs.items()}
        got = _first_tensor(model(*data, **data_kwargs)).float()
        want = _first_tensor(reference(*data, **data_kwargs)).float() if reference is not None else None
    finalized = None
    if finalize_dir is not None:
        with bars.step("finalizing"):
            finalized = _finalize(quantizer, float_bytes, model, data, data_kwargs, got, finalize_dir)
    return report_of(quantizer, got, want, batches=batches, finalized=finalized, mode=execution_mode,
                     configured=configured, held_out=held_out is not None)


def report_of(quantizer: Quantizer, got: torch.Tensor, want: torch.Tensor | None, *, batches: int,
              finalized: dict[str, Any] | None, mode: str, configured: Any, held_out: bool) -> RunReport:
    """The report of a run, whole or sequential: the quantizers, the error figures (none
    without a float output to compare with), what was finalized."""
    quantizers = quantizer.quantizers()
    return RunReport(
        summary=quantizer.summary(),
        quantizers=len(quantizers),
        enabled=sum(1 for q in quantizers if getattr(q, "enabled", True)),
        max_abs_error=(got - want).abs().max().item() if want is not None else None,
        cosine=F.cosine_similarity(got.flatten(), want.flatten(), dim=0).item() if want is not None else None,
        batches=batches,
        finalized=finalized,
        mode=mode,
        config_mode=None if configured is None else str(getattr(configured, "value", configured)),
        held_out=held_out,
        routed=quantizer.routed_tokens() or None,
    )


def _finalize(quantizer: Quantizer, float_bytes: int, model: torch.nn.Module, data: list[Any],
              kwargs: dict[str, Any], prepared: torch.Tensor, directory: str) -> dict[str, Any]:
    """Finalize into ``directory``; the sizes a user wants to see, and a check that the
    finalized model computes what the prepared one did."""

    quantizer.finalize(mmap_dir=directory, overwrite=True)  # a re-run replaces its own output only
    report = quantizer.finalize_report
    with torch.no_grad():
        again = _first_tensor(model(*data, **kwargs)).float()
    return finalize_figures(report, directory, float_bytes, again, prepared)


def finalize_figures(report: dict[str, Any], directory: str, float_bytes: int, again: torch.Tensor,
                     prepared: torch.Tensor) -> dict[str, Any]:
    """What ``qrt run --finalize`` reports, whole or sequential: sizes in memory and on disk,
    and the finalized model's output against the prepared one's on the same data."""
    from pathlib import Path

    from qrt.runtime.finalize.manifest import MANIFEST_NAME

    return {
        "directory": str(directory),
        "weights": report["weights"],
        "dense_weight_bytes": report["dense_bytes"],
        "packed_weight_bytes": report["packed_bytes"],
        "float_checkpoint_bytes": float_bytes,
        "disk_bytes": sum(f.stat().st_size for f in Path(directory).glob("*.safetensors")),
        "manifest_bytes": (Path(directory) / MANIFEST_NAME).stat().st_size,
        "kept_dense": list(report["kept_dense"]),
        "max_abs_diff_vs_prepared": (again - prepared).abs().max().item(),
    }


def render_routed(routed: dict[str, list[int]]) -> str:
    """The routed-token table of a run: per fused experts module, the calibration tokens each
    expert was sent, and which saw none (their activations never reached an observer)."""
    lines = ["calibration tokens routed to each expert:"]
    width = max(len(name) for name in routed)
    for name, counts in routed.items():
        idle = [str(i) for i, c in enumerate(counts) if c == 0]
        note = f"  (none: expert {', '.join(idle)})" if idle else ""
        lines.append(f"  {name:<{width}}  {' '.join(str(c) for c in counts)}{note}")
    return "\n".join(lines) + "\n"
