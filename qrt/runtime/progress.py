"""Progress bars for the long steps of ``qrt run``: tracing, calibration, finalize, export.

A run on a real checkpoint takes minutes, and a silent terminal for minutes reads as a hang.
The bars are tqdm's (a dependency of transformers, and of qrt since it draws them), drawn
on stderr only — stdout holds the report, and ``--format json`` output must parse — and only
when stderr is a terminal and ``--no-progress`` was not given: a pipe, a log file or CI get
no bar and no escape codes. Each bar is removed when its step ends (``leave=False``), so the
terminal shows the report alone afterwards.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator
from typing import Any

__all__ = ["Bars", "bars_for"]


class _Off:
    """A bar that draws nothing (progress off)."""

    def update(self, n: int = 1) -> None:
        pass

    def set_postfix_str(self, text: str, refresh: bool = True) -> None:
        pass


class Bars:
    """Makes the bars of one run; every bar is a no-op when ``enabled`` is false."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled

    @contextlib.contextmanager
    def __call__(self, total: int | None, desc: str, unit: str = "it") -> Iterator[Any]:
        """A bar of ``total`` steps (``None``: a counter with the elapsed time), closed and
        erased on leaving."""
        if not self.enabled:
            yield _Off()
            return
        from tqdm import tqdm

        bar = tqdm(total=total, desc=desc, unit=unit, file=sys.stderr, leave=False, dynamic_ncols=True)
        try:
            yield bar
        finally:
            bar.close()

    def step(self, desc: str) -> contextlib.AbstractContextManager[Any]:
        """One step of unknown length (finalize, export): its name and the time it has taken."""
        return self(None, desc, unit="step")

    @contextlib.contextmanager
    def trace(self) -> Iterator[Callable[[Any], None] | None]:
        """A callback for :func:`qrt.runtime.trace.trace_model`'s progress (ops and module
        calls so far), or ``None`` when off."""
        if not self.enabled:
            yield None
            return
        with self(None, "tracing", unit="op") as bar:
            def update(p: Any) -> None:
                bar.update(p.ops - bar.n)
                bar.set_postfix_str(f"{p.module_calls} module calls", refresh=False)

            yield update


def bars_for(no_progress: bool) -> Bars:
    """The bars of a command: on when stderr is a terminal and ``--no-progress`` is not given."""
    return Bars(not no_progress and sys.stderr.isatty())
