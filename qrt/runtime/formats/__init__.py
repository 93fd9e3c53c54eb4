"""Number formats' arithmetic (torch): one module per family, keyed like :mod:`qrt.formats`.

``arithmetic(kind)`` gives a family's :class:`~.base.FormatArithmetic` for a
:class:`qrt.formats.Format`'s kind, ``packed_arithmetic(kind)`` the one that reads a packed
kind back. The facts (bits, ranges, names) are :mod:`qrt.formats`'s, torch-free.

* :mod:`.groups` — groups of elements sharing a scale, for every format; ``NumericsError``;
* :mod:`.packed` — the :class:`~.packed.Packed` form and its stored-layout check;
* :mod:`.integer`, :mod:`.float8`, :mod:`.mx`, :mod:`.nvfp4` — each family's arithmetic;
* :mod:`.torchao` — the torchao PT2E spec of a qrt spec (graph mode);
* :mod:`.gradient` — the straight-through estimator.
"""

from __future__ import annotations

from qrt.errors import FinalizeError
from qrt.formats import FormatKind, packed_family
from qrt.runtime.formats.base import FormatArithmetic
from qrt.runtime.formats.float8 import FLOAT8
from qrt.runtime.formats.integer import INTEGER
from qrt.runtime.formats.mx import MX
from qrt.runtime.formats.nvfp4 import NVFP4

__all__ = ["ARITHMETIC", "FormatArithmetic", "arithmetic", "packed_arithmetic"]

ARITHMETIC: dict[FormatKind, FormatArithmetic] = {a.kind: a for a in (INTEGER, FLOAT8, MX, NVFP4)}
"""every family's arithmetic, by the kind :func:`qrt.formats.format_of` gives"""


def arithmetic(kind: FormatKind) -> FormatArithmetic:
    """The arithmetic of a :class:`qrt.formats.Format`'s kind."""
    return ARITHMETIC[kind]


def packed_arithmetic(kind: str) -> FormatArithmetic:
    """The arithmetic that reads packed kind ``kind`` back; ``FinalizeError`` for a kind qrt
    never writes."""
    family = packed_family(kind)
    if family is None:
        raise FinalizeError(f"unknown packed kind {kind!r}")
    return ARITHMETIC[family.kind]
