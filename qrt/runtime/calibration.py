"""Calibration data from a file: text through the checkpoint's own tokenizer, or token ids.

Scales calibrated on random token ids describe noise, not the model's activations on real
input, so ``qrt run --calib FILE`` takes real samples:

* ``.txt``: one sample per non-empty line;
* ``.jsonl``: one JSON object per line with a ``text`` field (the layout of most text data
  sets' exports);
* ``.safetensors``: saved token ids, one integer tensor of shape ``(samples, tokens)``
  (``input_ids`` when the file holds several).

Text is tokenized with the tokenizer saved beside the model's config (a checkpoint folder),
each sample cut to ``seq_len`` tokens. When the file holds more samples than asked for, the
ones used are drawn with ``seed``: the same file and seed give the same batches. Files are
read up to a size limit, never without bound.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from qrt.errors import CalibrationError
from qrt.files import parse_json, read_text

__all__ = ["CalibrationData", "MAX_CALIBRATION_BYTES", "load_calibration"]

MAX_CALIBRATION_BYTES = 1 << 30
"""1 GiB: far more text than calibration uses (hundreds of samples), and a bound on a path
that names a device or a runaway file."""


@dataclass(frozen=True)
class CalibrationData:
    """The samples, each a ``(1, tokens)`` id tensor, and how they were chosen (for the report)."""

    samples: tuple[torch.Tensor, ...]
    description: str


def _read_text(path: Path) -> str:
    return read_text(path, what="calibration file", limit=MAX_CALIBRATION_BYTES, error=CalibrationError)


def _texts(path: Path) -> list[str]:
    text = _read_text(path)
    if path.suffix.lower() != ".jsonl":
        return [line for line in text.splitlines() if line.strip()]
    out: list[str] = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = parse_json(line, file=f"{path}:{n}", error=CalibrationError)
        except CalibrationError as exc:
            raise CalibrationError(f"line {n} is not JSON: {exc.message}", location=f"{path}:{n}",
                                   hint='each line must be an object like {"text": "..."}') from None
        value = record.get("text") if isinstance(record, dict) else None
        if not isinstance(value, str):
            raise CalibrationError(f'line {n} has no "text" string', location=f"{path}:{n}",
                                   hint='each line must be an object like {"text": "..."}')
        if value.strip():
            out.append(value)
    return out


def _token_rows(path: Path) -> list[torch.Tensor]:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    if not path.is_file():  # a device or FIFO (or a link to one) is not a file of token ids
        raise CalibrationError(f"{path} is not a regular file", location=str(path))
    if path.stat().st_size > MAX_CALIBRATION_BYTES:
        raise CalibrationError(f"{path} is larger than {MAX_CALIBRATION_BYTES >> 20} MiB", location=str(path))
    try:
        tensors = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as exc:
        raise CalibrationError(f"cannot read {path} as safetensors: {exc}", location=str(path)) from None
    name = "input_ids" if "input_ids" in tensors else next(iter(tensors)) if len(tensors) == 1 else None
    if name is None:
        raise CalibrationError(f"{path} holds {len(tensors)} tensors and none is named input_ids",
                               location=str(path), hint="save the token ids as input_ids")
    ids = tensors[name]
    if ids.dim() != 2 or ids.is_floating_point() or ids.is_complex() or ids.dtype == torch.bool:
        raise CalibrationError(f"{path}: {name} is {str(ids.dtype).removeprefix('torch.')}{list(ids.shape)}",
                               location=str(path), hint="token ids are an integer tensor of shape (samples, tokens)")
    return [row.to(torch.long) for row in ids]


def load_calibration(
    file: str, *, samples: int, seq_len: int, seed: int, tokenizer_dir: Path | None, vocab_size: int | None = None
) -> CalibrationData:
    """``samples`` calibration samples from ``file`` (all of them when it holds fewer)."""
    path = Path(file)
    if samples < 1 or seq_len < 1:
        raise CalibrationError("--calib-samples and --seq-len must be at least 1")
    tokens = path.suffix.lower() == ".safetensors"
    pool: list[Any] = _token_rows(path) if tokens else _texts(path)
    if not pool:
        raise CalibrationError(f"{path} holds no samples", location=str(path),
                               hint="one sample per line (.txt), a text field per line (.jsonl)")
    chosen = sorted(random.Random(seed).sample(range(len(pool)), samples)) if len(pool) > samples else range(len(pool))
    picked = [pool[i] for i in chosen]
    if tokens:
        ids = [row[:seq_len].unsqueeze(0) for row in picked]
        how = "token ids"
    else:
        tokenizer = _tokenizer(tokenizer_dir, path)
        ids = [tokenizer(text, return_tensors="pt", truncation=True, max_length=seq_len)["input_ids"] for text in picked]
        how = f"text tokenized by {tokenizer_dir}'s tokenizer"
    drawn = len(ids)
    ids = [t for t in ids if t.numel()]
    if not ids:
        raise CalibrationError(f"every sample of {path} is empty after tokenizing", location=str(path))
    if vocab_size is not None:
        high = max(int(t.max()) for t in ids)
        if high >= vocab_size:
            raise CalibrationError(f"{path} has token id {high}, beyond the model's vocabulary of {vocab_size}",
                                   location=str(path), hint="the ids must come from this model's tokenizer")
    of = f" of {len(pool)}, drawn with seed {seed}" if len(pool) > samples else ""
    # a sample that tokenizes to nothing cannot run; it is left out, and said so (a tokenizer
    # that empties most lines is worth a look before trusting the scales it calibrated)
    empty = f", {drawn - len(ids)} of the {drawn} drawn left out: empty after tokenizing" if drawn > len(ids) else ""
    return CalibrationData(tuple(ids), f"{len(ids)} samples{of} from {path} ({how}, at most {seq_len} tokens{empty})")


def _tokenizer(folder: Path | None, data: Path) -> Any:
    if folder is None:
        raise CalibrationError(
            f"{data} is text, and the model has no tokenizer beside it",
            location=str(data),
            hint="pass the model as a Hugging Face folder with its tokenizer files, or token ids as .safetensors",
        )
    try:
        from transformers import AutoTokenizer

        return AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
    except Exception as exc:  # transformers raises OSError, ValueError, KeyError … for a missing tokenizer
        raise CalibrationError(
            f"cannot load a tokenizer from {folder}: {type(exc).__name__}: {exc}",
            location=str(folder),
            hint="save the tokenizer beside the config (tokenizer.save_pretrained(DIR)), or pass token ids "
            "as .safetensors",
        ) from None
