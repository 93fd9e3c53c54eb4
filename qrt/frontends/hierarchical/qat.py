"""``QATSchedule``: when observers and fake quantization switch on and off during QAT (docs/semantics.md §3).

A module config may carry a schedule; a runtime advances a step counter (``quantizer.step()``,
docs/architecture.md) and asks the schedule for the state at that step. The whole state machine is two
switches driven by three thresholds, so it is written here as a pure function of the step
(:meth:`QATSchedule.state_at`) and checked when the schedule is built, not when training is
an hour in. The checks are the reference library's: a schedule that fake-quantizes before it
observes, or stops observing before it has started, is refused.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple, Optional

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator, model_validator
from pydantic_core import PydanticCustomError

from qrt.frontends.hierarchical.callsite import call_site, position_of
from qrt.frontends.hierarchical.errors import ConfigError
from qrt.frontends.hierarchical.pydantic_errors import raise_validation

__all__ = ["QATSchedule", "QATState"]


def _fail(kind: str, message: str) -> PydanticCustomError:
    return PydanticCustomError(kind, "{message}", {"message": message})


class QATState(NamedTuple):
    """Whether observers and fake quantization are on at one step of a QAT schedule."""

    observer: bool
    fake_quant: bool

    @property
    def phase(self) -> str:
        """``off``, ``observe``, ``observe+fake_quant`` or ``fake_quant`` (observers frozen)."""
        if self.observer:
            return "observe+fake_quant" if self.fake_quant else "observe"
        return "fake_quant" if self.fake_quant else "off"


def _step_number(value: object, *, minimum: int) -> object:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _fail(
            "invalid_value",
            f"must be an integer step count >= {minimum}, got {value!r} ({type(value).__name__})",
        )
    if value < minimum:
        raise _fail("invalid_value", f"must be >= {minimum}, got {value}")
    return value


class QATSchedule(BaseModel):
    """When observers and fake quantization are on, by step.

    The step counter starts at 0 and ``quantizer.step()`` increments it (once per batch or
    per epoch: the unit is the caller's), applying the new state at once. At step ``s``:

    * observers are on while ``enable_observer <= s < disable_observer`` (for ever when
      ``disable_observer`` is ``None``);
    * fake quantization is on from ``s >= enable_fake_quant`` on, and stays on.

    Valid schedules: ``enable_observer >= 0``; ``enable_fake_quant >= enable_observer`` (never
    fake-quantize before observing: the scales would be unset); ``disable_observer`` is
    ``None`` or ``> enable_observer`` and ``>= enable_fake_quant`` (observers run at least one
    step, and are not frozen before fake quantization starts). Frozen: a schedule is a value.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    enable_observer: int = 0
    enable_fake_quant: int = 0
    disable_observer: Optional[int] = None

    def __init__(self, /, **data: Any) -> None:
        try:
            super().__init__(**data)
        except ValidationError as err:
            raise_validation(err, type(self), data, location=position_of(call_site()))

    # Marked as pydantic's own __init__: nested validation must not call it (see config.py).
    __init__.__pydantic_base_init__ = True  # type: ignore[attr-defined]

    @model_validator(mode="before")
    @classmethod
    def _mapping(cls, data: Any) -> Any:
        if isinstance(data, (cls, Mapping)):
            return data
        raise _fail(
            "invalid_config",
            f"a QATSchedule must be a mapping of {', '.join(cls.model_fields)}, or null; "
            f"got {data!r} ({type(data).__name__})",
        )

    @field_validator("enable_observer", "enable_fake_quant", mode="before")
    @classmethod
    def _steps(cls, value: object) -> object:
        return _step_number(value, minimum=0)

    @field_validator("disable_observer", mode="before")
    @classmethod
    def _disable(cls, value: object) -> object:
        return None if value is None else _step_number(value, minimum=1)

    @model_validator(mode="after")
    def _order(self) -> QATSchedule:
        if self.enable_fake_quant < self.enable_observer:
            raise _fail(
                "invalid_schedule",
                f"enable_fake_quant ({self.enable_fake_quant}) must be >= enable_observer "
                f"({self.enable_observer}): fake quantization needs observed ranges",
            )
        if self.disable_observer is not None:
            if self.disable_observer <= self.enable_observer:
                raise _fail(
                    "invalid_schedule",
                    f"disable_observer ({self.disable_observer}) must be > enable_observer "
                    f"({self.enable_observer}), or null to keep observers on",
                )
            if self.disable_observer < self.enable_fake_quant:
                raise _fail(
                    "invalid_schedule",
                    f"disable_observer ({self.disable_observer}) must be >= enable_fake_quant "
                    f"({self.enable_fake_quant}), or null to keep observers on",
                )
        return self

    def state_at(self, step: int) -> QATState:
        """Observer and fake-quant state at step ``step`` (0 before the first ``step()``)."""
        if isinstance(step, bool) or not isinstance(step, int) or step < 0:
            raise ConfigError(f"a QAT step must be an integer >= 0, got {step!r}")
        ends = self.disable_observer
        observer = self.enable_observer <= step and (ends is None or step < ends)
        return QATState(observer=observer, fake_quant=step >= self.enable_fake_quant)

    def transitions(self) -> tuple[tuple[int, QATState], ...]:
        """The state at step 0, then each step at which the state changes, in step order."""
        steps = {0, self.enable_observer, self.enable_fake_quant}
        if self.disable_observer is not None:
            steps.add(self.disable_observer)
        out: list[tuple[int, QATState]] = []
        for step in sorted(steps):
            state = self.state_at(step)
            if not out or out[-1][1] != state:
                out.append((step, state))
        return tuple(out)
