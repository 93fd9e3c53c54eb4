"""ModelOpt's recipe YAML composed as ModelOpt 0.47 composes it: ``imports`` and ``$import``.

ModelOpt 0.47 writes its presets and recipes as small YAML files that import each other
(``modelopt_recipes/``): a recipe names snippets under ``imports`` and splices them in with
``$import``. The loader is ``modelopt/torch/opt/config_loader.py`` (``load_config``,
``_resolve_imports``, ``_resolve_config_path``, ``_load_raw_config_with_schema``) and, for a
recipe with ``metadata``, ``modelopt/recipe/loader.py`` (``load_recipe``). What it does, and
qrt with it:

* **A file** is one YAML document, or two: a header mapping, then a body. A mapping body is
  merged into the header (``{**header, **body}``); a list body keeps only the header's
  ``imports`` (a list snippet that imports). More than two documents are refused.
* **``imports``** (a mapping at the top of a mapping document) names snippets:
  ``name: path``. It is consumed: the composed document has no ``imports`` key.
* **Paths** resolve as ``_resolve_config_path`` does, and not against the importing file:
  a path ending ``.yml``/``.yaml`` is tried as given (relative to the **current directory**),
  then in ModelOpt's built-in library (the installed ``modelopt_recipes`` package); a path
  without the suffix is tried with ``.yml``, then ``.yaml``, in the current directory, then
  the same in the library. The first file that exists wins.
* **Snippets** must declare a ``# modelopt-schema: <modelopt.…>`` comment (in the leading
  comment lines); it decides what a list ``$import`` does. A snippet's own imports are
  composed first.
* **``{$import: name}`` alone in a list** splices a snippet whose schema is the list's
  (``QuantizerCfgListConfig`` into ``quant_cfg``) and appends one whose schema is the
  element's (a ``QuantizerCfgEntry``); anything else, or a list whose schema is not known (no
  typed list), is refused, as ModelOpt refuses it.
* **``{$import: name-or-list, key: value, ...}``** anywhere else merges the named snippets
  (each must be a mapping; later ones override earlier) and then the keys written beside
  ``$import`` over them.
* **``ExMy`` strings** in ``num_bits``/``scale_bits`` (``e4m3``) become ``(4, 3)``, in every
  file read (``_parse_exmy_num_bits``).
* **A recipe** (a mapping with ``metadata``) must say ``metadata.recipe_type``; qrt reads the
  ``ptq`` type, whose ``quantize`` section is the config (``ModelOptPTQRecipe``). Without
  ``metadata``, a mapping is read as a ``QuantizeConfig`` and a list as a
  ``QuantizerCfgListConfig`` (unless its schema comment says otherwise), as ModelOpt's
  ``_load_quantize_config_dict``/``load_config`` read its presets.

qrt adds bounds ModelOpt does not have: a cycle is refused naming the chain (ModelOpt does
too), imports nest at most :data:`MAX_IMPORT_DEPTH` deep, at most :data:`MAX_IMPORT_FILES`
distinct files are read (each once: a snippet imported twice is composed once), every file
through the bounded reader (:func:`qrt.files.read_text`), and the composed config may hold at
most :data:`~qrt.frontends.yaml_load.MAX_NODES` nodes. Every refusal is a located
:class:`~.errors.WildcardConfigError` (the ``imports`` entry or the ``$import`` that failed).
Each imported snippet is checked against the schema it declares, used or not, as ModelOpt runs
pydantic on it (``_validate_modelopt_schema``): attributes, an entry, a list of entries or a
config, with qrt's own checks, located in the snippet; a schema qrt does not know (other than
those four) is checked where its content ends up.
"""

from __future__ import annotations

import importlib.util
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from yaml.error import Mark

from qrt.files import read_text
from qrt.frontends.wildcard.attributes import validate_attributes
from qrt.frontends.wildcard.document import DocumentReader
from qrt.frontends.wildcard.entry_check import ReadContext
from qrt.frontends.wildcard.errors import WildcardConfigError
from qrt.frontends.wildcard.parse import parse_wildcard_yaml
from qrt.frontends.wildcard.positions import locator, mark_of, own_mark, position
from qrt.frontends.yaml_load import MAX_NODES, YamlList, YamlMapping

__all__ = ["MAX_IMPORT_DEPTH", "MAX_IMPORT_FILES", "builtin_library", "compose", "is_recipe"]

MAX_IMPORT_DEPTH = 32
"""How deep imports may nest (ModelOpt's own recipes nest 3 deep)."""
MAX_IMPORT_FILES = 256
"""How many distinct files one composition may read (ModelOpt's largest recipe reads 6)."""

IMPORT_KEY = "$import"
IMPORTS_KEY = "imports"

_SCHEMA_RE = re.compile(r"^\s*#\s*modelopt-schema:\s*(\S+)\s*$")
_EXMY_RE = re.compile(r"^[Ee](\d+)[Mm](\d+)$")
_EXMY_KEYS = frozenset({"num_bits", "scale_bits"})

_CONFIG = "modelopt.torch.quantization.config"
ENTRY = f"{_CONFIG}.QuantizerCfgEntry"
LIST = f"{_CONFIG}.QuantizerCfgListConfig"
QUANTIZE = f"{_CONFIG}.QuantizeConfig"
ATTRIBUTES = f"{_CONFIG}.QuantizerAttributeConfig"
PTQ_RECIPE = "modelopt.recipe.config.ModelOptPTQRecipe"
_CFG = "<QuantizerCfgEntry.cfg>"  # QuantizerAttributeConfig | list[QuantizerAttributeConfig] | None

# The schemas a composition walks, as ModelOpt's ``_child_schema`` / ``_list_element_schema``
# read them from the pydantic annotations: field → schema of a mapping; element → of a list.
_FIELDS: dict[str, dict[str, str]] = {
    PTQ_RECIPE: {"quantize": QUANTIZE},
    QUANTIZE: {"quant_cfg": LIST},
    ENTRY: {"cfg": _CFG},
}
_ELEMENT: dict[str, str] = {LIST: ENTRY, _CFG: ATTRIBUTES}
_SCHEMA_ALIASES = {f"{_CONFIG}.QuantizeQuantCfgType": LIST}
"""``QuantizerCfgListConfig = QuantizeQuantCfgType`` (both ``list[QuantizerCfgEntry]``)."""


def builtin_library() -> Path | None:
    """ModelOpt's built-in recipe library (the ``modelopt_recipes`` package's folder), found
    without importing it; ``None`` where it is not installed."""
    try:
        spec = importlib.util.find_spec("modelopt_recipes")
    except (ImportError, ValueError):
        return None
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    return Path(locations[0]) if locations else None


def _schema_comment(text: str) -> str | None:
    """The ``# modelopt-schema:`` of the leading comment lines (``_parse_modelopt_schema``)."""
    schema = None
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped:
            continue
        if not stripped.startswith("#"):
            break
        match = _SCHEMA_RE.match(line)
        if match:
            if schema is not None:
                raise ValueError("multiple modelopt-schema comments found")
            schema = match.group(1)
    return schema


def is_recipe(documents: list[tuple[Any, Mark | None]], text: str) -> bool:
    """Whether parsed documents are ModelOpt recipe YAML that needs composing: two documents
    (a header and a body), ``imports`` or ``metadata`` at the top, or a ``quantize`` section
    (refused with the reason when it has no ``metadata``)."""
    if len(documents) > 1:
        return True
    data = documents[0][0] if documents else None
    return isinstance(data, dict) and any(k in data for k in (IMPORTS_KEY, "metadata", "quantize"))


@dataclass
class _Raw:
    """One file as ModelOpt's ``_load_raw_config_with_schema`` gives it."""

    data: Any  # a mapping (imports inside) or a list
    imports: Any  # a list body's header imports; for a mapping, its own "imports"
    imports_mark: Mark | None
    schema: str | None
    root: Mark | None
    file: str


def _exmy(value: Any) -> Any:
    """``_parse_exmy_num_bits``: ``num_bits``/``scale_bits`` ``"eXmY"`` → ``(X, Y)``, in place
    (the marks stay), all the way down."""
    if isinstance(value, dict):
        for key, item in value.items():
            if key in _EXMY_KEYS and isinstance(item, str):
                match = _EXMY_RE.match(item)
                if match:
                    value[key] = (int(match.group(1)), int(match.group(2)))
            else:
                _exmy(item)
    elif isinstance(value, list):
        for item in value:
            _exmy(item)
    return value


def _raw(documents: list[tuple[Any, Mark | None]], text: str, file: str) -> _Raw:
    try:
        schema = _schema_comment(text)
    except ValueError as exc:
        raise WildcardConfigError(f"config file {file}: {exc}", location=file) from None
    if len(documents) > 2:
        raise WildcardConfigError(
            "expected 1 or 2 YAML documents (a header with 'imports', then the content), got "
            "more", location=position(file, documents[2][1]),
        )
    if not documents or documents[0][0] is None:
        return _Raw(YamlMapping(), None, None, schema, None, file)
    if len(documents) == 1:
        data, root = documents[0]
    else:
        (header, header_root), (content, root) = documents
        if not isinstance(header, dict):
            raise WildcardConfigError(
                f"the first YAML document must be a mapping (the header with 'imports'), got "
                f"{type(header).__name__}", location=position(file, header_root),
            )
        if content is None:
            content = YamlMapping()
        if isinstance(content, list):
            return _Raw(_exmy(content), header.get(IMPORTS_KEY) or {}, mark_of(header, IMPORTS_KEY),
                        schema, root, file)
        if not isinstance(content, dict):
            raise WildcardConfigError(
                f"the second YAML document must be a mapping or a list, got "
                f"{type(content).__name__}", location=position(file, root),
            )
        merged = YamlMapping({**header, **content})
        merged.mark = own_mark(header)
        merged.key_marks = {**getattr(header, "key_marks", {}), **getattr(content, "key_marks", {})}
        data, root = merged, header_root
    if not isinstance(data, (dict, list)):
        raise WildcardConfigError(
            f"a ModelOpt config file holds a YAML mapping or list, got {type(data).__name__}",
            location=position(file, root),
        )
    imports = data.get(IMPORTS_KEY) if isinstance(data, dict) else None
    imports_mark = mark_of(data, IMPORTS_KEY) if isinstance(data, dict) else None
    return _Raw(_exmy(data), imports, imports_mark, schema, root, file)


@dataclass
class _Resolved:
    data: Any
    schema: str
    file: str


class _Composer:
    """One composition: the files read so far (each composed once) and the texts of those
    files, for error carets."""

    def __init__(self, texts: dict[str, str], library: Path | None) -> None:
        self.texts = texts
        self.library = library
        self.done: dict[str, _Resolved] = {}

    # -- files -----------------------------------------------------------------------------

    def candidates(self, written: str) -> list[Path]:
        """``_resolve_config_path`` for a string: the current directory, then the library."""
        names = [written] if written.endswith((".yml", ".yaml")) else [f"{written}.yml", f"{written}.yaml"]
        found = [Path(name) for name in names]
        if self.library is not None:
            found += [self.library / name for name in names]
        return found

    def locate(self, written: Any, name: Any, mark: Mark | None, file: str) -> Path:
        if not isinstance(written, str) or not written:
            raise WildcardConfigError(
                f"import {name!r} has an empty config path" if not written else
                f"import {name!r}: a config path is a string such as "
                f"'configs/ptq/units/kv_fp8', got {written!r}",
                location=position(file, mark),
            )
        tried = self.candidates(written)
        for path in tried:
            if path.is_file():
                return path
        library = (
            "ModelOpt's built-in library (modelopt_recipes)" if self.library is not None else
            "ModelOpt's built-in library, which is not installed (pip install nvidia-modelopt)"
        )
        raise WildcardConfigError(
            f"import {name!r}: cannot find config file {written!r}; tried "
            + ", ".join(str(p) for p in tried)
            + f". ModelOpt resolves import paths against the current directory, then {library}, "
            "not against the importing file",
            location=position(file, mark),
            hint="write the path from the directory qrt runs in (or an absolute path), with or "
            "without .yml/.yaml",
        )

    def snippet(self, path: Path, name: str, mark: Mark | None, importer: str,
                chain: tuple[str, ...]) -> _Resolved:
        try:
            key = str(path.resolve())
        except OSError:
            key = str(path)
        if key in chain:
            raise WildcardConfigError(
                f"import {name!r}: circular import: {str(path)!r} (resolves to {key!r}) is already "
                "being loaded; import chain: " + " -> ".join(chain + (key,)),
                location=position(importer, mark),
            )
        if key in self.done:
            return self.done[key]
        if len(chain) > MAX_IMPORT_DEPTH:
            raise WildcardConfigError(
                f"import {name!r}: imports nest more than {MAX_IMPORT_DEPTH} deep",
                location=position(importer, mark),
            )
        if len(self.done) >= MAX_IMPORT_FILES:
            raise WildcardConfigError(
                f"import {name!r}: a recipe may read at most {MAX_IMPORT_FILES} files",
                location=position(importer, mark),
            )
        file = str(path)
        text = read_text(path, what="ModelOpt config snippet", error=WildcardConfigError)
        self.texts[file] = text
        raw = _raw(parse_wildcard_yaml(text, file, documents=2), text, file)
        if raw.schema is None:
            raise WildcardConfigError(
                f"import {name!r} ({file}) must reference a snippet with a modelopt-schema "
                "comment ('# modelopt-schema: modelopt.torch.quantization.config.<Schema>')",
                location=position(importer, mark),
            )
        schema = self.schema(raw.schema, file)
        data = self.resolve(raw, schema, chain + (key,))
        _check_snippet(schema, data, file)
        resolved = _Resolved(data, schema, file)
        self.done[key] = resolved
        return resolved

    @staticmethod
    def schema(written: str, file: str) -> str:
        if not written.startswith("modelopt."):
            raise WildcardConfigError(
                f"unsupported modelopt-schema {written!r}; schemas must live under 'modelopt.'",
                location=file,
            )
        return _SCHEMA_ALIASES.get(written, written)

    # -- imports ---------------------------------------------------------------------------

    def resolve(self, raw: _Raw, schema: str | None, chain: tuple[str, ...]) -> Any:
        """``_resolve_imports``: the imports read, the body's ``$import`` replaced."""
        body = raw.data
        if isinstance(body, dict) and IMPORTS_KEY in body:
            kept = YamlMapping((k, v) for k, v in body.items() if k != IMPORTS_KEY)
            kept.mark = own_mark(body)
            kept.key_marks = {k: m for k, m in getattr(body, "key_marks", {}).items() if k != IMPORTS_KEY}
            body = kept
        imports = raw.imports
        if not imports:
            marker = _find_marker(body, "root")
            if marker is not None:
                ref, context, mark = marker
                raise WildcardConfigError(
                    f"unknown $import reference {ref!r} in {context}: no imports are declared",
                    location=position(raw.file, mark),
                    hint="declare it at the top: imports: {NAME: path/to/snippet}",
                )
            return body
        if not isinstance(imports, dict):
            raise WildcardConfigError(
                f"'imports' must be a mapping from names to config paths, got "
                f"{type(imports).__name__}", location=position(raw.file, raw.imports_mark),
            )
        table: dict[Any, _Resolved] = {}
        for name, written in imports.items():
            mark = mark_of(imports, name)
            path = self.locate(written, name, mark, raw.file)
            table[name] = self.snippet(path, name, mark, raw.file, chain)
        return _Splicer(table, raw.file).value(body, schema, "root")


class _Splicer:
    """``_resolve_value``: ``$import`` replaced in one body, with ``table`` of its imports."""

    def __init__(self, table: dict[Any, _Resolved], file: str) -> None:
        self.table, self.file = table, file

    def lookup(self, ref: Any, context: str, mark: Mark | None) -> _Resolved:
        try:
            return self.table[ref]
        except (KeyError, TypeError):
            raise WildcardConfigError(
                f"unknown $import reference {ref!r} in {context}; available imports: "
                + ", ".join(repr(k) for k in self.table),
                location=position(self.file, mark),
            ) from None

    def value(self, obj: Any, schema: str | None, context: str) -> Any:
        if isinstance(obj, dict):
            if IMPORT_KEY in obj:
                return self.merge(obj, schema, context)
            out = YamlMapping()
            out.mark = own_mark(obj)
            marks: dict[Any, Mark] = getattr(obj, "key_marks", {})
            for key, item in obj.items():
                child = _FIELDS.get(schema or "", {}).get(key) if isinstance(key, str) else None
                out[key] = self.value(item, child, f"{context}.{key}")
                if key in marks:
                    out.key_marks[key] = marks[key]
            return out
        if isinstance(obj, list):
            out_list = YamlList()
            out_list.mark = own_mark(obj)
            element = _ELEMENT.get(schema or "")
            for index, entry in enumerate(obj):
                here = f"{context}[{index}]"
                mark = mark_of(obj, index)
                if isinstance(entry, dict) and IMPORT_KEY in entry and len(entry) == 1:
                    ref = entry[IMPORT_KEY]
                    imported = self.lookup(ref, f"list entry at {here}", mark_of(entry, IMPORT_KEY))
                    for item, item_mark in self.list_import(imported, schema, element, ref, here, mark):
                        out_list.append(item)
                        out_list.item_marks.append(item_mark)
                else:
                    out_list.append(self.value(entry, element, here))
                    out_list.item_marks.append(mark)
                if len(out_list) > MAX_NODES:
                    raise WildcardConfigError(
                        f"the composed list at {context} has more than {MAX_NODES:,} entries",
                        location=position(self.file, mark),
                    )
            return out_list
        return obj

    def merge(self, obj: dict[Any, Any], schema: str | None, context: str) -> Any:
        """``{$import: name(s), ...inline}``: the snippets merged, then the inline keys over them."""
        ref = obj[IMPORT_KEY]
        at = mark_of(obj, IMPORT_KEY)
        merged = YamlMapping()
        merged.mark = own_mark(obj)
        for name in ref if isinstance(ref, list) else [ref]:
            imported = self.lookup(name, f"dict value at {context}", at)
            if not isinstance(imported.data, dict):
                raise WildcardConfigError(
                    f"$import {name!r} in a mapping must resolve to a mapping, got "
                    f"{type(imported.data).__name__} ({imported.file})",
                    location=position(self.file, at),
                )
            merged.update(imported.data)
            merged.key_marks.update(getattr(imported.data, "key_marks", {}))
        marks: dict[Any, Mark] = getattr(obj, "key_marks", {})
        for key, item in obj.items():
            if key != IMPORT_KEY:
                merged[key] = item
                if key in marks:
                    merged.key_marks[key] = marks[key]
        return self.value(merged, schema, context)

    def list_import(self, imported: _Resolved, schema: str | None, element: str | None, ref: Any,
                    here: str, mark: Mark | None) -> list[tuple[Any, Mark | None]]:
        """``_resolve_list_import``: splice a snippet of the list's schema, append one of the
        element's schema."""
        if element is None:
            raise WildcardConfigError(
                f"$import {ref!r} in the list at {here} requires a typed list schema (as in a "
                "recipe's quantize.quant_cfg, or a QuantizerCfgListConfig snippet)",
                location=position(self.file, mark),
            )
        data = imported.data
        if imported.schema == schema:
            if not isinstance(data, list):
                raise WildcardConfigError(
                    f"$import {ref!r} in the list at {here} declares schema {imported.schema!r} "
                    f"but is a {type(data).__name__}, not a list ({imported.file})",
                    location=position(self.file, mark),
                )
            marks = getattr(data, "item_marks", [])
            return [(item, marks[i] if i < len(marks) else own_mark(data) or mark)
                    for i, item in enumerate(data)]
        if imported.schema == element:
            return [(data, own_mark(data) or mark)]
        raise WildcardConfigError(
            f"$import {ref!r} in the list at {here} has schema {imported.schema!r}; expected the "
            f"list schema {schema!r} (spliced) or the element schema {element!r} (appended)",
            location=position(self.file, mark),
        )


def _check_snippet(schema: str, data: Any, file: str) -> None:
    """A snippet checked against the schema it declares when it is imported, used or not, as
    ModelOpt's ``_validate_modelopt_schema`` does (with pydantic): attributes as a ``cfg``,
    an entry, a list of entries or a config as qrt reads them anywhere, located in the
    snippet. Schemas qrt does not know are checked where their content ends up."""
    kinds = {ATTRIBUTES: dict, ENTRY: dict, QUANTIZE: dict, LIST: list}
    if schema not in kinds:
        return
    if not isinstance(data, kinds[schema]):
        raise WildcardConfigError(
            f"{file} declares modelopt-schema {schema!r} but holds a {_shape(data)}, not a "
            f"{'list' if kinds[schema] is list else 'mapping'}",
            location=position(file, own_mark(data)),
        )
    if schema == ATTRIBUTES:
        validate_attributes(data, where="cfg", locate=locator(file, data, own_mark(data)))
    elif schema != QUANTIZE or "quant_cfg" in data:
        DocumentReader(ReadContext(file, own_mark(data))).document(data)


def _shape(value: Any) -> str:
    return "mapping" if isinstance(value, dict) else "list" if isinstance(value, list) else type(value).__name__


def _find_marker(obj: Any, context: str) -> tuple[Any, str, Mark | None] | None:
    """The first ``$import`` left in ``obj`` (``_find_import_marker``), with its mark."""
    if isinstance(obj, dict):
        if IMPORT_KEY in obj:
            return obj[IMPORT_KEY], context, mark_of(obj, IMPORT_KEY)
        for key, value in obj.items():
            found = _find_marker(value, f"{context}.{key}")
            if found is not None:
                return found
    elif isinstance(obj, list):
        for index, entry in enumerate(obj):
            found = _find_marker(entry, f"{context}[{index}]")
            if found is not None:
                return found
    return None


def _size(value: Any, memo: dict[int, int]) -> int:
    """Nodes ``value`` expands to (a snippet composed once may be spliced many times)."""
    if not isinstance(value, (dict, list)):
        return 1
    known = memo.get(id(value))
    if known is None:
        items = value.items() if isinstance(value, dict) else enumerate(value)
        known = 1 + sum(_size(v, memo) for _, v in items)
        memo[id(value)] = known
        if known > MAX_NODES:
            raise ValueError
    return known


def compose(documents: list[tuple[Any, Mark | None]], *, text: str, file: str,
            texts: dict[str, str], library: Path | None = None) -> tuple[Any, Mark | None]:
    """The config a ModelOpt recipe file composes to (its ``quantize`` section for a recipe,
    else the whole document), with positions pointing into the file that wrote each part, and
    the mark of its root. ``texts`` gains each snippet's text (for error carets); ``library``
    replaces the installed ``modelopt_recipes`` folder (tests)."""
    raw = _raw(documents, text, file)
    composer = _Composer(texts, library if library is not None else builtin_library())
    data = raw.data
    schema = composer.schema(raw.schema, file) if raw.schema else None
    is_ptq = False
    if isinstance(data, dict) and "metadata" in data:
        metadata = data["metadata"]
        kind = metadata.get("recipe_type") if isinstance(metadata, dict) else None
        if kind is None:
            raise WildcardConfigError(
                "a ModelOpt recipe must contain a 'metadata.recipe_type' field",
                location=position(file, mark_of(data, "metadata")),
                hint="metadata: {recipe_type: ptq, description: ...}",
            )
        if kind != "ptq":
            raise WildcardConfigError(
                f"a {kind!r} recipe configures no quantization qrt reads; qrt reads "
                "recipe_type: ptq (its 'quantize' section)",
                location=position(file, mark_of(metadata, "recipe_type")),
            )
        if "quantize" not in data:
            raise WildcardConfigError(
                "a PTQ recipe must contain 'quantize' (the quant_cfg and algorithm)",
                location=position(file, own_mark(data) or raw.root),
            )
        schema, is_ptq = PTQ_RECIPE, True
    elif isinstance(data, dict) and "quantize" in data:
        raise WildcardConfigError(
            "this looks like a modelopt_recipes recipe, but it has no 'metadata' with "
            "'recipe_type', which ModelOpt's load_recipe requires",
            location=position(file, mark_of(data, "quantize")),
            hint="add metadata: {recipe_type: ptq}, or write the quantize section's content "
            "(quant_cfg, algorithm) at the top",
        )
    elif schema is None:
        schema = QUANTIZE if isinstance(data, dict) else LIST
    try:
        composed = composer.resolve(raw, schema, (_key(file),))
    except RecursionError:
        raise WildcardConfigError("the composed recipe nests too deeply", location=file) from None
    try:
        _size(composed, {})
    except ValueError:
        raise WildcardConfigError(
            f"the composed recipe expands to more than {MAX_NODES:,} nodes; qrt refuses it",
            location=file,
        ) from None
    if is_ptq:
        section = composed.get("quantize")
        if not isinstance(section, dict) or "quant_cfg" not in section:
            raise WildcardConfigError(
                "the recipe's quantize section must be a mapping with 'quant_cfg' (qrt does not "
                "fill in ModelOpt's default list)",
                location=position(file, mark_of(composed, "quantize")),
            )
        return section, mark_of(composed, "quantize")
    return composed, own_mark(composed) or raw.root


def _key(file: str) -> str:
    """The cycle key of the file being read (``_canonical_key``: its resolved path)."""
    try:
        return str(Path(file).resolve())
    except OSError:
        return file
