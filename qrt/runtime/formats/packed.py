"""A tensor's real low-bit form (:class:`Packed`), whatever its format, and the check that a
stored one holds what its layout says.

Which packed kinds exist and how many bits each stores is a format fact
(:data:`qrt.formats.PACKED_BITS`); how a kind is written and read back is its family's
arithmetic (``qrt/runtime/formats/<family>.py``).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from qrt.errors import FinalizeError
from qrt.formats import PACKED_BITS, packed_within_bytes, scales_per_group

__all__ = ["Packed", "check_stored"]


@dataclass
class Packed:
    """A tensor's real low-bit form."""

    data: torch.Tensor
    """codes (packed for 2- and 4-bit integers, float8 values, packed FP4)"""
    scale: torch.Tensor
    zero_point: torch.Tensor | None
    shape: tuple[int, ...]
    block: tuple[int, ...]
    kind: str
    bits: int
    signed: bool
    qmin: int = 0
    global_scale: torch.Tensor | None = None
    """NVFP4-style: the fp32 per-tensor scale the float8 block scales are relative to"""

    @property
    def nbytes(self) -> int:
        return self.data.numel() * self.data.element_size() + self.scale.numel() * self.scale.element_size() + (
            self.zero_point.numel() * self.zero_point.element_size() if self.zero_point is not None else 0
        ) + (self.global_scale.numel() * self.global_scale.element_size() if self.global_scale is not None else 0)

    def tensors(self) -> dict[str, torch.Tensor]:
        """The stored tensors by field name (``data``, ``scale``, and ``zero_point`` /
        ``global_scale`` where the format has them)."""
        out = {"data": self.data, "scale": self.scale}
        if self.zero_point is not None:
            out["zero_point"] = self.zero_point
        if self.global_scale is not None:
            out["global_scale"] = self.global_scale
        return out

    def layout(self) -> dict[str, object]:
        """Everything but the tensors: what a manifest records to rebuild this form."""
        return {"kind": self.kind, "shape": list(self.shape), "block": list(self.block), "bits": self.bits,
                "signed": self.signed, "qmin": self.qmin}

    @classmethod
    def from_stored(cls, layout: dict[str, object], tensors: dict[str, torch.Tensor]) -> Packed:
        """The inverse of :meth:`layout` + :meth:`tensors`; stored tensors that do not hold what
        the layout says (an edited manifest's ``bits``, a shard of another model) are an error."""
        check_stored(layout, tensors)
        return cls(tensors["data"], tensors["scale"], tensors.get("zero_point"), tuple(layout["shape"]),  # type: ignore[arg-type]
                   tuple(layout["block"]), str(layout["kind"]), int(layout["bits"]), bool(layout["signed"]),  # type: ignore[arg-type]
                   int(layout["qmin"]), tensors.get("global_scale"))  # type: ignore[call-overload]


def check_stored(layout: dict[str, object], tensors: dict[str, torch.Tensor]) -> None:
    """Cheap structural check of a stored packed weight against its layout: the kind is known,
    ``data`` holds exactly the bytes ``shape`` and ``bits`` take, ``scale`` one value per group
    (int, float8). Catches an edited manifest (``bits`` 8 → 4) or a shard that is not the one
    written, which would otherwise load and give other numbers, or fail in the first forward."""
    try:
        kind, bits = str(layout["kind"]), int(layout["bits"])  # type: ignore[call-overload]
        shape = tuple(int(n) for n in layout["shape"])  # type: ignore[attr-defined]
        block = tuple(int(n) for n in layout["block"])  # type: ignore[attr-defined]
    except (KeyError, TypeError, ValueError) as exc:
        raise FinalizeError(f"a packed weight's layout is incomplete or malformed ({exc})",
                            hint="the manifest was edited or damaged; save the model again") from None
    if kind not in PACKED_BITS or not 1 <= bits <= 8 or (PACKED_BITS[kind] is not None and bits != PACKED_BITS[kind]):
        raise FinalizeError(f"a packed weight's layout says {kind} with {bits} bits, which qrt never writes",
                            hint="the manifest was edited or damaged; save the model again")
    data = tensors.get("data")
    if data is None or tensors.get("scale") is None:
        raise FinalizeError("a packed weight lacks its data or scale tensor",
                            hint="the shards and the manifest no longer belong together; save the model again")
    count = 1
    for n in shape:
        count *= n
    expected = -(-count * bits // 8) if packed_within_bytes(kind, bits) else count
    held = data.numel() * data.element_size()
    if held != expected:
        raise FinalizeError(
            f"a packed weight's data holds {held} bytes, but its layout ({kind}, {bits} bits, shape "
            f"{list(shape)}) takes {expected}",
            hint="the manifest was edited, or a shard is not the one qrt wrote; save the model again",
        )
    if scales_per_group(kind) and len(block) == len(shape) and all(b > 0 for b in block):
        n_groups = 1
        for n, b in zip(shape, block):
            n_groups *= max(n // b, 1)
        if tensors["scale"].numel() != n_groups:
            raise FinalizeError(
                f"a packed weight's scale holds {tensors['scale'].numel()} values, but its layout "
                f"(shape {list(shape)}, blocks {list(block)}) has {n_groups} groups",
                hint="the manifest was edited, or a shard is not the one qrt wrote; save the model again",
            )
