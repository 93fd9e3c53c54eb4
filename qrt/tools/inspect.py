"""``qrt inspect`` as text: the module tree with its ops and tensor sites.

Modules nest by the call stack; inside a module, ops and child modules appear in execution
order. Each site line shows role[key], shape, dtype and the quantizer path a rule can name.
A ``--filter`` glob keeps sites whose quantizer path, op name or module name matches, and
the modules on the way to them.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Sequence
from dataclasses import dataclass, field

from qrt.inventory.model import Inventory, ModuleInfo, OpRecord
from qrt.ir.site import Site
from qrt.tools.style import Style

__all__ = ["render_inventory_text", "matches_any"]


@dataclass
class _Node:
    module: ModuleInfo
    children: list[_Node] = field(default_factory=list)
    ops: list[OpRecord] = field(default_factory=list)
    boundary: list[Site] = field(default_factory=list)
    state: list[Site] = field(default_factory=list)
    first: float = float("inf")


def _fmt_shape(shape: Sequence[int] | None) -> str:
    return str(tuple(shape)) if shape is not None else "?"


def matches_any(patterns: Sequence[str], *names: str | None) -> bool:
    return any(n is not None and fnmatch.fnmatchcase(n, p) for p in patterns for n in names)


def render_inventory_text(
    inv: Inventory, *, style: Style | None = None, filters: Sequence[str] = (), show_all_ops: bool = True
) -> str:
    st = style or Style(False)
    sites_by_op: dict[str, list[Site]] = {}
    nodes: dict[str, _Node] = {m.name: _Node(m) for m in inv.modules}
    for s in inv.sites:
        if filters and not matches_any(filters, s.quantizer_path, s.op_name, s.module, *s.aliases):
            continue
        if s.op_name is not None:
            sites_by_op.setdefault(s.op_name, []).append(s)
        elif s.role == "module_state":
            if "." not in str(s.key):  # own state; nested state shows under its owner
                nodes[s.module].state.append(s)
        else:
            nodes[s.module].boundary.append(s)

    op_index = {op.name: i for i, op in enumerate(inv.ops)}
    kept_ops = [
        (i, op)
        for i, op in enumerate(inv.ops)
        if (op.name in sites_by_op or (not filters and show_all_ops))
        or (filters and matches_any(filters, op.name))
    ]
    for i, op in kept_ops:
        node = nodes.get(op.module)
        if node is not None:
            node.ops.append(op)
            node.first = min(node.first, i)
    # parents by call scope (first call), falling back to the name hierarchy
    root = nodes.get("")
    for m in inv.modules:
        if m.name == "":
            continue
        parent = m.scope[-2] if len(m.scope) >= 2 else m.name.rpartition(".")[0]
        while parent not in nodes and parent:
            parent = parent.rpartition(".")[0]
        nodes[parent].children.append(nodes[m.name])

    def settle(node: _Node) -> bool:
        keep = [c for c in node.children if settle(c)]
        node.children = keep
        for c in keep:
            node.first = min(node.first, c.first)
        if not filters:
            return node.module.called > 0
        return bool(
            keep or node.ops or node.boundary or node.state or matches_any(filters, node.module.name)
        )

    if root is None:
        return ""
    settle(root)
    lines: list[str] = []

    def site_line(s: Site, indent: str) -> str:
        key = f"{s.role}[{s.key}]" + (f" ({s.arg_name})" if s.arg_name and s.arg_name != s.key else "")
        alias = st.dim("  aka " + ", ".join(s.aliases)) if s.aliases else ""
        return (
            f"{indent}{st.yellow(key.ljust(24))} {_fmt_shape(s.shape):<18} {s.dtype or '?':<9} "
            f"{st.cyan(s.quantizer_path)}{alias}"
        )

    def walk(node: _Node, indent: str) -> None:
        m = node.module
        label = m.name or "<root>"
        calls = f"  ×{m.called}" if m.called > 1 else ""
        lines.append(f"{indent}{st.bold(label)}  {st.dim(m.type)}{calls}")
        inner = indent + "  "
        for s in node.boundary:
            if s.role == "module_input":
                lines.append(site_line(s, inner))
        for s in node.state:
            lines.append(site_line(s, inner))
        items: list[tuple[float, object]] = [(op_index[o.name], o) for o in node.ops]
        items += [(c.first, c) for c in node.children]
        items.sort(key=lambda kv: kv[0])
        for _, item in items:
            if isinstance(item, _Node):
                walk(item, inner)
                continue
            assert isinstance(item, OpRecord)
            op_sites = sites_by_op.get(item.name, [])
            tag = st.green(item.op_type) if item.registered else st.dim(item.op_type)
            lines.append(f"{inner}op {st.magenta(item.name)}  {tag}")
            for s in op_sites:
                lines.append(site_line(s, inner + "    "))

        for s in node.boundary:
            if s.role == "module_output":
                lines.append(site_line(s, inner))

    walk(root, "")
    summary = inv.summary()
    lines.append("")
    lines.append(
        st.dim(
            f"{summary['modules']} modules, {summary['ops']} ops "
            f"({summary['registered_ops']} quantizable), {summary['sites']} sites"
        )
    )
    return "\n".join(lines) + "\n"
