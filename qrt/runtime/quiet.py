"""Silence the known, harmless messages torch and torchao log on import, at their source.

On a CPU machine torchao logs ``Failed to load …/torchao/_C_….so`` for each optional CUDA
kernel library it cannot load, and torch's pytree logs a deprecation for every ``Enum`` that
torchao registers as a constant. Both appear whenever transformers or qrt's runtime imports
torchao, and neither says anything a qrt user can act on. A filter on each of those two
loggers drops exactly those messages (by their text), and nothing else: any other warning of
either library still reaches the user. Installed once, by ``qrt.runtime``'s package import,
before anything in the runtime imports torch.
"""

from __future__ import annotations

import logging
import re

__all__ = ["install"]

_KNOWN: dict[str, re.Pattern[str]] = {
    # torchao/__init__.py: a prebuilt kernel library that needs CUDA (or another Python ABI)
    "torchao": re.compile(r"Failed to load .*torchao/_C\w*[.\w-]*\.so\b"),
    # torch/utils/_pytree.py: register_constant() on an Enum subclass is deprecated
    "torch.utils._pytree": re.compile(r"is an Enum subclass and is now natively supported"),
}


class _DropKnown(logging.Filter):
    """Drops a record whose message matches the one harmless pattern known for its logger."""

    def __init__(self, pattern: re.Pattern[str]) -> None:
        super().__init__()
        self.pattern = pattern

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed record is not ours to judge: let it through
            return True
        return self.pattern.search(message) is None


def install() -> None:
    """Add the filters (idempotent: a second call adds nothing)."""
    for name, pattern in _KNOWN.items():
        logger = logging.getLogger(name)
        if not any(isinstance(f, _DropKnown) for f in logger.filters):
            logger.addFilter(_DropKnown(pattern))
