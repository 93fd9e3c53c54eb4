"""``qrt.Quantizer``: prepare a model from any config, calibrate it, train it with QAT.

The workflow (docs/architecture.md, "The runtime workflow"; QAT schedules: docs/semantics.md §3):

* ``prepare(example_inputs)`` traces the model once, resolves the config (any front end) and
  places a quantizer at every quantized site (:mod:`.eager`, or an exported graph's); the model is changed in place and
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

The workflow is the same in both execution modes; ``prepare`` picks the backend that runs it
(:mod:`.backend`): qrt's quantizer modules in the model (:mod:`.eager_backend`) or torchao's
in an exported graph (:mod:`.graph_backend`, docs/graph.md), and every later step asks it.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from torch import nn

from qrt.runtime.quant.backend import Backend
from qrt.runtime.quant.eager import PrepareError
from qrt.runtime.quant.eager_backend import UNRUN_EXTRAS, CalibrationRangeError, EagerBackend

__all__ = ["CalibrationRangeError", "Quantizer", "UNRUN_EXTRAS"]


def _source(config: Any) -> Any:
    from qrt.frontends.source import load_rule_source

    if config is None:  # W8A8 everywhere, in the mode this runtime runs
        from qrt.frontends.hierarchical import ExecutionMode, QuantizerConfig

        config = QuantizerConfig(execution_mode=ExecutionMode.EAGER)
    if hasattr(config, "rules_for"):
        return config
    return load_rule_source(config, door="qrt.Quantizer", argument="config")


def _saved(name: str, doc: str) -> Any:
    """An attribute of :class:`Quantizer` that a loaded model's quantizer reads from its saved
    model's manifest when first asked (:meth:`Quantizer._placed`); any other holds it plainly."""
    key = f"_{name}"

    def get(self: Quantizer) -> Any:
        if key not in self.__dict__:
            self._read_saved()
        return self.__dict__[key]

    def put(self: Quantizer, value: Any) -> None:
        self.__dict__[key] = value

    return property(get, put, doc=doc)


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
        self.plan = None
        self.inventory = None
        self._blank()

    @classmethod
    def _placed(cls, model: nn.Module, backend: Backend, fused_groups: list[list[str]], saved_plan: Any) -> Quantizer:
        """The quantizer of a model a trusted load placed from its saved quantizers
        (:mod:`qrt.runtime.finalize.load`): its ``config`` (the saved rules), ``source``,
        ``plan`` and ``inventory`` are read from the manifest when first asked
        (:func:`_saved`), which the load itself never does — it would cost more than the
        rest of the load."""
        self = cls.__new__(cls)
        self.model = model
        self.execution_mode = None
        self._blank()
        self.backend, self.fused_groups = backend, fused_groups
        self._saved_plan = saved_plan
        return self

    _saved_plan: Any
    """a loaded model's quantizer (:meth:`_placed`): where its plan is read from when asked"""
    config = _saved("config", "the config given (a loaded model's: its saved rules)")
    source = _saved("source", "the config as a rule source (:func:`qrt.frontends.source.load_rule_source`)")
    plan = _saved("plan", "the resolved plan the quantizers were placed from (``None`` before ``prepare``)")
    inventory = _saved("inventory", "the inventory the plan was resolved on")

    def _read_saved(self) -> None:
        """A loaded model's quantizer (:meth:`_placed`): its saved rules, source, plan and
        inventory, as ``Quantizer(model, rules)`` with the resolved plan installed holds them."""
        plan, inventory = self.__dict__["_saved_plan"].get()
        d = self.__dict__
        d.setdefault("_plan", plan)
        d.setdefault("_inventory", inventory)
        d.setdefault("_config", plan.rules)
        if "_source" not in d:
            d["_source"] = _source(d["_config"])

    def _blank(self) -> None:
        """Everything but the model, its config and plan: as a new quantizer has it."""
        self.backend: Backend | None = None
        """the execution mode's runtime, chosen by :meth:`prepare` (:mod:`.backend`)"""
        self._training = False
        self._step_count = 0
        self.graph_fates: list[Any] = []
        """graph mode: what it did with each decided site (:class:`~qrt.runtime.graph.fates.GraphFate`)"""
        self.graph_report: list[str] = []
        """graph mode: the fates that are not a plain placement, as text"""
        self.graph_placed: list[str] = []
        self.graph_modules: dict[str, str] = {}
        self.finalize_report: Any = None
        """what :meth:`finalize` did (weights packed, bytes before and after, weights kept dense)"""
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
            from qrt.runtime.quant.graph_backend import GraphBackend, graph_failure

            try:
                graph = GraphBackend.prepare(self.model, self.source, example_inputs, example_kwargs,
                                             dynamic_shapes, export_with_no_grad)
            except Exception as exc:  # noqa: BLE001 - every graph-mode failure becomes one clean error
                raise graph_failure(exc, asked=self.execution_mode == "graph") from None
            self.backend = graph
            self.model, self.plan, self.inventory = graph.model, graph.plan, graph.inventory
            self.graph_fates, self.graph_report, self.graph_placed = list(graph.fates), graph.report, graph.placed
            self.graph_modules = graph.modules
            return graph.model
        from qrt.resolver.plan import resolve_source
        from qrt.runtime.trace import trace_model

        if not isinstance(example_inputs, tuple):
            example_inputs = (example_inputs,)
        inventory = trace_model(self.model, example_inputs, example_kwargs, as_export=False, progress=progress)
        self._install_plan(resolve_source(self.source, inventory, check_tensors=False), inventory)  # prepare says QRT302
        return self.model

    def _install_plan(self, plan: Any, inventory: Any) -> None:
        """Place a quantizer at every site ``plan`` quantizes (or configures and leaves off),
        in eager mode (:meth:`.eager_backend.EagerBackend.place`)."""
        self.backend, self.fused_groups = EagerBackend.place(
            self.model, plan, inventory, getattr(self.source, "config", None))
        self.plan, self.inventory = plan, inventory

    # -- the quantizers -------------------------------------------------------------------------
    @property
    def state(self) -> Any:
        """What prepare installed: the eager runtime's :class:`~.eager.EagerState` (eager
        mode), the graph backend (graph mode), ``None`` before ``prepare``."""
        return self.backend.state if self.backend is not None else None

    @property
    def _schedules(self) -> dict[int, Any]:
        return self.backend.schedules if self.backend is not None else {}

    def _require(self) -> Backend:
        if self.backend is None:
            raise RuntimeError("the model has not been prepared: call quantizer.prepare(example_inputs) first")
        return self.backend

    def quantizers(self, module: nn.Module | None = None) -> list[Any]:
        """The quantizers of the model, or of those inside ``module`` (qrt's in eager mode,
        torchao's fake-quantize modules in graph mode)."""
        backend = self._require()
        root = module if module is not None else self.model
        seen: dict[int, Any] = {}
        for m in root.modules():
            if backend.is_quantizer(m):
                seen.setdefault(id(m), m)
        return list(seen.values())

    def _set(self, module: nn.Module | None, *, observer: bool | None = None, fake_quant: bool | None = None) -> None:
        backend = self._require()
        for q in self.quantizers(module):
            backend.switch(q, observer=observer, fake_quant=fake_quant)

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
        backend = self._require()
        backend.begin_calibration(all_experts)  # refuses all_experts where nothing has experts
        self._set(model, observer=True, fake_quant=False)
        try:
            yield model or self.model
            backend.calibrated()
        finally:
            self._set(model, observer=False, fake_quant=True)
            backend.end_calibration(all_experts)

    def routed_tokens(self) -> dict[str, list[int]]:
        """Tokens routed to each expert of each fused experts module during the last
        calibration (a token counts once per expert it was sent to), by module name."""
        return self.backend.routed_tokens() if self.backend is not None else {}

    def _apply_schedule(self) -> None:
        backend = self._require()
        for q in self.quantizers():
            schedule = backend.schedules.get(id(q))
            if schedule is None:
                continue
            state = schedule.state_at(self._step_count)
            backend.switch(q, observer=state.observer, fake_quant=state.fake_quant)

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
        if self.backend is None:
            raise FinalizeError(
                "finalize: the model has not been prepared",
                hint="call quantizer.prepare(example_inputs) (and calibrate) before finalize",
            )
        return self.backend.finalize(self, model, mmap_dir, overwrite)

    def summary(self) -> str:
        """The prepared model's quantizers, as text (eager: by module, with specs; graph: the
        fake-quantize modules and what graph mode did with each site)."""
        return self._require().summary(self)
