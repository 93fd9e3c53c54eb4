"""The eager backend of ``qrt.Quantizer``: qrt's quantizer modules in the model itself.

``EagerBackend.place`` builds one :class:`~.fake_quantizer.FakeQuantizer` per quantized tensor
from a plan and installs them (:mod:`.eager`: the function mode that names ops as the trace
did, and the module hooks); the backend then switches, calibrates (routing counts of fused
experts, refusing NaN ranges), finalizes (packed weights, :mod:`qrt.runtime.finalize`) and
summarizes them for the workflow (:mod:`.backend`, :class:`~.quantizer.Quantizer`).
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from qrt.errors import CalibrationRangeError, QrtError
from qrt.runtime.quant.eager import EagerState, PrepareError, install
from qrt.runtime.quant.fake_quantizer import FakeQuantizer
from qrt.runtime.fused_layers import link_fused_weights
from qrt.runtime.quant.planned import planned_quantizers

if TYPE_CHECKING:
    from qrt.runtime.quant.quantizer import Quantizer

__all__ = ["CalibrationRangeError", "EagerBackend", "UNRUN_EXTRAS"]


UNRUN_EXTRAS = frozenset({"num_bits", "block_sizes", "axis", "bias", "rotate"})
"""Extras that describe the numbers themselves (a ModelOpt ``num_bits`` of 16 or a name, 2-D or
per-token ``block_sizes``, several axes, an affine ``bias``, a Hadamard ``rotate``): a spec
carries them when its own fields cannot say them, and the eager runtime, which runs the
fields, would quantize differently from what the config says. Refused at prepare rather than
run as something else. Descriptive extras (``effective_bits``) are not in this set."""


def _refuse_nan_ranges(state: EagerState) -> None:
    """After calibration, refuse ranges that hold NaN (torch.minimum/maximum carry a NaN on
    into every later batch's range): one check per quantizer, at the end, not per batch."""
    bad: list[str] = []
    seen: set[int] = set()
    for path, q in state.quantizers.items():
        if id(q) in seen:
            continue
        seen.add(id(q))
        lo, hi = q.min_val, q.max_val
        if lo.numel() and (bool(torch.isnan(lo).any()) or bool(torch.isnan(hi).any())):
            bad.append(path)
    if bad:
        raise CalibrationRangeError(
            f"calibration observed NaN at {len(bad)} quantizer(s) ({', '.join(bad[:3])}"
            f"{' …' if len(bad) > 3 else ''}): their ranges are NaN, so every output from now on would be NaN",
            hint="a calibration batch holds NaN (check the data: torch.isnan(batch).any()), or the "
            "model produces NaN on it; calibrate again without it",
        )


def _qat_schedules(config: Any, inventory: Any, sites: list[tuple[Any, FakeQuantizer]]) -> dict[int, Any]:
    """Each quantizer's QAT schedule, from the module configuration that governs its site
    (hierarchical configs; a parameter shared by two modules: the first one's)."""
    if config is None or not hasattr(config, "module_name_configs"):
        return {}
    from qrt.frontends.hierarchical.direct import read_site

    out: dict[int, Any] = {}
    first: dict[int, str] = {}
    for site, quantizer in sites:
        reading = read_site(config, site, inventory)
        governing = reading.governing
        schedule = getattr(getattr(governing, "config", None), "qat_schedule", None) if governing else None
        if id(quantizer) in first:  # a parameter shared by two modules: the first one's schedule
            if out.get(id(quantizer)) != schedule:
                warnings.warn(
                    f"{site.quantizer_path} shares its weight quantizer with "
                    f"{first[id(quantizer)]}, whose module's qat_schedule "
                    f"({out.get(id(quantizer))}) differs from this module's ({schedule}); "
                    f"the first module's schedule applies",
                    stacklevel=5,
                )
            continue
        first[id(quantizer)] = site.quantizer_path
        if schedule is not None:
            out[id(quantizer)] = schedule
    return out


def _warn_unrouted(state: EagerState) -> None:
    """Experts that saw no calibration token: their share of the activations' range was never
    observed."""
    idle = {name: [i for i, c in enumerate(counts) if int(c) == 0] for name, counts in state.routed.items()}
    idle = {name: ids for name, ids in idle.items() if ids}
    if not idle:
        return
    total = sum(len(ids) for ids in idle.values())
    listed = "; ".join(f"{name}: experts {', '.join(map(str, ids))}" for name, ids in list(idle.items())[:8])
    warnings.warn(
        f"{total} expert(s) saw no calibration tokens ({listed}{' …' if len(idle) > 8 else ''}): their "
        "inputs' share of the range was never observed. Calibrate on more data, or with "
        "calibration_mode(all_experts=True) (qrt run --calib-all-experts) to run every expert on every token",
        UserWarning,
        stacklevel=4,
    )


class EagerBackend:
    """A model prepared in eager mode: its quantizers are qrt's :class:`FakeQuantizer` modules."""

    mode = "eager"

    def __init__(self, state: EagerState, schedules: dict[int, Any]) -> None:
        self.state = state
        self.schedules = schedules

    @classmethod
    def place(cls, model: nn.Module, plan: Any, inventory: Any, config: Any) -> tuple[EagerBackend, list[list[str]]]:
        """Place a quantizer at every site ``plan`` quantizes (or configures and leaves off),
        one per tensor for parameters; returns the backend and the layer groups whose NVFP4
        weights share one global scale (:mod:`qrt.runtime.fused_layers`). ``config``: the
        hierarchical config whose module configurations' QAT schedules apply, if any."""
        backend, fused_groups = cls.place_planned(model, planned_quantizers(plan), config=config, inventory=inventory)
        backend.state.inventory = inventory
        backend.state.plan = plan
        return backend, fused_groups

    @classmethod
    def place_planned(cls, model: nn.Module, planned: list[tuple[Any, Any, bool]], *, config: Any = None,
                      inventory: Any = None) -> tuple[EagerBackend, list[list[str]]]:
        """:meth:`place` from the plan's quantizers as :func:`.planned.planned_quantizers` lists them:
        a saved model's trusted load keeps that list in its manifest and places from it,
        with no plan (no resolver) at hand. ``inventory``: only for ``config``'s schedules."""
        sites: list[tuple[Any, Any]] = []
        by_tensor: dict[str, FakeQuantizer] = {}
        for site, spec, enabled in planned:
            shared = by_tensor.get(site.tensor) if site.role in ("state", "module_state") else None
            if shared is not None:
                if shared.spec != spec:
                    warnings.warn(
                        f"{site.quantizer_path} reads the same parameter as {shared.path}, which "
                        f"keeps its quantizer ({shared.spec.dtype}); the second decision "
                        f"({spec.dtype}) is not applied",
                        stacklevel=5,
                    )
                sites.append((site, shared))
                continue
            unrun = [name for name, _ in spec.extras if name in UNRUN_EXTRAS] if enabled else []
            if unrun:
                raise PrepareError(
                    f"{site.quantizer_path}: the spec's {', '.join(f'extra.{n}' for n in unrun)} "
                    f"({', '.join(str(spec.extra_values()[n]) for n in unrun)}) says a format or "
                    f"granularity qrt's eager runtime does not run; it would quantize as "
                    f"{spec.dtype} {spec.granularity.type} instead",
                    hint="use a format qrt runs (ModelOpt num_bits 2-8, [4, 3], [5, 2], [2, 1] in "
                    "blocks; one blocked axis), or switch this site off",
                )
            try:
                quantizer = FakeQuantizer(spec, site.shape, role=site.role, path=site.quantizer_path)
            except QrtError as exc:
                if not enabled:
                    continue  # a disabled quantizer whose spec cannot run here: not placed
                raise PrepareError(
                    f"{site.quantizer_path}: {exc.message}",
                    hint=exc.hint or "change the spec of this site in the config",
                ) from None
            quantizer.set_enabled(enabled)
            if site.role in ("state", "module_state"):
                by_tensor[site.tensor] = quantizer
            sites.append((site, quantizer))
        state = install(model, sites)
        # one NVFP4 global scale per q/k/v, gate/up; a group links only quantizers of a format with
        # a global scale, so with none placed there is no group to look for (a walk of every module)
        fused_groups = link_fused_weights(model, sites) if any(q.fmt.global_scale for _, q in sites) else []
        return cls(state, _qat_schedules(config, inventory, sites)), fused_groups

    def is_quantizer(self, module: nn.Module) -> bool:
        return isinstance(module, FakeQuantizer)

    def switch(self, quantizer: Any, *, observer: bool | None, fake_quant: bool | None) -> None:
        for stage in (quantizer, *quantizer.stages):  # a staged spec's later stages too
            if observer is not None:
                stage.observer_enabled = observer
            if fake_quant is not None:
                stage.fake_quant_enabled = fake_quant

    def begin_calibration(self, all_experts: bool) -> None:
        if all_experts and not self.state.fused:
            raise PrepareError(
                "calibrating every expert on every token (qrt run --calib-all-experts, "
                "calibration_mode(all_experts=True)): the model has no fused experts module with quantizers",
                hint="it is for mixture-of-experts models prepared in eager mode (docs/moe.md); drop the option here",
            )
        self.state.routed.clear()
        self.state.count_routing, self.state.all_experts = True, all_experts

    def calibrated(self) -> None:
        _refuse_nan_ranges(self.state)

    def end_calibration(self, all_experts: bool) -> None:
        self.state.count_routing = self.state.all_experts = False
        if not all_experts:  # every expert saw every token otherwise
            _warn_unrouted(self.state)

    def routed_tokens(self) -> dict[str, list[int]]:
        return {name: [int(c) for c in counts] for name, counts in self.state.routed.items()}

    def finalize(self, owner: Quantizer, model: nn.Module | None, mmap_dir: Any, overwrite: bool) -> nn.Module:
        target = model or owner.model
        if mmap_dir is not None:
            from qrt.runtime.finalize.saved import finalize_to_directory

            owner.finalize_report = finalize_to_directory(target, self.state, owner.plan, mmap_dir, overwrite=overwrite)
        else:
            from qrt.runtime.finalize.weights import finalize_weights, weight_targets

            owner.finalize_report = finalize_weights(weight_targets(target, self.state, owner.plan))
        return target

    def summary(self, owner: Quantizer) -> str:
        from qrt.runtime.quant.summary import summary

        return summary(owner.model)
