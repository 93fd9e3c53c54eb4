"""The one safe YAML loader every qrt reader builds on, with limits a hostile file cannot pass.

Both YAML front ends (hierarchical configs, :mod:`qrt.frontends.hierarchical.yaml_io`, and
ModelOpt lists, :mod:`qrt.frontends.wildcard.entries`) and the content sniffing that picks a
front end load through :class:`BoundedLoader`. Why limits of its own, on top of the safe tags:

* **Alias bombs.** A 1 KB document of nine anchors, each a list of ten aliases of the one
  before ("billion laughs"), composes to a few dozen nodes but expands to 10^9 when anything
  walks it (pydantic, the entry builder, lint). The loader counts every node's *expanded*
  size as it composes (an alias counts as the whole of what it refers to) and refuses a
  document over :data:`MAX_NODES`, at the alias that crossed it, before anything expands.
* **Depth.** PyYAML composes recursively: 10,000 nested ``[`` raise ``RecursionError``. The
  loader refuses nesting past :data:`~qrt.files.MAX_DEPTH` at the node that is too deep.
* **Control characters.** PyYAML checks the text for NUL/ESC when the loader is *built*, so a
  loader built outside a ``try`` escapes as ``ReaderError`` (no line, not a ``MarkedYAMLError``).
  :class:`BoundedLoader` raises a :class:`yaml.MarkedYAMLError` with the line and column instead.
* **Huge integers.** ``int()`` of more than 4,300 digits raises ``ValueError``; here it is a
  located constructor error.
* **Lone surrogates.** ``"\\ud800"`` decodes to half a character that no later step can encode
  (explain, lint, plan files): refused where it is written.

Every refusal is a :class:`yaml.MarkedYAMLError`, which each reader already turns into its own
located error with the offending line and a caret.
"""

from __future__ import annotations

from typing import Any

import yaml
from yaml.composer import ComposerError
from yaml.constructor import ConstructorError
from yaml.error import Mark
from yaml.events import AliasEvent
from yaml.reader import ReaderError

from qrt.errors import QrtError
from qrt.files import INT_DIGITS, MAX_DEPTH, position_of

__all__ = ["MAX_NODES", "BoundedLoader", "LimitError", "safe_load", "structured_from_text"]

MAX_NODES = 1_000_000
"""Nodes a document may expand to, aliases expanded. A 10,000-key hierarchical config with a
spec alias on every key expands to about 100,000; a billion-laughs bomb to 10^9."""


class LimitError(ComposerError):
    """A YAML document past one of qrt's limits (nodes, depth, control characters)."""


def _mark(text: str, index: int) -> Mark:
    line, column = position_of(text, index)
    return Mark("<yaml>", index, line - 1, column - 1, None, None)


def _too_deep() -> str:
    return (
        f"nested more than {MAX_DEPTH} levels deep: qrt reads YAML nested at most {MAX_DEPTH} "
        "deep (a config nests fewer than 10)"
    )


class BoundedLoader(yaml.SafeLoader):
    """:class:`yaml.SafeLoader` with the limits above; subclassed by both YAML front ends."""

    def __init__(self, stream: str) -> None:
        try:
            super().__init__(stream)
        except ReaderError as exc:
            index = exc.position
            char = exc.character
            code = f"#x{ord(char):04x}" if isinstance(char, str) else f"#x{char:02x}"
            raise LimitError(
                None, None,
                f"control character {code} is not allowed in YAML (only tab, newline and "
                "printable characters are): remove it, or write it as an escape in a "
                "double-quoted string",
                _mark(stream, index) if isinstance(stream, str) else None,
            ) from None
        self._depth = 0
        self._sizes: dict[int, int] = {}

    def fetch_flow_collection_start(self, TokenClass: Any) -> None:  # noqa: N803 (PyYAML's name)
        """Refuse flow nesting (``[[[…``) past the limit while *scanning*: PyYAML's scanner looks
        ahead over a whole flow collection for a possible simple key, which is quadratic in its
        depth (10,000 ``[`` take a second, 100,000 minutes), long before the composer sees it."""
        if self.flow_level >= MAX_DEPTH:
            raise LimitError(None, None, _too_deep(), self.get_mark())
        super().fetch_flow_collection_start(TokenClass)

    def compose_node(self, parent: Any, index: Any) -> Any:
        alias = self.check_event(AliasEvent)
        start = self.peek_event().start_mark
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise LimitError(None, None, _too_deep(), start)
            node = super().compose_node(parent, index)
        finally:
            self._depth -= 1
        if alias:
            size = self._sizes.get(id(node), 1)  # a recursive alias: the wildcard reader refuses it
        else:
            size = 1
            if isinstance(node, yaml.SequenceNode):
                size += sum(self._sizes.get(id(item), 1) for item in node.value)
            elif isinstance(node, yaml.MappingNode):
                size += sum(
                    self._sizes.get(id(k), 1) + self._sizes.get(id(v), 1) for k, v in node.value
                )
            self._sizes[id(node)] = size
        if size > MAX_NODES:
            raise LimitError(
                None, None,
                f"the document expands to more than {MAX_NODES:,} nodes once its aliases are "
                "expanded (an alias 'bomb'); qrt refuses it before expanding: use fewer "
                "nested aliases",
                start,
            )
        return node

    def construct_yaml_int(self, node: yaml.ScalarNode) -> int:
        try:
            return int(super().construct_yaml_int(node))
        except ValueError:
            raise ConstructorError(
                None, None,
                f"an integer of more than {INT_DIGITS} digits: Python does not parse such "
                "numbers, and no qrt setting needs one",
                node.start_mark,
            ) from None


    def construct_yaml_str(self, node: yaml.ScalarNode) -> str:
        value = str(super().construct_yaml_str(node))
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as exc:  # "\ud800": YAML decodes it, nothing after can use it
            raise ConstructorError(
                None, None,
                f"invalid escape in string: \\u{ord(value[exc.start]):04x} is half of a UTF-16 "
                "surrogate pair, not a character; write the character itself, or its code point as "
                "\\UXXXXXXXX (\\U0001F600 for U+1F600)",
                node.start_mark,
            ) from None
        return value


BoundedLoader.add_constructor("tag:yaml.org,2002:int", BoundedLoader.construct_yaml_int)
BoundedLoader.add_constructor("tag:yaml.org,2002:str", BoundedLoader.construct_yaml_str)


def safe_load(text: str) -> Any:
    """``yaml.safe_load`` with the limits above; any problem is a :class:`yaml.YAMLError`.

    For looking at a document's shape (which front end reads it); the front ends then read it
    again with positions and report problems located.
    """
    loader = BoundedLoader(text)
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()


def structured_from_text(text: str, *, file: str, error: type[QrtError]) -> Any:
    """A JSON (by a ``.json`` file name) or YAML document's data, read with the limits above;
    a document that does not parse is ``error`` located at ``file``. The one reader for front
    ends whose files may be either (compressed-tensors configs, llm-compressor recipes)."""
    if file.endswith(".json"):
        from qrt.files import parse_json

        return parse_json(text, file=file, error=error)
    try:
        return safe_load(text)
    except yaml.YAMLError as exc:
        raise error(f"invalid YAML: {exc}", location=file) from None
