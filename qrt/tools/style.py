"""Terminal styling: colour on a terminal, plain text when piped or when ``NO_COLOR`` is set."""

from __future__ import annotations

import os
import sys
from typing import Literal, TextIO

__all__ = ["Style", "ColorChoice", "want_color"]

ColorChoice = Literal["auto", "always", "never"]

_CODES = {
    "bold": "1",
    "dim": "2",
    "red": "31",
    "green": "32",
    "yellow": "33",
    "blue": "34",
    "magenta": "35",
    "cyan": "36",
}


def want_color(choice: ColorChoice, stream: TextIO | None = None) -> bool:
    if choice == "always":
        return True
    if choice == "never" or os.environ.get("NO_COLOR"):
        return False
    stream = stream or sys.stdout
    return bool(getattr(stream, "isatty", lambda: False)())


class Style:
    """``style.cyan("x")`` is ``x`` wrapped in ANSI codes when colour is on, ``x`` otherwise."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled

    def __getattr__(self, name: str):  # type: ignore[no-untyped-def]
        code = _CODES.get(name)
        if code is None:
            raise AttributeError(name)

        def paint(text: str) -> str:
            return f"\033[{code}m{text}\033[0m" if self.enabled else text

        return paint
