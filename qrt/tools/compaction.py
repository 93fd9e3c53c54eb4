"""Group sites with equal decisions under few patterns, exactly (``qrt convert`` with a model).

A converted config should read like one a person wrote — ``*.mlp.down_proj.weight_quantizer``
once, not eighty paths — but it must select *exactly* the sites it is meant for. So every
candidate pattern is checked against every site of the model: a pattern is used for a group
only if each site it matches is in that group. Groups are then disjoint, and the order of the
written entries cannot change any decision.

Candidates for a site, most general first: a suffix of its name after ``*`` (the last
component, then the last two …), each also with numbered components (layer indices) made
wildcards, then the whole name with numbers as wildcards, then the name itself. Module names
for hierarchical configs get the same treatment as regexes (:func:`module_regexes`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from fnmatch import translate
from typing import TypeVar

__all__ = ["escape_glob", "glob_groups", "module_regexes"]

K = TypeVar("K", bound=Hashable)

_GLOB_SPECIAL = re.compile(r"([*?\[\]])")


def escape_glob(text: str) -> str:
    """``text`` as an ``fnmatch`` pattern matching exactly itself."""
    return _GLOB_SPECIAL.sub(r"[\1]", text)


def _glob_candidates(name: str) -> list[str]:
    parts = name.split(".")
    numbered = ["*" if p.isdigit() else escape_glob(p) for p in parts]
    literal = [escape_glob(p) for p in parts]
    out: list[str] = []
    for n in range(1, len(parts)):
        for chosen in (literal, numbered):
            tail = ".".join(chosen[-n:])
            out.append("*" + tail if n == 1 else "*." + tail)
    out.append(".".join(numbered))
    out.append(".".join(literal))
    seen: set[str] = set()
    return [c for c in out if not (c in seen or seen.add(c))]  # type: ignore[func-returns-value]


def glob_groups(
    names: Mapping[str, Sequence[str]], group_of: Mapping[str, K]
) -> dict[K, list[str]]:
    """Globs per group that together match exactly that group's sites.

    ``names`` maps each site's key (its quantizer path) to every name it answers to (the path
    and its aliases); ``group_of`` gives the group of each site that should be selected (sites
    not in it must not be matched by any glob). Returns ``{group: [glob, ...]}``.
    """
    keys = list(names)
    matched_cache: dict[str, frozenset[str]] = {}

    def matched(pattern: str) -> frozenset[str]:
        found = matched_cache.get(pattern)
        if found is None:
            rx = re.compile(translate(pattern))
            found = frozenset(k for k in keys if any(rx.match(n) for n in names[k]))
            matched_cache[pattern] = found
        return found

    out: dict[K, list[str]] = {}
    covered: set[str] = set()
    for key in keys:
        if key not in group_of or key in covered:
            continue
        group = group_of[key]
        for pattern in _glob_candidates(key):
            hits = matched(pattern)
            if key in hits and all(group_of.get(k) == group for k in hits):
                break
        else:  # pragma: no cover - the literal name always qualifies
            raise AssertionError(f"no exact pattern for {key!r}")
        covered |= hits
        out.setdefault(group, []).append(pattern)
    return out


def _regex_candidates(name: str) -> list[str]:
    parts = name.split(".")
    numbered = r"\.".join(r"\d+" if p.isdigit() else re.escape(p) for p in parts)
    literal = re.escape(name)
    return [numbered, literal] if numbered != literal else [literal]


def module_regexes(
    modules: Iterable[str], config_of: Callable[[str], K | None]
) -> list[tuple[str, K]]:
    """Regexes over module names, each naming modules that all get the same config.

    ``config_of(module)`` is the config a module must get, or ``None`` for one that must get
    none. A regex is used only if every module it fully matches has the same config. Returns
    ``[(regex, config), ...]`` in first-use order.
    """
    modules = list(modules)
    wanted = {m: config_of(m) for m in modules}
    out: list[tuple[str, K]] = []
    covered: set[str] = set()
    for module in modules:
        config = wanted[module]
        if config is None or module in covered:
            continue
        for regex in _regex_candidates(module):
            rx = re.compile(regex)
            hits = [m for m in modules if rx.fullmatch(m)]
            if all(wanted[m] == config for m in hits):
                break
        covered.update(hits)
        out.append((regex, config))
    return out
