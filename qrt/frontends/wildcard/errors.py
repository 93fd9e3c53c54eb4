"""The wildcard front end's error: one class, raised by every module of the package.

It lives alone, below everything else in the package, so that the attribute checks
(:mod:`.attributes`, :mod:`.spec_map`) and the readers raise it without importing each other.
"""

from __future__ import annotations

from qrt.errors import QrtError

__all__ = ["WildcardConfigError"]


class WildcardConfigError(QrtError):
    """A wildcard config (ModelOpt ``quant_cfg``) that cannot be read: bad shape, unknown key or
    attribute, an entry without an instruction. Located at ``file:line:col`` when known."""

    code = "QRT208"
