"""What graph mode did with each decided site, as records (docs/graph.md).

Annotating an exported graph from a plan does not always place one quantizer per decided
site: torchao folds batch_norm into the conv before it, a fused pattern (conv + relu …) keeps
one quantizer at its end, equal specs on one edge are de-duplicated, a repeated module call
shares its first call's quantizer. Each of these is a :class:`GraphFate` with the site, the
other site where there is one, and the reason. ``Quantizer.graph_fates`` keeps the records,
``Quantizer.graph_report`` their text (:meth:`GraphFate.render`), and ``qrt explain --mode
graph`` reads the records of the sites it explains.

A site is named as the graph knows it (:func:`site_id`): ``op_name:role[key]`` for an op's
tensor, the quantizer path for a module-boundary site (those are annotated on edges, not on
an op).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from collections.abc import Iterable
from typing import Any

__all__ = ["Fate", "GraphFate", "op_site_id", "placed_sites", "rendered", "site_id"]


class Fate(str, Enum):
    """What happened to a decided site in graph mode."""

    PLACED = "placed"
    """a quantizer of its own"""
    FUSED = "fused"
    """inside a pattern the graph runs as one (its output quantizer is the pattern's), or the
    pattern itself (``site`` is ``None``)"""
    SHARED = "shared"
    """served by another quantizer: a repeated module call's first, cat's first input, its
    input's (shape ops, pooling), or one torchao placed for the same tensor"""
    DEDUPLICATED = "de-duplicated"
    """the producer's output quantizer with the same spec serves this input"""
    FOLDED = "folded"
    """its op was folded into the op before it (batch_norm into conv)"""
    NOT_PLACED = "not placed"
    """no edge in the graph to put it on"""


def op_site_id(op_name: str, role: str, key: Any) -> str:
    """An op site as graph mode names it: ``op_name:role[key]``."""
    return f"{op_name}:{role}[{key}]"


def site_id(site: Any) -> str:
    """A :class:`~qrt.ir.site.Site` as graph mode names it: an op site by
    :func:`op_site_id`, a module-boundary site by its quantizer path."""
    if site.op_name is None:
        return str(site.quantizer_path)
    return op_site_id(site.op_name, site.role, site.key)


@dataclass(frozen=True)
class GraphFate:
    """One site's fate in graph mode (or, with ``site`` ``None``, one fused pattern)."""

    fate: Fate
    site: str | None
    """the site (:func:`site_id`); ``None`` for a fused pattern as a whole"""
    reason: str
    """why, in words (what :meth:`render` prints after the site)"""
    other: str | None = None
    """the other site or op involved: the quantizer that serves this one, the pattern's last
    op, the op folded away"""
    named: str | None = None
    """how the rendered line names the site where that is not ``site`` (an output sharing
    its input's quantizer is named by its op)"""

    def render(self) -> str | None:
        """The line ``Quantizer.graph_report`` shows; ``None`` for a placed site (the
        report lists what was not simply placed)."""
        if self.fate is Fate.PLACED:
            return None
        head = self.named if self.named is not None else self.site
        return f"{head}: {self.reason}" if head else self.reason

    def to_json(self) -> dict[str, Any]:
        return {"fate": self.fate.value, "site": self.site, "other": self.other, "reason": self.reason}

    # -- the fates annotate and prepare record, each with its words ----------------------
    @classmethod
    def placed(cls, site: str) -> GraphFate:
        return cls(Fate.PLACED, site, "placed")

    @classmethod
    def pattern(cls, ops: list[str], first: str, last: str) -> GraphFate:
        return cls(Fate.FUSED, None, f"fused {' + '.join(ops)} ({first} … {last}): one quantizer after {last}", last)

    @classmethod
    def folded(cls, site: str, gone: str) -> GraphFate:
        return cls(Fate.FOLDED, site, f"folded away (torchao fused {gone} into the op before it)", gone)

    @classmethod
    def moved_to_pattern_end(cls, site: str, end: str) -> GraphFate:
        return cls(Fate.FUSED, site, f"inside a fused pattern, its quantizer is the one after {end}", end)

    @classmethod
    def inside_pattern(cls, site: str, head: str) -> GraphFate:
        return cls(Fate.FUSED, site, "inside a fused pattern, not quantized", head)

    @classmethod
    def same_tensor_as_first_input(cls, site: str, op: str, first: str) -> GraphFate:
        return cls(Fate.SHARED, site, f"the same tensor as {op}'s first input, one quantizer", first)

    @classmethod
    def cat_shares_first_input(cls, site: str, op: str, first: str) -> GraphFate:
        return cls(Fate.SHARED, site, f"shares {op}'s first input quantizer (cat)", first)

    @classmethod
    def deduplicated(cls, site: str, producer: str) -> GraphFate:
        return cls(Fate.DEDUPLICATED, site, f"de-duplicated into {producer}", producer)

    @classmethod
    def repeated_call(cls, site: str) -> GraphFate:
        return cls(Fate.SHARED, site, "repeated module call shares the first call's quantizer", site)

    @classmethod
    def output_shares_input(cls, op: str, op_type: str, source: str | None) -> GraphFate:
        return cls(Fate.SHARED, op_site_id(op, "output", 0), f"output shares its input's quantizer ({op_type})",
                   source, named=op)

    @classmethod
    def sdpa_probabilities(cls, site: str) -> GraphFate:
        return cls(Fate.NOT_PLACED, site,
                   "the probabilities inside a fused scaled_dot_product_attention have no edge in the graph; "
                   "not quantized in graph mode (eager mode runs sdpa's math form to quantize them)")

    @classmethod
    def no_reader(cls, site: str, module: str, tensor: str) -> GraphFate:
        return cls(Fate.NOT_PLACED, site, f"no op inside {module!r} reads {tensor}; not placed")

    @classmethod
    def torchao_shared_observer(cls, site: str) -> GraphFate:
        return cls(Fate.SHARED, site, "shares the observer torchao placed for the same tensor")


def rendered(fates: Iterable[GraphFate]) -> list[str]:
    """The fates that are not a plain placement, as text (the prepared summary's lines)."""
    return [line for line in (f.render() for f in fates) if line is not None]


def placed_sites(fates: Iterable[GraphFate]) -> list[str]:
    """Every quantizer placed (one observer each), by :func:`site_id`."""
    return [f.site for f in fates if f.fate is Fate.PLACED and f.site is not None]
