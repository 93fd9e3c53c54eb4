"""Where DSL text came from, and errors that point into it.

Why a module of its own: every stage of the front end (the lark parse, literal decoding, the
transformer, spec bodies, includes) reports mistakes the same way, as ``file:line:col``, the
offending line with a caret under the column, and a hint (STYLE "Errors"). Keeping the one
:class:`Source` type and the helpers that format such errors here means no stage can drift into
its own format, and nothing from lark or pydantic reaches the user raw.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Union

from qrt.errors import QrtError, shown_line, shown_offset
from qrt.resources import data_dir

if TYPE_CHECKING:
    from lark import Token  # annotations only: other front ends use these helpers without lark

__all__ = ["STRING_SOURCE", "Source", "available_presets", "caret_context", "key_of", "located", "at_token",
           "join_hints"]

STRING_SOURCE = "<string>"
"""The file name rules parsed from a string carry in their origins and errors."""


@dataclass(frozen=True)
class Source:
    """One file's text and where it lives: ``file`` labels messages and origins; ``base`` is
    the folder ``include "x"`` is resolved against; ``key`` identifies it for cycle checks."""

    text: str
    file: str
    base: Union[Path, Traversable]
    key: str | None


def caret_context(text: str, line: int, column: int) -> str:
    """The source line and a caret under ``column`` (1-based), indented for a message.

    Tabs are expanded and control characters escaped (:func:`~qrt.errors.shown_line`), so the
    caret stays under the character a reader sees and nothing reaches the terminal raw.
    """
    lines = text.split("\n")
    src = lines[line - 1].rstrip("\r") if 0 < line <= len(lines) else ""
    return f"    {shown_line(src)}\n    {' ' * shown_offset(src, column)}^"


def located(
    cls: type[QrtError],
    src: Source,
    line: int,
    column: int,
    message: str,
    *,
    hint: str | None = None,
    offending: str | None = None,
) -> QrtError:
    """An error of type ``cls`` at ``line:column`` of ``src``, the line and caret in its message."""
    return cls(
        f"{message}\n{caret_context(src.text, line, column)}",
        location=f"{src.file}:{line}:{column}",
        offending=offending,
        hint=hint or None,
    )


def at_token(cls: type[QrtError], src: Source, tok: Token, message: str, **kw: Any) -> QrtError:
    """:func:`located` at a lark token's position."""
    return located(cls, src, tok.line or 0, tok.column or 0, message, **kw)


def join_hints(*parts: str | None) -> str | None:
    """The non-empty ``parts``, one per line, or ``None`` when there are none."""
    text = "\n".join(p for p in parts if p)
    return text or None


def available_presets() -> list[str]:
    """Names of the rule presets shipped with qrt (``include preset NAME``)."""
    folder = data_dir("rules")
    return sorted(p.name[: -len(".qrt")] for p in folder.iterdir() if p.name.endswith(".qrt"))


def key_of(target: Union[Path, Traversable]) -> str:
    """A file's identity for the cycle check: the resolved path, so two spellings are one file."""
    if isinstance(target, Path):
        return str(target.resolve())
    return str(target)
