"""The errors a hierarchical config raises, and the pieces every check builds them from.

Two layers meet here. Inside pydantic validation a check cannot raise :class:`ConfigError`:
pydantic would wrap it and lose the config path, so validators raise :func:`fail` (a
``PydanticCustomError`` whose slug is in :data:`OWN_ERRORS`, its message complete as written)
and :mod:`.pydantic_errors` turns the collected errors into :class:`ConfigIssue` objects. Outside
validation (setters, path parsing, document checks) code raises :class:`ConfigError` directly.
Either way the user sees one exception: :func:`raise_issues` picks :class:`ConfigError`, or
:class:`~qrt.errors.SpecError` when every problem lies inside a quantization spec, so a bad
spec reads the same whether it was written alone or deep in a config.

This module imports nothing else from the front end, so every other module can raise from it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NoReturn

from pydantic_core import PydanticCustomError

from qrt.errors import Location, QrtError, SpecError, did_you_mean

__all__ = [
    "OWN_ERRORS",
    "ConfigError",
    "ConfigIssue",
    "fail",
    "listing",
    "raise_issues",
    "suggest",
]


@dataclass(frozen=True)
class ConfigIssue:
    """One problem in a config: its config path, what is wrong, and where it was written."""

    path: str
    message: str
    location: str | None = None
    spec: bool = False
    """``True`` when the problem is inside a quantization spec (a :class:`SpecError`)."""
    keys: tuple[Any, ...] = ()
    """The mapping keys leading to the problem, as written (to find its line in a file)."""

    @property
    def where(self) -> Location | None:
        """:attr:`location` as its parts."""
        return Location.parse(self.location)

    def render(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


class ConfigError(QrtError):
    """A hierarchical config that cannot be read: unknown field, bad key, bad value.

    ``issues`` lists every problem found, each with its config path and location; the message
    starts with the first.
    """

    code = "QRT206"

    def __init__(
        self,
        message: str,
        *,
        location: str | None = None,
        offending: str | None = None,
        hint: str | None = None,
        code: str | None = None,
        issues: tuple[ConfigIssue, ...] = (),
    ) -> None:
        self.issues = issues
        super().__init__(message, location=location, offending=offending, hint=hint, code=code)


def fail(kind: str, message: str, **ctx: Any) -> PydanticCustomError:
    """The error a validator raises: ``kind`` is a slug of :data:`OWN_ERRORS`; a ``key`` in
    ``ctx`` names the dict key at fault, which :mod:`.pydantic_errors` appends to the path."""
    # The message goes through the context so that braces in it are text, not a template.
    return PydanticCustomError(kind, "{message}", {"message": message, **ctx})


OWN_ERRORS = frozenset(
    {"invalid_config", "invalid_key", "invalid_value", "invalid_schedule", "mixed_keys"}
)
"""Error slugs raised by the front end's validators; their messages are complete as they are."""


def listing(choices: Any) -> str:
    """``a, b, c``: the valid choices, for the end of a message."""
    return ", ".join(str(c) for c in choices)


def suggest(word: object, choices: Any) -> str:
    """`` (did you mean 'x'?)`` when ``word`` is close to one of ``choices``, else ``""``."""
    hint = did_you_mean(str(word), [str(c) for c in choices])
    return f" ({hint})" if hint else ""


def raise_issues(issues: list[ConfigIssue], *, hint: str | None = None) -> NoReturn:
    """Raise :class:`SpecError` if every issue is inside a spec, else :class:`ConfigError`."""
    first = issues[0]
    lines = [first.render()]
    for issue in issues[1:]:
        where = f"{issue.location}: " if issue.location and issue.location != first.location else ""
        lines.append(f"{where}{issue.render()}")
    message = "\n".join(lines)
    if all(issue.spec for issue in issues):
        exc: QrtError = SpecError(message, location=first.location, hint=hint)
        exc.issues = tuple(issues)  # type: ignore[attr-defined]
    else:
        exc = ConfigError(message, location=first.location, hint=hint, issues=tuple(issues))
    raise exc from None
