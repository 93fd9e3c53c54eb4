"""Where each key of a YAML/JSON document was written, so that errors and rule origins name
``file:line:col``.

The values themselves are read by the bounded readers (:func:`qrt.files.parse_json`,
:func:`qrt.frontends.yaml_load.safe_load`); this only composes the same text once more with
the bounded YAML loader (a JSON document is YAML too, nearly always) and walks the node tree
for the marks. Where the text does not compose (a JSON spelling PyYAML's YAML 1.1 does not
read), locations fall back to the file alone: a missing position never stops a read.
"""

from __future__ import annotations

from typing import Any

import yaml

from qrt.frontends.yaml_load import BoundedLoader

__all__ = ["key_marks"]

Path = tuple[Any, ...]


def key_marks(text: str) -> dict[Path, tuple[int, int]]:
    """``{key path: (line, column)}`` (1-based) of every mapping key and list item."""
    marks: dict[Path, tuple[int, int]] = {}
    loader: BoundedLoader | None = None
    try:
        loader = BoundedLoader(text)
        node = loader.get_single_node()
        if node is not None:
            _walk(loader, node, (), marks)
    except (yaml.YAMLError, RecursionError, ValueError):
        return {}
    finally:
        if loader is not None:
            loader.dispose()
    return marks


def _walk(loader: BoundedLoader, node: yaml.Node, path: Path, marks: dict[Path, tuple[int, int]]) -> None:
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                continue
            key = loader.construct_object(key_node, deep=True)
            here = (*path, key)
            marks.setdefault(here, (key_node.start_mark.line + 1, key_node.start_mark.column + 1))
            _walk(loader, value_node, here, marks)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            here = (*path, i)
            marks.setdefault(here, (item.start_mark.line + 1, item.start_mark.column + 1))
            _walk(loader, item, here, marks)
