"""The one error a compressed-tensors ``quantization_config`` raises when qrt cannot read it."""

from __future__ import annotations

from qrt.errors import CompressedTensorsConfigError

__all__ = ["CompressedTensorsConfigError"]

