"""Turn what a trace recorded into an :class:`Inventory`: quantizer paths and attention names.

Kept apart from tracing (and free of torch) because both the eager and the graph runtime
record the same raw facts, and quantizer paths must come out the same from either.

Quantizer paths (docs/semantics.md §1): the one registered op a *leaf* module runs is named after the
module, as a module-swapping runtime names it (``q_proj.input_quantizer``,
``q_proj.weight_quantizer``, ``q_proj.output_quantizer``); every other op after itself
(``blk.add.input_quantizer_0``, ``norm.mul_1.weight_quantizer``). Module-level sites are
``<module>.module_input_quantizer_<key>``, ``.module_output_quantizer_<key>`` and
``.module_state_quantizer_<key>``, so every site has a path of its own.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from qrt.errors import TraceError
from qrt.inventory.attention import attention_aliases
from qrt.inventory.model import Inventory, ModuleInfo, OpRecord, TensorInfo
from qrt.inventory.modelopt import modelopt_class, modelopt_name
from qrt.ir.site import Key, Role, ScopeEntry, Site

__all__ = ["RawSite", "assemble", "quantizer_path", "with_modelopt_names"]


@dataclass(frozen=True, slots=True)
class RawSite:
    scope: tuple[ScopeEntry, ...]
    role: Role
    key: Key
    op_type: str | None
    op_name: str | None
    tensor: str
    shape: tuple[int, ...] | None
    dtype: str | None
    arg_name: str | None
    source: str | None
    fused: str | None = None
    """a fused experts module's parameter (:attr:`qrt.ir.site.Site.fused`)"""
    expert: int | None = None


def _suffix(key: Key) -> str:
    return str(key).replace(".", "_")


def quantizer_path(raw: RawSite, wrapped_by: str | None) -> str:
    """The quantizer path of a site; ``wrapped_by`` is the leaf module the op is named after.
    A fused experts module's sites are named as ModelOpt 0.47 names its quantizers there:
    ``<m>.gate_up_proj_input_quantizer`` and ``<m>.gate_up_proj_weight_quantizers.<expert>``."""
    if raw.fused is not None:
        module = raw.scope[-1][0] if raw.scope else ""
        prefix = f"{module}." if module else ""
        if raw.expert is not None:
            return f"{prefix}{raw.fused}_weight_quantizers.{raw.expert}"
        return f"{prefix}{raw.fused}_input_quantizer"
    if raw.op_name is None:
        module = raw.scope[-1][0] if raw.scope else ""
        prefix = f"{module}." if module else ""
        kind = {"module_input": "module_input", "module_output": "module_output"}.get(
            raw.role, "module_state"
        )
        return f"{prefix}{kind}_quantizer_{_suffix(raw.key)}"
    if wrapped_by is not None:
        prefix = f"{wrapped_by}." if wrapped_by else ""
        if raw.role == "state":
            return f"{prefix}{_suffix(raw.key)}_quantizer"
        base = "input_quantizer" if raw.role == "input" else "output_quantizer"
        return f"{prefix}{base}" if raw.key == 0 else f"{prefix}{base}_{_suffix(raw.key)}"
    if raw.role == "state":
        return f"{raw.op_name}.{_suffix(raw.key)}_quantizer"
    base = "input_quantizer" if raw.role == "input" else "output_quantizer"
    return f"{raw.op_name}.{base}_{_suffix(raw.key)}"


def _wrapped_ops(modules: Sequence[ModuleInfo], raw_sites: Sequence[RawSite]) -> dict[str, str]:
    """op name → leaf module, for leaf modules whose forward runs exactly one op with sites."""
    leaves = {m.name for m in modules if m.leaf}
    per_module: dict[str, set[str]] = {}
    for raw in raw_sites:
        if raw.op_name is not None and raw.scope and raw.scope[-1][0] in leaves:
            per_module.setdefault(raw.scope[-1][0], set()).add(raw.op_name)
    return {next(iter(ops)): m for m, ops in per_module.items() if len(ops) == 1}


def with_modelopt_names(modules: Sequence[ModuleInfo], sites: Sequence[Site]) -> list[Site]:
    """``sites`` with :attr:`~qrt.ir.site.Site.modelopt_name` filled in from the module table:
    the one place the ModelOpt universe is attached, for traced and for loaded inventories."""
    owners = {m.name: m.forward_classes for m in modules}
    out = []
    for s in sites:
        forward = owners.get(s.module)
        name = modelopt_name(s, forward)
        if name is None and s.modelopt_name is None and s.modelopt_class is None:
            out.append(s)  # most sites: nothing to fill in, and replace() costs 30 µs a site
            continue
        cls = modelopt_class(s.module_type, forward) if name is not None else None
        out.append(replace(s, modelopt_name=name, modelopt_class=cls))
    return out


def assemble(
    *,
    modules: Sequence[ModuleInfo],
    ops: Sequence[OpRecord],
    tensor_meta: Mapping[str, tuple[tuple[int, ...], str]],
    producers: Mapping[str, str],
    readers: Mapping[str, tuple[str, ...]],
    raw_sites: Sequence[RawSite],
    model_info: dict[str, object],
) -> Inventory:
    wrapped = _wrapped_ops(modules, raw_sites)
    aliases = attention_aliases(ops, raw_sites)
    sites: list[Site] = []
    seen: dict[str, Site] = {}
    for raw in raw_sites:
        path = quantizer_path(raw, wrapped.get(raw.op_name) if raw.op_name else None)
        site = Site(
            quantizer_path=path,
            scope=raw.scope,
            role=raw.role,
            key=raw.key,
            op_type=raw.op_type,
            op_name=raw.op_name,
            tensor=raw.tensor,
            shape=raw.shape,
            dtype=raw.dtype,
            arg_name=raw.arg_name,
            source=raw.source,
            aliases=aliases.get((raw.op_name, raw.role, raw.key), ()),
            fused=raw.fused,
            expert=raw.expert,
        )
        if path in seen:  # would make plans ambiguous; a bug in naming, never user input
            raise TraceError(
                f"two sites got the quantizer path {path!r}: {seen[path].label} and {site.label}",
                hint="please report this model to qrt",
            )
        seen[path] = site
        sites.append(site)
    tensors = [
        TensorInfo(
            id=tid,
            shape=shape,
            dtype=dtype,
            producer=producers.get(tid),
            readers=tuple(readers.get(tid, ())),
        )
        for tid, (shape, dtype) in tensor_meta.items()
    ]
    return Inventory(
        modules=tuple(modules),
        ops=tuple(ops),
        tensors=tuple(tensors),
        sites=tuple(with_modelopt_names(modules, sites)),
        model=model_info,
    )
