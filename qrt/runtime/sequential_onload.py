"""A Hugging Face checkpoint onloaded one part at a time: the skeleton on ``meta``, tensors read
from the safetensors files only when a part is needed.

Sequential calibration (:mod:`qrt.runtime.sequential`) must never hold the model's float
weights at once, so the model is built the way ``from_pretrained`` builds it in transformers
5 — on the ``meta`` device, under the checkpoint's dtype as the default dtype (non-persistent
buffers such as a rotary ``inv_freq`` keep the dtype their module gives them) — and then each
part (the modules outside the decoder layers, then one decoder layer) gets its tensors from
the files.

Two details make a part's tensors the very ones ``from_pretrained`` would give:

* the tensors are put *into* the existing parameter objects with ``torch.utils.swap_tensors``
  (a meta parameter cannot take CPU data through ``.data``): the eager runtime and the fused
  layers' shared scales know parameters by identity, and a tied head stays tied;
* a buffer the checkpoint does not hold (rotary frequencies) is computed by the model's own
  ``_init_weights`` on its module, as ``from_pretrained``'s ``_initialize_missing_keys`` does.

Tensors are read with plain file reads into freshly allocated memory, not through a memory
map of the whole file: a mapping counts against a process's address-space limit
(``prlimit --as``) for the full file size, and the point here is to work under a limit
smaller than the model.
"""

from __future__ import annotations

import contextlib
import json
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
from torch import nn

from qrt.errors import ModelSourceError

__all__ = ["CheckpointReader", "build_skeleton", "check_names", "meta_tensors", "onload"]

_DTYPES = {
    "F64": torch.float64, "F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16,
    "I64": torch.int64, "I32": torch.int32, "I16": torch.int16, "I8": torch.int8, "U8": torch.uint8,
    "BOOL": torch.bool, "F8_E4M3": torch.float8_e4m3fn, "F8_E5M2": torch.float8_e5m2,
}
_MAX_HEADER = 100 * 1024 * 1024
"""safetensors' own bound on a header (``safetensors/src/tensor.rs``, MAX_HEADER_SIZE)."""


class CheckpointReader:
    """The tensors of a folder's safetensors files by name, read one at a time on request."""

    def __init__(self, files: list[Path]) -> None:
        self.where: dict[str, tuple[Path, int, str, tuple[int, ...], int, int]] = {}
        """name → (file, data start, dtype code, shape, begin, end)"""
        for path in files:
            with path.open("rb") as fh:
                raw = fh.read(8)
                length = struct.unpack("<Q", raw)[0] if len(raw) == 8 else -1
                if not 0 < length <= _MAX_HEADER:
                    raise ModelSourceError(f"{path}: not a safetensors file (bad header length)", location=str(path))
                try:
                    header = json.loads(fh.read(length))
                except (ValueError, UnicodeDecodeError) as exc:
                    raise ModelSourceError(f"{path}: its safetensors header is not JSON ({exc})", location=str(path)) from None
            if not isinstance(header, dict):
                raise ModelSourceError(f"{path}: its safetensors header is not a JSON object", location=str(path))
            for name, entry in header.items():
                if name == "__metadata__":
                    continue
                try:
                    begin, end = (int(x) for x in entry["data_offsets"])
                    record = (path, 8 + length, str(entry["dtype"]), tuple(int(d) for d in entry["shape"]), begin, end)
                except (KeyError, TypeError, ValueError):
                    raise ModelSourceError(f"{path}: tensor {name!r} has a malformed header entry", location=str(path)) from None
                self.where[name] = record

    def __contains__(self, name: str) -> bool:
        return name in self.where

    def read(self, name: str, like: torch.Tensor) -> torch.Tensor:
        """Tensor ``name``, in ``like``'s dtype (cast as ``from_pretrained`` casts to the
        model's dtype), checked against ``like``'s shape."""
        path, start, code, shape, begin, end = self.where[name]
        dtype = _DTYPES.get(code)
        if dtype is None:
            raise ModelSourceError(f"{path}: tensor {name!r} has dtype {code}, which qrt does not read",
                                   location=str(path), hint=f"readable dtypes: {', '.join(_DTYPES)}")
        if tuple(like.shape) != shape:
            raise ModelSourceError(
                f"{path}: tensor {name!r} has shape {list(shape)}, the model's is {list(like.shape)}",
                location=str(path), hint="the weights and config.json must come from the same save_pretrained",
            )
        out = torch.empty(shape, dtype=dtype)
        size = out.numel() * out.element_size()
        if end - begin != size:
            raise ModelSourceError(f"{path}: tensor {name!r} holds {end - begin} bytes, its shape needs {size}",
                                   location=str(path))
        if size:
            with path.open("rb") as fh:
                fh.seek(start + begin)
                view = memoryview(out.view(-1).view(torch.uint8).numpy())
                if fh.readinto(view) != size:
                    raise ModelSourceError(f"{path}: the file ends inside tensor {name!r}", location=str(path))
        return out if dtype == like.dtype or not like.is_floating_point() else out.to(like.dtype)


@contextlib.contextmanager
def _default_dtype(dtype: torch.dtype) -> Iterator[None]:
    was = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        yield
    finally:
        torch.set_default_dtype(was)


def build_skeleton(config: Any, dtype: torch.dtype) -> nn.Module:
    """The model of ``config`` on ``meta``, built as ``from_pretrained`` builds it: parameters
    in ``dtype`` (the default dtype while the modules are made), buffers as their modules make
    them, weights tied, in eval mode."""
    from qrt.runtime.sources import hf_model

    with _default_dtype(dtype), torch.device("meta"):
        model = hf_model(config)
    return model.eval()


def meta_tensors(module: nn.Module, prefix: str = "") -> list[tuple[list[str], nn.Module, str, bool]]:
    """``(full names, owner module, attribute, is parameter)`` of every tensor of ``module``
    still on ``meta``, each tensor once with all its names (a tied weight has two)."""
    out: dict[int, tuple[list[str], nn.Module, str, bool]] = {}
    for name, owner in module.named_modules(prefix=prefix, remove_duplicate=False):
        for group, is_param in ((owner._parameters, True), (owner._buffers, False)):
            for attr, t in group.items():
                if t is None or t.device.type != "meta":
                    continue
                full = f"{name}.{attr}" if name else attr
                if id(t) in out:
                    out[id(t)][0].append(full)
                else:
                    out[id(t)] = ([full], owner, attr, is_param)
    return list(out.values())


def check_names(model: nn.Module, reader: CheckpointReader, where: str) -> None:
    """Every parameter of ``model`` is in the checkpoint (under one of its names) and every
    checkpoint tensor is one of the model's, before anything is read: as ``from_pretrained``'s
    loading info is checked for a whole load (a missing tensor would stay unset, an extra one
    be silently dropped)."""
    state = set(model.state_dict().keys())
    missing = [names[0] for names, _, _, is_param in meta_tensors(model)
               if is_param and not any(n in reader for n in names)]
    unexpected = sorted(k for k in reader.where if k not in state)
    problems = [(what, keys) for what, keys in ((("not in the checkpoint"), missing),
                                                 ("in the checkpoint but not in the model", unexpected)) if keys]
    if problems:
        detail = "; ".join(f"{len(keys)} tensor(s) {what}: {', '.join(keys[:4])}" + (" …" if len(keys) > 4 else "")
                           for what, keys in problems)
        raise ModelSourceError(
            f"the checkpoint in {where} does not match its config under the model's own names: {detail}",
            location=where,
            hint="sequential onloading reads each tensor under the model's own name: the weights and config.json "
            "must come from the same save_pretrained (run without --sequential to let transformers convert "
            "older layouts)",
        )


def _swap(current: torch.Tensor, value: torch.Tensor) -> None:
    """``torch.utils.swap_tensors``, which refuses a tensor something holds a weak reference
    to. Such a reference can outlive its holder until the cyclic GC runs (a long process that
    traced other models holds unreachable caches keyed weakly by tensors), so one collection is
    tried before giving up; a live holder is reported, not worked around."""
    try:
        torch.utils.swap_tensors(current, value)
        return
    except RuntimeError as exc:
        if "weakref" not in str(exc):
            raise
    import gc

    gc.collect()
    torch.utils.swap_tensors(current, value)


def onload(model: nn.Module, module: nn.Module, prefix: str, reader: CheckpointReader, *,
           skip: tuple[str, ...] = ()) -> int:
    """Give every meta tensor of ``module`` (named ``prefix`` in ``model``) its value: from the
    checkpoint, or — a buffer the checkpoint does not hold — from the model's ``_init_weights``
    on its owner. Tensors under a name in ``skip`` stay on meta (the decoder layers, while
    the rest of the model is onloaded). Returns the bytes read."""
    read = 0
    missing: list[str] = []
    to_init: dict[int, nn.Module] = {}
    for names, owner, attr, is_param in meta_tensors(module, prefix):
        if any(n == s or n.startswith(s + ".") for s in skip for n in names):
            continue
        current = (owner._parameters if is_param else owner._buffers)[attr]
        assert current is not None
        stored = next((n for n in names if n in reader), None)
        if stored is not None:
            value = reader.read(stored, current)
            read += value.numel() * value.element_size()
        elif not is_param:
            value = torch.empty(current.shape, dtype=current.dtype)
            to_init[id(owner)] = owner
        else:
            missing.append(names[0])
            continue
        if is_param:
            value = nn.Parameter(value, requires_grad=current.requires_grad)
        _swap(current, value)
    if missing:
        raise ModelSourceError(
            f"{len(missing)} parameter(s) are not in the checkpoint: {', '.join(missing[:4])}"
            + (" …" if len(missing) > 4 else ""),
            hint="sequential onloading reads each parameter under the model's own name; the weights and "
            "config.json must come from the same save_pretrained (run without --sequential to let "
            "transformers convert older layouts)",
        )
    init = getattr(model, "_init_weights", None)
    for owner in to_init.values():
        if init is None or any(True for _ in owner.parameters(recurse=False)):
            raise ModelSourceError(
                f"{type(owner).__name__} has buffers the checkpoint does not hold and qrt cannot compute",
                hint="run without --sequential (transformers builds such modules whole)",
            )
        init(owner)
    return read
