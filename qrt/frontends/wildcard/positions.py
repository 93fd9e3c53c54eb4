"""Where a part of a wildcard document was written, for error locations and entry origins.

The readers get plain data whose mappings and lists carry marks
(:class:`~qrt.frontends.yaml_load.YamlMapping`, :class:`~qrt.frontends.yaml_load.YamlList`);
data given as Python objects has none, and then a location is the ``file`` label alone. A
mark names the file it was read from, which is not always the document's own: an entry a
ModelOpt recipe imports (:mod:`.recipe`) is located in the snippet that wrote it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from yaml.error import Mark

from qrt.frontends.yaml_load import YamlList, YamlMapping
from qrt.ir.origin import Origin

__all__ = ["Locate", "file_of", "locator", "mark_of", "origin_at", "own_mark", "position"]

Locate = Callable[[tuple[Any, ...]], "str | None"]

_ANONYMOUS = frozenset({"<unicode string>", "<byte string>", "<file>", "<yaml>"})
"""Mark names PyYAML (or :mod:`qrt.frontends.yaml_load`) gives text that names no file."""


def file_of(file: str, mark: Mark | None) -> str:
    """The file ``mark`` was read from, else ``file`` (the document being read)."""
    name = getattr(mark, "name", None)
    return name if isinstance(name, str) and name not in _ANONYMOUS else file


def position(file: str, mark: Mark | None) -> str:
    """``file:line:col`` of ``mark`` (1-based), or ``file`` without one."""
    if mark is None:
        return file
    return f"{file_of(file, mark)}:{mark.line + 1}:{mark.column + 1}"


def origin_at(file: str, mark: Mark | None, config_path: str) -> Origin:
    """The origin of an entry written at ``mark``, reported as ``config_path``."""
    if mark is None:
        return Origin(file=file, config_path=config_path)
    return Origin(file=file_of(file, mark), line=mark.line + 1, column=mark.column + 1,
                  config_path=config_path)


def mark_of(container: Any, key: Any = None) -> Mark | None:
    """Where ``container[key]`` was written (its key, or its item), else the container."""
    if isinstance(container, YamlMapping):
        if key is not None and key in container.key_marks:
            return container.key_marks[key]
        return container.mark
    if isinstance(container, YamlList):
        if isinstance(key, int) and 0 <= key < len(container.item_marks):
            return container.item_marks[key]
        return container.mark
    return None


def own_mark(value: Any) -> Mark | None:
    """Where a mapping or list itself was written (``None`` for a scalar or Python data)."""
    return value.mark if isinstance(value, (YamlMapping, YamlList)) else None


def locator(file: str, root: Any, fallback: Mark | None) -> Locate:
    """``file:line:col`` of a key path inside ``root`` (a ``cfg`` dict), for attribute errors."""

    def locate(path: tuple[Any, ...]) -> str | None:
        node, mark = root, own_mark(root) or fallback
        for key in path:
            if isinstance(node, YamlMapping) and key in node.key_marks:
                mark = node.key_marks[key]
                node = node[key]
            else:
                break
        return position(file, mark) if mark is not None else None

    return locate
