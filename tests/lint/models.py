"""Tiny real models for the lint tests, each built so one lint question has a clear answer.

* :class:`ContainerRoot` — the worked examples' ``mymodelSelfAttention`` (docs/semantics.md §3) under a container ``model``
  whose own forward never runs: the root calls ``self.model.selfattention(x)`` directly
  (docs/semantics.md §1 "Call stack, not name prefixes").
* :class:`TwoLinears` — two classes whose bare name is ``Linear`` (torch's and this file's),
  so ``type Linear`` is ambiguous in it (docs/semantics.md §2).
* :class:`Ragged` — a linear whose 48 input features blocks of 32 do not divide.
"""

from __future__ import annotations

import torch
from torch import nn

from qrt import inspect_model
from qrt.inventory.model import Inventory

__all__ = ["ContainerRoot", "Linear", "Ragged", "TwoLinears", "inventory", "mymodelSelfAttention"]


class mymodelSelfAttention(nn.Module):  # noqa: N801 - the worked examples' class name
    def __init__(self) -> None:
        super().__init__()
        self.proj = nn.Linear(4, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.proj(x), dim=-1)


class ContainerRoot(nn.Module):
    """``model`` is a plain container: its forward never runs, ``model.selfattention``'s does."""

    def __init__(self) -> None:
        super().__init__()
        self.model = nn.Module()
        self.model.selfattention = mymodelSelfAttention()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model.selfattention(x)


class Linear(nn.Module):
    """A second class named ``Linear`` (a wrapper, as libraries write them)."""

    def __init__(self) -> None:
        super().__init__()
        self.inner = nn.Linear(4, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.inner(x) * 2


class TwoLinears(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 4)
        self.wrapped = Linear()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.wrapped(self.fc(x))


class Ragged(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(48, 8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(x)


def inventory(model_class: type[nn.Module], features: int = 4) -> Inventory:
    """The traced inventory of a fresh ``model_class()`` on a ``(2, features)`` input."""
    torch.manual_seed(0)
    return inspect_model(model_class().eval(), torch.randn(2, features))
