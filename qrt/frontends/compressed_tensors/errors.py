"""The one error a compressed-tensors ``quantization_config`` raises when qrt cannot read it."""

from __future__ import annotations

from qrt.errors import QrtError

__all__ = ["CompressedTensorsConfigError"]


class CompressedTensorsConfigError(QrtError):
    """A compressed-tensors config qrt cannot read exactly: an unknown key, a value
    compressed-tensors 0.20 itself refuses, or a setting with no qrt equivalent. The message
    names the key by its config path (``config_groups['group_0'].weights.num_bits``) and the
    location is ``file:line:col`` where it is known."""

    code = "QRT220"
