"""Suspicious regexes and globs: the mistakes that compile and then select the wrong sites.

Each check takes the pattern text and returns ``None`` or ``(message, fix)``:

* :func:`unescaped_dots` — in ``model.layers.\\d+.mlp`` the dots are any character, so it
  also matches ``model_layers_3_mlp``; names are dotted, so a dot between two name characters
  in a regex that otherwise escapes what it means was almost always meant literally;
* :func:`nested_quantifier` — ``(a+)+``, ``(.*)*``: exponential backtracking in a backtracking
  engine (qrt matches with RE2, linear time; the reference library and ``re`` do not);
* :func:`glob_in_regex` — ``q_proj*`` in a regex means ``q_pro`` and any number of ``j``;
* :func:`regex_in_glob` — ``model\\.layers`` in a glob matches a backslash, ``(a|b)`` the
  characters themselves.
"""

from __future__ import annotations

import re
from typing import Any

try:  # Python 3.11+: the parser moved
    import re._parser as _sre_parse  # type: ignore[import-not-found]
    from re._constants import MAX_REPEAT, MIN_REPEAT, SUBPATTERN  # type: ignore[import-not-found]
except ImportError:  # pragma: no cover
    import sre_parse as _sre_parse  # type: ignore[no-redef]
    from sre_constants import MAX_REPEAT, MIN_REPEAT, SUBPATTERN  # type: ignore[no-redef]

__all__ = ["glob_in_regex", "nested_quantifier", "regex_in_glob", "unescaped_dots"]

Finding = tuple[str, str | None]

_NAME_CHAR = re.compile(r"[A-Za-z0-9_]")


def _literal_dots(pattern: str) -> list[int]:
    """Indexes of unescaped ``.`` outside ``[...]`` between two name characters and not
    followed by a quantifier (``.*``, ``.+``, ``.?`` and ``.{n}`` are meant as wildcards)."""
    out = []
    i, n, in_class = 0, len(pattern), False
    while i < n:
        c = pattern[i]
        if c == "\\":
            i += 2
            continue
        if in_class:
            in_class = c != "]"
        elif c == "[":
            in_class = True
        elif c == "." and 0 < i < n - 1:
            before, after = pattern[i - 1], pattern[i + 1]
            if _NAME_CHAR.match(before) and _NAME_CHAR.match(after) and (i < 2 or pattern[i - 2] != "\\"):
                out.append(i)
        i += 1
    return out


_PLAIN_NAME = re.compile(r"[A-Za-z0-9_.]*")


def unescaped_dots(pattern: str) -> Finding | None:
    """Unescaped dots in a regex that uses other regex syntax too. A plain dotted name
    (``decoder.deconv1``, as the examples of docs/semantics.md §3 write module names) spells the name it means and is
    left alone; ``model.layers.\\d+.mlp`` shows its author writes regexes, so its bare dots
    are slips."""
    if _PLAIN_NAME.fullmatch(pattern):
        return None
    dots = _literal_dots(pattern)
    if not dots:
        return None
    fixed = "".join("\\." if i in dots else c for i, c in enumerate(pattern))
    return (
        f"regex /{pattern}/ has an unescaped '.' between name parts, which matches any "
        f"character (so /{pattern}/ also matches names with another character there)",
        f"/{fixed}/",
    )


def _repeats(parsed: Any, inside: bool) -> bool:
    """Whether a repeat that can match more than once sits inside another such repeat."""
    for op, arg in parsed:
        if op in (MAX_REPEAT, MIN_REPEAT):
            low, high, sub = arg
            many = high is _sre_parse.MAXREPEAT or high > 1
            if many and inside:
                return True
            if _repeats(sub, inside or many):
                return True
        elif op is SUBPATTERN:
            if _repeats(arg[-1], inside):
                return True
        elif isinstance(arg, (list, tuple)):
            for item in arg:
                if isinstance(item, _sre_parse.SubPattern) and _repeats(item, inside):
                    return True
                if isinstance(item, (list, tuple)):
                    for sub in item:
                        if isinstance(sub, _sre_parse.SubPattern) and _repeats(sub, inside):
                            return True
    return False


def nested_quantifier(pattern: str) -> Finding | None:
    try:
        parsed = _sre_parse.parse(pattern)
    except re.error:
        return None  # reported as an invalid pattern elsewhere
    if not _repeats(parsed, False):
        return None
    return (
        f"regex /{pattern}/ nests a repeat inside a repeat; a backtracking engine (Python's "
        f"re, the reference library) can take exponential time on it — qrt's RE2 cannot, but "
        f"the same config run elsewhere can hang",
        "repeat once: (a+)+ → a+, (.*)* → .*",
    )


_GLOB_STAR = re.compile(r"(?<![\\.)\]}*+?])\*|^\*")


def glob_in_regex(pattern: str) -> Finding | None:
    """A ``*`` after a name character (``q_proj*``) or at the start: a glob habit."""
    found = _GLOB_STAR.search(pattern)
    if found is None:
        return None
    fixed = _GLOB_STAR.sub(".*", pattern)
    return (
        f"/{pattern}/ looks like a glob: in a regex '*' repeats the character before it "
        f"(write .* for 'anything')",
        f"/{fixed}/",
    )


_REGEX_SYNTAX = re.compile(r"\\[.dDwWsS]|[()|+^${}]")


def regex_in_glob(pattern: str) -> Finding | None:
    found = _REGEX_SYNTAX.search(pattern)
    if found is None:
        return None
    return (
        f"glob {pattern!r} contains regex syntax {found.group(0)!r}, which a glob matches "
        f"literally (globs know only *, ? and [...])",
        "write a glob (* for anything, ? for one character), or use a regex predicate "
        "(module /R/, opname /R/)",
    )
