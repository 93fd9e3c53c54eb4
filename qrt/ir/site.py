"""A site: one tensor position where a quantizer may sit (docs/semantics.md §1).

Sites are the rows every other part of qrt works on: the resolver decides one spec per site,
explain talks about one site, the runtime puts one quantizer per *tensor* (several sites may
sit on one tensor; ``Site.tensor`` ties them). A site is immutable and needs no torch, so
lint and explain work from a saved inventory.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Union, get_args

__all__ = ["Site", "Role", "ROLES", "OP_ROLES", "MODULE_ROLES", "Key", "ScopeEntry"]

Role = Literal["input", "output", "state", "module_input", "module_output", "module_state"]
"""Where the tensor sits. ``module_state`` is qrt's name for a module's own state tensors
(``module_state_spec`` in docs/semantics.md §3); §1's table lists the other five."""

ROLES: tuple[str, ...] = get_args(Role)
OP_ROLES: frozenset[str] = frozenset({"input", "output", "state"})
MODULE_ROLES: frozenset[str] = frozenset({"module_input", "module_output", "module_state"})

Key = Union[int, str]
"""An ``int`` position for inputs/outputs, a ``str`` for state and named inputs."""

ScopeEntry = tuple[str, str]
"""``(module name, fully-qualified module class)``."""


@dataclass(frozen=True, slots=True)
class Site:
    """One quantizable tensor position.

    ``scope`` is the module call stack from the root (``""``) to the module that runs the op
    (for module-level roles: the module itself). ``tensor`` names the tensor's identity by
    its producer (``op:<op_name>:<k>``, ``param:<fqn>``, ``input:<key>``), so sites on the
    same tensor can be found; the inventory's tensor table lists who reads it.
    """

    quantizer_path: str
    scope: tuple[ScopeEntry, ...]
    role: Role
    key: Key
    op_type: str | None = None
    op_name: str | None = None
    tensor: str = ""
    shape: tuple[int, ...] | None = None
    dtype: str | None = None
    arg_name: str | None = None
    """The forward parameter name of a module input given by position (``{0: ...}`` and
    ``{"query": ...}`` both reach it), or the keyword an op input was passed by."""
    source: str | None = None
    """``file:line`` of the user code that made the call, where known."""
    aliases: tuple[str, ...] = field(default=())
    """Other quantizer paths naming this site (ModelOpt's ``q_bmm_quantizer`` … , §4)."""
    modelopt_name: str | None = None
    """The name of the quantizer ModelOpt 0.47's conversion would create on this tensor
    (``q_proj.weight_quantizer``, ``self_attn.p_bmm_quantizer``), or ``None`` where it would
    create none (norm weights, activation-function inputs, modules of classes outside its
    registry). docs/semantics.md §4: a wildcard list reaches exactly the sites that have one, by this
    name. An inventory fact (:mod:`qrt.inventory.modelopt`), not something a rule decides."""
    modelopt_class: str | None = None
    """Where :attr:`modelopt_name` is set: the class a list entry's ``parent_class`` is
    compared with — the module's own class, except where ModelOpt converts it into another
    registry class's (transformers' ``Conv1D`` becomes ``nn.Linear``'s)."""
    fused: str | None = None
    """On a fused mixture-of-experts module (3-D ``gate_up_proj``/``down_proj`` parameters, one
    matrix per expert): the fused parameter this site belongs to — its activation (role
    ``input``) or one expert's matrix (role ``state``, with :attr:`expert`). ``None`` elsewhere.
    The runtime finds the tensors it quantizes by it, whichever experts implementation runs."""
    expert: int | None = None
    """One expert's matrix of the fused parameter :attr:`fused` (``state[gate_up_proj]`` of
    expert 3 is ``gate_up_proj[3]``); its axes index that ``(out, in)`` matrix."""

    @property
    def module(self) -> str:
        return self.scope[-1][0] if self.scope else ""

    @property
    def module_type(self) -> str:
        return self.scope[-1][1] if self.scope else ""

    @property
    def is_module_level(self) -> bool:
        return self.role in MODULE_ROLES

    @property
    def layer(self) -> int | None:
        """The layer a site is in: the first all-digit component of its module name
        (``model.layers.3.mlp`` → 3, ``h.0.attn`` → 0, ``encoder.block.1.layer.0`` → 1), as
        the repeated blocks of a model are numbered; ``None`` outside them."""
        for part in self.module.split("."):
            if part.isdigit():
                return int(part)
        return None

    @property
    def label(self) -> str:
        """A short human name: ``op_name:role[key]`` or ``module:role[key]``."""
        owner = self.op_name if self.op_name is not None else (self.module or "<root>")
        expert = f"[expert {self.expert}]" if self.expert is not None else ""
        return f"{owner}:{self.role}[{self.key}]{expert}"

    def matches_key(self, key: Key) -> bool:
        """A key written in a config reaches this site by position or by argument name."""
        return key == self.key or (self.arg_name is not None and key == self.arg_name)
