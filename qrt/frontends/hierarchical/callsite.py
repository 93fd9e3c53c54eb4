"""Where Python code built a config: the user's ``file:line``, found by walking the stack.

A config built in Python has no YAML position, yet its errors and
:meth:`QuantizerConfig.origin_of` must still point at a line the user wrote. The caller of a
qrt function is rarely the user: setters call validators, pydantic calls those, presets call
constructors. So the walk skips every frame inside qrt, pydantic and pydantic-core and
answers with the first frame outside them. The same walk gives the ``stacklevel`` that makes
a :class:`DeprecationWarning` point at the user's line (:mod:`.execution_mode`).
"""

from __future__ import annotations

import os
import sys
from typing import Any

import pydantic
import pydantic_core

from qrt.ir.origin import Origin

__all__ = ["call_site", "position_of", "user_stacklevel"]


def _package_dir(module: Any) -> str:
    return os.path.dirname(os.path.abspath(module.__file__)) + os.sep


# The qrt package itself: this file is qrt/frontends/hierarchical/callsite.py.
_QRT_DIR = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))) + os.sep
_SKIPPED_DIRS = (_QRT_DIR, _package_dir(pydantic), _package_dir(pydantic_core))


def _is_internal(filename: str) -> bool:
    return os.path.abspath(filename).startswith(_SKIPPED_DIRS) if filename[:1] != "<" else False


def call_site() -> Origin | None:
    """``file:line`` of the nearest frame outside qrt and pydantic: the user's call."""
    frame = sys._getframe(1)
    while frame is not None:
        filename = frame.f_code.co_filename
        if not _is_internal(filename):
            return Origin(file=filename, line=frame.f_lineno)
        frame = frame.f_back  # type: ignore[assignment]
    return None


def user_stacklevel() -> int:
    """The ``stacklevel`` that points a warning at the user's code, not at qrt or pydantic."""
    level, frame = 1, sys._getframe(1)
    while frame is not None and (
        _is_internal(frame.f_code.co_filename) or frame.f_code.co_filename.endswith("enum.py")
    ):
        frame = frame.f_back  # type: ignore[assignment]
        level += 1
    return level


def position_of(origin: Origin | None) -> str | None:
    """``origin``'s ``file:line:col`` (as much as is known) for an error's ``location``."""
    return origin.position if origin is not None else None
