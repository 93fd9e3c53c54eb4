"""Inventory templates: the inventory of a whole family of model sizes, learned from small
traces and proved on a real one, so that a new size of a model whose structure qrt has traced
before needs neither torch nor transformers (``docs/cache.md``).

A decoder stack's inventory is regular. Its rows (:func:`qrt.inventory.canonical.inventory_rows`)
repeat once per layer, the layer's index written into names (``model.layers.7.mlp``,
``…_layers_7_…``), and every shape is a product of the config's sizes (``hidden_size``,
``num_key_value_heads * head_dim``, ``head_dim / 2`` …). A template holds the rows with both
made symbolic:

* **layers**: in any tuple (a table, a tensor's readers), a run of items grouped by layer index
  0, 1, …, L-1 becomes a loop with three blocks: the first layer's, a middle one repeated, the
  last one's (they differ: the first reads the embeddings, the last feeds the final norm).
  Inside a block an index is relative to the block's layer (``+1``: the next layer reads it);
  outside, it is the first or the last layer;
* **sizes**: every integer is a constant, ``c · a · b / d`` over the varied config fields, or
  the sum of two such terms, found from its values at three probe sizes.

Learning is strict: anything the rules above do not explain exactly (a string naming a middle
layer from outside the stack, an integer no candidate gives at all three probes, probes whose
rows disagree beyond integers) gives no template. A learned template is then instantiated at a
fourth probe (another layer count) and at the real config the user asked for, and kept only
where both give the traced rows **exactly**. A template is only ever used for a config equal to
the proved one in everything but the varied sizes, in the same size regime
(:mod:`qrt.inventory.templates`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["Expr", "TemplateError", "Term", "evaluate", "instantiate", "learn", "stack_path"]


class TemplateError(ValueError):
    """The rows do not follow a template's rules: no template (the model is traced)."""


# Nodes (plain tuples, marshal-able):
#   ("L", value)               a value without layer index or size (None, bool, float, text)
#   ("S", parts)               text naming layers: parts alternate literal text and (kind, n),
#                              kind "r" relative to the block's layer, "a" the n-th layer from
#                              the first, "e" the n-th from the last
#   ("I", value)               an integer while learning; ("X", expr) once learned
#   ("T", items)               a tuple; an item is a node or ("LOOP", first, middle, last),
#                              each block a tuple of nodes
Node = tuple[Any, ...]


def stack_path(module_names: Sequence[str], layers: int) -> str:
    """The module list holding the ``layers`` decoder layers: the one parent whose children are
    named exactly ``0 … layers-1``. Two such lists (an encoder and a decoder) or none: no
    template."""
    children: dict[str, set[int]] = {}
    for name in module_names:
        parent, _, last = name.rpartition(".")
        if last.isdigit() and parent:
            children.setdefault(parent, set()).add(int(last))
    found = [p for p, idx in children.items() if idx == set(range(layers))]
    if len(found) != 1:
        raise TemplateError(f"{len(found)} module lists of {layers} layers")
    return found[0]


class _Indexer:
    """Finds layer indices in text: the list's last name, a dot or an underscore, the index —
    ``model.layers.7.mlp`` (names, tensor ids, scopes), ``layers.7.mlp.weight`` (a parameter
    named from its module's parent), ``…_layers_7_…`` (quantizer paths). A false match (another
    list of the same name) only makes a template that fails its proof."""

    def __init__(self, path: str) -> None:
        self.last = path.rpartition(".")[2]
        self.pattern = re.compile(rf"(?<![A-Za-z0-9]){re.escape(self.last)}[._](\d+)(?=[._:]|$)")

    def has(self, text: str) -> bool:
        return self.last in text

    def first(self, value: Any) -> int | None:
        """The first layer index anywhere in ``value`` (depth first), or ``None``."""
        if isinstance(value, str):
            if not self.has(value):
                return None
            m = self.pattern.search(value)
            return int(m.group(1)) if m else None
        if isinstance(value, tuple):
            for item in value:
                found = self.first(item)
                if found is not None:
                    return found
        return None


def _abstract(value: Any, bound: int | None, layers: int, ix: _Indexer) -> Node:
    if isinstance(value, str):
        return _abstract_text(value, bound, layers, ix)
    if isinstance(value, bool) or value is None or isinstance(value, float):
        return ("L", value)
    if isinstance(value, int):
        return ("I", value)
    if isinstance(value, tuple):
        return ("T", _abstract_items(value, bound, layers, ix))
    raise TemplateError(f"a {type(value).__name__} in the rows")


def _abstract_text(text: str, bound: int | None, layers: int, ix: _Indexer) -> Node:
    if not ix.has(text):
        return ("L", text)
    parts: list[Any] = []
    at = 0
    for m in ix.pattern.finditer(text):
        start = m.start(1)
        k = int(m.group(1))
        parts.append(text[at:start])
        if bound is not None:
            parts.append(("r", k - bound))
        elif k == 0:
            parts.append(("a", 0))
        elif k == layers - 1:
            parts.append(("e", 0))
        else:
            raise TemplateError(f"{text!r} names a middle layer outside the stack")
        at = m.end(1)
    if not parts:
        return ("L", text)
    parts.append(text[at:])
    return ("S", tuple(parts))


def _abstract_items(items: tuple[Any, ...], bound: int | None, layers: int, ix: _Indexer) -> tuple[Any, ...]:
    out: list[Any] = []
    # a loop runs over items of one kind (a table's rows, a tensor's readers); a record's fields
    # (text, numbers, tuples mixed) are never one: not searched, which keeps learning linear
    kind = items[0].__class__ if items else None
    uniform = kind in (str, tuple) and len(items) >= layers and all(x.__class__ is kind for x in items)
    firsts = [ix.first(item) for item in items] if uniform else [None] * len(items)
    i, n = 0, len(items)
    while i < n:
        if firsts[i] == 0:
            j, groups = i, []
            for layer in range(layers):
                start = j
                while j < n and firsts[j] == layer:
                    j += 1
                if j == start:
                    break
                groups.append(items[start:j])
            if len(groups) == layers:
                first, middle, last = groups[0], groups[1], groups[-1]
                out.append(("LOOP",
                            tuple(_abstract(x, 0, layers, ix) for x in first),
                            tuple(_abstract(x, 1, layers, ix) for x in middle),
                            tuple(_abstract(x, layers - 1, layers, ix) for x in last)))
                i = j
                continue
        out.append(_abstract(items[i], bound, layers, ix))
        i += 1
    return tuple(out)


# --- sizes -------------------------------------------------------------------------------------

Term = tuple[int, int, str | None, str | None, str | None]
"""``(num, den, a, b, d)``: ``num · a · b / (den · d)``, a missing name counting 1."""
Expr = tuple[Term, ...]
"""A sum of one or two terms, each a whole number: ``hidden_size``, ``num_key_value_heads ·
head_dim``, ``hidden_size + 2 · num_key_value_heads · hidden_size / num_attention_heads`` (a
fused q/k/v projection's outputs)."""

_FACTORS = ((1, 1), (2, 1), (3, 1), (4, 1), (1, 2), (1, 4), (3, 2), (1, 8), (2, 5), (1, 5), (3, 4))


def _candidates(names: Sequence[str]) -> list[Term]:
    """Every term of the family, simplest first (fewest names, then smallest factor)."""
    opts: list[str | None] = [None, *sorted(names)]
    out: list[tuple[int, Term]] = []
    for a_i, a in enumerate(opts):
        for b in ([None] if a is None else [None, *opts[a_i:]]):
            for d in opts:
                if d is not None and d in (a, b):
                    continue
                for num, den in _FACTORS:
                    cost = sum(x is not None for x in (a, b, d)) * 10 + (num != 1 or den != 1) * (num + den)
                    out.append((cost, (num, den, a, b, d)))
    out.sort(key=lambda c: c[0])
    return [e for _, e in out]


def _term(term: Term, env: Mapping[str, int]) -> int | None:
    num, den, a, b, d = term
    top = num * (env[a] if a else 1) * (env[b] if b else 1)
    bottom = den * (env[d] if d else 1)
    if bottom == 0 or top % bottom:
        return None
    return top // bottom


def evaluate(expr: Expr, env: Mapping[str, int]) -> int | None:
    """The expression's value at ``env``, ``None`` where a term is not a whole number there."""
    total = 0
    for term in expr:
        value = _term(term, env)
        if value is None:
            return None
        total += value
    return total


class _ExprTable:
    """The simplest expression giving each vector of values at the probes: one term, else the
    sum of two (the first term in order of simplicity whose remainder one term gives)."""

    def __init__(self, envs: Sequence[Mapping[str, int]]) -> None:
        self.terms: list[tuple[tuple[int, ...], Term]] = []
        self.single: dict[tuple[int, ...], Term] = {}
        for term in _candidates(list(envs[0])):
            values = tuple(_term(term, env) for env in envs)
            if None in values:
                continue
            self.terms.append((values, term))  # type: ignore[arg-type]
            self.single.setdefault(values, term)  # type: ignore[arg-type]
        self.found: dict[tuple[int, ...], Expr | None] = {}

    def get(self, values: tuple[int, ...]) -> Expr | None:
        if values in self.single:
            return (self.single[values],)
        if values not in self.found:
            self.found[values] = next(
                ((term, self.single[rest]) for first, term in self.terms
                 if (rest := tuple(v - f for v, f in zip(values, first))) in self.single),
                None,
            )
        return self.found[values]


def _merge(nodes: Sequence[Node], table: _ExprTable) -> Node:
    tag = nodes[0][0]
    if any(n[0] != tag for n in nodes):
        raise TemplateError("the probes' rows differ beyond sizes")
    if tag == "I":
        values = tuple(n[1] for n in nodes)
        if len(set(values)) == 1:
            return ("X", ((values[0], 1, None, None, None),))
        expr = table.get(values)
        if expr is None:
            raise TemplateError(f"no size expression gives {values}")
        return ("X", expr)
    if tag in ("L", "S"):
        if any(n[1] != nodes[0][1] for n in nodes):
            raise TemplateError("the probes' rows differ beyond sizes")
        return nodes[0]
    if tag == "T":
        return ("T", _merge_items([n[1] for n in nodes], table))
    raise TemplateError(f"node {tag}")


def _merge_items(seqs: Sequence[tuple[Any, ...]], table: _ExprTable) -> tuple[Any, ...]:
    if any(len(s) != len(seqs[0]) for s in seqs):
        raise TemplateError("the probes' rows differ in length")
    out = []
    for items in zip(*seqs):
        if items[0][0] == "LOOP":
            if any(it[0] != "LOOP" for it in items):
                raise TemplateError("the probes' layer loops differ")
            out.append(("LOOP", *(_merge_items([it[k] for it in items], table) for k in (1, 2, 3))))
        else:
            out.append(_merge(items, table))
    return tuple(out)


# --- learning and instantiating -----------------------------------------------------------------

def learn(probes: Sequence[tuple[Mapping[str, int], int, tuple[Any, ...]]]) -> Node:
    """The template of rows traced at several probe sizes: ``probes`` are ``(sizes, layers,
    rows)`` with the same layer count (at least 3) and sizes differing in every field. Raises
    :class:`TemplateError` where the rows do not follow the rules."""
    layers = probes[0][1]
    if layers < 3 or any(p[1] != layers for p in probes):
        raise TemplateError("probes need one layer count of at least 3")
    nodes = []
    for _, _, rows in probes:
        path = stack_path([m[0] for m in rows[0]], layers)
        nodes.append(_abstract(rows, None, layers, _Indexer(path)))
    return _fold(_merge(nodes, _ExprTable([p[0] for p in probes])))


def _fold(node: Node) -> Node:
    """The template with every part that names no layer and no size made one literal: most of
    the rows (scopes, sources, dtypes, constant shapes) are copied, not rebuilt, at each use."""
    tag = node[0]
    if tag == "X" and len(node[1]) == 1 and node[1][0][1:] == (1, None, None, None):
        return ("L", node[1][0][0])
    if tag == "T":
        items = tuple(("LOOP", *(tuple(_fold(x) for x in block) for block in it[1:])) if it[0] == "LOOP"
                      else _fold(it) for it in node[1])
        if all(it[0] == "L" for it in items):
            return ("L", tuple(it[1] for it in items))
        return ("T", items)
    return node


def instantiate(template: Node, sizes: Mapping[str, int], layers: int) -> tuple[Any, ...]:
    """The rows of the template at ``sizes`` with ``layers`` layers (at least 3). Raises
    :class:`TemplateError` where a size expression is not a whole number there."""
    if layers < 3:
        raise TemplateError("a template is for 3 layers or more")
    values: dict[Expr, int] = {}
    # equal values made one object, as a trace makes them (a layer's scope, its names): the
    # inventory cache's marshal writes a repeated object once, so the rows stay as small (and as
    # quick to read back) as a traced inventory's
    shared: dict[Any, Any] = {}

    def build(node: Node, bound: int) -> Any:
        tag = node[0]
        if tag == "L":
            return node[1]
        if tag == "X":
            expr = node[1]
            found = values.get(expr)
            if found is None:
                found = evaluate(expr, sizes)
                if found is None:
                    raise TemplateError(f"{expr} is not whole at these sizes")
                values[expr] = found
            return found
        if tag == "S":
            out = []
            for part in node[1]:
                if isinstance(part, str):
                    out.append(part)
                else:
                    kind, n = part
                    out.append(str(bound + n if kind == "r" else n if kind == "a" else layers - 1 - n))
            text = "".join(out)
            return shared.setdefault(text, text)
        if tag == "T":
            return items(node[1], bound)
        raise TemplateError(f"node {tag}")

    def items(seq: tuple[Any, ...], bound: int) -> tuple[Any, ...]:
        out: list[Any] = []
        for item in seq:
            if item[0] == "LOOP":
                _, first, middle, last = item
                for layer in range(layers):
                    block = first if layer == 0 else last if layer == layers - 1 else middle
                    out.extend(build(x, layer) for x in block)
            else:
                out.append(build(item, bound))
        made = tuple(out)
        if all(x.__class__ is str for x in made):  # names only: 1 == True must not merge rows
            return shared.setdefault(made, made)  # type: ignore[no-any-return]
        return made

    return build(template, -1)  # type: ignore[no-any-return]

