"""The one error a torchao ``FqnToConfig`` (or a single torchao config) raises when qrt cannot read it."""

from __future__ import annotations

from qrt.errors import TorchAoConfigError

__all__ = ["TorchAoConfigError"]

