"""Groups: which elements of a tensor share one scale, for every format.

A spec's granularity splits a tensor into groups: the whole tensor (``per_tensor``), one index
of ``axis`` (``per_channel``), or a run of ``block_size`` elements along ``axis`` with every
other dimension kept (``per_block``). The group of each element is described by a torchao
``block_size`` tuple (:func:`group_shape`), statistics reduce over each group
(:func:`group_min_max`), and :func:`grouped` views a tensor so a group's scale broadcasts.
"""

from __future__ import annotations

import torch

from qrt.errors import NumericsError
from qrt.ir.spec import PerBlock, PerChannel, QuantizationSpec

__all__ = ["NumericsError", "expand", "group_min_max", "group_shape", "grouped", "groups", "move_last", "torch_dtype"]


def torch_dtype(name: str) -> torch.dtype:
    """The torch dtype a spec's dtype name (``float8_e4m3fn``, ``float4_e2m1fn_x2``) names."""
    dtype = getattr(torch, name)
    assert isinstance(dtype, torch.dtype), name
    return dtype


def _axis(axis: int | None, rank: int, what: str) -> int:
    if axis is None:
        raise NumericsError(f"{what} needs an axis; the spec has none and no default applies")
    if not -rank <= axis < rank:
        raise NumericsError(f"axis {axis} is out of range for a tensor of rank {rank}")
    return axis % rank


def group_shape(spec: QuantizationSpec, shape: tuple[int, ...]) -> tuple[int, ...]:
    """torchao's ``block_size``: how many elements of each dimension share one scale."""
    g = spec.granularity
    rank = len(shape)
    if isinstance(g, PerChannel):
        axis = _axis(g.axis, rank, "per_channel")
        return tuple(1 if d == axis else n for d, n in enumerate(shape))
    if isinstance(g, PerBlock):
        axis = _axis(g.axis, rank, "per_block")
        if shape[axis] % g.block_size:
            raise NumericsError(
                f"block size {g.block_size} does not divide dimension {axis} (size {shape[axis]}); "
                f"valid block sizes divide {shape[axis]}"
            )
        return tuple(g.block_size if d == axis else 1 for d in range(rank))
    return tuple(shape) if shape else ()


def group_min_max(x: torch.Tensor, block: tuple[int, ...]) -> tuple[torch.Tensor, torch.Tensor]:
    """Min and max of every group (shape ``x.shape // block``)."""
    if not block:
        return x.min().reshape(()), x.max().reshape(())
    split: list[int] = []
    for n, b in zip(x.shape, block):
        split += [n // b, b]
    v = x.detach().reshape(split)
    dims = tuple(range(1, len(split), 2))
    return v.amin(dim=dims), v.amax(dim=dims)


def groups(shape: tuple[int, ...], block: tuple[int, ...]) -> tuple[int, ...]:
    """The number of groups along each dimension."""
    return tuple(n // b for n, b in zip(shape, block)) if block else ()


def expand(t: torch.Tensor, block: tuple[int, ...]) -> torch.Tensor:
    """One value per group → one per element."""
    for d, b in enumerate(block):
        if b > 1:
            t = t.repeat_interleave(b, dim=d)
    return t


def grouped(
    x: torch.Tensor, block: tuple[int, ...], scale: torch.Tensor, zero_point: torch.Tensor | None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """``x`` viewed so that each group's scale (and zero point) broadcasts over it: every
    dimension split into (groups, elements per group) when blocks are partial."""
    if block and any(b > 1 for b in block) and any(b < n for b, n in zip(block, x.shape)):
        split: list[int] = []
        shape: list[int] = []
        for n, b in zip(x.shape, block):
            split += [n // b, b]
            shape += [n // b, 1]
        z = zero_point.reshape(shape).float() if zero_point is not None else None
        return x.float().reshape(split), scale.float().reshape(shape), z
    z = zero_point.float() if zero_point is not None else None
    return x.float(), scale.float(), z


def move_last(x: torch.Tensor, axis: int) -> torch.Tensor:
    return x.movedim(axis, -1) if axis != x.dim() - 1 else x
