"""What a Hugging Face model folder holds besides its config: safetensors weights, or not.

``--model DIR`` on a folder with weights must run on those weights: quantizing a randomly
initialised model instead (exit 0, scales from noise) is the worst kind of silent failure. So
the folder is read for its weights here, in one place, and the model source loads them or
says why it cannot. Only safetensors are read: a ``.bin``/``.pt`` file is a pickle, which can
run code when loaded, and qrt loads nothing that can.
"""

from __future__ import annotations

from pathlib import Path

from qrt.errors import ModelSourceError

__all__ = ["checkpoint_files", "resolve_dtype"]

_PICKLES = ("*.bin", "*.pt", "*.pth", "*.ckpt")
_DTYPES = ("float32", "bfloat16", "float16")


def checkpoint_files(folder: Path) -> list[Path] | None:
    """The safetensors files of ``folder`` (a single file, or the shards of an index), or
    ``None`` when it holds only a config. A folder whose weights are pickles only is an error
    that says how to get safetensors."""
    if not folder.is_dir():
        return None
    files = sorted(folder.glob("*.safetensors"))
    if files:
        return files
    pickles = sorted(p.name for pattern in _PICKLES for p in folder.glob(pattern))
    if pickles:
        raise ModelSourceError(
            f"{folder} holds its weights as pickle files ({', '.join(pickles[:3])}), which qrt does not "
            "load (unpickling can run code)",
            location=str(folder),
            hint="save the model with safetensors (model.save_pretrained(DIR), transformers' default), "
            "or pass --random-weights to run on random weights of this architecture",
        )
    return None


def resolve_dtype(choice: str | None, config: object, has_weights: bool) -> str:
    """The dtype a model is built in: ``choice`` when given (``float32``, ``bfloat16``,
    ``float16``); with ``auto`` or none, the checkpoint's own (its config's ``dtype``) when the
    folder holds weights, else float32 (random weights have no dtype of their own)."""
    if choice not in (None, "auto"):
        if choice not in _DTYPES:
            raise ModelSourceError(f"unknown dtype {choice!r}", hint=f"use auto or one of {', '.join(_DTYPES)}")
        return choice
    if has_weights:
        declared = getattr(config, "dtype", None) or getattr(config, "torch_dtype", None)
        name = str(declared).removeprefix("torch.") if declared is not None else "float32"
        return name if name in _DTYPES else "float32"
    return "float32"
