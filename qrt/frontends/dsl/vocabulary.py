"""The DSL's words: what may be written bare, which words a spec body knows, and which names
need quotes.

Why a module of its own: the parser and the printer must agree on these exactly, or
``parse_rules(print_rules(rs)) == rs`` (docs/semantics.md §5 property 6) breaks: a name the printer
writes bare has to be one the parser reads as that name, not as a dtype or a keyword. Both
import the word lists from here. Words are case-sensitive and literal: a spec body reads only
the canonical spellings of :mod:`qrt.ir.spec` (``int8``, ``per_block(32)``,
``moving_average``); ``default`` stands for ``None`` ("the runtime's choice") in the fields of
:data:`NULLABLE_FIELDS`.
"""

from __future__ import annotations

import re

from qrt.ir.spec import (
    FAKE_QUANTIZERS,
    QPARAM_CALCULATORS,
    QSCHEMES,
    QUANT_DTYPES,
    RANGE_CALCULATORS,
    SCALE_DTYPES,
)

__all__ = [
    "WORD_RE",
    "IDENT_RE",
    "EFFECT_KEYWORDS",
    "GRANULARITY_WORDS",
    "NULLABLE_FIELDS",
    "FIELD_CHOICES",
    "SPEC_VOCABULARY",
    "bare_spec_name_ok",
    "bare_spec_name_problem",
]

WORD_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")
"""The grammar's WORD terminal: what may be written without quotes."""

IDENT_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")

EFFECT_KEYWORDS: tuple[str, ...] = ("off", "enable", "disable", "patch")
"""Words that open an effect, so a spec of that name must be quoted to be referenced."""

GRANULARITY_WORDS: tuple[str, ...] = ("per_tensor", "per_channel", "per_block")

NULLABLE_FIELDS: tuple[str, ...] = (
    "scale_dtype",
    "qparam_calculator",
    "range_calculator",
    "fake_quantize",
)
"""Fields whose value may be ``default`` (``None``: the runtime picks for the tensor's role)."""

FIELD_CHOICES: dict[str, tuple[str, ...]] = {
    "dtype": QUANT_DTYPES,
    "qscheme": QSCHEMES,
    "granularity": GRANULARITY_WORDS,
    "scale_dtype": SCALE_DTYPES,
    "qparam_calculator": QPARAM_CALCULATORS,
    "range_calculator": RANGE_CALCULATORS,
    "fake_quantize": FAKE_QUANTIZERS,
}

SPEC_VOCABULARY: frozenset[str] = frozenset((*QUANT_DTYPES, *QSCHEMES, *GRANULARITY_WORDS))
"""Bare words a spec body understands; a spec may not be *named* one of these without quotes."""


def bare_spec_name_ok(name: str) -> bool:
    """May ``name`` be written without quotes where a spec is defined or used?"""
    return bare_spec_name_problem(name) is None


def bare_spec_name_problem(name: str) -> str | None:
    """Why ``name`` cannot be written unquoted as a spec name, or ``None`` if it can."""
    if not IDENT_RE.fullmatch(name):
        return "a bare spec name is an identifier (letters, digits, _; no dots)"
    if name in SPEC_VOCABULARY:
        return f"{name!r} is a word of the spec language itself"
    if name in EFFECT_KEYWORDS or name == "default":
        return f"{name!r} is a keyword where specs are used"
    return None
