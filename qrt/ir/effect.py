"""What a rule does to a site's decision, and the fold state it acts on (docs/semantics.md §2).

The fold state is ``(enabled, spec)``. It starts "not quantized" ``(False, None)``:

* ``Set(spec, enable=True)`` replaces everything before it; ``enable=False`` keeps the spec
  but leaves the quantizer off (ModelOpt's ``cfg`` + ``enable: false``);
* ``Off()`` replaces everything before it with "not quantized";
* ``Patch(enable=…, fields=…)`` changes only what it names: the enable toggle and/or some
  spec fields. A patch on a site with no spec yet starts from the role's default spec
  (activation default for inputs/outputs, weight default for state), and explain says the
  unset fields came from defaults.

A site is quantized with ``spec`` iff the final state is ``(True, spec)``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Union

from qrt.ir.spec import QuantizationSpec, default_activation_spec, default_weight_spec

__all__ = ["Set", "Off", "Patch", "Effect", "FoldState", "NOT_QUANTIZED", "role_default", "apply_effect"]


@dataclass(frozen=True, slots=True)
class Set:
    spec: QuantizationSpec
    enable: bool = True
    spec_name: str | None = None
    """the name of a reusable spec definition this came from, for printing"""


@dataclass(frozen=True, slots=True)
class Off:
    pass


@dataclass(frozen=True, slots=True)
class Patch:
    enable: bool | None = None
    fields: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "fields", dict(self.fields))
        if self.enable is None and not self.fields:
            from qrt.ir.patterns import PatternError

            raise PatternError("a patch must change the enable toggle or at least one spec field")

    def __hash__(self) -> int:
        return hash((self.enable, tuple(sorted((k, repr(v)) for k, v in self.fields.items()))))


Effect = Union[Set, Off, Patch]


@dataclass(frozen=True, slots=True)
class FoldState:
    enabled: bool
    spec: QuantizationSpec | None

    @property
    def decision(self) -> QuantizationSpec | None:
        return self.spec if self.enabled else None


NOT_QUANTIZED = FoldState(False, None)


def role_default(role: str) -> QuantizationSpec:
    return default_weight_spec() if role in ("state", "module_state") else default_activation_spec()


def apply_effect(state: FoldState, effect: Effect, role: str) -> FoldState:
    if isinstance(effect, Set):
        return FoldState(effect.enable, effect.spec)
    if isinstance(effect, Off):
        return NOT_QUANTIZED
    spec = state.spec
    if effect.fields:
        spec = (spec or role_default(role)).merged(effect.fields)
    elif effect.enable and spec is None:
        spec = role_default(role)
    enabled = state.enabled if effect.enable is None else effect.enable
    return FoldState(enabled, spec)
