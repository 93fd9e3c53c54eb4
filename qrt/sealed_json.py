"""JSON files qrt writes for machines and reviewers: one table row per line, and a seal.

Inventories, plans and lock files hold tens of thousands of rows. Written one row per line
they stay readable and diff line by line. Their second line seals them: ``"sha256"`` of the
text without that line. A reader that finds the seal intact knows qrt wrote the file as it is
and may skip the schema check (1.6 s with jsonschema on a 70B-shaped inventory); an edited
file breaks the seal and is checked in full. The seal is not a signature — anyone can
recompute it — only a cheap proof that nobody edited the file by hand since qrt wrote it.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

__all__ = ["SEAL_KEY", "digest", "dumps_rows", "dumps_sealed", "is_sealed", "seal"]

SEAL_KEY = "sha256"
_SEAL = re.compile(r'\{\n "sha256": "([0-9a-f]{64})",\n')


def digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def dumps_rows(data: dict[str, Any]) -> str:
    """``data`` as JSON with each element of a top-level list on a line of its own."""
    parts = ["{"]
    items = [(k, v) for k, v in data.items() if k != SEAL_KEY]
    # one encoder for every row: json.dumps with separators builds a new one per call, which
    # is most of the time of writing a 70B-shaped inventory's 22,000 rows
    encode = json.JSONEncoder(separators=(", ", ": ")).encode
    for i, (key, value) in enumerate(items):
        comma = "," if i < len(items) - 1 else ""
        if isinstance(value, list):
            rows = ",\n  ".join(encode(row) for row in value)
            body = f"[\n  {rows}\n ]" if value else "[]"
        else:
            body = json.dumps(value)
        parts.append(f" {json.dumps(key)}: {body}{comma}")
    parts.append("}")
    return "\n".join(parts) + "\n"


def dumps_sealed(data: dict[str, Any]) -> str:
    """:func:`dumps_rows` with the seal as the second line."""
    return seal(dumps_rows(data))


def seal(body: str) -> str:
    """A JSON object's text, starting ``{`` and a newline, with the seal inserted as its
    second line (for writers with a line layout of their own: the saved model's manifest)."""
    return body.replace("{\n", f'{{\n "{SEAL_KEY}": "{digest(body)}",\n', 1)


def is_sealed(text: str) -> bool:
    """Whether ``text`` carries an intact seal."""
    found = _SEAL.match(text)
    if found is None:
        return False
    return digest("{\n" + text[found.end():]) == found.group(1)
