"""The graph backend of ``qrt.Quantizer``: torchao's fake-quantize modules in an exported graph.

``GraphBackend.prepare`` traces the model with its export branches on (the graph's names),
resolves the plan, exports the model, annotates the call sites from the plan with a torchao
PT2E quantizer (:mod:`qrt.runtime.graph.annotate`) and runs ``prepare_pt2e``; it keeps what
graph mode did with each decided site (:mod:`qrt.runtime.graph.fates`). The backend then
switches, calibrates, finalizes (``convert_pt2e``, :mod:`qrt.runtime.graph.finalize`) and
summarizes them for the workflow (:mod:`qrt.runtime.quant.backend`, docs/graph.md).
"""

from __future__ import annotations

from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from torch import nn

from qrt.errors import QrtError
from qrt.runtime.quant.eager import PrepareError
from qrt.runtime.graph.fates import placed_sites, rendered

if TYPE_CHECKING:
    from qrt.runtime.quant.quantizer import Quantizer

__all__ = ["GraphBackend", "graph_failure"]


def graph_failure(exc: Exception, asked: bool) -> QrtError:
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
    chosen = ("graph mode was asked for (execution_mode=\"graph\")" if asked
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
    err.graph_error = original  # type: ignore[union-attr]
    return err


def _schedules(config: Any, prepared: nn.Module, modules: dict[str, str], plan: Any, inventory: Any) -> dict[int, Any]:
    """QAT schedules of the graph's fake-quantize modules (``modules``: module name → the site
    it serves, :func:`~qrt.runtime.graph.fates.site_id`), from the module config that
    governs that site (hierarchical configs)."""
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
            out[id(prepared.get_submodule(module_name))] = schedule
    return out


class GraphBackend:
    """A model prepared in graph mode: an ``fx.GraphModule`` whose quantizers are torchao's
    fake-quantize modules."""

    mode = "graph"

    def __init__(self, model: nn.Module, plan: Any, inventory: Any, fates: list[Any],
                 modules: dict[str, str], schedules: dict[int, Any]) -> None:
        self.model = model
        """the prepared ``GraphModule``"""
        self.plan, self.inventory = plan, inventory
        self.fates = fates
        """what graph mode did with each decided site (:class:`~qrt.runtime.graph.fates.GraphFate`)"""
        self.modules = modules
        """each fake-quantize module's name → the site it serves"""
        self.schedules = schedules
        self.state = self

    @property
    def report(self) -> list[str]:
        """The fates that are not a plain placement, as text."""
        return rendered(self.fates)

    @property
    def placed(self) -> list[str]:
        """Every quantizer placed (one observer each), by site id."""
        return placed_sites(self.fates)

    @classmethod
    def prepare(cls, model: nn.Module, source: Any, args: tuple[Any, ...], kwargs: dict[str, Any] | None,
                dynamic_shapes: Any, no_grad: bool) -> GraphBackend:
        """Export ``model``, name the call sites like the eager inventory, annotate them from
        the plan ``source`` resolves to with a torchao PT2E quantizer, ``prepare_pt2e``."""
        from torchao.quantization.pt2e import allow_exported_model_train_eval
        from torchao.quantization.pt2e.quantize_pt2e import prepare_pt2e

        from qrt.resolver.plan import resolve_source
        from qrt.runtime.graph.annotate import PlanQuantizer
        from qrt.runtime.graph.export import export_model, without_kv_cache
        from qrt.runtime.graph.fates import GraphFate
        from qrt.runtime.graph.names import graph_call_sites
        from qrt.runtime.trace import trace_model, type_name

        with without_kv_cache(model, kwargs):  # the inventory's sites are the graph's
            inventory = trace_model(model, args, kwargs)  # export branches on: the graph's names
        plan = resolve_source(source, inventory, check_tensors=False)
        experts = [d.site.quantizer_path for d in plan.decisions if d.site.fused is not None and plan.spec(d) is not None]
        if experts:
            raise PrepareError(
                f"graph mode cannot quantize fused mixture-of-experts modules yet ({len(experts)} "
                f"quantizers, e.g. {experts[0]}): the eager runtime runs them in every experts implementation",
                hint='prepare in eager mode: qrt.Quantizer(model, config, execution_mode="eager"), '
                "or `execution_mode: eager` in the config (qrt run is always eager); docs/moe.md",
            )
        with without_kv_cache(model, kwargs):
            gm = export_model(model, args, kwargs, dynamic_shapes=dynamic_shapes, no_grad=no_grad)
        decisions: dict[tuple[str, str, Any], Any] = {}
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
        annotator = PlanQuantizer(graph_call_sites(gm, type_name(model)), MappingProxyType(decisions),
                                  boundary=boundary)
        # prepare_pt2e with fake-quantize constructors: one graph for calibration and QAT
        # (prepare_qat_pt2e would also rewrite conv + batch_norm into torchao's folded QAT
        # pattern, which needs a weight quantizer on every such conv)
        prepared = prepare_pt2e(gm, annotator.torchao())
        # .train()/.eval() on the graph switch dropout and batch norm only (docs/graph.md)
        allow_exported_model_train_eval(prepared)
        modules = annotator.sites_of_modules(prepared)
        served = set(modules.values())
        for ident in annotator.placed:
            if ident not in served:  # torchao observes one tensor once for equal specs
                annotator.fates.append(GraphFate.torchao_shared_observer(ident))
        # a de-duplicated quantizer follows its consumer's QAT schedule (docs/semantics.md §3)
        schedule_sites = {m: annotator.consumer_of.get(ident, ident) for m, ident in modules.items()}
        schedules = _schedules(getattr(source, "config", None), prepared, schedule_sites, plan, inventory)
        return cls(prepared, plan, inventory, list(annotator.fates), modules, schedules)

    def is_quantizer(self, module: nn.Module) -> bool:
        from torchao.quantization.pt2e import FakeQuantizeBase

        return isinstance(module, FakeQuantizeBase)

    def switch(self, quantizer: Any, *, observer: bool | None, fake_quant: bool | None) -> None:
        if observer is not None:
            quantizer.enable_observer() if observer else quantizer.disable_observer()
        if fake_quant is not None:
            quantizer.enable_fake_quant() if fake_quant else quantizer.disable_fake_quant()

    def begin_calibration(self, all_experts: bool) -> None:
        if all_experts:
            raise PrepareError(
                "calibrating every expert on every token (qrt run --calib-all-experts, "
                "calibration_mode(all_experts=True)): the model has no fused experts module with quantizers",
                hint="it is for mixture-of-experts models prepared in eager mode (docs/moe.md); drop the option here",
            )

    def calibrated(self) -> None:
        return None

    def end_calibration(self, all_experts: bool) -> None:
        return None

    def routed_tokens(self) -> dict[str, list[int]]:
        return {}  # graph mode runs no fused experts modules

    def finalize(self, owner: Quantizer, model: nn.Module | None, mmap_dir: Any, overwrite: bool) -> nn.Module:
        from qrt.runtime.finalize.pack import FinalizeError
        from qrt.runtime.graph.finalize import finalize_graph

        if mmap_dir is not None:
            raise FinalizeError(
                "mmap_dir is not available for graph-mode models",
                hint="prepare with execution_mode: eager to write a finalized model to safetensors",
            )
        owner.model, owner.finalize_report = finalize_graph(owner.model if model is None else model)
        return owner.model

    def summary(self, owner: Quantizer) -> str:
        quantizers = owner.quantizers()
        lines = [f"{name}: {type(m).__name__}" for name, m in owner.model.named_modules() if m in quantizers]
        lines += self.report
        return "\n".join(lines) + f"\n{len(quantizers)} quantizers (graph mode)\n"
