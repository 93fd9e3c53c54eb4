"""Wildcard configs → YAML or JSON text, as ModelOpt users write them.

YAML keeps integer block axes as integer keys (``-1: 16``) and short lists in flow style
(``num_bits: [4, 3]``), so a written file reads like the configs in ModelOpt's recipes; qrt
reads it back to the same tuples and keys. JSON cannot hold integer keys or tuples, so it gets
the JSON spelling the presets data documents (``"-1"``, ``[4, 3]``), which qrt reads too.
"""

from __future__ import annotations

import json
from typing import Any

import yaml

from qrt.frontends.wildcard.spec_map import json_attributes

__all__ = ["dump_wildcard"]


class _Dumper(yaml.SafeDumper):
    """Flow style for lists of scalars, block style for everything else."""


def _list(dumper: yaml.SafeDumper, data: list[Any]) -> yaml.Node:
    flow = all(not isinstance(v, (dict, list, tuple)) for v in data)
    return dumper.represent_sequence("tag:yaml.org,2002:seq", list(data), flow_style=flow)


_Dumper.add_representer(list, _list)
_Dumper.add_representer(tuple, _list)


def dump_wildcard(data: Any, *, header: str = "", fmt: str = "yaml") -> str:
    """``data`` (a list of entries or a config mapping) as ``yaml`` or ``json`` text.

    ``header`` lines are written as ``#`` comments above YAML; JSON has no comments, so there
    it is left out.
    """
    if fmt == "json":
        return json.dumps(json_attributes(data), indent=2) + "\n"
    if fmt != "yaml":
        raise ValueError(f"fmt must be 'yaml' or 'json', got {fmt!r}")
    comment = "".join(f"# {line}\n" if line else "#\n" for line in header.splitlines())
    return comment + yaml.dump(data, Dumper=_Dumper, sort_keys=False, default_flow_style=False, width=100)
