"""A wildcard config's text (YAML or JSON) read with positions, and its file.

The text is parsed with positions (:mod:`.parse`). A ModelOpt recipe
(``imports``/``$import``, ``metadata`` + ``quantize``, or a header document before a list) is
composed the way ModelOpt 0.47's loader composes it (:mod:`.recipe`) before its config is
read (:mod:`.document`).
"""

from __future__ import annotations

import os

from qrt.files import check_json_constants, read_text
from qrt.frontends.dsl.source import caret_context
from qrt.frontends.wildcard.document import DocumentReader
from qrt.frontends.wildcard.entry_check import ReadContext
from qrt.frontends.wildcard.errors import WildcardConfigError
from qrt.frontends.wildcard.model import WildcardConfig
from qrt.frontends.wildcard.parse import Documents, parse_json_text, parse_wildcard_yaml
from qrt.frontends.wildcard.recipe import compose, is_recipe

__all__ = ["STRING_FILE", "load_wildcard", "wildcard_from_documents", "wildcard_from_text"]

STRING_FILE = "<string>"


def wildcard_from_documents(documents: Documents, *, text: str, file: str) -> WildcardConfig:
    """Read the parsed YAML ``documents`` of ``text`` (:func:`parse_wildcard_yaml`, or the
    front-end detector's parse handed on): a recipe is composed first. Errors carry the
    offending line with a caret."""
    texts = {file: text}
    try:
        if is_recipe(documents, text):
            data, root = compose(documents, text=text, file=file, texts=texts)
        else:
            data, root = documents[0] if documents else (None, None)
        if data is None:
            raise WildcardConfigError(
                "empty document: expected a list of entries or a mapping with 'quant_cfg'",
                location=f"{file}:1:1",
            )
        return DocumentReader(ReadContext(file, root)).document(data)
    except WildcardConfigError as exc:
        raise _with_caret(exc, texts) from None


def wildcard_from_text(text: str, *, file: str = STRING_FILE) -> WildcardConfig:
    """Read a wildcard config from YAML (or JSON) text, keeping ``file:line:col`` of each entry."""
    try:
        if file.endswith(".json"):
            check_json_constants(text, file=file, error=WildcardConfigError)  # YAML reads NaN as a str
            try:
                documents = parse_wildcard_yaml(text, file)  # YAML reads JSON too, and gives positions
            except WildcardConfigError:
                data = parse_json_text(text, file)
                if data is None:
                    raise WildcardConfigError(
                        "empty document: expected a list of entries or a mapping with 'quant_cfg'",
                        location=f"{file}:1:1",
                    ) from None
                return DocumentReader(ReadContext(file)).document(data)
        else:
            documents = parse_wildcard_yaml(text, file)
    except WildcardConfigError as exc:
        raise _with_caret(exc, {file: text}) from None
    return wildcard_from_documents(documents, text=text, file=file)


def load_wildcard(path: str | os.PathLike[str]) -> WildcardConfig:
    """Read a wildcard config file: YAML or JSON holding a list, ``quant_cfg``, a full config,
    or a ModelOpt recipe (composed as ModelOpt's loader composes it, :mod:`.recipe`)."""
    file = os.fspath(path)
    text = read_text(file, what="wildcard config file", error=WildcardConfigError)
    return wildcard_from_text(text, file=file)


def _with_caret(exc: WildcardConfigError, texts: dict[str, str]) -> WildcardConfigError:
    """Add the offending line with a caret under the column, when the location has one (in
    the file read, or a snippet a recipe imported)."""
    where = exc.where
    if where is None or where.line is None or where.column is None:
        return exc
    text = texts.get(where.file or "")
    if text is None:
        return exc
    context = caret_context(text, where.line, where.column)
    exc.hint = f"{exc.hint}\n{context}" if exc.hint else context
    exc.args = (exc.render(),)
    return exc
