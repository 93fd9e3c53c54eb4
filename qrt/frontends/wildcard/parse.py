"""A wildcard config's YAML or JSON text parsed into data with positions, its refusals worded
for a ModelOpt list.

YAML is read by the one position-keeping loader (:func:`qrt.frontends.yaml_load.load_positioned`:
the safe subset, qrt's limits, duplicate keys refused, every mapping, list and key with its
``line:col``); JSON by the bounded JSON reader when YAML does not read it.
"""

from __future__ import annotations

from typing import Any

import yaml
from yaml.error import Mark

from qrt.files import parse_json
from qrt.frontends.wildcard.errors import WildcardConfigError
from qrt.frontends.wildcard.positions import position
from qrt.frontends.yaml_load import DuplicateKeyError, NotPlainError, load_positioned

__all__ = ["Documents", "parse_json_text", "parse_wildcard_yaml"]

Documents = list[tuple[Any, "Mark | None"]]


def parse_wildcard_yaml(text: str, file: str, *, documents: int = 1) -> Documents:
    """The YAML documents of ``text`` with positions (at most ``documents``, and one past it);
    every problem a located :class:`WildcardConfigError`."""
    try:
        return load_positioned(text, file=file, documents=documents)
    except DuplicateKeyError as exc:
        raise WildcardConfigError(
            f"duplicate key {exc.key!r}: first written at {position(file, exc.first)}, again at "
            f"{position(file, exc.problem_mark)}; YAML would silently keep only the last, "
            "so keep one of them",
            location=position(file, exc.problem_mark),
            offending=repr(exc.key),
        ) from None
    except NotPlainError as exc:
        message = exc.problem or ""
        if exc.reason == "unhashable":
            message = f"a mapping key must be a name or a number, not a {exc.key_type}"
        raise WildcardConfigError(message, location=position(file, exc.problem_mark)) from None
    except yaml.MarkedYAMLError as exc:
        if documents == 1 and exc.context and "expected a single document" in exc.context:
            return parse_wildcard_yaml(text, file, documents=2)  # a snippet: header, then body
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or "invalid YAML"
        if "constructor for the tag" in problem:
            problem = (
                f"{problem}: qrt reads wildcard configs with YAML's safe subset only (no "
                "Python object tags); write plain mappings, lists and scalars"
            )
        raise WildcardConfigError(f"invalid YAML: {problem}", location=position(file, mark)) from None
    except yaml.YAMLError as exc:
        raise WildcardConfigError(f"invalid YAML: {exc}", location=file) from None


def parse_json_text(text: str, file: str) -> Any:
    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in items:
            if key in out:
                raise WildcardConfigError(
                    f"duplicate key {key!r} in one JSON object; keep one of them", location=file
                )
            out[key] = value
        return out

    return parse_json(text, file=file, error=WildcardConfigError, object_pairs_hook=pairs)
