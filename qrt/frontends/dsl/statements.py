"""Statements: what the transformer makes of one file, and what the loader walks.

Why they exist: reading a rule file takes two passes (see :mod:`qrt.frontends.dsl.parse`). The
first, :mod:`~qrt.frontends.dsl.transform`, builds everything that needs no other statement
(selectors, patches, priorities) but must leave spec bodies and spec names as written, because
what a name means depends on the ``spec`` lines and includes read before it. These frozen
records are that half-built form: each keeps the lark tokens and positions the second pass
needs to report an error where it was written.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Union

from lark import Token

from qrt.ir.effect import Effect
from qrt.ir.selector import Selector

__all__ = [
    "Call",
    "Field",
    "Item",
    "Body",
    "SetBody",
    "SetNamed",
    "Include",
    "SpecDef",
    "RuleStmt",
    "Statement",
    "token_of",
]


@dataclass(frozen=True)
class Call:
    """``per_block(32, axis=1)`` as written."""

    name: Token
    args: tuple[tuple[Token | None, Token], ...]
    """``(keyword or None, INT token)`` pairs in the order written"""


@dataclass(frozen=True)
class Field:
    """``FIELD=VALUE`` as written."""

    name: Token
    value: Union[Token, Call]


Item = Union[Token, Call, Field]
"""One item of a spec body: a bare word, a call, or ``FIELD=VALUE``."""


@dataclass(frozen=True)
class Body:
    """A spec body: its items in order and where it starts."""

    items: tuple[Item, ...]
    line: int
    column: int


@dataclass(frozen=True)
class SetBody:
    """The effect ``<spec body> [disabled]``: a spec, or a defined spec's bare name."""

    body: Body
    enable: bool


@dataclass(frozen=True)
class SetNamed:
    """The effect ``"spec name" [disabled]``: a quoted reference to a defined spec."""

    name: str
    token: Token
    enable: bool


@dataclass(frozen=True)
class Include:
    """``include "path"`` (``path`` set) or ``include preset NAME`` (``preset`` set)."""

    path: str | None
    preset: str | None
    token: Token
    line: int
    column: int


@dataclass(frozen=True)
class SpecDef:
    """``spec NAME = <spec body>``."""

    name: str
    name_token: Token
    body: Body
    line: int
    column: int


@dataclass(frozen=True)
class RuleStmt:
    """``selector -> effect [priority ...]``; the effect is final unless it sets a spec."""

    selector: Selector
    effect: Union[Effect, SetBody, SetNamed]
    priority: tuple[int, ...]
    line: int
    column: int


Statement = Union[Include, SpecDef, RuleStmt]


def token_of(item: Item) -> Token:
    """The token an error about ``item`` points at: the word itself, or the call's or field's name."""
    if isinstance(item, Token):
        return item
    return item.name
