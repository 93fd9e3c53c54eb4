"""Progress lines for the benchmarks: on a terminal, one stderr line overwritten in place;
otherwise (a log file, CI) each step on a line of its own, so a long run never looks hung.
The tables go to stdout, flushed row by row."""

from __future__ import annotations

import sys
import time

__all__ = ["progress"]

_START = time.perf_counter()


def progress(text: str) -> None:
    """Say what runs now (``""``: clear the line before a table row is printed)."""
    if sys.stderr.isatty():
        print(f"\r\033[K{text}", end="", file=sys.stderr, flush=True)
    elif text:
        print(f"[{time.perf_counter() - _START:6.1f}s] {text}", file=sys.stderr, flush=True)
