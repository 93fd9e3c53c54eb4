"""Reading a ModelOpt ``quant_cfg`` (docs/semantics.md §4) into a typed, immutable list of entries.

A wildcard config is an ordered list; later entries win. Each entry names quantizers by a glob
(``quantizer_name``, or ``quantizer_path`` as ModelOpt's API documentation spells it,
docs/semantics.md §4), optionally only those whose owning module is exactly ``parent_class``,
and says what to do with them: ``cfg`` replaces all attributes (a list of dicts for a
sequential quantizer), ``enable`` alone switches them on or off.

This module is the package's reading face; the parts live one idea per module:

* :mod:`.errors` — :class:`WildcardConfigError`;
* :mod:`.model` — the values: :class:`Entry`, :class:`WildcardConfig`, :class:`FrozenDict`;
* :mod:`.positions` — where a part was written (file, line, column) and entry origins;
* :mod:`.parse` — YAML/JSON text parsed with positions (the one loader,
  :mod:`qrt.frontends.yaml_load`);
* :mod:`.recipe` — ModelOpt recipes' ``imports``/``$import`` composed as ModelOpt 0.47 does;
* :mod:`.document` — the document forms (list, single entry, ``quant_cfg``, full config,
  legacy dict) and :func:`is_wildcard_document`;
* :mod:`.entry_check` — one entry's fields checked, :func:`qualified_parent_class`;
* :mod:`.reading` — text and files: :func:`wildcard_from_text`, :func:`load_wildcard`.

Every entry is checked before any is used, and every error names the entry (``quant_cfg[3]``,
or for legacy input its index and key), its ``file:line:col`` and what would be valid. Where
qrt refuses something ModelOpt 0.47 accepts, the message says what 0.47 would have done:

* ``enable`` inside ``cfg`` that contradicts the entry's own ``enable`` (0.47 silently lets the
  entry's ``enable``, default true, win: ``cfg: {num_bits: 4, enable: false}`` is *enabled*);
* ``cfg: null`` with no ``enable`` (0.47 reads it as a toggle on), and a legacy ``{pattern: null}``;
* a legacy single-key entry inside a list (``[{"*": {...}}]``; 0.47 converts it with a
  deprecation warning): write it as ``{quantizer_name: "*", cfg: {...}}``.
"""

from __future__ import annotations

from qrt.frontends.wildcard.document import is_wildcard_document, wildcard_from_data
from qrt.frontends.wildcard.entry_check import qualified_parent_class
from qrt.frontends.wildcard.errors import WildcardConfigError
from qrt.frontends.wildcard.model import (
    CONFIG_KEYS,
    ENTRY_KEYS,
    Entry,
    FrozenDict,
    KeyName,
    WildcardConfig,
)
from qrt.frontends.wildcard.reading import load_wildcard, wildcard_from_text

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
