"""A quantized checkpoint folder as an input: its ``config.json`` is both the rules (its
``quantization_config``) and the model (the rest of it).

Above every front end it dispatches to (compressed-tensors, ModelOpt exports, transformers'
AWQ/GPTQ/bitsandbytes methods, torchao), below the door (:mod:`qrt.frontends.source`); the
model side — the float model's inventory built on meta from the same file — is
:func:`qrt.model_inventory.checkpoint_inventory`, a face, since it builds a model.

``qrt explain CHECKPOINT_DIR QUERY`` and ``qrt resolve CHECKPOINT_DIR --summary`` read the
config's ``quantization_config`` as a compressed-tensors config and, unless ``--model`` names
another, build the model the config describes on the ``meta`` device — no weight is read,
so a 70B checkpoint answers in seconds. compressed-tensors matches the *float* model's module
names and classes (``apply_quantization_config`` runs on the model before compression), so the
model is built from the config without its ``quantization_config``: transformers would
otherwise swap in its own compressed modules, and qrt's model source refuses a quantized
config on purpose (it quantizes float models). A folder qrt saved (``qrt-manifest.json``) is
read from its manifest instead, by the commands themselves.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from qrt.frontends.compressed_tensors.config import compressed_tensors_from_text, is_compressed_tensors_document
from qrt.frontends.compressed_tensors.errors import CompressedTensorsConfigError
from qrt.frontends.compressed_tensors.source import CompressedTensorsSource

__all__ = ["checkpoint_config_file", "checkpoint_of", "checkpoint_source", "is_checkpoint_dir", "read_checkpoint_config"]

SAVED_MANIFEST = "qrt-manifest.json"
"""A folder qrt itself saved (``qrt.runtime.finalize.manifest.MANIFEST_NAME``): read from its
manifest, which holds the plan, not from a ``config.json``."""


def checkpoint_config_file(directory: Path) -> Path:
    return directory / "config.json"


def is_checkpoint_dir(path: str | Path) -> bool:
    """A folder with a ``config.json`` and no qrt manifest: a quantized checkpoint to read."""
    p = Path(path)
    return p.is_dir() and checkpoint_config_file(p).is_file() and not (p / SAVED_MANIFEST).exists()


def read_checkpoint_config(directory: Path) -> tuple[str, Any]:
    """The text of a checkpoint folder's ``config.json`` and its parsed JSON (bounded, located
    errors)."""
    from qrt.files import parse_json, read_text

    file = checkpoint_config_file(directory)
    if not file.is_file():
        raise CompressedTensorsConfigError(
            f"{directory} has no config.json", location=str(directory),
            hint="pass a checkpoint folder (config.json with a quantization_config), a rule file, or the folder "
            "of a model qrt saved")
    text = read_text(file, what="checkpoint config", error=CompressedTensorsConfigError)
    return text, parse_json(text, file=str(file), error=CompressedTensorsConfigError)


def checkpoint_source(directory: str | Path) -> Any:
    """The rules of a checkpoint folder: its ``config.json``'s compressed-tensors
    ``quantization_config``, transformers' ``TorchAoConfig`` (``quant_method: torchao``,
    read by :mod:`qrt.frontends.torchao`), or — where the folder has ModelOpt's
    ``hf_quant_config.json`` — that file (:mod:`.modelopt_checkpoint`); any other quantization
    method is refused, naming it."""
    directory = Path(directory)
    text, data = read_checkpoint_config(directory)
    file = str(checkpoint_config_file(directory))
    inner = data.get("quantization_config") if isinstance(data, dict) else None
    from qrt.frontends.compressed_tensors.modelopt_checkpoint import (
        HF_QUANT_CONFIG,
        ModelOptCheckpointSource,
        read_hf_quant_config,
    )

    if (directory / HF_QUANT_CONFIG).is_file():  # ModelOpt's export: its own file is the faithful one
        return ModelOptCheckpointSource(read_hf_quant_config(directory / HF_QUANT_CONFIG), label=str(directory),
                                        checkpoint=str(directory))
    if isinstance(inner, dict) and inner.get("quant_method") == "gptq":
        from qrt.frontends.compressed_tensors.gptq_checkpoint import GptqSource, read_gptq

        return GptqSource(read_gptq(inner, file), label=str(directory), checkpoint=str(directory))
    if isinstance(inner, dict) and inner.get("quant_method") in ("awq", "bitsandbytes"):
        from qrt.frontends.compressed_tensors.transformers_methods import AwqSource, read_method

        return AwqSource(read_method(inner, file), label=str(directory), checkpoint=str(directory))
    if isinstance(inner, dict) and inner.get("quant_method") == "torchao":
        from qrt.frontends.torchao import torchao_from_text
        from qrt.frontends.torchao.source import TorchAoSource

        return TorchAoSource(torchao_from_text(text, file=file), label=str(directory), checkpoint=str(directory))
    if not is_compressed_tensors_document(data) or "config_groups" in data:
        method = inner.get("quant_method") if isinstance(inner, dict) else None
        raise CompressedTensorsConfigError(
            f"{file} has no compressed-tensors quantization_config"
            + (f" (its quant_method is {method!r})" if method else ""),
            location=file,
            hint="qrt reads checkpoints quantized in the compressed-tensors format (llm-compressor, qrt export) "
            "and torchao checkpoints (transformers' TorchAoConfig); a float checkpoint is a --model, not rules")
    return CompressedTensorsSource(compressed_tensors_from_text(text, file=file), label=str(directory),
                                   checkpoint=str(directory))


def checkpoint_of(source: Any) -> str | None:
    """The checkpoint folder a rule source was read from (its model is that folder's
    ``config.json``), or ``None``."""
    return getattr(source, "checkpoint", None)
