"""Where a rule came from: a file position and/or a config path (docs/semantics.md §2 ``origin``)."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Origin"]


@dataclass(frozen=True, slots=True)
class Origin:
    """``file:line:col`` of the text that made a rule, and the config path inside it.

    ``config_path`` is the front end's own address of the rule, such as
    ``module_name_configs['decoder.deconv1'].op_state_spec['weight']`` or ``quant_cfg[3]``;
    explain and lint print both so a user can find the line and knows what it meant.
    Origins never take part in rule equality for resolution, only in reporting.
    """

    file: str | None = None
    line: int | None = None
    column: int | None = None
    config_path: str | None = None

    @property
    def position(self) -> str | None:
        """``file:line:col`` (as much of it as is known), or ``None``."""
        if self.file is None and self.line is None:
            return None
        parts = [self.file or "<string>"]
        if self.line is not None:
            parts.append(str(self.line))
            if self.column is not None:
                parts.append(str(self.column))
        return ":".join(parts)

    def __str__(self) -> str:
        pos = self.position
        if pos and self.config_path:
            return f"{pos} ({self.config_path})"
        return pos or self.config_path or "<unknown>"
