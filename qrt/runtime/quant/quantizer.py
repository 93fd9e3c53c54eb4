"""``qrt.Quantizer``: prepare a model from any config, calibrate it, train it with QAT.

The workflow (docs/architecture.md, "The runtime workflow"; QAT schedules: docs/semantics.md §3):

* ``prepare(example_inputs)`` traces the model once, resolves the config (any front end) and
  places a quantizer at every quantized site (:mod:`.eager`); the model is changed in place and
  returned. After ``prepare`` every quantizer observes and fake-quantizes. A second
  ``prepare`` is an error; a failed one leaves the model as it was.
* ``calibration_mode()``: observers on, fake quantization off while inside; on leaving,
  observers off and fake quantization on.
* ``training_mode()``: the model in training mode, observers and fake quantization on — or,
  for quantizers under a module config with a ``qat_schedule``, the schedule's state at the
  current step. Leaving: observers off, fake quantization on (whatever the schedule), and the
  model's train/eval flag restored. Nesting is an error; the step count persists across
  re-entries. ``step()`` advances it (only inside ``training_mode``) and applies the
  schedules' state for the new step; it warns when no module has a schedule.
* ``enable_observer`` / ``disable_observer`` / ``enable_fake_quant`` / ``disable_fake_quant``
  on the whole model or the quantizers inside one module.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator
from pathlib import Path
from types import MappingProxyType
from typing import Any

import torch
from torch import nn

from qrt.errors import QrtError
from qrt.runtime.quant.eager import EagerState, PrepareError, install
from qrt.runtime.quant.fake_quantizer import FakeQuantizer

__all__ = ["Quantizer"]


def _source(config: Any) -> Any:
    from qrt.frontends.source import load_rule_source

    if config is None:  # W8A8 everywhere, in the mode this runtime runs
        from qrt.frontends.hierarchical import ExecutionMode, QuantizerConfig

        config = QuantizerConfig(execution_mode=ExecutionMode.EAGER)
    if hasattr(config, "rules_for"):
        return config
    return load_rule_source(config, door="qrt.Quantizer", argument="config")


def _disabled_spec(decision: Any, plan: Any) -> Any:
    """The spec of a site the plan leaves off but configured (a ModelOpt entry's ``enable:
    false``, a DSL ``disabled`` set): it gets a quantizer, switched off, as ModelOpt keeps one,
    so ``set_quantizer_by_cfg`` can turn it on later. A site nothing but the ModelOpt list's
    baseline (every ModelOpt quantizer starts off) set gets none."""
    from qrt.ir.effect import Set

    state = decision.state
    if state.spec is None or state.enabled:
        return None
    setters = [r for r in decision.matched if isinstance(r.effect, Set)]
    if not setters or setters[-1].baseline:
        return None
    from qrt.resolver.axes import resolve_axes
    from qrt.resolver.plan import owner_type

    return resolve_axes(state.spec, decision.site, owner_type(decision.site, plan.inventory))


UNRUN_EXTRAS = frozenset({"num_bits", "block_sizes", "axis", "bias", "rotate"})
"""Extras that describe the numbers themselves (a ModelOpt ``num_bits`` of 16 or a name, 2-D or
per-token ``block_sizes``, several axes, an affine ``bias``, a Hadamard ``rotate``): a spec
carries them when its own fields cannot say them, and the eager runtime, which runs the
fields, would quantize differently from what the config says. Refused at prepare rather than
run as something else. Descriptive extras (``effective_bits``) are not in this set."""


class CalibrationRangeError(QrtError):
    """Calibration observed NaN: a batch holding NaN (or a model that makes one) leaves NaN
    ranges, and every output after it is NaN."""

    code = "QRT305"


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


class _GraphState:
    """Marks a Quantizer prepared in graph mode (its quantizers are torchao's)."""


class Quantizer:
    """Quantize ``model`` as ``config`` says (a hierarchical config, a ModelOpt list, a rule
    file or its path, ``modelopt:NAME``, or a rule set; default W8A8)."""

    def __init__(self, model: nn.Module, config: Any = None, *, execution_mode: Any = None) -> None:
        """``execution_mode`` (``"eager"``/``"graph"``) overrides the config's (a hierarchical
        config's ``execution_mode``; other front ends run eager by default)."""
        from qrt.errors import wrong_type

        if not isinstance(model, nn.Module):
            raise wrong_type("qrt.Quantizer", "model", model, "a torch.nn.Module")
        mode = None if execution_mode is None else getattr(execution_mode, "value", execution_mode)
        if mode not in (None, "eager", "graph"):
            raise wrong_type("qrt.Quantizer", "execution_mode", execution_mode, "'eager', 'graph' or None")
        self.model = model
        self.execution_mode = mode
        self.config = config
        self.source = _source(config)
        self.state: EagerState | None = None
        self.plan: Any = None
        self.inventory: Any = None
        self._training = False
        self._step_count = 0
        self.graph_fates: list[Any] = []
        """graph mode: what it did with each decided site (:class:`~qrt.runtime.graph.fates.GraphFate`)"""
        self.graph_report: list[str] = []
        """graph mode: the fates that are not a plain placement, as text"""
        self.graph_placed: list[str] = []
        self.graph_modules: dict[str, str] = {}
        self._schedules: dict[int, Any] = {}
        self.fused_groups: list[list[str]] = []
        """layer groups an engine fuses (q/k/v, gate/up) whose NVFP4 weights share one global
        scale (:mod:`qrt.runtime.fused_layers`)"""

    # -- preparing ---------------------------------------------------------------------------
    def prepare(
        self,
        example_inputs: tuple[Any, ...],
        dynamic_shapes: Any = None,
        export_with_no_grad: bool = True,
        *,
        example_kwargs: dict[str, Any] | None = None,
        progress: Any = None,
    ) -> nn.Module:
        """Insert the quantizers; returns the (same) model. ``dynamic_shapes`` and
        ``export_with_no_grad`` concern graph mode and are ignored here (eager mode).
        ``example_kwargs`` are keyword inputs of the example call (``use_cache=False``);
        ``progress`` receives trace progress (the CLI shows it in a terminal)."""
        if self.state is not None or getattr(self.model, "_qrt_eager", None) is not None:  # noqa: SIM102
            raise PrepareError(
                "this model is prepared already",
                hint="prepare a fresh copy of the float model (copy.deepcopy before prepare)",
            )
        mode = self.execution_mode or getattr(getattr(self.source, "config", None), "execution_mode", None)
        if mode is not None and str(getattr(mode, "value", mode)) == "graph":
            if not isinstance(example_inputs, tuple):
                example_inputs = (example_inputs,)
            try:
                return self._prepare_graph(example_inputs, example_kwargs, dynamic_shapes, export_with_no_grad)
            except Exception as exc:  # noqa: BLE001 - every graph-mode failure becomes one clean error
                raise self._graph_failure(exc, example_kwargs) from None
        from qrt.resolver.plan import resolve_source
        from qrt.runtime.trace import trace_model

        if not isinstance(example_inputs, tuple):
            example_inputs = (example_inputs,)
        inventory = trace_model(self.model, example_inputs, example_kwargs, as_export=False, progress=progress)
        self._install_plan(resolve_source(self.source, inventory, check_tensors=False), inventory)  # prepare says QRT302
        return self.model

    def _graph_failure(self, exc: Exception, example_kwargs: dict[str, Any] | None) -> QrtError:
        """The one error a failed graph-mode prepare raises: what failed, in a line, and the
        way out — eager mode, which runs any model that runs. Graph mode is the default of
        hierarchical configs, so a user who never asked for it (``Quantizer(model,
        "config.yaml")``) must learn here that it was chosen and how to choose otherwise.
        The chain of torch.export's internal exceptions (nearly a hundred lines) is dropped;
        the original stays on ``graph_error`` for debugging. Config errors pass unchanged."""
        from qrt.runtime.graph.export import ExportError

        if isinstance(exc, QrtError) and not isinstance(exc, ExportError):
            return exc
        original = exc.__cause__ if isinstance(exc, ExportError) and exc.__cause__ is not None else exc
        lines = str(original).strip().splitlines()
        first = lines[0] if lines else ""
        if len(first) > 120:  # torch's messages go on to advice for torch developers
            first = first.split(". ", 1)[0].rstrip(".") + "."
        if len(first) > 200:
            first = first[:197] + "..."
        stage = "torch.export could not capture the model" if isinstance(exc, ExportError) else "preparing the exported graph failed"
        chosen = ("graph mode was asked for (execution_mode=\"graph\")" if self.execution_mode == "graph"
                  else "graph mode is this config's execution_mode (the default of hierarchical configs)")
        hint = [
            f"{chosen}; quantize the model in eager mode instead: "
            "qrt.Quantizer(model, config, execution_mode=\"eager\"), or `execution_mode: eager` in the config",
        ]
        if "Cache" in first:
            hint.append("a Hugging Face model that returns its KV cache cannot be captured: leave use_cache "
                        "out of example_kwargs (graph mode then captures the forward without its cache) "
                        "or pass use_cache=False")
        cls = ExportError if isinstance(exc, ExportError) else PrepareError
        err = cls(f"graph mode: {stage}: {type(original).__name__}: {first}", hint="\n".join(hint))
        err.graph_error = original  # type: ignore[attr-defined]
        return err

    def _install_plan(self, plan: Any, inventory: Any) -> None:
        """Place a quantizer at every site ``plan`` quantizes (or configures and leaves off)."""
        sites = []
        by_tensor: dict[str, FakeQuantizer] = {}
        for decision in plan.decisions:
            spec = plan.spec(decision)
            site = decision.site
            enabled = spec is not None
            if spec is None:
                spec = _disabled_spec(decision, plan)
                if spec is None:
                    continue
            shared = by_tensor.get(site.tensor) if site.role in ("state", "module_state") else None
            if shared is not None:
                if shared.spec != spec:
                    warnings.warn(
                        f"{site.quantizer_path} reads the same parameter as {shared.path}, which "
                        f"keeps its quantizer ({shared.spec.dtype}); the second decision "
                        f"({spec.dtype}) is not applied",
                        stacklevel=3,
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
        self.state = install(self.model, sites)
        from qrt.runtime.fused_layers import link_fused_weights

        self.fused_groups = link_fused_weights(self.model, sites)  # one NVFP4 global scale per q/k/v, gate/up
        self.state.inventory = inventory
        self.plan, self.inventory = plan, inventory
        self._schedules = self._qat_schedules(plan, inventory, sites)
        self.state.plan = plan

    def _prepare_graph(self, args: tuple[Any, ...], kwargs: dict[str, Any] | None, dynamic_shapes: Any, no_grad: bool) -> nn.Module:
        """Graph mode: export, name the call sites like the eager inventory, annotate them from
        the plan with a torchao PT2E quantizer, ``prepare_pt2e``. Returns the GraphModule."""
        from torchao.quantization.pt2e.quantize_pt2e import prepare_pt2e

        from qrt.resolver.plan import resolve_source
        from qrt.runtime.graph.annotate import PlanQuantizer
        from qrt.runtime.graph.fates import GraphFate
        from qrt.runtime.graph.export import export_model, without_kv_cache
        from qrt.runtime.graph.names import graph_call_sites
        from qrt.runtime.trace import trace_model, type_name

        with without_kv_cache(self.model, kwargs):  # the inventory's sites are the graph's
            inventory = trace_model(self.model, args, kwargs)  # export branches on: the graph's names
        plan = resolve_source(self.source, inventory, check_tensors=False)
        experts = [d.site.quantizer_path for d in plan.decisions if d.site.fused is not None and plan.spec(d) is not None]
        if experts:
            raise PrepareError(
                f"graph mode cannot quantize fused mixture-of-experts modules yet ({len(experts)} "
                f"quantizers, e.g. {experts[0]}): the eager runtime runs them in every experts implementation",
                hint='prepare in eager mode: qrt.Quantizer(model, config, execution_mode="eager"), '
                "or `execution_mode: eager` in the config (qrt run is always eager); docs/moe.md",
            )
        with without_kv_cache(self.model, kwargs):
            gm = export_model(self.model, args, kwargs, dynamic_shapes=dynamic_shapes, no_grad=no_grad)
        decisions = {}
        boundary: list[Any] = []
        for decision in plan.decisions:
            spec = plan.spec(decision)
            if spec is None:
                continue
            site = decision.site
            if site.op_name is None:
                boundary.append((site, spec))
                continue
            decisions[(site.op_name, site.role, site.key)] = spec
        # read-only: annotating works on its own copy of the decisions it is given
        annotator = PlanQuantizer(graph_call_sites(gm, type_name(self.model)), MappingProxyType(decisions),
                                  boundary=boundary)
        # prepare_pt2e with fake-quantize constructors: one graph for calibration and QAT
        # (prepare_qat_pt2e would also rewrite conv + batch_norm into torchao's folded QAT
        # pattern, which needs a weight quantizer on every such conv)
        prepared = prepare_pt2e(gm, annotator.torchao())
        from torchao.quantization.pt2e import allow_exported_model_train_eval

        # .train()/.eval() on the graph switch dropout and batch norm only (docs/graph.md)
        allow_exported_model_train_eval(prepared)
        self.plan, self.inventory = plan, inventory
        self.model = prepared
        self.state = _GraphState()
        self.graph_modules = annotator.sites_of_modules(prepared)
        served = set(self.graph_modules.values())
        for ident in annotator.placed:
            if ident not in served:  # torchao observes one tensor once for equal specs
                annotator.fates.append(GraphFate.torchao_shared_observer(ident))
        self.graph_fates = list(annotator.fates)
        self.graph_report = annotator.report
        self.graph_placed = annotator.placed
        schedule_sites = {m: annotator.consumer_of.get(ident, ident) for m, ident in self.graph_modules.items()}
        self._schedules = self._graph_schedules(schedule_sites, plan, inventory)
        return prepared

    def _graph_schedules(self, modules: dict[str, str], plan: Any, inventory: Any) -> dict[int, Any]:
        """QAT schedules of the graph's fake-quantize modules, from the module config that
        governs the site each one serves (hierarchical configs)."""
        config = getattr(self.source, "config", None)
        if config is None or not hasattr(config, "module_name_configs"):
            return {}
        from qrt.frontends.hierarchical.direct import read_site

        from qrt.runtime.graph.fates import site_id

        by_ident = {site_id(d.site): d.site for d in plan.decisions}
        out: dict[int, Any] = {}
        for module_name, ident in modules.items():
            site = by_ident.get(ident)
            if site is None:
                continue
            governing = read_site(config, site, inventory).governing
            schedule = getattr(getattr(governing, "config", None), "qat_schedule", None) if governing else None
            if schedule is not None:
                out[id(self.model.get_submodule(module_name))] = schedule
        return out

    def _qat_schedules(self, plan: Any, inventory: Any, sites: list[Any]) -> dict[int, Any]:
        config = getattr(self.source, "config", None)
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
                        stacklevel=3,
                    )
                continue
            first[id(quantizer)] = site.quantizer_path
            if schedule is not None:
                out[id(quantizer)] = schedule
        return out

    # -- the quantizers -------------------------------------------------------------------------
    def _require(self) -> EagerState:
        if self.state is None:
            raise RuntimeError("the model has not been prepared: call quantizer.prepare(example_inputs) first")
        return self.state

    def quantizers(self, module: nn.Module | None = None) -> list[Any]:
        """The quantizers of the model, or of those inside ``module`` (qrt's in eager mode,
        torchao's fake-quantize modules in graph mode)."""
        self._require()
        root = module if module is not None else self.model
        seen: dict[int, Any] = {}
        graph = isinstance(self.state, _GraphState)
        if graph:
            from torchao.quantization.pt2e import FakeQuantizeBase
        for m in root.modules():
            if (graph and isinstance(m, FakeQuantizeBase)) or (not graph and isinstance(m, FakeQuantizer)):
                seen.setdefault(id(m), m)
        return list(seen.values())

    def _set(self, module: nn.Module | None, *, observer: bool | None = None, fake_quant: bool | None = None) -> None:
        if isinstance(self.state, _GraphState):
            for q in self.quantizers(module):
                if observer is not None:
                    q.enable_observer() if observer else q.disable_observer()
                if fake_quant is not None:
                    q.enable_fake_quant() if fake_quant else q.disable_fake_quant()
            return
        for q in self.quantizers(module):
            for stage in (q, *q.stages):
                if observer is not None:
                    stage.observer_enabled = observer
                if fake_quant is not None:
                    stage.fake_quant_enabled = fake_quant

    def enable_observer(self, module: nn.Module | None = None) -> None:
        self._set(module, observer=True)

    def disable_observer(self, module: nn.Module | None = None) -> None:
        self._set(module, observer=False)

    def enable_fake_quant(self, module: nn.Module | None = None) -> None:
        self._set(module, fake_quant=True)

    def disable_fake_quant(self, module: nn.Module | None = None) -> None:
        self._set(module, fake_quant=False)

    # -- workflows ------------------------------------------------------------------------------
    @contextlib.contextmanager
    def calibration_mode(self, model: nn.Module | None = None, *, all_experts: bool = False) -> Iterator[nn.Module]:
        """Observers on and fake quantization off inside; observers off, fake quantization on
        after.

        Fused mixture-of-experts modules count the tokens routed to each expert while inside
        (:meth:`routed_tokens`); leaving warns about experts that saw none, whose share of
        the activations' range was never observed. ``all_experts=True`` also runs every
        expert on every token for the observers (the model's outputs stay those of its own
        routing), so no expert goes unseen."""
        state = self._require()
        self._set(model, observer=True, fake_quant=False)
        eager = isinstance(state, EagerState)
        if all_experts and not (eager and state.fused):
            raise PrepareError(
                "calibrating every expert on every token (qrt run --calib-all-experts, "
                "calibration_mode(all_experts=True)): the model has no fused experts module with quantizers",
                hint="it is for mixture-of-experts models prepared in eager mode (docs/moe.md); drop the option here",
            )
        if eager:
            state.routed.clear()
            state.count_routing, state.all_experts = True, all_experts
        try:
            yield model or self.model
            if eager:
                _refuse_nan_ranges(state)
        finally:
            self._set(model, observer=False, fake_quant=True)
            if eager:
                state.count_routing = state.all_experts = False
                if not all_experts:  # every expert saw every token otherwise
                    self._warn_unrouted(state)

    def routed_tokens(self) -> dict[str, list[int]]:
        """Tokens routed to each expert of each fused experts module during the last
        calibration (a token counts once per expert it was sent to), by module name."""
        state = self.state
        if not isinstance(state, EagerState):
            return {}
        return {name: [int(c) for c in counts] for name, counts in state.routed.items()}

    def _warn_unrouted(self, state: EagerState) -> None:
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
            stacklevel=3,
        )

    def _apply_schedule(self) -> None:
        graph = isinstance(self.state, _GraphState)
        for q in self.quantizers():
            schedule = self._schedules.get(id(q))
            if schedule is None:
                continue
            state = schedule.state_at(self._step_count)
            if graph:
                q.enable_observer() if state.observer else q.disable_observer()
                q.enable_fake_quant() if state.fake_quant else q.disable_fake_quant()
                continue
            for stage in (q, *q.stages):
                stage.observer_enabled, stage.fake_quant_enabled = state.observer, state.fake_quant

    @contextlib.contextmanager
    def training_mode(self, model: nn.Module | None = None) -> Iterator[nn.Module]:
        """QAT: training mode, observers and fake quantization on (or the schedule's state)."""
        self._require()
        if self._training:
            raise RuntimeError("training_mode() is already active: it cannot be nested")
        target = model or self.model
        was_training = target.training
        self._training = True
        target.train()
        self._set(model, observer=True, fake_quant=True)
        self._apply_schedule()
        try:
            yield target
        finally:
            self._training = False
            self._set(model, observer=False, fake_quant=True)
            target.train(was_training)

    @property
    def step_count(self) -> int:
        return self._step_count

    def step(self) -> None:
        """Advance the QAT schedule by one step (inside ``training_mode`` only)."""
        if not self._training:
            raise RuntimeError("step() must be called inside a training_mode() context")
        self._step_count += 1
        if not self._schedules:
            warnings.warn("no module has a qat_schedule: step() changes nothing", UserWarning, stacklevel=2)
            return
        self._apply_schedule()

    @classmethod
    def get_compressible_op_names(cls, model: nn.Module, execution_mode: Any = None, *example_inputs: Any) -> set[str]:
        """The names of the ops in ``model`` that have quantizable tensors (traced once with
        ``example_inputs``, or with the inputs of a built-in example)."""
        from qrt.runtime.trace import trace_model

        inventory = trace_model(model, tuple(example_inputs), as_export=False)
        return {s.op_name for s in inventory.sites if s.op_name is not None}

    def finalize(self, model: nn.Module | None = None, *, backend: str = "torch",
                 mmap_dir: str | Path | None = None, overwrite: bool = False) -> nn.Module:
        """Make every quantized weight real: packed low-bit codes and scales kept by its
        quantizer (``qrt.runtime.finalize.pack``), the dense parameter freed (unless something
        reads it unquantized: a tied embedding). The model still runs in torch, dequantizing
        each weight on the fly, so its outputs equal the prepared model's; activation
        quantizers keep their calibrated scales. Everything is checked before anything changes.

        ``backend``: ``"torch"`` (the only one yet). ``mmap_dir``: also write the model there
        (safetensors shards + manifest, as ``qrt.save_quantized`` does) one shard at a time and
        point the model at the memory-mapped files — the files must then stay in place while
        the model is used; ``qrt.load_quantized(mmap_dir, model)`` loads it again later.
        ``overwrite`` replaces a model qrt saved in ``mmap_dir`` before (never other files).

        Graph-mode models are converted with torchao's ``convert_pt2e`` (real quantize /
        dequantize ops; ``mmap_dir`` is not available there). Returns the finalized model;
        ``finalize_report`` has the weights, bytes before and after, and weights kept dense."""
        from qrt.runtime.finalize.pack import FinalizeError

        if backend != "torch":
            raise FinalizeError(f"backend {backend!r} is not available", hint="valid backends: torch")
        if self.state is None:
            raise FinalizeError(
                "finalize: the model has not been prepared",
                hint="call quantizer.prepare(example_inputs) (and calibrate) before finalize",
            )
        if isinstance(self.state, _GraphState):
            from qrt.runtime.graph.finalize import finalize_graph

            if mmap_dir is not None:
                raise FinalizeError(
                    "mmap_dir is not available for graph-mode models",
                    hint="prepare with execution_mode: eager to write a finalized model to safetensors",
                )
            self.model, self.finalize_report = finalize_graph(self.model if model is None else model)
            return self.model
        state = self.state
        target = model or self.model
        if mmap_dir is not None:
            from qrt.runtime.finalize.saved import finalize_to_directory

            self.finalize_report = finalize_to_directory(target, state, self.plan, mmap_dir, overwrite=overwrite)
        else:
            from qrt.runtime.finalize.weights import finalize_weights, weight_targets

            self.finalize_report = finalize_weights(weight_targets(target, state, self.plan))
        return target

    def summary(self) -> str:
        if isinstance(self.state, _GraphState):
            lines = [f"{name}: {type(m).__name__}" for name, m in self.model.named_modules() if m in self.quantizers()]
            lines += self.graph_report
            return "\n".join(lines) + f"\n{len(self.quantizers())} quantizers (graph mode)\n"
        from qrt.runtime.quant.summary import summary

        return summary(self.model)

