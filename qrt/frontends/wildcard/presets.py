"""ModelOpt 0.47's named presets, shipped as wildcard configs in ``rules/modelopt/``.

Each ``<NAME>.yaml`` is a full ModelOpt config (``algorithm`` and ``quant_cfg``) written from
the released configs' values, with tuples as YAML lists and integer block axes as integer
keys. Load one by its ModelOpt name (``FP8_DEFAULT_CFG``) from Python, or write
``modelopt:FP8_DEFAULT_CFG`` wherever a command takes a rule file.
"""

from __future__ import annotations

from qrt.errors import did_you_mean
from qrt.frontends.wildcard.errors import WildcardConfigError
from qrt.frontends.wildcard.model import WildcardConfig
from qrt.frontends.wildcard.reading import wildcard_from_text
from qrt.resources import data_dir

__all__ = ["PRESET_PREFIX", "available_modelopt_presets", "load_modelopt_preset"]

PRESET_PREFIX = "modelopt:"
"""A rule-file argument ``modelopt:NAME`` names a shipped ModelOpt preset."""


def _folder():  # type: ignore[no-untyped-def]
    return data_dir("rules") / "modelopt"


def available_modelopt_presets() -> list[str]:
    """The ModelOpt preset names qrt ships (``FP8_DEFAULT_CFG``, ``NVFP4_DEFAULT_CFG`` …)."""
    folder = _folder()
    if not folder.is_dir():
        return []
    return sorted(p.name[: -len(".yaml")] for p in folder.iterdir() if p.name.endswith(".yaml"))


def load_modelopt_preset(name: str) -> WildcardConfig:
    """A shipped preset by its ModelOpt name; the ``modelopt:`` prefix may be included."""
    if name.startswith(PRESET_PREFIX):
        name = name[len(PRESET_PREFIX):]
    names = available_modelopt_presets()
    if name not in names:
        close = did_you_mean(name, names) or did_you_mean(name.upper(), names)
        raise WildcardConfigError(
            f"no shipped ModelOpt preset named {name!r}" + (f" ({close})" if close else ""),
            hint="shipped presets: " + ", ".join(names),
        )
    target = _folder() / f"{name}.yaml"
    return wildcard_from_text(target.read_text(encoding="utf-8"), file=str(target))
