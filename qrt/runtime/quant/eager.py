"""Eager mode: quantizer modules at every quantized site, applied while the model runs.

``prepare_eager`` traces the model (eagerly, so the inventory is what this forward runs),
resolves the plan, builds one :class:`~.fake_quantizer.FakeQuantizer` per quantized tensor,
registers each under its site's quantizer path, and installs the machinery that applies them:

* a torch function mode, entered around the root's ``forward``, that names every op exactly
  as the trace does (per-invocation counters kept by module hooks, and every other part of
  the rule from :mod:`qrt.runtime.op_naming`, which the trace calls too) and quantizes an op's inputs, state (its weight argument) and
  outputs by ``(op name, slot)`` — so functional calls, ``x + y``, ``torch.cat``, softmax and
  matmul inside custom forwards are covered, and data-dependent control flow just runs;
* forward pre-hooks and hooks for module-boundary quantizers (``module_input``/``_output``),
  and parameters read through a ``module_state`` quantizer wherever an op reads them.

One tensor, one quantizer: the plan already lets a module-level site override the op-level
sites on its tensor (docs/semantics.md §3); a parameter read by two ops gets one quantizer (the first
site in module order), registered under both paths. Nothing is changed on the model until
every quantizer has been built, and a failure while registering undoes what was done.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn
from torch.overrides import TorchFunctionMode

from qrt.errors import PrepareError
from qrt.ir.site import Key, Site
from qrt.ops.registry import OpRegistry, default_registry
from qrt.runtime.experts import MATMUL_OPS
from qrt.runtime.op_naming import OpCounter, map_positional, op_type_of, output_tensors, returned_input, slot_role
from qrt.runtime.quant.fake_quantizer import FakeQuantizer

__all__ = ["EagerState", "PrepareError", "install", "quantizer_modules"]


class _Group(nn.Module):
    """Holds the quantizers of an op that is not the one op of a leaf module
    (``blk.add.input_quantizer_0``): ``blk.add`` is this container."""

    def extra_repr(self) -> str:
        return "quantizers of one op"


@dataclass
class FusedParam:
    """The quantizers of one fused experts parameter (``gate_up_proj``): the input quantizer of
    the activation it multiplies and one weight quantizer per expert (``None``: not placed)."""

    param: nn.Parameter
    input: FakeQuantizer | None
    experts: list[FakeQuantizer | None]
    _cache: tuple[tuple[Any, ...], torch.Tensor] | None = None

    def _key(self) -> tuple[Any, ...] | None:
        """What the quantized parameter depends on, where it may be reused (inference on a
        parameter that is not finalized); ``None`` where it must be made again."""
        p = self.param
        if p.numel() == 0 or (torch.is_grad_enabled() and p.requires_grad):
            return None
        key: list[Any] = [p._version, p.data.data_ptr()]
        for q in self.experts:
            if q is None:
                key.append(None)
                continue
            if q.observer_enabled or "packed" in q.__dict__:
                return None
            key.append((q.enabled, q.fake_quant_enabled, id(q.spec), id(q.scale), id(q.zero_point)))
        return tuple(key)

    def quantized(self) -> torch.Tensor:
        """The 3-D parameter with each expert's matrix through its own quantizer (per-expert
        scales; an expert's axes index its own matrix). Reused between forwards while nothing
        it depends on changes (a weight quantizer's cache, for the whole parameter); a
        finalized parameter is dequantized per call, never kept dense."""
        p = self.param
        if not any(q is not None for q in self.experts):
            return p
        if p.numel() == 0:  # finalized: every expert's quantizer returns its packed matrix
            return torch.stack([q(p) for q in self.experts if q is not None])
        key = self._key()
        if key is not None and self._cache is not None and self._cache[0] == key:
            return self._cache[1]
        out = torch.stack([q(p[i]) if q is not None else p[i] for i, q in enumerate(self.experts)])
        key = self._key()  # the first call computes static scales: key them as they are now
        self._cache = (key, out.detach()) if key is not None else None
        return out


@dataclass
class _Inv:
    name: str
    ops: OpCounter = field(init=False)
    activates: bool = False
    """this invocation switched the function mode on (see ``_Runner.pre_hook``)"""
    weights: dict[int, torch.Tensor] = field(default_factory=dict)
    """a fused experts call: each fused parameter's quantized form, made once per call"""
    pending: dict[int, tuple[FakeQuantizer, list[torch.Tensor]]] = field(default_factory=dict)
    """a fused experts call while calibrating: the activations each input quantizer is to
    observe, all at once when the call ends (a per-expert loop then observes what one
    ``grouped_mm`` call does, so a moving average takes one step per call either way)"""
    derived: dict[int, tuple[str, torch.Tensor]] = field(default_factory=dict)
    """a fused experts call: tensors computed from a quantized fused parameter (a slice, its
    transpose, a gather), by id, with the parameter's name (the tensor is kept alive)"""
    multiplied: set[str] = field(default_factory=set)
    """a fused experts call: the parameters whose activation reached its input quantizer"""

    def __post_init__(self) -> None:
        self.ops = OpCounter(self.name)


@dataclass
class EagerState:
    """What ``prepare`` installed, to run and to undo."""

    by_op: dict[str, dict[tuple[str, Key], FakeQuantizer]]
    by_module: dict[str, dict[tuple[str, Key], FakeQuantizer]]
    by_param: dict[int, FakeQuantizer]
    quantizers: dict[str, FakeQuantizer]
    """every quantizer by quantizer path (aliases included)"""
    registry: OpRegistry
    handles: list[Any] = field(default_factory=list)
    registered: list[tuple[nn.Module, str]] = field(default_factory=list)
    original_forward: Any = None
    module_names: dict[int, str] = field(default_factory=dict)
    param_names: dict[int, str] = field(default_factory=dict)
    signatures: dict[type, list[str]] = field(default_factory=dict)
    fused: dict[str, dict[str, FusedParam]] = field(default_factory=dict)
    """fused experts modules by name: their parameters' quantizers (``docs/moe.md``)"""
    routed: dict[str, torch.Tensor] = field(default_factory=dict)
    """tokens routed to each expert of each fused experts module while counting is on
    (calibration): ``routed[module][i]``"""
    count_routing: bool = False
    all_experts: bool = False
    """calibration that runs every expert on every token (``calibration_mode(all_experts=True)``)"""
    runner: Any = None
    saved_plan: Any = None
    """a model loaded from a saved plan it trusts: what gives :attr:`plan` and :attr:`inventory`
    when first asked (:class:`qrt.runtime.finalize.load.SavedPlan`; the load itself needs neither)"""
    _inventory: Any = None
    _plan: Any = None

    @property
    def inventory(self) -> Any:
        """the inventory the plan was resolved on (set_quantizer_by_cfg resolves against it)"""
        if self._inventory is None and self.saved_plan is not None:
            self._inventory = self.saved_plan.get()[1]
        return self._inventory

    @inventory.setter
    def inventory(self, value: Any) -> None:
        self._inventory = value

    @property
    def plan(self) -> Any:
        """the plan the quantizers were placed from (saving a quantized model records it)"""
        if self._plan is None and self.saved_plan is not None:
            self._plan = self.saved_plan.get()[0]
        return self._plan

    @plan.setter
    def plan(self, value: Any) -> None:
        self._plan = value


# ---------------------------------------------------------------------------------------------
# Placing quantizers


def _parent_and_attr(model: nn.Module, path: str) -> tuple[nn.Module, str, list[str]]:
    """The module a quantizer path hangs from, its attribute name, and containers to create."""
    parts = path.split(".")
    attr = parts[-1]
    owner_parts = parts[:-1]
    for cut in range(len(owner_parts), -1, -1):
        name = ".".join(owner_parts[:cut])
        try:
            module = model.get_submodule(name) if name else model
        except AttributeError:
            continue
        return module, attr, owner_parts[cut:]
    return model, attr, owner_parts  # pragma: no cover


_MISSING = object()


def _register(state: EagerState, model: nn.Module, path: str, quantizer: FakeQuantizer) -> None:
    module, attr, containers = _parent_and_attr(model, path)
    for name in containers:
        existing = getattr(module, name, None)
        if isinstance(existing, _Group):
            module = existing
            continue
        if hasattr(module, name):
            raise PrepareError(
                f"cannot place the quantizer {path!r}: {type(module).__name__} already has an "
                f"attribute {name!r}",
                hint="rename the attribute, or turn this site off in the config",
            )
        group = _Group()
        module.add_module(name, group)
        state.registered.append((module, name))
        module = group
    existing = getattr(module, attr, _MISSING)  # one lookup: a missing attribute raises inside nn.Module
    if existing is not _MISSING and existing is not quantizer:
        raise PrepareError(
            f"cannot place the quantizer {path!r}: {type(module).__name__} already has an attribute "
            f"{attr!r} (was the model prepared before?)",
            hint="prepare a model once; use a fresh copy of the float model to prepare again",
        )
    if existing is _MISSING:
        module.add_module(attr, quantizer)
        state.registered.append((module, attr))


def quantizer_modules(model: nn.Module) -> dict[str, FakeQuantizer]:
    """Every quantizer of a prepared model by its quantizer path (the first path of a shared one)."""
    out: dict[str, FakeQuantizer] = {}
    for name, module in model.named_modules(remove_duplicate=False):
        if isinstance(module, FakeQuantizer) and module.path == name:
            out[name] = module
    return out


# ---------------------------------------------------------------------------------------------
# Running


def _forward_positional(state: EagerState, module: nn.Module) -> list[str]:
    cls = type(module)
    names = state.signatures.get(cls)
    if names is None:
        import inspect

        try:
            params = list(inspect.signature(cls.forward).parameters.values())[1:]
            names = [p.name for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
        except (TypeError, ValueError):
            names = []
        state.signatures[cls] = names
    return names


def _sdpa_math(
    p_quantizer: FakeQuantizer,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attn_mask: torch.Tensor | None = None,
    dropout_p: float = 0.0,
    is_causal: bool = False,
    scale: float | None = None,
    enable_gqa: bool = False,
) -> torch.Tensor:
    """``scaled_dot_product_attention`` written out (torch's documented math form), with the
    probabilities quantized before they meet ``value`` (docs/semantics.md §4, key ``p``)."""
    import math

    length, source = query.size(-2), key.size(-2)
    factor = 1 / math.sqrt(query.size(-1)) if scale is None else scale
    bias = torch.zeros(length, source, dtype=query.dtype, device=query.device)
    if is_causal:
        keep = torch.ones(length, source, dtype=torch.bool, device=query.device).tril(diagonal=0)
        bias = bias.masked_fill(~keep, float("-inf"))
    if attn_mask is not None:
        bias = bias.masked_fill(~attn_mask, float("-inf")) if attn_mask.dtype == torch.bool else bias + attn_mask
    if enable_gqa:
        key = key.repeat_interleave(query.size(-3) // key.size(-3), -3)
        value = value.repeat_interleave(query.size(-3) // value.size(-3), -3)
    weights = torch.softmax(query @ key.transpose(-2, -1) * factor + bias, dim=-1)
    if dropout_p > 0.0:
        weights = torch.dropout(weights, dropout_p, train=True)
    return p_quantizer(weights) @ value


class _Runner(TorchFunctionMode):
    """Names ops like the trace and applies the op-level quantizers."""

    def __init__(self, state: EagerState, model: nn.Module) -> None:
        super().__init__()
        self.state = state
        self.model = model
        self.stack: list[_Inv] = []
        self.paused = 0
        self.active_modules: set[str] = set()
        """modules whose own ops have quantizers: the mode runs only inside their calls"""
        self.global_mode = False
        self.depth = 0

    def __torch_function__(self, func, types, args=(), kwargs=None):  # type: ignore[override]
        kwargs = kwargs or {}
        if self.paused:
            return func(*args, **kwargs)
        op_type = op_type_of(func)
        if op_type is None:
            return func(*args, **kwargs)
        inv = self._invocation()
        fused = self.state.fused.get(inv.name)
        if fused is not None:
            self.paused += 1
            try:
                return self._fused_op(inv, fused, func, op_type, args, kwargs)
            finally:
                self.paused -= 1
        # the op's name is only known once we know it is an op (it returns tensors); the
        # counter is advanced after the call, but the name it will get is known now
        candidate = inv.ops.peek(op_type)
        quantizers = self.state.by_op.get(candidate)
        if quantizers:
            self.paused += 1
            try:
                args, kwargs = self._quantize_args(candidate, op_type, args, kwargs, quantizers)
            finally:
                self.paused -= 1
        if quantizers and ("output", "p") in quantizers and op_type == "scaled_dot_product_attention":
            self.paused += 1
            try:  # the probabilities are quantized: run the attention in its math form
                out = _sdpa_math(quantizers[("output", "p")], *args, **kwargs)
            finally:
                self.paused -= 1
        else:
            out = func(*args, **kwargs)
        if not output_tensors(out) or returned_input(func, args, out):
            return out  # not an op (op_naming): not counted
        inv.ops.take(op_type)
        if quantizers:
            self.paused += 1
            try:
                out = self._quantize_outputs(out, quantizers)
            finally:
                self.paused -= 1
        return out

    def _fused_op(self, inv: _Inv, fused: dict[str, FusedParam], func: Any, op_type: str,
                  args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        """An op inside a fused experts module's own forward, whichever implementation runs:
        a fused parameter read by it is replaced by its per-expert quantized form (so a slice
        ``gate_up_proj[i]``, a transpose for ``grouped_mm`` or a gather for ``bmm`` are taken of
        the quantized matrices), and where a product multiplies such a tensor, its other
        operand — the activation — goes through the parameter's input quantizer."""
        by_id = {id(f.param): name for name, f in fused.items()}
        reads: str | None = None

        def swap(value: Any) -> Any:
            nonlocal reads
            if isinstance(value, torch.Tensor):
                name = by_id.get(id(value))
                if name is not None:
                    reads = name
                    w = inv.weights.get(id(value))
                    if w is None:
                        w = inv.weights[id(value)] = fused[name].quantized()
                    return w
                found = inv.derived.get(id(value))
                if found is not None and found[1] is value:
                    reads = found[0]
            return value

        args = tuple(swap(a) for a in args)
        kwargs = {k: swap(v) for k, v in kwargs.items()}
        if reads is not None and op_type in MATMUL_OPS and fused[reads].input is not None:
            quantizer = fused[reads].input
            operands: list[tuple[int | str, Any]] = [*enumerate(args), *kwargs.items()]
            for slot, a in operands:  # the first floating operand not made of the weights
                if (isinstance(a, torch.Tensor) and a.is_floating_point()
                        and id(a) not in inv.derived and all(a is not w for w in inv.weights.values())):
                    inv.multiplied.add(reads)
                    if quantizer.enabled and quantizer.observer_enabled and not quantizer.fake_quant_enabled:
                        inv.pending.setdefault(id(quantizer), (quantizer, []))[1].append(a.detach())
                    elif isinstance(slot, int):
                        args = (*args[:slot], quantizer(a), *args[slot + 1:])
                    else:
                        kwargs = {**kwargs, slot: quantizer(a)}
                    break
        out = func(*args, **kwargs)
        if reads is not None and op_type not in MATMUL_OPS:
            for _, t in output_tensors(out):
                inv.derived[id(t)] = (reads, t)
        return out

    def _invocation(self) -> _Inv:
        if not self.stack:
            self.stack.append(_Inv(""))
        return self.stack[-1]

    def _slot_quantizer(self, quantizers, slot: Key, arg: torch.Tensor, op_type: str, module: str) -> FakeQuantizer | None:
        param = self.state.by_param.get(id(arg))
        if param is not None:  # a module_state quantizer: wherever an op reads the parameter
            return param
        entry = self.state.registry.get(op_type)
        if entry is None:
            return None
        role = slot_role(entry, slot, param=self.state.param_names.get(id(arg)), module=module)
        return quantizers.get(role) if role is not None else None

    def _quantize_args(self, name, op_type, args, kwargs, quantizers):
        module = self._invocation().name
        new_args = map_positional(args, lambda pos, arg: self._one(quantizers, pos, arg, op_type, module))
        new_kwargs = {k: self._one(quantizers, k, v, op_type, module) for k, v in kwargs.items()}
        return tuple(new_args), new_kwargs

    def _one(self, quantizers, slot, arg, op_type, module):
        if not isinstance(arg, torch.Tensor) or not arg.is_floating_point():
            return arg
        q = self._slot_quantizer(quantizers, slot, arg, op_type, module)
        return q(arg) if q is not None else arg

    def _quantize_outputs(self, out, quantizers):
        if isinstance(out, torch.Tensor):
            q = quantizers.get(("output", 0))
            return q(out) if q is not None else out
        if isinstance(out, tuple) and not hasattr(out, "_fields"):
            return tuple(
                quantizers[("output", i)](t) if isinstance(t, torch.Tensor) and ("output", i) in quantizers else t
                for i, t in enumerate(out)
            )
        return out

    # -- module hooks ------------------------------------------------------------------------
    def pre_hook(self, module: nn.Module, args, kwargs):
        name = self.state.module_names.get(id(module))
        if name is None:
            return None
        if module is self.model:  # a new forward: fresh invocations
            while self.depth:  # a forward that raised left the mode on: switch it off
                self.depth -= 1
                if self.depth == 0:
                    self.__exit__(None, None, None)
            self.stack.clear()
        inv = _Inv(name)
        self.stack.append(inv)
        if self.state.count_routing and name in self.state.fused:
            self._count(name, args, kwargs)
        if not self.global_mode and name in self.active_modules:
            # the op names inside depend only on this invocation's own counters (and whether
            # a call returned its input, which needs no memory of earlier tensors), so the
            # mode is needed from here to the end of this call
            inv.activates = True
            if self.depth == 0:
                self.__enter__()
            self.depth += 1
        if self.state.all_experts and name in self.state.fused:
            self._all_experts(module, name, args, kwargs)
        quantizers = self.state.by_module.get(name)
        if not quantizers:
            return None
        self.paused += 1
        try:
            positional = _forward_positional(self.state, module)
            new_args = []
            for i, a in enumerate(args):
                q = quantizers.get(("module_input", i))
                new_args.append(q(a) if q is not None and isinstance(a, torch.Tensor) else a)
            new_kwargs = {}
            for k, v in kwargs.items():
                key: Key = positional.index(k) if k in positional else k
                q = quantizers.get(("module_input", key))
                new_kwargs[k] = q(v) if q is not None and isinstance(v, torch.Tensor) else v
            return tuple(new_args), new_kwargs
        finally:
            self.paused -= 1

    def _all_experts(self, module: nn.Module, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        """Calibration on every expert: run this experts module's forward once more with every
        token routed to every expert (equal weights), for the observers only — its output is
        dropped, and the call the model makes next runs with the model's own routing."""
        hidden = args[0] if args else kwargs.get("hidden_states")
        if not isinstance(hidden, torch.Tensor) or hidden.dim() != 2:
            raise PrepareError(
                f"calibrating every expert of {name!r}: its forward takes no (tokens, hidden) hidden_states",
                hint="calibrate without all_experts (--calib-all-experts) for this model",
            )
        experts = len(next(iter(self.state.fused[name].values())).experts)
        tokens = hidden.shape[0]
        index = torch.arange(experts, device=hidden.device).expand(tokens, experts).contiguous()
        weights = torch.full((tokens, experts), 1.0 / experts, dtype=hidden.dtype, device=hidden.device)
        with torch.no_grad():
            type(module).forward(module, hidden, index, weights)

    @staticmethod
    def _check_multiplied(name: str, fused: dict[str, FusedParam], inv: _Inv) -> None:
        """An experts implementation that read a fused parameter but multiplied it with an op
        qrt does not recognise as a product (an ``einsum``) would leave the activation
        unquantized without a word: refuse instead."""
        read = {n for n, f in fused.items() if id(f.param) in inv.weights}
        missed = sorted(n for n in read - inv.multiplied
                        if fused[n].input is not None and fused[n].input.enabled)  # type: ignore[union-attr]
        if missed:
            raise PrepareError(
                f"{name}: its experts forward multiplies {', '.join(missed)} by an op qrt does not "
                f"recognise as a product (one of {', '.join(sorted(MATMUL_OPS))}), so the activation's "
                "input quantizer was never applied",
                hint="run the model with another experts implementation (config._experts_implementation = "
                "'grouped_mm', 'batched_mm' or 'eager'), or turn the experts' input quantizers off",
            )

    def _count(self, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        """Tokens routed to each expert in this call (``top_k_index``: one row per token, one
        column per chosen expert), added to :attr:`EagerState.routed`."""
        index = kwargs.get("top_k_index")
        if index is None:
            index = next((a for a in args if isinstance(a, torch.Tensor) and not a.is_floating_point()), None)
        if not isinstance(index, torch.Tensor):
            return
        experts = len(next(iter(self.state.fused[name].values())).experts)
        ids = index.reshape(-1).long()
        counts = torch.bincount(ids[(ids >= 0) & (ids < experts)], minlength=experts).cpu()
        seen = self.state.routed.get(name)
        self.state.routed[name] = counts if seen is None else seen + counts

    def post_hook(self, module: nn.Module, args, kwargs, output):
        name = self.state.module_names.get(id(module))
        if name is None:
            return None
        if self.stack and self.stack[-1].name == name:
            inv = self.stack.pop()
            try:
                fused = self.state.fused.get(name)
                if fused is not None and inv.weights:
                    self._check_multiplied(name, fused, inv)
                if inv.pending:
                    self.paused += 1
                    try:
                        for quantizer, seen in inv.pending.values():
                            quantizer(torch.cat(seen) if len(seen) > 1 else seen[0])
                    finally:
                        self.paused -= 1
            finally:
                # the mode this call switched on goes off whatever happened: a mode left on
                # (a forward or a check that raised, in a model never run again) would see
                # every op of the process from then on, and keep weak references to its tensors
                if inv.activates:
                    self.depth -= 1
                    if self.depth == 0:
                        self.__exit__(None, None, None)
        if module is self.model and self.depth:  # the forward raised inside an active call
            self.depth = 0
            self.__exit__(None, None, None)
        quantizers = self.state.by_module.get(name)
        if not quantizers:
            return None
        self.paused += 1
        try:
            if isinstance(output, torch.Tensor):
                q = quantizers.get(("module_output", 0))
                return q(output) if q is not None else output
            if isinstance(output, tuple) and not hasattr(output, "_fields"):
                return tuple(
                    quantizers[("module_output", i)](t)
                    if isinstance(t, torch.Tensor) and ("module_output", i) in quantizers else t
                    for i, t in enumerate(output)
                )
            return output
        finally:
            self.paused -= 1


def install(model: nn.Module, sites: list[tuple[Site, FakeQuantizer]], registry: OpRegistry | None = None) -> EagerState:
    """Register quantizers under their paths and hook the model; undone on any failure."""
    state = EagerState({}, {}, {}, {}, registry or default_registry)
    # one walk of the model for every table below (each walk costs a millisecond on a 1B-shaped
    # model): the first name of each module and tensor — a shared one is first met where the
    # deduplicating walks (named_modules(), named_parameters()) name it —, and every tensor name
    walk = list(model.named_modules(remove_duplicate=False))
    members = [(f"{n}.{k}" if n else k, t) for group in ("_parameters", "_buffers")
               for n, m in walk for k, t in getattr(m, group).items() if t is not None]
    for n, m in walk:
        state.module_names.setdefault(id(m), n)
    for n, p in members:
        state.param_names.setdefault(id(p), n)
    params = dict(members)
    try:
        for site, q in sites:
            for path in (site.quantizer_path, *site.aliases):
                _register(state, model, path, q)
                state.quantizers[path] = q
            if site.fused is not None:
                _place_fused(state, model, site, q)
                continue
            if site.role == "module_state" or (site.role == "state" and site.tensor.startswith("param:")):
                tensor = params.get(site.tensor[len("param:"):]) if site.tensor.startswith("param:") else None
                if site.role == "module_state" and tensor is not None:
                    state.by_param.setdefault(id(tensor), q)
                    continue
            if site.role in ("module_input", "module_output"):
                state.by_module.setdefault(site.module, {})[(site.role, site.key)] = q
            elif site.op_name is not None:
                state.by_op.setdefault(site.op_name, {})[(site.role, site.key)] = q
        runner = _Runner(state, model)
        runner.active_modules = {site.module for site, _ in sites if site.op_name is not None}
        runner.active_modules |= set(state.fused)
        runner.global_mode = "" in runner.active_modules
        state.runner = runner
        hooked: set[int] = set()
        for _, m in walk:  # every module once (model.modules()); the quantizers placed above need none
            if id(m) in hooked or isinstance(m, (FakeQuantizer, _Group)):
                continue
            hooked.add(id(m))
            state.handles.append(m.register_forward_pre_hook(runner.pre_hook, with_kwargs=True))
            state.handles.append(m.register_forward_hook(runner.post_hook, with_kwargs=True, always_call=True))
        original = model.forward
        state.original_forward = original

        def forward(*args: Any, **kwargs: Any) -> Any:
            if not runner.global_mode:
                return original(*args, **kwargs)
            with runner:
                return original(*args, **kwargs)

        model.forward = forward  # type: ignore[method-assign]
    except Exception:
        uninstall(model, state)
        raise
    model._qrt_eager = state  # type: ignore[attr-defined]
    return state


def _place_fused(state: EagerState, model: nn.Module, site: Site, q: FakeQuantizer) -> None:
    """File a fused experts site's quantizer under its module and parameter."""
    module = model.get_submodule(site.module) if site.module else model
    param = getattr(module, site.fused or "", None)
    experts = getattr(module, "num_experts", None)  # not the layout test: a loaded model's may be freed
    if not isinstance(param, torch.Tensor) or not isinstance(experts, int) or not 0 <= (site.expert or 0) < experts:
        raise PrepareError(
            f"{site.quantizer_path}: {site.module!r} has no fused experts parameter {site.fused!r}",
            hint="the plan was made for another model; resolve the config on this model",
        )
    entry = state.fused.setdefault(site.module, {}).setdefault(
        site.fused or "", FusedParam(param, None, [None] * experts))
    if site.expert is None:
        entry.input = q
    else:
        entry.experts[site.expert] = q


def uninstall(model: nn.Module, state: EagerState) -> None:
    """Remove what :func:`install` added (hooks, quantizer modules, the forward wrapper)."""
    for h in state.handles:
        h.remove()
    for module, name in reversed(state.registered):
        if name in module._modules:
            del module._modules[name]
    if state.original_forward is not None and "forward" in vars(model):
        del model.forward
    if hasattr(model, "_qrt_eager"):
        del model._qrt_eager

