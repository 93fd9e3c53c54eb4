"""The import graph of ``qrt/``, computed from the code, and what breaks the layer rule.

``docs/architecture.md`` states the rule: imports run down a fixed layer order, and no module
imports itself back through others, not even through an import made inside a function (a lazy
import hides a circle from Python, not from a reader). ``tests/test_import_graph.py`` holds the
code to it; this module is the one computation both use.

    python scripts/import_graph.py            # every circle and every upward arrow, or "clean"

Each ``import`` and ``from … import`` of every ``qrt/**/*.py`` is read with ``ast``, relative
imports resolved against the module's package; ``from pkg import name`` counts as an import of
``pkg.name`` when that is a module, else of ``pkg``. Imports under ``if TYPE_CHECKING:`` are left
out (they never run). A package's ``__init__`` counts as a module of its own.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# The layer of every part of qrt, bottom to top: a module may import its own layer's modules
# (within the rules below) and any lower layer's. Longest prefix wins.
LAYERS: dict[str, int] = {
    "qrt._version": 0,
    "qrt._faces": 0,
    "qrt.diagnostics": 0,
    "qrt.errors": 0,
    "qrt.files": 0,
    "qrt.resources": 0,
    "qrt.sealed_json": 0,
    "qrt.ir": 1,
    "qrt.ops": 1,
    "qrt.formats": 1,
    "qrt.inventory": 2,
    "qrt.resolver": 3,
    "qrt.frontends": 4,
    "qrt.model_spec": 5,
    "qrt.tools": 6,
    "qrt.lint": 6,
    "qrt.runtime": 7,
    "qrt.api": 8,
    "qrt.model_inventory": 8,
    "qrt.cli": 8,
    "qrt": 8,
}

# Within the front ends' layer: the shared helpers first, then the styles in this order; a
# front end may import those before it, never after. ``qrt.frontends`` itself (the package
# and ``source.py``, the one door) comes last.
FRONTEND_ORDER: list[str] = [
    "qrt.frontends.rules_cache",
    "qrt.frontends.yaml_load",
    "qrt.frontends.marks",
    "qrt.frontends.rule_source",
    "qrt.frontends.dsl",
    "qrt.frontends.hierarchical",
    "qrt.frontends.wildcard",
    "qrt.frontends.compressed_tensors",
    "qrt.frontends.torchao",
    "qrt.frontends.checkpoint",
]

# Same-layer packages that may use each other one way only: (importer, imported).
SIDEWAYS_ALLOWED: set[tuple[str, str]] = {
    ("qrt.lint", "qrt.tools"),
    ("qrt.formats", "qrt.ir"),  # a format reads the specs it encodes
    ("qrt.formats", "qrt.ops"),
}


@dataclass(frozen=True)
class Import:
    importer: str
    imported: str
    line: int
    lazy: bool
    """made inside a function (runs on first call, not at import time)"""


def module_name(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted((ROOT / "qrt").rglob("*.py"))}


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _walk(node: ast.AST, lazy: bool) -> Iterator[tuple[ast.AST, bool]]:
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.If) and _is_type_checking(child.test):
            for sub in child.orelse:
                yield sub, lazy
                yield from _walk(sub, lazy)
            continue
        inner = lazy or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
        yield child, inner
        yield from _walk(child, inner)


def imports(known: dict[str, Path] | None = None) -> list[Import]:
    """Every import between qrt's own modules."""
    known = modules() if known is None else known
    out: list[Import] = []
    for name, path in known.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node, lazy in _walk(tree, False):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base_parts = package.split(".")
                    base_parts = base_parts[: len(base_parts) - (node.level - 1)]
                    base = ".".join(base_parts + ([node.module] if node.module else []))
                else:
                    base = node.module or ""
                for alias in node.names:
                    full = f"{base}.{alias.name}"
                    targets.append(full if full in known else base)
            for target in targets:
                while target and target not in known:
                    target = target.rpartition(".")[0]
                if target and target.startswith("qrt") and target != name:
                    out.append(Import(name, target, getattr(node, "lineno", 0), lazy))
    return out


def _prefix_value(name: str, table: dict[str, int]) -> int:
    best = ""
    for prefix in table:
        if (name == prefix or name.startswith(prefix + ".")) and len(prefix) > len(best):
            best = prefix
    return table[best]


def layer(name: str) -> int:
    return _prefix_value(name, LAYERS)


def _frontend_rank(name: str) -> int:
    ranks = {prefix: i for i, prefix in enumerate(FRONTEND_ORDER)}
    ranks["qrt.frontends"] = len(FRONTEND_ORDER)
    return _prefix_value(name, ranks)


def _package(name: str) -> str:
    """The part of qrt a module belongs to, for the sideways rule: ``qrt.tools.convert`` →
    ``qrt.tools``."""
    parts = name.split(".")
    return ".".join(parts[:2]) if len(parts) > 1 else name


def upward(edges: list[Import]) -> list[Import]:
    """Imports against the layer order (or between front ends against their order, or
    sideways between packages of one layer without leave)."""
    bad = []
    for edge in edges:
        a, b = edge.importer, edge.imported
        la, lb = layer(a), layer(b)
        if lb > la:
            bad.append(edge)
        elif lb == la == LAYERS["qrt.frontends"]:
            if _frontend_rank(b) > _frontend_rank(a):
                bad.append(edge)
        elif lb == la and la not in (0, 8) and _package(a) != _package(b):
            if (_package(a), _package(b)) not in SIDEWAYS_ALLOWED:
                bad.append(edge)
    return bad


def circles(edges: list[Import]) -> list[list[str]]:
    """The strongly connected groups of more than one module (Tarjan), each sorted."""
    graph: dict[str, set[str]] = {}
    for edge in edges:
        graph.setdefault(edge.importer, set()).add(edge.imported)
        graph.setdefault(edge.imported, set())
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []
    counter = 0

    def visit(root: str) -> None:
        nonlocal counter
        work: list[tuple[str, Iterator[str]]] = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            advanced = False
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                    advanced = True
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            if advanced:
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                group = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    group.append(member)
                    if member == node:
                        break
                if len(group) > 1:
                    groups.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(groups)


def main() -> int:
    edges = imports()
    found = False
    for group in circles(edges):
        found = True
        inside = [e for e in edges if e.importer in group and e.imported in group]
        print("circle: " + ", ".join(group))
        for e in inside:
            print(f"    {e.importer} -> {e.imported} (line {e.line}{', lazy' if e.lazy else ''})")
    for e in upward(edges):
        found = True
        print(f"upward: {e.importer} -> {e.imported} (line {e.line}{', lazy' if e.lazy else ''})")
    if not found:
        print("clean: no circle, no import against the layer order")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
