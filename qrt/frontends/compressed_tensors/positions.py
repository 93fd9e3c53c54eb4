"""Where each key of a YAML/JSON document was written, so that errors and rule origins name
``file:line:col``.

The values themselves are read by the bounded readers (:func:`qrt.files.parse_json`,
:func:`qrt.frontends.yaml_load.safe_load`), always before this runs; this only composes the
same text once more (a JSON document is YAML too, nearly always) and walks the node tree for
the marks — with libyaml's composer where PyYAML has it (a 5,000-key config: 0.6 s instead of
7.5 s; the text already passed the bounded reader's limits, and composing builds nodes without
expanding aliases), else with the bounded loader. Where the text does not compose (a JSON spelling PyYAML's YAML 1.1 does not
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
    loader: Any = None
    fast = getattr(yaml, "CSafeLoader", None)
    try:
        loader = fast(text) if fast is not None else BoundedLoader(text)
        node = loader.get_single_node()
        if node is not None:
            _walk(loader, node, (), marks, set())
    except (yaml.YAMLError, RecursionError, ValueError):
        return {}
    finally:
        if loader is not None:
            loader.dispose()
    return marks


def _walk(loader: Any, node: yaml.Node, path: Path, marks: dict[Path, tuple[int, int]], seen: set[int]) -> None:
    """Each node once: an alias shares its anchor's node, and walking it again at every
    reference would be the alias bomb over again (paths below a repeated reference take the
    reference's own mark)."""
    if id(node) in seen:
        return
    seen.add(id(node))
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                continue
            key = loader.construct_object(key_node, deep=True)
            here = (*path, key)
            marks.setdefault(here, (key_node.start_mark.line + 1, key_node.start_mark.column + 1))
            _walk(loader, value_node, here, marks, seen)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            here = (*path, i)
            marks.setdefault(here, (item.start_mark.line + 1, item.start_mark.column + 1))
            _walk(loader, item, here, marks, seen)
