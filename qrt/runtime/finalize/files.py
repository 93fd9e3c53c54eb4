"""safetensors shards of a finalized model: written one shard at a time, read back memory-mapped.

A finalized model lives in a directory of ``model-NNNNN.safetensors`` shards beside its
manifest. Writing goes shard by shard so that a model being finalized never holds all of its
packed tensors twice (:class:`ShardWriter` hands each shard's tensors back memory-mapped as
soon as the shard is on disk). Reading (:func:`read_shard`) maps the file and returns tensors
that are views of the mapping — nothing is copied until a page is touched, and pages stay
file-backed (the kernel can drop them under memory pressure).

Two things safetensors cannot say are kept in each file's metadata: the dtype of tensors
safetensors has no code for (``float8_e8m0fnu`` MX scales are stored as their ``uint8`` bits)
— and nothing else: every other tensor is stored as it is.

The files must stay in place while a model reads from them: a deleted file stays readable
through the open mapping on Linux, but a file truncated or rewritten in place under a
running model makes the process fail with SIGBUS. :func:`read_shard` checks size and header
digest (and, with ``verify``, the whole file's sha256) before mapping.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
from pathlib import Path
from typing import Any

import torch

from qrt.errors import FinalizeError
from qrt.files import file_digest  # re-exported: the one file hash

__all__ = ["ShardWriter", "file_digest", "read_shard", "write_shard"]

_STORED_AS = {torch.float8_e8m0fnu: torch.uint8}
_BY_NAME = {str(d).removeprefix("torch."): d for d in _STORED_AS}
DEFAULT_SHARD_BYTES = 1 << 30


def _header(path: Path) -> tuple[int, bytes]:
    with path.open("rb") as fh:
        raw = fh.read(8)
        if len(raw) < 8:
            raise FinalizeError(f"{path}: not a safetensors file (shorter than its 8-byte header length)")
        (length,) = struct.unpack("<Q", raw)
        size = os.fstat(fh.fileno()).st_size
        if length > size - 8:  # a damaged length would read (or allocate) past the file
            raise FinalizeError(
                f"{path}: not a safetensors file: its header length ({length} bytes) runs past the "
                f"end of the file ({size} bytes)",
                hint="the file is damaged or not the one qrt wrote; save the model again",
            )
        return length, fh.read(length)


def write_shard(path: Path, tensors: dict[str, torch.Tensor], *, digest: bool = True) -> dict[str, Any]:
    """Write ``tensors`` to ``path``; returns the manifest's record of the file (name, size,
    header digest and, with ``digest``, the file's sha256)."""
    from safetensors.torch import save_file

    plain: dict[str, torch.Tensor] = {}
    dtypes: dict[str, str] = {}
    for name, t in tensors.items():
        t = t.detach()
        if t.device.type != "cpu":
            t = t.cpu()
        t = t.contiguous()
        if t.dtype in _STORED_AS:
            dtypes[name] = str(t.dtype).removeprefix("torch.")
            t = t.view(_STORED_AS[t.dtype])
        plain[name] = t
    save_file(plain, str(path), metadata={"format": "pt", "qrt_dtypes": json.dumps(dtypes, sort_keys=True)})
    _, header = _header(path)
    record: dict[str, Any] = {
        "name": path.name,
        "bytes": path.stat().st_size,
        "header_sha256": hashlib.sha256(header).hexdigest(),
    }
    if digest:
        record["sha256"] = file_digest(path)
    return record


def read_shard(path: Path, record: dict[str, Any] | None = None, *, verify: bool = False) -> dict[str, torch.Tensor]:
    """The tensors of one shard, memory-mapped (views of the file, not copies). ``record`` is
    the manifest's entry for the file: a missing file, another size or another header is an
    error naming the file; ``verify`` also compares the whole file's sha256."""
    if not path.is_file():
        raise FinalizeError(
            f"{path}: the file is missing",
            hint="a finalized model reads its weights from the files it was saved to; they must stay in "
            "place — save the model again (qrt.save_quantized) or restore the directory",
        )
    length, header = _header(path)
    size = path.stat().st_size
    if record is not None:
        changed = size != record["bytes"] or hashlib.sha256(header).hexdigest() != record["header_sha256"]
        if not changed and verify and "sha256" in record:
            changed = file_digest(path) != record["sha256"]
        if changed:
            raise FinalizeError(
                f"{path}: the file changed since it was written ({size} bytes, the manifest says {record['bytes']}"
                + (", contents differ" if size == record["bytes"] else "") + ")",
                hint="the weights and the manifest no longer belong together; save the model again",
            )
    out = _mapped(path, header, 8 + length, size)
    if out is None:  # a header this reader does not take as it is: safetensors' own reader says
        from safetensors import safe_open

        out = {}
        with safe_open(str(path), framework="pt", device="cpu") as f:
            meta = f.metadata() or {}
            for name in f.keys():  # noqa: SIM118  (safe_open is not a mapping)
                out[name] = f.get_tensor(name)
    else:
        meta = json.loads(header).get("__metadata__") or {}
    dtypes = json.loads(meta.get("qrt_dtypes", "{}"))
    for name, dtype in dtypes.items():
        if name in out:
            out[name] = out[name].view(_BY_NAME[dtype])
    return out


_SAFETENSORS_DTYPES = {
    "F64": torch.float64, "F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16,
    "I64": torch.int64, "I32": torch.int32, "I16": torch.int16, "I8": torch.int8, "U8": torch.uint8,
    "BOOL": torch.bool, "F8_E4M3": torch.float8_e4m3fn, "F8_E5M2": torch.float8_e5m2,
    "U64": torch.uint64, "U32": torch.uint32, "U16": torch.uint16, "C64": torch.complex64,
}
"""safetensors' dtype names (``safetensors/torch.py``'s ``_TYPES``) of the tensors :func:`_mapped` reads."""


def _mapped(path: Path, header: bytes, start: int, size: int) -> dict[str, torch.Tensor] | None:
    """The shard's tensors as safetensors' ``safe_open(...).get_tensor`` makes them — each a
    tensor on its own storage, a slice of one private (copy-on-write) mapping of the file —
    without its per-tensor cost (it slices in Python: two thirds of a trusted load's time went
    to it). ``None`` for a header it does not read as it is (an unknown dtype, a tensor whose
    bytes do not match its shape or lie outside the file, a big-endian machine)."""
    import sys

    try:
        entries = json.loads(header)
    except ValueError:
        return None
    if not isinstance(entries, dict) or sys.byteorder != "little":
        return None
    planned: list[tuple[str, torch.dtype, list[int], int, int]] = []
    for name, entry in entries.items():
        if name == "__metadata__":
            continue
        try:
            dtype = _SAFETENSORS_DTYPES[entry["dtype"]]
            shape = [int(n) for n in entry["shape"]]
            first, last = (int(n) for n in entry["data_offsets"])
        except (KeyError, TypeError, ValueError):
            return None
        count = 1
        for n in shape:
            count *= n
        if min(shape, default=0) < 0 or not 0 <= first <= last or start + last > size or last - first != count * dtype.itemsize:
            return None
        planned.append((name, dtype, shape, start + first, start + last))
    storage = torch.UntypedStorage.from_file(str(path), shared=False, nbytes=size)
    out: dict[str, torch.Tensor] = {}
    for name, dtype, shape, first, last in planned:
        if first == last:
            out[name] = torch.empty(shape, dtype=dtype)  # safetensors' empty tensors are not mapped
        else:
            out[name] = torch.empty(0, dtype=dtype).set_(storage[first:last], 0, shape)
    return out


class ShardWriter:
    """Collects tensors and writes a shard whenever ``max_bytes`` are waiting. Each written
    tensor is handed back, memory-mapped, to the callback given with it, so the in-memory copy
    can be dropped at once."""

    def __init__(self, directory: Path, *, max_bytes: int = DEFAULT_SHARD_BYTES, digest: bool = True) -> None:
        self.directory = directory
        self.max_bytes = max_bytes
        self.digest = digest
        self.files: list[dict[str, Any]] = []
        self.where: dict[str, str] = {}
        """tensor name → the shard file it is in"""
        self._pending: dict[str, torch.Tensor] = {}
        self._callbacks: list[tuple[list[str], Any]] = []
        self._bytes = 0

    def add(self, tensors: dict[str, torch.Tensor], on_written: Any = None) -> None:
        """Queue ``tensors`` (names unique across the directory); ``on_written(mapped)`` gets
        the same names mapped from disk once their shard is written."""
        for name, t in tensors.items():
            if name in self._pending or name in self.where:
                raise FinalizeError(f"two tensors named {name!r} in one finalized model")  # pragma: no cover
            self._pending[name] = t
            self._bytes += t.numel() * t.element_size()
        self._callbacks.append((list(tensors), on_written))
        if self._bytes >= self.max_bytes:
            self.flush()

    def flush(self) -> None:
        if not self._pending:
            return
        path = self.directory / f"model-{len(self.files) + 1:05d}.safetensors"
        record = write_shard(path, self._pending, digest=self.digest)
        self.files.append(record)
        for name in self._pending:
            self.where[name] = path.name
        self._pending, self._bytes = {}, 0
        callbacks, self._callbacks = self._callbacks, []
        if any(cb is not None for _, cb in callbacks):
            mapped = read_shard(path, record)
            for names, cb in callbacks:
                if cb is not None:
                    cb({n: mapped[n] for n in names})
