"""A command's ``RULES`` argument as a rule source from the compiled-rules cache
(:mod:`qrt.frontends.rules_cache`): a DSL file's rules, or a ModelOpt list's (``modelopt:NAME``,
a YAML/JSON wildcard list) with its ``config`` read only when asked for. What comes back is what
:func:`~qrt.frontends.source.load_rule_source` gives, with its rules compiled already; anything
else (a hierarchical, compressed-tensors or torchao config, a folder, an error) is left to it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from qrt.files import read_text
from qrt.frontends import rules_cache
from qrt.frontends.source import DslSource, WildcardSource, load_rule_source

__all__ = ["CachedWildcardSource", "cached_rule_source"]


class CachedWildcardSource(WildcardSource):
    """A :class:`~qrt.frontends.source.WildcardSource` whose rules come from the cache and
    whose ``config`` is read by the front end, as before, only when something asks for it
    (explain and lint never do). A module-level class with plain state: it pickles."""

    def __init__(self, argument: str, label: str, rules: Any) -> None:  # no dataclass __init__: config is lazy
        self.label = label
        self._rules = rules
        self._argument = argument

    @property
    def config(self) -> Any:  # type: ignore[override]
        if "_config" not in self.__dict__:
            self.__dict__["_config"] = load_rule_source(self._argument).config
        return self.__dict__["_config"]


def _preset_file(name: str) -> Path | None:
    from qrt.resources import data_dir

    target = data_dir("rules") / "modelopt" / f"{name}.yaml"
    return Path(str(target)) if name.isidentifier() and target.is_file() else None


def cached_rule_source(config: str) -> Any | None:  # noqa: C901 — one branch per kind of argument
    """The rule source of a command's ``RULES`` argument from the cache, filling it on a miss,
    or ``None`` where this argument is not one the cache holds (then the caller reads it with
    :func:`~qrt.frontends.source.load_rule_source`, which also reports every error). What
    comes back is what ``load_rule_source(config)`` gives, with its rules compiled already."""
    if not rules_cache.active():
        return None

    if config.startswith("modelopt:"):
        found = _preset_file(config[len("modelopt:"):])
        if found is None:
            return None  # the front end says what is wrong
        path, label = found, config
    else:
        path, label = Path(config), config
        if path.suffix.lower() not in (".yaml", ".yml", ".json"):
            if path.is_dir() or not path.is_file():
                return None
            from qrt.frontends.dsl import load_rules

            return DslSource(load_rules(path), label=str(path))  # parse_rules uses the cache
        if not path.is_file():
            return None
    try:
        text = read_text(path, what="rule file")
    except Exception:  # noqa: BLE001 — the front end reports it
        return None
    parts = [label, str(path), rules_cache.digest(text)]
    rules = rules_cache.load("wildcard", parts)
    if rules is not None:
        return CachedWildcardSource(config, label, rules)
    source = load_rule_source(config)
    if type(source) is WildcardSource:
        rules_cache.store("wildcard", parts, source.rules_for(None))  # a list's rules need no model
    return source
