"""Name patterns in rules: regexes (``re.fullmatch`` semantics) and globs (``fnmatchcase``).

Why RE2: rule files come from users and run over every site of a model; a pattern such as
``(a+)+b`` makes Python's backtracking ``re`` take exponential time on a long name, which
would hang resolution. RE2 (``google-re2``) matches in linear time and its ``Set`` matches one
name against thousands of patterns in one pass, which keeps the fast resolver's cost flat
in the number of rules. RE2 has no backreferences or lookaround; such patterns are refused
up front with an error saying so (found with Python's own regex parser, so the error is
ours and precise, not RE2's log line).
"""

from __future__ import annotations

import fnmatch
import re
from functools import lru_cache

from qrt.errors import QrtError

__all__ = [
    "PatternError", "check_regex", "glob_to_regex", "regex_fullmatch", "glob_match",
    "modelopt_base_name", "modelopt_match_names",
]

try:  # Python 3.11+
    from re import _parser as _sre_parse  # type: ignore[attr-defined]
except ImportError:  # pragma: no cover - Python 3.10
    import sre_parse as _sre_parse  # type: ignore[no-redef]


class PatternError(QrtError):
    code = "QRT201"


_UNSUPPORTED = {
    "GROUPREF": "a backreference",
    "GROUPREF_EXISTS": "a conditional group",
    "ASSERT": "a lookahead/lookbehind",
    "ASSERT_NOT": "a negative lookahead/lookbehind",
    "ATOMIC_GROUP": "an atomic group",
    "POSSESSIVE_REPEAT": "a possessive repeat",
}


def _walk(parsed: object) -> str | None:
    for op, arg in parsed:  # type: ignore[attr-defined]
        name = str(op)
        if name in _UNSUPPORTED:
            return _UNSUPPORTED[name]
        items = arg if isinstance(arg, (list, tuple)) else (arg,)
        for item in items:
            if isinstance(item, _sre_parse.SubPattern):
                found = _walk(item)
                if found:
                    return found
            elif isinstance(item, (list, tuple)):
                for sub in item:
                    if isinstance(sub, _sre_parse.SubPattern):
                        found = _walk(sub)
                        if found:
                            return found
    return None


@lru_cache(maxsize=4096)
def check_regex(pattern: str) -> str | None:
    """``None`` if ``pattern`` is a valid regex RE2 can run, else the reason it is not."""
    try:
        parsed = _sre_parse.parse(pattern)
        construct = _walk(parsed)
    except re.error as exc:
        return f"invalid regular expression: {exc}"
    except RecursionError:  # Python's parser recurses per group: 5,000 nested groups crash it
        return (
            "invalid regular expression: groups nested too deep (Python's and RE2's parsers "
            "stop near 1,000 levels); write it with fewer nested parentheses"
        )
    if construct:
        return (
            f"{construct} is not supported: qrt matches names in linear time (RE2), which "
            "rules out backreferences and lookaround; rewrite it as a plain regex"
        )
    return None


def glob_to_regex(pattern: str) -> str:
    """The RE2-compatible regex for an ``fnmatchcase`` glob (anchored, ``*`` crosses dots)."""
    out = []
    i, n = 0, len(pattern)
    while i < n:
        c = pattern[i]
        i += 1
        if c == "*":
            out.append(".*")
        elif c == "?":
            out.append(".")
        elif c == "[":
            j = i
            if j < n and pattern[j] == "!":
                j += 1
            if j < n and pattern[j] == "]":
                j += 1
            while j < n and pattern[j] != "]":
                j += 1
            if j >= n:
                out.append("\\[")
            else:
                body = pattern[i:j].replace("\\", "\\\\")
                i = j + 1
                if body.startswith("!"):
                    body = "^" + body[1:]
                elif body.startswith("^"):
                    body = "\\" + body
                out.append(f"[{body}]")
        else:
            out.append(re.escape(c))
    return "(?s:" + "".join(out) + ")"


@lru_cache(maxsize=65536)
def _compiled(pattern: str):  # type: ignore[no-untyped-def]
    import re2

    return re2.compile(pattern)


def regex_fullmatch(pattern: str, text: str) -> bool:
    """``re.fullmatch(pattern, text)`` semantics, in linear time."""
    return _compiled(pattern).fullmatch(text) is not None


def glob_match(pattern: str, text: str) -> bool:
    return fnmatch.fnmatchcase(text, pattern)


_INDEXED = re.compile(r"(.+_quantizer)s?\.[0-9]+")


def modelopt_base_name(name: str) -> str | None:
    r"""The quantizer an indexed ModelOpt name belongs to, or ``None`` for a plain name:
    ``x.weight_quantizer`` for the stage ``x.weight_quantizer.0`` of a sequential quantizer,
    ``x.gate_up_proj_weight_quantizer`` for one expert's ``x.gate_up_proj_weight_quantizers.3``
    An entry's glob matches a quantizer when it matches its name or this one (``docs/modelopt.md``).

    ModelOpt 0.47 does it with ``_normalize_fused_experts_quantizer_name``
    (``modelopt/torch/quantization/conversion.py``: ``(weight_quantizers?|input_quantizers?)\.\d+``
    collapsed to the singular), so its presets' ``*weight_quantizer`` reaches every expert;
    qrt states the rule for any ``…_quantizer``, plural or not, followed by an index at the
    end of the name (qrt has no quantizer below an indexed one). It lives with the patterns
    because selectors (:class:`qrt.ir.selector.Selector`) and the fast resolver apply it."""
    found = _INDEXED.fullmatch(name)
    return found.group(1) if found else None


def modelopt_match_names(name: str) -> tuple[str, ...]:
    """Every name an entry's glob is matched against for the quantizer ``name``: the name,
    and its :func:`modelopt_base_name` where it has one. The one place the rule lives."""
    base = modelopt_base_name(name)
    return (name,) if base is None else (name, base)
