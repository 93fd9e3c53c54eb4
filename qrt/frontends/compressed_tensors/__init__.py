"""Front end: compressed-tensors ``quantization_config`` (what llm-compressor writes, vLLM and
transformers read), alone or in a checkpoint's ``config.json``.

Modules: ``config`` (reading, with positions), ``args`` (``QuantizationArgs`` → spec),
``presets`` (compressed-tensors' preset schemes), ``match`` (its module matching, reproduced),
``compile`` (rules per inventory), ``checkpoint`` (a checkpoint folder as input), ``source``
(the rule source). ``docs/compressed-tensors.md`` lists the precedence as implemented.
"""

from __future__ import annotations

from qrt.frontends.compressed_tensors.config import (
    CompressedTensorsConfig,
    compressed_tensors_from_data,
    compressed_tensors_from_text,
    is_compressed_tensors_document,
)
from qrt.frontends.compressed_tensors.errors import CompressedTensorsConfigError
from qrt.frontends.compressed_tensors.presets import PRESET_SCHEMES

__all__ = [
    "PRESET_SCHEMES",
    "CompressedTensorsConfig",
    "CompressedTensorsConfigError",
    "compressed_tensors_from_data",
    "compressed_tensors_from_text",
    "is_compressed_tensors_document",
]
