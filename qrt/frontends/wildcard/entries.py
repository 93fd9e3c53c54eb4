"""Reading a ModelOpt ``quant_cfg`` (docs/semantics.md §4) into a typed, immutable list of entries.

A wildcard config is an ordered list; later entries win. Each entry names quantizers by a glob
(``quantizer_name``, or ``quantizer_path`` as ModelOpt's API documentation spells it, docs/semantics.md §4), optionally only those whose
owning module is exactly ``parent_class``, and says what to do with them: ``cfg`` replaces all
attributes (a list of dicts for a sequential quantizer), ``enable`` alone switches them on or
off. The forms read here, all into one :class:`WildcardConfig`:

* a list of entries (Python, YAML or JSON);
* a single entry (a ModelOpt ``QuantizerCfgEntry`` snippet file) — a list of one;
* ``{"quant_cfg": [...]}``, and a full ModelOpt config that also has ``algorithm`` (kept as
  :attr:`WildcardConfig.algorithm`) and ``effective_bits``;
* the **legacy dict** ``{"*weight_quantizer": {...}, "default": {...}}``, also as the value of
  ``quant_cfg``. It becomes a list the way ModelOpt 0.47's ``normalize_quant_cfg_list`` does
  it: one entry per key in dict order; ``default`` becomes ``"*"`` where it stands (so a
  trailing ``default`` overrides everything before it); ``enable`` inside a value becomes the
  entry's ``enable`` and the rest its ``cfg``; ``{"nn.Linear": {pattern: value, ...}}`` gives
  one entry per inner pattern with ``parent_class: nn.Linear``; ``{pattern: {}}`` is a toggle
  *on* (ModelOpt reads the empty remainder as "no cfg", and ``enable`` defaults to true).

Every entry is checked before any is used, and every error names the entry (``quant_cfg[3]``,
or for legacy input its index and key), its ``file:line:col`` and what would be valid. Where
qrt refuses something ModelOpt 0.47 accepts, the message says what 0.47 would have done:

* ``enable`` inside ``cfg`` that contradicts the entry's own ``enable`` (0.47 silently lets the
  entry's ``enable``, default true, win: ``cfg: {num_bits: 4, enable: false}`` is *enabled*);
* ``cfg: null`` with no ``enable`` (0.47 reads it as a toggle on), and a legacy ``{pattern: null}``;
* a legacy single-key entry inside a list (``[{"*": {...}}]``; 0.47 converts it with a
  deprecation warning): write it as ``{quantizer_name: "*", cfg: {...}}``.

YAML is read with the safe subset only, positions kept for every mapping, sequence and key;
duplicate keys in one mapping are an error (YAML would silently keep the last).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import yaml
from yaml.error import Mark

from qrt.errors import QrtError, did_you_mean
from qrt.files import parse_json, read_text
from qrt.frontends.yaml_load import BoundedLoader
from qrt.ops.torch_nn import TORCH_NN_CLASSES
from qrt.frontends.wildcard.attributes import ATTRIBUTE_FIELDS, validate_attributes
from qrt.ir.origin import Origin

__all__ = [
    "CONFIG_KEYS",
    "ENTRY_KEYS",
    "Entry",
    "FrozenDict",
    "KeyName",
    "WildcardConfig",
    "WildcardConfigError",
    "is_wildcard_document",
    "load_wildcard",
    "qualified_parent_class",
    "wildcard_from_data",
    "wildcard_from_text",
]

KeyName = Literal["quantizer_name", "quantizer_path"]
KEY_NAMES: tuple[KeyName, ...] = ("quantizer_name", "quantizer_path")
ENTRY_KEYS = ("quantizer_name", "quantizer_path", "parent_class", "cfg", "enable")
"""The keys an entry may have: one of the two name keys, and ``cfg`` and/or ``enable``."""
CONFIG_KEYS = ("quant_cfg", "algorithm", "effective_bits")

ALGORITHM_METHODS = frozenset({
    "max", "mse", "local_hessian", "smoothquant", "awq_lite", "awq_clip", "awq_full", "svdquant",
    "gptq", "nvfp4_act_headroom", "lsq",
})
"""The ``method`` names ModelOpt 0.47 defines (the ``method: Literal[...]`` of each algorithm
config in modelopt/torch/quantization/config.py); any other name fails there, so it is refused
here rather than carried."""
"""The keys of a full ModelOpt 0.47 config (``QuantizeConfig``)."""
DATA_FILE = "<data>"
STRING_FILE = "<string>"


class WildcardConfigError(QrtError):
    """A wildcard config (ModelOpt ``quant_cfg``) that cannot be read: bad shape, unknown key or
    attribute, an entry without an instruction. Located at ``file:line:col`` when known."""

    code = "QRT208"


# =============================================================================================
# Immutable values


class FrozenDict(Mapping[Any, Any]):
    """A read-only, hashable mapping that keeps the order it was written in."""

    __slots__ = ("_data", "_hash")

    def __init__(self, items: Mapping[Any, Any] | Sequence[tuple[Any, Any]] = ()) -> None:
        self._data = dict(items)
        self._hash: int | None = None

    def __getitem__(self, key: Any) -> Any:
        return self._data[key]

    def __iter__(self) -> Iterator[Any]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __hash__(self) -> int:
        if self._hash is None:
            self._hash = hash(frozenset(self._data.items()))
        return self._hash

    def __repr__(self) -> str:
        return repr(self._data)


def _freeze(value: Any) -> Any:
    """Mappings → :class:`FrozenDict`, lists/tuples → tuples, all the way down."""
    if isinstance(value, Mapping):
        return FrozenDict((k, _freeze(v)) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return tuple(_freeze(v) for v in value)
    return value


def _thaw(value: Any) -> Any:
    """The plain data of a frozen value: dicts and lists, as JSON and YAML write them."""
    if isinstance(value, Mapping):
        return {k: _thaw(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_thaw(v) for v in value]
    return value


# =============================================================================================
# Entries


@dataclass(frozen=True)
class Entry:
    """One entry of a wildcard list, as written (a legacy dict is converted, nothing more).

    ``cfg`` is ``None`` for a toggle; an empty ``cfg`` occurs only with ``enable: false`` and
    is a toggle too (:attr:`is_toggle`). ``origin`` and ``index`` say where it came from;
    ``origin`` takes no part in equality.
    """

    pattern: str
    key_name: KeyName
    cfg: Mapping[str, Any] | tuple[Mapping[str, Any], ...] | None
    enable: bool | None
    parent_class: str | None
    origin: Origin = field(compare=False)
    index: int

    @property
    def is_toggle(self) -> bool:
        """``True`` when the entry only switches quantizers on or off, keeping attributes."""
        return self.cfg is None or not any(self._stages())

    @property
    def effective_enable(self) -> bool:
        """Whether matched quantizers end up enabled: ``enable``, else true (only a ``cfg``)."""
        return True if self.enable is None else self.enable

    @property
    def is_sequential(self) -> bool:
        """``True`` when ``cfg`` is a list of stages (a sequential quantizer)."""
        return isinstance(self.cfg, tuple) and not self.is_toggle

    def _stages(self) -> tuple[Mapping[str, Any], ...]:
        if self.cfg is None:
            return ()
        return self.cfg if isinstance(self.cfg, tuple) else (self.cfg,)

    def attributes(self) -> dict[str, Any] | list[dict[str, Any]] | None:
        """The ``cfg`` attributes, checked and normalised (``[4, 3]`` → ``(4, 3)``, ``"-1"`` →
        ``-1``), without defaults filled in; a list for a sequential ``cfg``; ``None`` for a
        toggle."""
        if self.is_toggle:
            return None
        where = f"{_label(self.index, self.origin.config_path)}.cfg"
        if isinstance(self.cfg, tuple):
            return [
                validate_attributes(_thaw(stage), where=f"{where}[{i}]")
                for i, stage in enumerate(self.cfg)
            ]
        return validate_attributes(_thaw(self.cfg), where=where)

    def to_dict(self, key_name: KeyName | None = None, *, normalised: bool = False) -> dict[str, Any]:
        """The entry in list form: the name key, then ``parent_class``, ``cfg``, ``enable`` as
        far as they are set. ``key_name`` overrides the name key it was written with;
        ``normalised`` writes ``cfg`` as ModelOpt reads it (tuples, integer block axes)."""
        out: dict[str, Any] = {key_name or self.key_name: self.pattern}
        if self.parent_class is not None:
            out["parent_class"] = self.parent_class
        if self.cfg is not None:
            attributes = self.attributes() if normalised else None
            out["cfg"] = attributes if attributes is not None else _thaw(self.cfg)
        if self.enable is not None:
            out["enable"] = self.enable
        return out


@dataclass(frozen=True)
class WildcardConfig:
    """A wildcard config read and checked: its entries in order, and the rest of a full config.

    ``form`` is how it was written (``list``, ``entry``, ``quant_cfg`` or ``config``);
    ``legacy`` whether the entries came from a legacy dict. ``algorithm`` and
    ``effective_bits`` are kept as written for a full config (``None`` otherwise).
    """

    entries: tuple[Entry, ...]
    form: Literal["list", "entry", "quant_cfg", "config"] = "list"
    legacy: bool = False
    algorithm: Any = None
    effective_bits: float | None = None
    has_algorithm: bool = False
    file: str = DATA_FILE

    def __iter__(self) -> Iterator[Entry]:
        return iter(self.entries)

    def __len__(self) -> int:
        return len(self.entries)

    def __getitem__(self, index: int) -> Entry:
        return self.entries[index]

    def to_list(self, key_name: KeyName = "quantizer_name", *, normalised: bool = False) -> list[dict[str, Any]]:
        """The list form (a legacy dict is always written as a list), naming quantizers with
        ``key_name``: ``quantizer_name`` (what ModelOpt 0.47 reads) or ``quantizer_path``.
        ``normalised`` gives each ``cfg`` as ModelOpt reads it (``[4, 3]`` → ``(4, 3)``,
        ``"-1"`` → ``-1``: 0.47 refuses the JSON spellings)."""
        if key_name not in KEY_NAMES:
            raise ValueError(f"key_name must be one of {KEY_NAMES}, got {key_name!r}")
        return [entry.to_dict(key_name, normalised=normalised) for entry in self.entries]

    def to_config(self, key_name: KeyName = "quantizer_name", *, normalised: bool = False) -> dict[str, Any]:
        """``{"quant_cfg": [...]}`` plus ``algorithm`` / ``effective_bits`` if they were given."""
        out: dict[str, Any] = {"quant_cfg": self.to_list(key_name, normalised=normalised)}
        if self.has_algorithm:
            out["algorithm"] = _thaw(self.algorithm)
        if self.effective_bits is not None:
            out["effective_bits"] = self.effective_bits
        return out


# =============================================================================================
# Positions


class _YDict(dict):  # type: ignore[type-arg]
    """A YAML mapping: a ``dict`` that also knows where it and each of its keys were written."""

    mark: Mark | None = None
    key_marks: dict[Any, Mark]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.key_marks = {}


class _YList(list):  # type: ignore[type-arg]
    """A YAML sequence: a ``list`` that also knows where it and each of its items were written."""

    mark: Mark | None = None
    item_marks: list[Mark]

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.item_marks = []


def _pos(file: str, mark: Mark | None) -> str:
    if mark is None:
        return file
    return f"{file}:{mark.line + 1}:{mark.column + 1}"


def _origin(file: str, mark: Mark | None, config_path: str) -> Origin:
    if mark is None:
        return Origin(file=file, config_path=config_path)
    return Origin(file=file, line=mark.line + 1, column=mark.column + 1, config_path=config_path)


def _mark_of(container: Any, key: Any = None) -> Mark | None:
    """Where ``container[key]`` was written (its key, or its item), else the container."""
    if isinstance(container, _YDict):
        if key is not None and key in container.key_marks:
            return container.key_marks[key]
        return container.mark
    if isinstance(container, _YList):
        if isinstance(key, int) and 0 <= key < len(container.item_marks):
            return container.item_marks[key]
        return container.mark
    return None


def _own_mark(value: Any) -> Mark | None:
    return value.mark if isinstance(value, (_YDict, _YList)) else None


def _locator(file: str, root: Any, fallback: Mark | None):  # type: ignore[no-untyped-def]
    """``file:line:col`` of a key path inside ``root`` (a ``cfg`` dict), for attribute errors."""

    def locate(path: tuple[Any, ...]) -> str | None:
        node, mark = root, _own_mark(root) or fallback
        for key in path:
            if isinstance(node, _YDict) and key in node.key_marks:
                mark = node.key_marks[key]
                node = node[key]
            else:
                break
        return _pos(file, mark) if mark is not None else None

    return locate


# =============================================================================================
# YAML with positions

_MAP_TAG = "tag:yaml.org,2002:map"
_SEQ_TAG = "tag:yaml.org,2002:seq"
_MERGE_TAG = "tag:yaml.org,2002:merge"


def _parse_yaml(text: str, file: str) -> tuple[Any, Mark | None]:
    """Safe-load YAML text into plain data whose mappings and sequences carry positions; also
    the position of the document's root (for a document that is a bare scalar)."""
    loader: BoundedLoader | None = None
    try:  # building the loader reads the text: a NUL or ESC fails here, located
        loader = BoundedLoader(text)
        node = loader.get_single_node()
        if node is None:
            return None, None
        return _build(loader, node, file, set()), node.start_mark
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or "invalid YAML"
        if "constructor for the tag" in problem:
            problem = (
                f"{problem}: qrt reads wildcard configs with YAML's safe subset only (no "
                "Python object tags); write plain mappings, lists and scalars"
            )
        raise WildcardConfigError(f"invalid YAML: {problem}", location=_pos(file, mark)) from None
    except yaml.YAMLError as exc:
        raise WildcardConfigError(f"invalid YAML: {exc}", location=file) from None
    finally:
        if loader is not None:
            loader.dispose()


def _build(loader: yaml.SafeLoader, node: yaml.Node, file: str, active: set[int]) -> Any:
    if isinstance(node, yaml.ScalarNode):
        return loader.construct_object(node, deep=True)
    if id(node) in active:
        raise WildcardConfigError(
            "a YAML alias refers to a collection that contains it (a recursive structure)",
            location=_pos(file, node.start_mark),
        )
    expected = _MAP_TAG if isinstance(node, yaml.MappingNode) else _SEQ_TAG
    if node.tag != expected:
        raise WildcardConfigError(
            f"YAML tag {node.tag} is not allowed here: write a plain "
            f"{'mapping' if expected == _MAP_TAG else 'list'}",
            location=_pos(file, node.start_mark),
        )
    active.add(id(node))
    try:
        if isinstance(node, yaml.SequenceNode):
            seq = _YList()
            seq.mark = node.start_mark
            for item in node.value:
                seq.append(_build(loader, item, file, active))
                seq.item_marks.append(item.start_mark)
            return seq
        assert isinstance(node, yaml.MappingNode)
        first: dict[Any, Mark] = {}
        for key_node, _ in node.value:  # duplicates among the keys written, not merged ones
            if key_node.tag == _MERGE_TAG:
                continue
            key = _build(loader, key_node, file, active)
            _check_hashable(key, file, key_node.start_mark)
            if key in first:
                raise WildcardConfigError(
                    f"duplicate key {key!r}: first written at {_pos(file, first[key])}, again at "
                    f"{_pos(file, key_node.start_mark)}; YAML would silently keep only the last, "
                    "so keep one of them",
                    location=_pos(file, key_node.start_mark),
                    offending=repr(key),
                )
            first[key] = key_node.start_mark
        loader.flatten_mapping(node)  # resolve << merges; explicit keys override merged ones
        mapping = _YDict()
        mapping.mark = node.start_mark
        for key_node, value_node in node.value:
            key = _build(loader, key_node, file, active)
            _check_hashable(key, file, key_node.start_mark)
            mapping.pop(key, None)  # an explicit key moves behind the merged ones it overrides
            mapping[key] = _build(loader, value_node, file, active)
            mapping.key_marks[key] = key_node.start_mark
        return mapping
    finally:
        active.discard(id(node))


def _check_hashable(key: Any, file: str, mark: Mark) -> None:
    try:
        hash(key)
    except TypeError:
        raise WildcardConfigError(
            f"a mapping key must be a name or a number, not a {type(key).__name__}",
            location=_pos(file, mark),
        ) from None


def _parse_json(text: str, file: str) -> Any:
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


# =============================================================================================
# Reading


def _label(index: int, config_path: str | None) -> str:
    """How messages name an entry: ``quant_cfg[3]``, or for a legacy dict
    ``entry 3 (quant_cfg['nn.Linear']['*'])``."""
    if config_path is None or config_path == f"quant_cfg[{index}]":
        return f"quant_cfg[{index}]"
    return f"entry {index} ({config_path})"


def _key_repr(key: Any) -> str:
    return f"[{key!r}]"


def qualified_parent_class(name: str) -> str:
    """The fully-qualified class a ``parent_class`` names.

    ModelOpt names classes by its registry keys: ``nn.Linear`` is ``torch.nn.Linear``
    (``torch.nn.modules.linear.Linear``). Any other name is taken as fully-qualified already
    (other ModelOpt keys such as ``hf.FP8Linear`` stay as they are). Raises ``ValueError`` for
    an ``nn.`` name that is no ``torch.nn`` module, a short ``torch.nn.X`` spelling, or a bare
    name (``Linear``: ModelOpt 0.47 refuses it, and it would name any class of that name).
    """
    if "." not in name:
        fqn = TORCH_NN_CLASSES.get(name)
        raise ValueError(
            f"{name!r} is a bare class name, which names no class for ModelOpt (its registry "
            f"keys are 'nn.Linear'-style) and would be ambiguous for qrt; write "
            + (f"'nn.{name}' (or {fqn!r})" if fqn else "the fully-qualified class name (module.Class)")
        )
    for prefix in ("nn.", "torch.nn."):
        if name.startswith(prefix) and "." not in name[len(prefix):]:
            short = name[len(prefix):]
            if short in TORCH_NN_CLASSES:
                if prefix == "nn.":
                    return TORCH_NN_CLASSES[short]
                raise ValueError(
                    f"{name!r} is not how ModelOpt names a class; write 'nn.{short}' (its registry "
                    f"name) or {TORCH_NN_CLASSES[short]!r} (fully-qualified)"
                )
            close = did_you_mean(f"nn.{short}", [f"nn.{c}" for c in TORCH_NN_CLASSES])
            raise ValueError(
                f"{name!r} names no torch.nn module class" + (f" ({close})" if close else "")
                + "; write 'nn.<Class>' for a torch.nn module, or a fully-qualified class name"
            )
    return name


class _Reader:
    """Reads one document; ``file`` labels positions and origins."""

    def __init__(self, file: str, root: Mark | None = None) -> None:
        self.file = file
        self.root = root

    def error(self, message: str, mark: Mark | None, *, hint: str | None = None,
              offending: Any = None) -> WildcardConfigError:
        return WildcardConfigError(
            message,
            location=_pos(self.file, mark),
            hint=hint,
            offending=None if offending is None else repr(offending),
        )

    # -- documents -----------------------------------------------------------------------------

    def document(self, data: Any) -> WildcardConfig:
        if isinstance(data, (list, tuple)):
            return WildcardConfig(self.entry_list(data, None), form="list", file=self.file)
        if not isinstance(data, Mapping):
            raise self.error(
                f"a wildcard config is a list of entries, a mapping with 'quant_cfg', or a legacy "
                f"dict of patterns; got {type(data).__name__} {data!r}",
                _own_mark(data) or self.root,
            )
        if "quant_cfg" in data:
            return self.full_config(data)
        if any(k in data for k in KEY_NAMES):
            entry = self.entry(data, 0, "quant_cfg[0]", _own_mark(data))
            return WildcardConfig((entry,), form="entry", file=self.file)
        if "quantization_config" in data:
            raise self.error(
                "this is a hierarchical config (it has 'quantization_config'), not a ModelOpt "
                "wildcard config; read it with qrt.frontends.hierarchical.load_config",
                _mark_of(data, "quantization_config"),
            )
        if "quantize" in data or "imports" in data:
            key = "quantize" if "quantize" in data else "imports"
            raise self.error(
                "this looks like a modelopt_recipes file; qrt reads the config itself (a list, or "
                "quant_cfg plus algorithm), without recipe 'imports' or '$import' composition",
                _mark_of(data, key),
                hint="write the composed quant_cfg list out, e.g. with ModelOpt's own loader",
            )
        return WildcardConfig(self.legacy(data, None), form="list", legacy=True, file=self.file)

    def full_config(self, data: Mapping[Any, Any]) -> WildcardConfig:
        for key in data:
            if key not in CONFIG_KEYS:
                close = did_you_mean(str(key), CONFIG_KEYS)
                extra = ""
                if key == "imports":
                    extra = "; recipe 'imports' / '$import' composition is not read by qrt"
                raise self.error(
                    f"unknown config key {key!r}" + (f" ({close})" if close else "") + extra,
                    _mark_of(data, key),
                    hint=f"a ModelOpt 0.47 config has only {', '.join(CONFIG_KEYS)}",
                )
        body = data["quant_cfg"]
        where = _mark_of(data, "quant_cfg")
        if isinstance(body, (list, tuple)):
            entries, legacy = self.entry_list(body, where), False
        elif isinstance(body, Mapping):
            entries, legacy = self.legacy(body, where), True
        else:
            raise self.error(
                f"quant_cfg must be a list of entries (or a legacy dict of patterns); got "
                f"{type(body).__name__} {body!r}",
                where,
            )
        effective_bits = data.get("effective_bits")
        if effective_bits is not None and (
            isinstance(effective_bits, bool)
            or not isinstance(effective_bits, (int, float))
            or not 0 < effective_bits <= 16
        ):
            raise self.error(
                f"effective_bits must be a number in (0, 16] or null, got {effective_bits!r}",
                _mark_of(data, "effective_bits"),
            )
        algorithm = data.get("algorithm")
        self.check_algorithm(algorithm, _mark_of(data, "algorithm"))
        has_algorithm = "algorithm" in data
        return WildcardConfig(
            entries,
            form="config" if has_algorithm or "effective_bits" in data else "quant_cfg",
            legacy=legacy,
            algorithm=_freeze(algorithm),
            effective_bits=effective_bits,
            has_algorithm=has_algorithm,
            file=self.file,
        )

    def check_algorithm(self, algorithm: Any, mark: Mark | None) -> None:
        items = algorithm if isinstance(algorithm, (list, tuple)) else [algorithm]
        for item in items:
            method = item.get("method") if isinstance(item, Mapping) else item
            if isinstance(method, str) and method not in ALGORITHM_METHODS:
                from qrt.errors import did_you_mean

                raise self.error(
                    f"algorithm {method!r} is not a ModelOpt 0.47 calibration method; valid: "
                    + ", ".join(sorted(ALGORITHM_METHODS)) + ", or null",
                    mark,
                    hint=did_you_mean(method, ALGORITHM_METHODS) or None,
                )
            if item is None or isinstance(item, str):
                continue
            if isinstance(item, Mapping) and all(isinstance(k, str) for k in item):
                continue
            raise self.error(
                f"algorithm must be a name ('max', 'awq_lite', ...), a mapping with 'method', "
                f"null, or a list of those; got {item!r}",
                mark,
            )

    # -- the list form -------------------------------------------------------------------------

    def entry_list(self, items: Sequence[Any], where: Mark | None) -> tuple[Entry, ...]:
        return tuple(
            self.entry(raw, i, f"quant_cfg[{i}]", _mark_of(items, i) or where)
            for i, raw in enumerate(items)
        )

    def entry(self, raw: Any, index: int, path: str, mark: Mark | None) -> Entry:
        label = _label(index, path)
        valid = (
            "an entry is {quantizer_name: <glob>, cfg: {...} and/or enable: true|false, "
            "parent_class: nn.<Class> (optional)}"
        )
        if not isinstance(raw, Mapping):
            raise self.error(f"{label}: expected a mapping, got {raw!r}", mark, hint=valid)
        mark = _own_mark(raw) or mark
        for key in raw:
            if key in ENTRY_KEYS:
                continue
            if len(raw) == 1 and not any(k in raw for k in ENTRY_KEYS):
                value = raw[key]
                raise self.error(
                    f"{label}: {{{key!r}: ...}} is ModelOpt's legacy single-key entry, which qrt "
                    "reads only in a legacy dict, not inside a list",
                    _mark_of(raw, key),
                    hint=f"write it as {{'quantizer_name': {key!r}, 'cfg': {_thaw(value)!r}}} "
                    "(with 'enable' beside 'cfg', not inside it)",
                )
            close = did_you_mean(str(key), ENTRY_KEYS)
            raise self.error(
                f"{label}: unknown entry key {key!r}" + (f" ({close})" if close else ""),
                _mark_of(raw, key),
                hint=f"valid keys: {', '.join(ENTRY_KEYS)}",
            )
        names = [k for k in KEY_NAMES if k in raw]
        if len(names) == 2:
            raise self.error(
                f"{label}: both 'quantizer_name' and 'quantizer_path' are given; write one",
                _mark_of(raw, "quantizer_path"),
                hint="ModelOpt 0.47 reads 'quantizer_name'; its documentation writes 'quantizer_path'",
            )
        if not names:
            raise self.error(
                f"{label}: no 'quantizer_name' (or 'quantizer_path'): the glob of quantizer "
                "names the entry applies to",
                mark,
                hint=valid,
            )
        return self.check(
            index, path, mark,
            key_name=names[0],
            pattern=raw[names[0]],
            pattern_mark=_mark_of(raw, names[0]),
            has_cfg="cfg" in raw,
            cfg=raw.get("cfg"),
            cfg_mark=_mark_of(raw, "cfg"),
            has_enable="enable" in raw,
            enable=raw.get("enable"),
            enable_mark=_mark_of(raw, "enable"),
            parent_class=raw.get("parent_class"),
            parent_mark=_mark_of(raw, "parent_class"),
        )

    # -- the legacy dict -----------------------------------------------------------------------

    def legacy(self, data: Mapping[Any, Any], where: Mark | None) -> tuple[Entry, ...]:
        """ModelOpt 0.47's conversion of a legacy dict, one key at a time, in dict order."""
        entries: list[Entry] = []
        for key, value in data.items():
            key_mark = _mark_of(data, key) or where
            if not isinstance(key, str):
                raise self.error(
                    f"legacy quant_cfg key {key!r} must be a quantizer name pattern (a string)",
                    key_mark,
                )
            path = f"quant_cfg{_key_repr(key)}"
            if key.startswith("nn."):
                if not isinstance(value, Mapping):
                    raise self.error(
                        f"{path}: a class-scoped legacy key maps patterns to their configs, "
                        f"{{{key!r}: {{'*input_quantizer': {{...}}}}}}; got {value!r}",
                        key_mark,
                    )
                for pattern, sub in value.items():
                    sub_path = f"{path}{_key_repr(pattern)}"
                    sub_mark = _mark_of(value, pattern) or key_mark
                    if not isinstance(sub, Mapping):
                        raise self.error(
                            f"entry {len(entries)} ({sub_path}): inside {key!r} each pattern maps "
                            f"to a dict of attributes (and 'enable'); got {sub!r}",
                            sub_mark,
                        )
                    entries.append(
                        self.legacy_entry(
                            pattern, sub, len(entries), sub_path, sub_mark, key, key_mark
                        )
                    )
                continue
            pattern = "*" if key == "default" else key
            entries.append(
                self.legacy_entry(pattern, value, len(entries), path, key_mark, None, None)
            )
        return tuple(entries)

    def legacy_entry(self, pattern: Any, value: Any, index: int, path: str, mark: Mark | None,
                     parent_class: str | None, parent_mark: Mark | None) -> Entry:
        label = _label(index, path)
        if value is None:
            raise self.error(
                f"{label}: a legacy pattern needs a value: a dict of attributes, {{}} to switch "
                "matched quantizers on, {enable: false} to switch them off, or a list of dicts "
                "for a sequential quantizer (ModelOpt 0.47 reads null as a switch on)",
                mark,
            )
        if isinstance(value, Mapping):
            rest = _YDict((k, v) for k, v in value.items() if k != "enable")
            if isinstance(value, _YDict):
                rest.mark = value.mark
                rest.key_marks = {k: m for k, m in value.key_marks.items() if k != "enable"}
            has_enable = "enable" in value
            enable = value.get("enable")
            cfg: Any = rest if rest else None
            if cfg is None and not has_enable:  # {pattern: {}}: no cfg, enable defaults to true
                has_enable, enable = True, True
            return self.check(
                index, path, mark, key_name="quantizer_name", pattern=pattern, pattern_mark=mark,
                has_cfg=cfg is not None, cfg=cfg, cfg_mark=_own_mark(value) or mark,
                has_enable=has_enable, enable=enable, enable_mark=_mark_of(value, "enable") or mark,
                parent_class=parent_class, parent_mark=parent_mark,
            )
        return self.check(
            index, path, mark, key_name="quantizer_name", pattern=pattern, pattern_mark=mark,
            has_cfg=True, cfg=value, cfg_mark=_own_mark(value) or mark,
            has_enable=False, enable=None, enable_mark=mark,
            parent_class=parent_class, parent_mark=parent_mark,
        )

    # -- one entry's fields --------------------------------------------------------------------

    def check(self, index: int, path: str, mark: Mark | None, *, key_name: KeyName,
              pattern: Any, pattern_mark: Mark | None, has_cfg: bool, cfg: Any,
              cfg_mark: Mark | None, has_enable: bool, enable: Any, enable_mark: Mark | None,
              parent_class: Any, parent_mark: Mark | None) -> Entry:
        label = _label(index, path)
        if not isinstance(pattern, str) or not pattern:
            raise self.error(
                f"{label}: {key_name} must be a non-empty glob over quantizer names such as "
                f"'*weight_quantizer' or 'model.layers.*.mlp.*'; got {pattern!r}",
                pattern_mark or mark,
            )
        if parent_class is not None:
            if not isinstance(parent_class, str) or not parent_class:
                raise self.error(
                    f"{label}: parent_class must be a class name such as 'nn.Linear' (or a "
                    f"fully-qualified name); got {parent_class!r}",
                    parent_mark or mark,
                )
            try:
                qualified_parent_class(parent_class)
            except ValueError as exc:
                raise self.error(f"{label}: parent_class: {exc}", parent_mark or mark) from None
        if has_enable and not isinstance(enable, bool):
            raise self.error(
                f"{label}: enable must be true or false, got {enable!r}", enable_mark or mark,
                hint="YAML reads unquoted true/false (and yes/no) as booleans; null is not one",
            )
        if not has_enable:
            enable = None
        stages: list[Any] = []
        if has_cfg and cfg is None:
            if enable is None:
                raise self.error(
                    f"{label}: cfg is null and there is no enable, so the entry says nothing",
                    cfg_mark or mark,
                    hint="write the attributes under cfg, or drop cfg and write enable: true to "
                    "switch quantizers on (ModelOpt 0.47 reads cfg: null as that switch)",
                )
        elif has_cfg:
            if isinstance(cfg, Mapping):
                stages = [cfg]
            elif isinstance(cfg, (list, tuple)) and all(isinstance(s, Mapping) for s in cfg):
                stages = list(cfg)
            else:
                raise self.error(
                    f"{label}: cfg must be a dict of quantizer attributes, or a list of such dicts "
                    f"for a sequential quantizer; got {cfg!r}",
                    cfg_mark or mark,
                    hint=f"valid attributes: {', '.join(ATTRIBUTE_FIELDS)}",
                )
            if not any(stages):  # {}, [], or [{}, {}]
                if enable is not False:
                    raise self.error(
                        f"{label}: cfg is empty; an empty cfg is valid only with enable: false "
                        "(a switch off), as in ModelOpt 0.47",
                        cfg_mark or mark,
                        hint="write attributes under cfg, or drop cfg and write enable: true to "
                        "switch quantizers on keeping their attributes",
                    )
                stages = []
        if not has_cfg and enable is None:
            raise self.error(
                f"{label}: the entry needs cfg (set attributes) or enable (switch on or off), "
                "or both",
                mark,
                hint="{quantizer_name: '*', enable: false} switches quantizers off; "
                "{quantizer_name: '*weight_quantizer', cfg: {num_bits: 8, axis: 0}} configures "
                "them",
            )
        effective = True if enable is None else enable
        sequential = not isinstance(cfg, Mapping)
        for i, stage in enumerate(stages):
            where = f"{label}.cfg" + (f"[{i}]" if sequential else "")
            stage_mark = _own_mark(stage) or (_mark_of(cfg, i) if sequential else None) or cfg_mark
            attrs = validate_attributes(
                stage, where=where, locate=_locator(self.file, stage, stage_mark or mark)
            )
            if "enable" in attrs and attrs["enable"] != effective:
                raise self.error(
                    f"{where}: enable: {str(attrs['enable']).lower()} inside cfg contradicts the "
                    f"entry, which leaves the quantizer {'enabled' if effective else 'disabled'}: "
                    "ModelOpt 0.47 ignores enable inside cfg (the entry's enable, default true, "
                    "wins)",
                    _mark_of(stage, "enable") or stage_mark or mark,
                    hint="write enable beside cfg, on the entry itself",
                )
        frozen_cfg = None
        if has_cfg and cfg is not None:
            frozen_cfg = _freeze(cfg)
        return Entry(
            pattern=pattern,
            key_name=key_name,
            cfg=frozen_cfg,
            enable=enable,
            parent_class=parent_class,
            origin=_origin(self.file, mark, path),
            index=index,
        )


# =============================================================================================
# Public entry points


def wildcard_from_data(data: Any, *, file: str = DATA_FILE) -> WildcardConfig:
    """Read a wildcard config given as Python data (or data parsed from JSON or YAML).

    Accepts a list of entries, a single entry, ``{"quant_cfg": ...}``, a full config with
    ``algorithm``, or a legacy dict; see the module docstring. ``file`` labels errors and
    origins. Raises :class:`WildcardConfigError` for the first problem found; no entry is
    returned unless every entry is valid.
    """
    return _Reader(file).document(data)


def _from_parsed(data: Any, root: Mark | None, file: str) -> WildcardConfig:
    return _Reader(file, root).document(data)


def wildcard_from_text(text: str, *, file: str = STRING_FILE) -> WildcardConfig:
    """Read a wildcard config from YAML (or JSON) text, keeping ``file:line:col`` of each entry."""
    try:
        if file.endswith(".json"):
            from qrt.files import check_json_constants

            check_json_constants(text, file=file, error=WildcardConfigError)  # YAML reads NaN as a str
            try:
                data, root = _parse_yaml(text, file)  # YAML reads JSON too, and gives positions
            except WildcardConfigError:
                data, root = _parse_json(text, file), None
        else:
            data, root = _parse_yaml(text, file)
        if data is None:
            raise WildcardConfigError(
                "empty document: expected a list of entries or a mapping with 'quant_cfg'",
                location=f"{file}:1:1",
            )
        return _from_parsed(data, root, file)
    except WildcardConfigError as exc:
        raise _with_caret(exc, text) from None


def load_wildcard(path: str | os.PathLike[str]) -> WildcardConfig:
    """Read a wildcard config file: YAML or JSON holding a list, ``quant_cfg``, or a full config."""
    file = os.fspath(path)
    text = read_text(file, what="wildcard config file", error=WildcardConfigError)
    return wildcard_from_text(text, file=file)


def is_wildcard_document(data: Any) -> bool:
    """Whether loaded YAML/JSON data looks like a wildcard config (and not a hierarchical one).

    ``True`` for a list of mappings, a mapping with ``quant_cfg``, a single entry (a mapping
    with ``quantizer_name`` or ``quantizer_path``), and a legacy dict: string keys, each value a
    mapping or a list, and some key that reads as a quantizer pattern (``default``, ``nn.*``,
    a glob, or a name containing ``quantizer``). Only the shape is looked at; reading may still
    fail with a located error.
    """
    if isinstance(data, (list, tuple)):
        return all(isinstance(item, Mapping) for item in data)
    if not isinstance(data, Mapping) or not data or "quantization_config" in data:
        return False
    if "quant_cfg" in data or any(k in data for k in KEY_NAMES):
        return True
    if not all(isinstance(k, str) for k in data):
        return False
    if not all(isinstance(v, (Mapping, list, tuple)) for v in data.values()):
        return False
    return any(
        k == "default" or k.startswith("nn.") or "quantizer" in k or any(c in k for c in "*?[")
        for k in data
    )


def _with_caret(exc: WildcardConfigError, text: str) -> WildcardConfigError:
    """Add the offending line with a caret under the column, when the location has one."""
    from qrt.frontends.dsl.source import caret_context

    if not exc.location:
        return exc
    parts = exc.location.rsplit(":", 2)
    if len(parts) == 3 and parts[1].isdigit() and parts[2].isdigit():
        context = caret_context(text, int(parts[1]), int(parts[2]))
        exc.hint = f"{exc.hint}\n{context}" if exc.hint else context
        exc.args = (exc.render(),)
    return exc
