"""Config paths: ``module_name_configs['dec'].op_state_spec['weight']``.

A config path names one entry of a config tree the way Python would index it, so an error
message can say exactly where a problem is and :meth:`QuantizerConfig.origin_of` can be asked
about the same spelling. Keys are quoted as Python literals (strings in single quotes, ints
bare) so that a module-name regex full of dots and brackets survives the round trip
``format_key`` → ``parse_config_path``.
"""

from __future__ import annotations

import ast
import re
from typing import Any

from qrt.frontends.hierarchical.errors import ConfigError

__all__ = ["format_key", "parse_config_path"]


def format_key(key: object) -> str:
    """A dict key as it appears in a config path: strings in single quotes, ints bare."""
    if isinstance(key, str):
        return "'" + key.replace("\\", "\\\\").replace("'", "\\'") + "'"
    return str(key)


_PATH_TOKEN = re.compile(
    r"""\.?(?P<field>[A-Za-z_][A-Za-z0-9_]*)"""
    r"""|\[(?P<key>-?[0-9]+|'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")\]"""
)


def parse_config_path(path: str) -> list[tuple[str, Any]]:
    """``"a['x'].b[0]"`` → ``[("field", "a"), ("key", "x"), ("field", "b"), ("key", 0)]``."""
    steps: list[tuple[str, Any]] = []
    pos = 0
    while pos < len(path):
        match = _PATH_TOKEN.match(path, pos)
        if match is None or (match.group("field") and pos > 0 and path[pos] != "."):
            raise ConfigError(
                f"cannot read config path {path!r} at character {pos + 1}",
                hint="a config path looks like "
                "module_name_configs['decoder.deconv1'].op_state_spec['weight']",
            )
        if match.group("field") is not None:
            steps.append(("field", match.group("field")))
        else:
            steps.append(("key", ast.literal_eval(match.group("key"))))
        pos = match.end()
    if not steps or steps[0][0] != "field":
        raise ConfigError(
            f"config path {path!r} must start with a field name such as global_config"
        )
    return steps
