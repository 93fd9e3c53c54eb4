"""Preset configs (docs/semantics.md §3): ``QuantizerConfig.presets.w4()`` and friends.

Why presets are YAML files (``rules/presets/<name>.yaml``, shipped as data) and not Python:
a preset is a config a user could have written, so it is written the way users write them,
read by the same loader, and its origins point at real lines (``explain`` can say "from
``w4.yaml:12:7``"). Every call loads the file again, so each call returns a fresh config that
the caller may change freely.

``QuantizerConfig.presets.NAME()`` is the whole document; ``ModuleQuantizerConfig.presets.NAME()``
is its ``global_config``, so that the equivalence of docs/semantics.md §3 holds::

    QuantizerConfig.presets.w4() == QuantizerConfig(
        global_config=ModuleQuantizerConfig.presets.w4()
    )

:func:`register_preset` adds a preset from a YAML file or from a factory (a callable returning
either config class); both namespaces see it.
"""

from __future__ import annotations

import copy
import keyword
import os
from collections.abc import Callable
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any, Union

from qrt.errors import did_you_mean
from qrt.frontends.hierarchical.config import ModuleQuantizerConfig, QuantizerConfig
from qrt.frontends.hierarchical.errors import ConfigError
from qrt.frontends.hierarchical.yaml_io import config_from_yaml_text, load_config
from qrt.resources import data_dir

__all__ = [
    "BUILTIN_PRESETS",
    "PresetNamespace",
    "available_presets",
    "register_preset",
    "unregister_preset",
    "quantizer_preset",
    "module_preset",
]

BUILTIN_PRESETS: tuple[str, ...] = ("w8", "w4", "w8a8", "w4a8", "fp8", "mxfp4", "mxfp4_a_fp8")
"""The presets shipped in ``rules/presets/`` (each a ``<name>.yaml`` there)."""

Factory = Callable[[], Union[QuantizerConfig, ModuleQuantizerConfig]]
PresetSource = Union[str, "os.PathLike[str]", Traversable, Factory]

_RESERVED = frozenset({"names", "get"})
_registered: dict[str, Union[Path, Factory]] = {}


def _shipped() -> dict[str, Traversable]:
    try:
        folder = data_dir("rules") / "presets"
    except FileNotFoundError:  # pragma: no cover - a broken installation
        return {}
    if not folder.is_dir():
        return {}
    return {p.name[: -len(".yaml")]: p for p in folder.iterdir() if p.name.endswith(".yaml")}


def available_presets() -> list[str]:
    """Names of every preset: shipped and registered."""
    return sorted(set(_shipped()) | set(_registered))


def register_preset(name: str, source: PresetSource, *, replace: bool = False) -> None:
    """Add preset ``name``: a YAML file (checked now, read again at each use) or a factory.

    A factory may return a :class:`QuantizerConfig` or a :class:`ModuleQuantizerConfig`; its
    result is copied at each use, so a factory that returns one shared object is safe too.
    An existing name (shipped or registered) needs ``replace=True``.
    """
    if not isinstance(name, str) or not name.isidentifier() or keyword.iskeyword(name):
        raise ConfigError(f"preset name {name!r} must be a Python identifier (presets.{name}())")
    if name.startswith("_") or name in _RESERVED:
        raise ConfigError(
            f"preset name {name!r} is reserved; names may not start with '_' or be one of "
            f"{', '.join(sorted(_RESERVED))}"
        )
    if not replace and (name in _registered or name in _shipped()):
        raise ConfigError(
            f"a preset named {name!r} already exists; pass replace=True to replace it"
        )
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        load_config(path)  # errors now, at the registration, not at the first use
        _registered[name] = path
    elif callable(source):
        _registered[name] = source
    else:
        raise ConfigError(
            f"register_preset({name!r}, ...) takes a YAML file path or a callable returning a "
            f"QuantizerConfig or ModuleQuantizerConfig; got {source!r} ({type(source).__name__})"
        )


def unregister_preset(name: str) -> None:
    """Remove a registered preset (shipped presets cannot be removed)."""
    if name not in _registered:
        raise ConfigError(
            f"no registered preset named {name!r}; registered presets: "
            f"{', '.join(sorted(_registered)) or '(none)'}"
        )
    del _registered[name]


def _unknown(name: str) -> str:
    names = available_presets()
    hint = did_you_mean(name, names)
    return f"no preset named {name!r}{f' ({hint})' if hint else ''}; presets: {', '.join(names)}"


def _load(name: str) -> QuantizerConfig | ModuleQuantizerConfig:
    source: Any = _registered.get(name)
    if source is None:
        source = _shipped().get(name)
    if source is None:
        raise ConfigError(_unknown(name))
    if isinstance(source, Path):
        return load_config(source)
    if isinstance(source, Traversable):
        return config_from_yaml_text(source.read_text(encoding="utf-8"), file=str(source))
    made = source()
    if not isinstance(made, (QuantizerConfig, ModuleQuantizerConfig)):
        raise ConfigError(
            f"preset {name!r}: its factory returned {type(made).__name__}; a preset factory "
            "returns a QuantizerConfig or a ModuleQuantizerConfig"
        )
    return copy.deepcopy(made)


def quantizer_preset(name: str) -> QuantizerConfig:
    """A fresh :class:`QuantizerConfig` of preset ``name``."""
    made = _load(name)
    if isinstance(made, ModuleQuantizerConfig):
        return QuantizerConfig(global_config=made)
    return made


def module_preset(name: str) -> ModuleQuantizerConfig:
    """A fresh :class:`ModuleQuantizerConfig` of preset ``name``: the preset's global config.

    A preset that also configures module types or names, or has no global config, has no
    module-level form; asking for one is an error rather than a silent loss.
    """
    made = _load(name)
    if isinstance(made, ModuleQuantizerConfig):
        return made
    extra = [f for f in ("module_type_configs", "module_name_configs") if getattr(made, f)]
    if extra:
        raise ConfigError(
            f"preset {name!r} also sets {' and '.join(extra)}, which a ModuleQuantizerConfig "
            f"cannot hold; use QuantizerConfig.presets.{name}()"
        )
    if made.global_config is None:
        raise ConfigError(
            f"preset {name!r} has global_config: null, so it has no module-level form; use "
            f"QuantizerConfig.presets.{name}()"
        )
    return made.global_config


class PresetNamespace:
    """``presets.NAME()`` for every preset name; ``presets.names()`` lists them."""

    def __init__(self, owner: str, build: Callable[[str], Any]) -> None:
        self._owner = owner
        self._build = build

    def names(self) -> list[str]:
        return available_presets()

    def get(self, name: str) -> Callable[[], Any]:
        """The constructor of preset ``name`` (a :class:`ConfigError` names the valid ones)."""
        if name not in available_presets():
            raise ConfigError(_unknown(name))
        build = self._build

        def make() -> Any:
            return build(name)

        make.__name__ = make.__qualname__ = name
        make.__doc__ = f"A fresh {self._owner} of preset {name!r}."
        return make

    def __getattr__(self, name: str) -> Callable[[], Any]:
        if name.startswith("_"):
            raise AttributeError(name)
        if name not in available_presets():
            raise AttributeError(f"{self._owner}.presets: {_unknown(name)}")
        return self.get(name)

    def __dir__(self) -> list[str]:
        return sorted({*available_presets(), "names", "get"})

    def __repr__(self) -> str:
        return f"<{self._owner}.presets: {', '.join(available_presets())}>"


QuantizerConfig.presets = PresetNamespace("QuantizerConfig", quantizer_preset)
ModuleQuantizerConfig.presets = PresetNamespace("ModuleQuantizerConfig", module_preset)
