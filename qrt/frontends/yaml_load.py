"""The one safe YAML loader every qrt reader builds on, with limits a hostile file cannot pass.

Two ways in: :func:`load_positioned`, the one position-keeping reader (every mapping and list
with the ``line:col`` of each key and item, duplicate keys, recursive aliases and collection
tags refused), which both YAML front ends (hierarchical configs,
:mod:`qrt.frontends.hierarchical.yaml_read`; ModelOpt lists and recipes,
:mod:`qrt.frontends.wildcard.parse`) and the front-end detector
(:func:`qrt.frontends.source.detect`, whose parse is handed on) read with; and
:func:`safe_load`, plain data for the readers that take positions elsewhere. Both build on
:class:`BoundedLoader`. Why limits of its own, on top of the safe tags:

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

Every refusal is a :class:`yaml.MarkedYAMLError` (:class:`DuplicateKeyError` and
:class:`NotPlainError` carry what each front end needs to word its own message), which each
reader turns into its own located error with the offending line and a caret.
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

__all__ = [
    "MAX_NODES",
    "BoundedLoader",
    "DuplicateKeyError",
    "LimitError",
    "NotPlainError",
    "YamlList",
    "YamlMapping",
    "load_positioned",
    "safe_load",
    "structured_from_text",
]

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


# =============================================================================================
# Reading with positions: the one loader both YAML front ends (and ModelOpt recipes) read with

_MAP_TAG = "tag:yaml.org,2002:map"
_SEQ_TAG = "tag:yaml.org,2002:seq"
_MERGE_TAG = "tag:yaml.org,2002:merge"


class YamlMapping(dict):  # type: ignore[type-arg]
    """A YAML mapping: a plain ``dict`` plus where it (``mark``) and each of its keys
    (``key_marks``) were written. A mark's ``name`` is the file it was read from."""

    mark: Mark | None = None
    key_marks: dict[Any, Mark]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.key_marks = {}


class YamlList(list):  # type: ignore[type-arg]
    """A YAML sequence: a plain ``list`` plus where it and each of its items were written."""

    mark: Mark | None = None
    item_marks: list[Mark]

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.item_marks = []


class DuplicateKeyError(yaml.MarkedYAMLError):
    """A key written twice in one mapping. PyYAML keeps the last without a word, so a config
    whose second ``global_config:`` silently wins is a bug nobody sees; keys pulled in by a
    ``<<`` merge are not duplicates (overriding them is what merges are for). Each front end
    words the message (``key``, ``first`` and ``problem_mark``, the second)."""

    def __init__(self, key: Any, first: Mark, again: Mark) -> None:
        super().__init__(None, None, f"duplicate key {key!r}", again)
        self.key, self.first = key, first


class NotPlainError(yaml.MarkedYAMLError):
    """A collection qrt does not read as plain data: ``reason`` is ``"recursive"`` (an alias
    inside the collection it names), ``"tag"`` (a collection tag such as ``!!set``,
    ``!!omap`` or ``!!python/object``: ``tag``, ``expected`` ``mapping`` or ``list``) or
    ``"unhashable"`` (a mapping key that is itself a collection: ``key_type``). Each front end
    words the message; ``problem``/``context`` read as PyYAML's own constructor error."""

    def __init__(self, reason: str, mark: Mark, *, tag: str = "", expected: str = "",
                 key_type: str = "", context_mark: Mark | None = None) -> None:
        problem = {
            "recursive": "a YAML alias refers to a collection that contains it (a recursive structure)",
            "tag": f"YAML tag {tag} is not allowed here: write a plain {expected}",
            "unhashable": f"found an unhashable key ({key_type}); keys are names or integers",
        }[reason]
        context = "while constructing a mapping" if reason == "unhashable" else None
        super().__init__(context, context_mark, problem, mark)
        self.reason, self.tag, self.expected, self.key_type = reason, tag, expected, key_type


def _build(loader: BoundedLoader, node: yaml.Node, active: set[int]) -> Any:
    """Plain data from a composed node: :class:`YamlMapping`/:class:`YamlList` with marks,
    scalars through the loader's (safe, bounded) constructors; duplicate keys, recursive
    aliases and collection tags refused.

    ``<<`` merges follow YAML 1.1's merge key (``https://yaml.org/type/merge.html``): a key
    written in the mapping overrides a merged key of the same name. A mapping has no order in
    YAML, but qrt's readers keep one (later keys win in a legacy ModelOpt dict, and among
    ``module_name_configs``), so it is PyYAML's (what ``yaml.safe_load``, and so ModelOpt,
    gives): merged keys first, in merge order, then the keys written; a written key that
    overrides a merged one keeps the merged key's place, with the written value and mark."""
    if isinstance(node, yaml.ScalarNode):
        return loader.construct_object(node, deep=True)
    if id(node) in active:
        raise NotPlainError("recursive", node.start_mark)
    expected = _MAP_TAG if isinstance(node, yaml.MappingNode) else _SEQ_TAG
    if node.tag != expected:
        raise NotPlainError(
            "tag", node.start_mark, tag=node.tag,
            expected="mapping" if expected == _MAP_TAG else "list",
        )
    active.add(id(node))
    try:
        if isinstance(node, yaml.SequenceNode):
            seq = YamlList()
            seq.mark = node.start_mark
            for item in node.value:
                seq.append(_build(loader, item, active))
                seq.item_marks.append(item.start_mark)
            return seq
        assert isinstance(node, yaml.MappingNode)
        first: dict[Any, Mark] = {}
        for key_node, _ in node.value:  # duplicates among the keys written, not merged ones
            if key_node.tag == _MERGE_TAG:
                continue
            key = _key(loader, node, key_node, active)
            if key in first:
                raise DuplicateKeyError(key, first[key], key_node.start_mark)
            first[key] = key_node.start_mark
        loader.flatten_mapping(node)  # resolve << merges: merged pairs first, then the written
        mapping = YamlMapping()
        mapping.mark = node.start_mark
        for key_node, value_node in node.value:
            key = _key(loader, node, key_node, active)
            mapping[key] = _build(loader, value_node, active)
            mapping.key_marks[key] = key_node.start_mark
        return mapping
    finally:
        active.discard(id(node))


def _key(loader: BoundedLoader, mapping: yaml.MappingNode, key_node: yaml.Node, active: set[int]) -> Any:
    key = _build(loader, key_node, active)
    try:
        hash(key)
    except TypeError:
        raise NotPlainError(
            "unhashable", key_node.start_mark, key_type=type(key).__name__,
            context_mark=mapping.start_mark,
        ) from None
    return key


def load_positioned(text: str, *, file: str, documents: int = 1) -> list[tuple[Any, Mark | None]]:
    """The documents of ``text`` as plain data whose mappings and lists carry positions
    (:class:`YamlMapping`, :class:`YamlList`), each with the mark of its root (for a document
    that is a bare scalar); a document with no content is ``(None, None)``. Marks are named
    ``file``.

    ``documents`` is how many a caller reads: ``1`` refuses a second document as PyYAML's
    ``get_single_node`` does; more (a ModelOpt snippet is a header and a body) reads at most
    one past it, so a caller can refuse the rest with its own words, and never composes a
    stream of any length. Every problem is a :class:`yaml.YAMLError`: the loader's limits,
    syntax, :class:`DuplicateKeyError`, :class:`NotPlainError`, a scalar of a tag outside the
    safe subset (a ``ConstructorError``)."""
    loader = BoundedLoader(text)  # building the loader reads the text: a NUL or ESC fails here
    loader.name = file
    try:
        if documents == 1:
            node = loader.get_single_node()
            return [(None, None) if node is None else (_build(loader, node, set()), node.start_mark)]
        out: list[tuple[Any, Mark | None]] = []
        while loader.check_node() and len(out) <= documents:
            node = loader.get_node()
            out.append((None, None) if node is None else (_build(loader, node, set()), node.start_mark))
        return out
    finally:
        loader.dispose()
