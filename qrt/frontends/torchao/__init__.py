"""Front end: torchao ``FqnToConfig`` / ``ModuleFqnToConfig`` (and a single torchao config),
from Python objects or their JSON form, alone or as transformers' ``TorchAoConfig`` in a
checkpoint's ``config.json``.

Modules: ``configs`` (each supported config → specs), ``config`` (reading, with positions),
``match`` (``quantize_``'s precedence, reproduced), ``compile`` (rules per inventory, explain
notes), ``source`` (the rule source). ``docs/torchao.md`` lists the precedence as implemented.
"""

from __future__ import annotations

from qrt.frontends.torchao.config import (
    TorchAoFqnConfig,
    is_torchao_document,
    torchao_from_data,
    torchao_from_object,
    torchao_from_text,
)
from qrt.frontends.torchao.errors import TorchAoConfigError

__all__ = [
    "TorchAoConfigError",
    "TorchAoFqnConfig",
    "is_torchao_document",
    "torchao_from_data",
    "torchao_from_object",
    "torchao_from_text",
]
