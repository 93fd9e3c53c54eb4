"""Eager inventory: run a model once under a torch function mode and record every site.

How names come about (docs/semantics.md §1):

* forward pre/post hooks on every module keep a stack of *invocations*; each invocation owns
  its op counters, so a module that runs twice (shared, or called in a loop) names its ops the
  same both times, while a loop inside one forward gives ``m.add``, ``m.add_1`` …;
* the function mode sees only the outermost torch-level call (it is switched off while a
  handled call runs), which is what ``torch.export`` records too;
* what is an op, its name, its argument slots and their roles come from
  :mod:`qrt.runtime.op_naming`, the rule the eager runner and graph mode apply too.

Tensor identity is named by producer (``op:<op_name>:<k>``, ``param:<fqn>``, ``input:<key>``),
not by Python object, so repeated invocations agree and saved inventories stay meaningful.
Everything works on the ``meta`` device: no op here reads tensor data.
"""

from __future__ import annotations

import contextlib
import inspect
import os
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import torch
from torch.overrides import TorchFunctionMode

from qrt.errors import TraceError
from qrt.inventory.build import RawSite, assemble
from qrt.inventory.model import Inventory, ModuleInfo, OpRecord, TensorUse
from qrt.ir.site import Key
from qrt.ops.registry import OpRegistry, default_registry
from qrt.runtime.experts import FusedExperts, fused_experts
from qrt.runtime.op_naming import (
    OpCounter,
    op_type_of,
    output_tensors,
    positional_slots,
    returned_input,
    slot_role,
)

__all__ = ["trace_model", "TraceProgress"]

_TORCH_DIR = os.path.dirname(torch.__file__)
_QRT_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_EXAMPLES_FILE = os.path.join(_QRT_DIR, "runtime", "examples.py")  # user code, for our purposes


@dataclass
class TraceProgress:
    """Handed to a progress callback about every 0.2 s of tracing."""

    ops: int = 0
    module_calls: int = 0
    modules_total: int = 0
    seconds: float = 0.0


def type_name(obj_or_cls: object) -> str:
    cls = obj_or_cls if isinstance(obj_or_cls, type) else type(obj_or_cls)
    return f"{cls.__module__}.{cls.__qualname__}"


def forward_bases(cls: type) -> tuple[str, ...]:
    """The base classes of ``cls`` (MRO order) whose ``forward`` is the very function ``cls``
    runs: ModelOpt converts a subclass of a registered class only when it inherits that
    class's forward (``cls.forward is R.forward``, ``_DMRegistryCls._get_registered_nn_class``
    in ``modelopt/torch/opt/dynamic.py``), so the inventory records it
    (:attr:`qrt.inventory.model.ModuleInfo.forward_bases`)."""
    runs = getattr(cls, "forward", None)
    return tuple(type_name(base) for base in cls.__mro__[1:] if getattr(base, "forward", None) is runs)


def _dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")


@dataclass
class _Invocation:
    name: str
    type: str
    ops: OpCounter = field(init=False)
    opaque: bool = False
    """inside a fused experts module: its ops and submodules have no sites of their own (the
    module's expert sites stand for them, the same whichever experts implementation runs)"""

    def __post_init__(self) -> None:
        self.ops = OpCounter(self.name)


def _user_source() -> str | None:
    """``file:line`` of the innermost frame outside torch and qrt: the user's call."""
    frame = sys._getframe(2)
    while frame is not None:
        filename = frame.f_code.co_filename
        if filename == _EXAMPLES_FILE or not (
            filename.startswith((_TORCH_DIR, _QRT_DIR))
        ):
            return f"{filename}:{frame.f_lineno}"
        frame = frame.f_back
    return None


class _Tracer(TorchFunctionMode):
    def __init__(
        self,
        model: torch.nn.Module,
        registry: OpRegistry,
        progress: Callable[[TraceProgress], None] | None,
    ) -> None:
        super().__init__()
        self.model = model
        self.registry = registry
        self.progress_cb = progress
        self.progress = TraceProgress(modules_total=sum(1 for _ in model.modules()))
        self._last_report = 0.0
        self._t0 = time.perf_counter()
        self.paused = 0
        self.module_names: dict[int, str] = {id(m): n for n, m in model.named_modules()}
        self.param_names: dict[int, str] = {}
        for n, p in model.named_parameters():
            self.param_names.setdefault(id(p), n)
        for n, b in model.named_buffers():
            self.param_names.setdefault(id(b), n)
        self.stack: list[_Invocation] = []
        self.keep: list[torch.Tensor] = []  # keeps id()s unique for the whole trace
        self.tensor_ids: dict[int, str] = {}
        self.tensor_meta: dict[str, tuple[tuple[int, ...], str]] = {}
        self.producers: dict[str, str] = {}
        self.readers: dict[str, dict[str, None]] = {}
        self.ops: dict[str, OpRecord] = {}
        self.raw_sites: dict[tuple[str, str, Key], RawSite] = {}
        self.module_calls: dict[str, int] = {}
        self.module_scopes: dict[str, tuple[tuple[str, str], ...]] = {}
        self._n_const = 0
        self._signatures: dict[type, list[inspect.Parameter] | None] = {}
        self.fused: dict[int, FusedExperts] = {}
        for m in model.modules():
            layout = fused_experts(m)
            if layout is not None:
                self.fused[id(m)] = layout

    # --- tensor identity -----------------------------------------------------------------
    def _identify(self, t: torch.Tensor) -> str:
        tid = self.tensor_ids.get(id(t))
        if tid is None:
            fqn = self.param_names.get(id(t))
            if fqn is not None:
                tid = f"param:{fqn}"
                self.producers[tid] = tid
            else:
                tid = f"const:{self._n_const}"
                self._n_const += 1
            self._bind(t, tid)
        return tid

    def _bind(self, t: torch.Tensor, tid: str) -> None:
        self.tensor_ids[id(t)] = tid
        self.keep.append(t)
        self.tensor_meta.setdefault(tid, (tuple(int(d) for d in t.shape), _dtype_name(t.dtype)))

    def _read(self, tid: str, reader: str) -> None:
        self.readers.setdefault(tid, {})[reader] = None

    def _scope(self) -> tuple[tuple[str, str], ...]:
        return tuple((inv.name, inv.type) for inv in self.stack)

    def _add_site(self, owner: str, site: RawSite) -> None:
        if site.op_name is not None and self.stack and self.stack[-1].opaque:
            return  # an op inside fused experts: the expert sites stand for it
        self.raw_sites.setdefault((owner, site.role, site.key), site)

    def _expert_sites(self, module: torch.nn.Module, name: str, layout: FusedExperts,
                      scope: tuple[tuple[str, str], ...], bound: list[tuple[Key, str | None, Any]]) -> None:
        """The sites of a fused experts module (its first call): per fused parameter, the
        activation it multiplies (``(routed rows, in features)``: one row per token and
        expert it was routed to, ``top_k_index.numel()`` rows) and one ``(out, in)`` matrix per
        expert — the same whether ``grouped_mm``, ``bmm`` or the per-expert loop runs."""
        tensors = [(k, a, t) for k, a, t in bound if isinstance(t, torch.Tensor)]
        hidden = next((t for _, _, t in tensors if t.dtype.is_floating_point), None)
        index = next((t for k, a, t in tensors if a == "top_k_index" or k == "top_k_index"), None)
        if index is None:
            index = next((t for _, _, t in tensors if not t.dtype.is_floating_point), None)
        rows = int(index.numel()) if index is not None else (int(hidden.shape[0]) if hidden is not None else 0)
        act_dtype = _dtype_name(hidden.dtype) if hidden is not None else None
        for j, pname in enumerate(layout.params):
            param = getattr(module, pname)
            op_name = layout.op_name(name, j)
            tid = f"op:{op_name}:input"
            shape = (rows, int(param.shape[2]))
            self.tensor_meta.setdefault(tid, (shape, act_dtype or _dtype_name(param.dtype)))
            self.producers.setdefault(tid, tid)
            self.raw_sites.setdefault((op_name, "input", 0), RawSite(
                scope, "input", 0, "grouped_mm", op_name, tid, shape, act_dtype, None, None, fused=pname))
            fqn = self.param_names.get(id(param), f"{name}.{pname}" if name else pname)
            for expert in range(layout.num_experts):
                etid = f"param:{fqn}[{expert}]"
                eshape = (int(param.shape[1]), int(param.shape[2]))
                self.tensor_meta.setdefault(etid, (eshape, _dtype_name(param.dtype)))
                self.producers.setdefault(etid, etid)
                self.raw_sites.setdefault((op_name, "state", f"{pname}[{expert}]"), RawSite(
                    scope, "state", pname, "grouped_mm", op_name, etid, eshape, _dtype_name(param.dtype),
                    None, None, fused=pname, expert=expert))

    # --- ops -----------------------------------------------------------------------------
    def __torch_function__(self, func, types, args=(), kwargs=None):  # type: ignore[override]
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        if self.paused:
            return out
        op_type = op_type_of(func)
        if op_type is None:
            return out
        outputs = output_tensors(out)
        if not outputs:
            return out  # size(), dim(), shape …: no tensor, not an op
        if returned_input(func, args, out):
            return out  # contiguous()/to() that returned its input: export records no node
        self._record_op(op_type, args, kwargs, outputs)
        return out

    def _record_op(
        self,
        op_type: str,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        outputs: list[tuple[Key, torch.Tensor]],
    ) -> None:
        self.paused += 1
        try:
            if not self.stack:  # an op outside the model's forward (root hook not yet run)
                self.stack.append(_Invocation("", type_name(self.model)))
            inv = self.stack[-1]
            name = inv.ops.take(op_type)
            entry = self.registry.get(op_type)
            source = _user_source()
            scope = self._scope()

            inputs: list[TensorUse] = []
            slots: list[tuple[Key, Any, str | None]] = [
                (p, a, None) for p, a in positional_slots(args, lambda x: isinstance(x, torch.Tensor))
            ]
            slots += [(k, v, k) for k, v in kwargs.items()]
            for slot, arg, kw in slots:
                if not isinstance(arg, torch.Tensor):
                    continue
                tid = self._identify(arg)
                inputs.append(TensorUse(slot, tid))
                self._read(tid, f"op:{name}:{slot}")
                if entry is None or not arg.dtype.is_floating_point:
                    continue
                classified = self._classify(entry, slot, arg, inv.name)
                if classified is None:
                    continue
                role, key = classified
                shape, dtype = self.tensor_meta[tid]
                self._add_site(
                    name,
                    RawSite(scope, role, key, op_type, name, tid, shape, dtype, kw, source),
                )

            outs: list[TensorUse] = []
            for k, t in outputs:
                tid = f"op:{name}:{k}"
                self._bind(t, tid)
                self.producers.setdefault(tid, tid)
                outs.append(TensorUse(k, tid))
                if entry is not None and t.dtype.is_floating_point and isinstance(k, int) and entry.output_slot(k):
                    shape, dtype = self.tensor_meta[tid]
                    self._add_site(
                        name,
                        RawSite(scope, "output", k, op_type, name, tid, shape, dtype, None, source),
                    )
            if entry is not None and entry.attention:
                self._attention_probs(name, op_type, scope, args, kwargs, source)

            if name not in self.ops:
                self.ops[name] = OpRecord(
                    name, op_type, inv.name, entry is not None, tuple(inputs), tuple(outs), source
                )
            self.progress.ops += 1
            self._maybe_report()
        finally:
            self.paused -= 1

    def _classify(self, entry, slot: Key, arg: torch.Tensor, module: str) -> tuple[str, Key] | None:
        fqn = self.param_names.get(id(arg))
        if fqn is not None and self.tensor_ids.get(id(arg)) != f"param:{fqn}":
            fqn = None  # a parameter passed in as the model's input: an input there
        return slot_role(entry, slot, param=fqn, module=module)

    def _attention_probs(self, name, op_type, scope, args, kwargs, source) -> None:
        """The probabilities inside a fused attention are a site too (docs/semantics.md §4, key "p")."""
        q = args[0] if args else kwargs.get("query")
        k = args[1] if len(args) > 1 else kwargs.get("key")
        if not (isinstance(q, torch.Tensor) and isinstance(k, torch.Tensor)):
            return
        tid = f"op:{name}:p"
        shape = (*tuple(int(d) for d in q.shape[:-1]), int(k.shape[-2]))
        self.tensor_meta.setdefault(tid, (shape, _dtype_name(q.dtype)))
        self.producers.setdefault(tid, tid)
        self._add_site(
            name, RawSite(scope, "output", "p", op_type, name, tid, shape, _dtype_name(q.dtype), None, source)
        )

    # --- modules -------------------------------------------------------------------------
    def _forward_params(self, module: torch.nn.Module) -> list[inspect.Parameter] | None:
        cls = type(module)
        if cls not in self._signatures:
            try:
                params = list(inspect.signature(cls.forward).parameters.values())[1:]
            except (TypeError, ValueError):
                params = None
            self._signatures[cls] = params
        return self._signatures[cls]

    def pre_hook(self, module: torch.nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any]):
        self.paused += 1
        try:
            name = self.module_names.get(id(module))
            if name is None:
                return None
            is_root = not self.stack
            inside = bool(self.stack) and self.stack[-1].opaque
            layout = self.fused.get(id(module))
            self.stack.append(_Invocation(name, type_name(module), opaque=inside or layout is not None))
            scope = self._scope()
            first = name not in self.module_calls
            self.module_calls[name] = self.module_calls.get(name, 0) + 1
            self.progress.module_calls += 1
            if first:
                self.module_scopes[name] = scope
            params = self._forward_params(module) or []
            positional = [
                p.name for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
            ]
            bound: list[tuple[Key, str | None, Any]] = []
            for i, a in enumerate(args):
                bound.append((i, positional[i] if i < len(positional) else None, a))
            for k, v in kwargs.items():
                bound.append((positional.index(k), k, v) if k in positional else (k, None, v))
            for key, arg_name, t in bound:
                if not isinstance(t, torch.Tensor):
                    continue
                if is_root and id(t) not in self.tensor_ids:
                    self._bind(t, f"input:{key}")
                    self.producers.setdefault(f"input:{key}", f"input:{key}")
                tid = self._identify(t)
                self._read(tid, f"module_input:{name}:{key}")
                if t.dtype.is_floating_point and not inside:
                    shape, dtype = self.tensor_meta[tid]
                    self._add_site(
                        name,
                        RawSite(scope, "module_input", key, None, None, tid, shape, dtype, arg_name, None),
                    )
            if first and not inside:
                self._module_state(module, name, scope, skip=layout.params if layout else ())
            if first and layout is not None and not inside:
                self._expert_sites(module, name, layout, scope, bound)
            return None
        finally:
            self.paused -= 1

    def _module_state(self, module: torch.nn.Module, name: str, scope, skip: tuple[str, ...] = ()) -> None:
        prefix = f"{name}." if name else ""
        named = list(module.named_parameters()) + list(module.named_buffers())
        for rel, t in named:
            if not t.dtype.is_floating_point:
                continue
            if rel in skip or self._is_fused_param(module, rel):
                continue  # a fused experts parameter: reached one expert at a time
            fqn = self.param_names.get(id(t), prefix + rel)
            tid = f"param:{fqn}"
            if id(t) not in self.tensor_ids:
                self._bind(t, tid)
                self.producers.setdefault(tid, tid)
            shape, dtype = self.tensor_meta[self.tensor_ids[id(t)]]
            self._add_site(
                name,
                RawSite(scope, "module_state", rel, None, None, self.tensor_ids[id(t)], shape, dtype, None, None),
            )

    def _is_fused_param(self, module: torch.nn.Module, rel: str) -> bool:
        """Whether ``rel`` (relative to ``module``) is a fused experts parameter of a submodule."""
        owner, _, leaf = rel.rpartition(".")
        if not owner or not self.fused:
            return False
        try:
            sub = module.get_submodule(owner)
        except AttributeError:
            return False
        layout = self.fused.get(id(sub))
        return layout is not None and leaf in layout.params

    def post_hook(self, module: torch.nn.Module, args, kwargs, output):
        self.paused += 1
        try:
            name = self.module_names.get(id(module))
            if name is None or not self.stack:
                return None
            scope = self._scope()
            inside = len(self.stack) > 1 and self.stack[-2].opaque
            fused = id(module) in self.fused and not inside
            for key, t in output_tensors(output):
                if fused:
                    # what fused experts return is named by the module, not by its last op
                    # (``sum`` or ``index_add_``: it depends on the implementation that ran)
                    self._bind(t, f"op:{name}:{key}")
                    self.producers.setdefault(f"op:{name}:{key}", f"op:{name}:{key}")
                tid = self._identify(t)
                self._read(tid, f"module_output:{name}:{key}")
                if t.dtype.is_floating_point and not inside:
                    shape, dtype = self.tensor_meta[tid]
                    self._add_site(
                        name,
                        RawSite(scope, "module_output", key, None, None, tid, shape, dtype, None, None),
                    )
            self.stack.pop()
            self._maybe_report()
            return None
        finally:
            self.paused -= 1

    def _maybe_report(self) -> None:
        if self.progress_cb is None:
            return
        now = time.perf_counter()
        if now - self._last_report >= 0.2:
            self._last_report = now
            self.progress.seconds = now - self._t0
            self.progress_cb(self.progress)

    # --- result --------------------------------------------------------------------------
    def modules(self) -> list[ModuleInfo]:
        infos = []
        for name, module in self.model.named_modules():
            params = self._forward_params(module) or []
            infos.append(
                ModuleInfo(
                    name=name,
                    type=type_name(module),
                    leaf=next(iter(module.children()), None) is None,
                    called=self.module_calls.get(name, 0),
                    forward_args=tuple(p.name for p in params),
                    scope=tuple(n for n, _ in self.module_scopes.get(name, ())),
                    forward_bases=forward_bases(type(module)),
                )
            )
        return infos


@contextlib.contextmanager
def _as_export() -> Iterator[None]:
    """Make ``torch.compiler.is_exporting()``/``is_compiling()`` true for the trace.

    Models (Hugging Face's among them) take other branches under export: a materialised
    causal mask instead of a data-dependent ``.all()`` shortcut, no packed-sequence probe.
    Tracing through the export branches gives the op names ``torch.export`` gives (docs/semantics.md
    §1: the same names in eager and graph mode) and never reads tensor data, so it also
    works on ``meta``.
    """
    compiler = torch.compiler
    saved = (compiler.is_exporting, compiler.is_compiling)
    compiler.is_exporting = lambda: True  # type: ignore[method-assign]
    compiler.is_compiling = lambda: True  # type: ignore[method-assign]
    try:
        yield
    finally:
        compiler.is_exporting, compiler.is_compiling = saved  # type: ignore[method-assign]


def trace_model(
    model: torch.nn.Module,
    args: tuple[Any, ...] = (),
    kwargs: dict[str, Any] | None = None,
    *,
    registry: OpRegistry | None = None,
    progress: Callable[[TraceProgress], None] | None = None,
    model_info: dict[str, object] | None = None,
    as_export: bool = True,
) -> Inventory:
    """Run ``model(*args, **kwargs)`` once under ``torch.no_grad()`` and return its inventory.

    The model is not changed (hooks are removed afterwards, train/eval mode is kept). Works
    on ``meta`` tensors. ``as_export`` (default) runs the model's export branches, see
    :func:`_as_export`. A failing forward raises :class:`~qrt.errors.TraceError` naming the
    module that was running.
    """
    tracer = _Tracer(model, registry or default_registry, progress)
    handles = []
    for m in model.modules():
        handles.append(m.register_forward_pre_hook(tracer.pre_hook, with_kwargs=True))
        handles.append(
            m.register_forward_hook(tracer.post_hook, with_kwargs=True, always_call=True)
        )
    try:
        with torch.no_grad(), (_as_export() if as_export else contextlib.nullcontext()), tracer:
            model(*args, **(kwargs or {}))
    except Exception as exc:  # the user's forward failed: say where
        where = tracer.stack[-1].name if tracer.stack else ""
        raise TraceError(
            f"the model's forward failed while tracing: {type(exc).__name__}: {exc}",
            location=f"module {where!r}" if where else None,
            hint="check the example inputs (--input-shape) and that the model runs on the "
            "chosen device; --debug shows the traceback",
        ) from exc
    finally:
        for h in handles:
            h.remove()
    info = dict(model_info or {})
    info.setdefault("class", type_name(model))
    info["torch"] = torch.__version__
    return assemble(
        modules=tracer.modules(),
        ops=list(tracer.ops.values()),
        tensor_meta=tracer.tensor_meta,
        producers=tracer.producers,
        readers={k: tuple(v) for k, v in tracer.readers.items()},
        raw_sites=list(tracer.raw_sites.values()),
        model_info=info,
    )
