"""A wildcard document's forms, read into a :class:`~.model.WildcardConfig`
(docs/semantics.md §4).

The forms, all into one :class:`WildcardConfig`:

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

Each form finds its entries' fields and positions and hands them to
:func:`~.entry_check.check_entry`. A ModelOpt recipe (``imports``/``$import``, ``metadata`` +
``quantize``) is composed first (:mod:`.recipe`); what reaches this module is its config.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from yaml.error import Mark

from qrt.errors import did_you_mean
from qrt.frontends.wildcard.entry_check import EntryFields, ReadContext, check_entry
from qrt.frontends.wildcard.errors import WildcardConfigError
from qrt.frontends.wildcard.model import (
    CONFIG_KEYS,
    DATA_FILE,
    ENTRY_KEYS,
    KEY_NAMES,
    Entry,
    WildcardConfig,
    entry_label,
    freeze,
    thaw,
)
from qrt.frontends.wildcard.positions import mark_of, own_mark
from qrt.frontends.yaml_load import YamlMapping

__all__ = ["ALGORITHM_METHODS", "DocumentReader", "is_wildcard_document", "wildcard_from_data"]

ALGORITHM_METHODS = frozenset({
    "max", "mse", "local_hessian", "smoothquant", "awq_lite", "awq_clip", "awq_full", "svdquant",
    "gptq", "nvfp4_act_headroom", "lsq",
})
"""The ``method`` names ModelOpt 0.47 defines (the ``method: Literal[...]`` of each algorithm
config in modelopt/torch/quantization/config.py); any other name fails there, so it is refused
here rather than carried."""


def _key_repr(key: Any) -> str:
    return f"[{key!r}]"


class DocumentReader:
    """Reads one document of the file ``ctx`` names."""

    def __init__(self, ctx: ReadContext) -> None:
        self.ctx = ctx

    def error(self, message: str, mark: Mark | None, *, hint: str | None = None) -> WildcardConfigError:
        return self.ctx.error(message, mark, hint=hint)

    # -- documents -----------------------------------------------------------------------------

    def document(self, data: Any) -> WildcardConfig:
        if isinstance(data, (list, tuple)):
            return WildcardConfig(self.entry_list(data, None), form="list", file=self.ctx.file)
        if not isinstance(data, Mapping):
            raise self.error(
                f"a wildcard config is a list of entries, a mapping with 'quant_cfg', or a legacy "
                f"dict of patterns; got {type(data).__name__} {data!r}",
                own_mark(data) or self.ctx.root,
            )
        if "quant_cfg" in data:
            return self.full_config(data)
        if any(k in data for k in KEY_NAMES):
            entry = self.entry(data, 0, "quant_cfg[0]", own_mark(data))
            return WildcardConfig((entry,), form="entry", file=self.ctx.file)
        if "quantization_config" in data:
            raise self.error(
                "this is a hierarchical config (it has 'quantization_config'), not a ModelOpt "
                "wildcard config; read it with qrt.frontends.hierarchical.load_config",
                mark_of(data, "quantization_config"),
            )
        if "quantize" in data or "imports" in data:
            key = "quantize" if "quantize" in data else "imports"
            raise self.error(
                "this looks like a modelopt_recipes file given as data; qrt composes recipe "
                "'imports' and '$import' when it reads the recipe file (load_wildcard, or "
                "qrt.load_rule_source on its path), not from data",
                mark_of(data, key),
                hint="pass the recipe's path, or the composed quant_cfg list",
            )
        return WildcardConfig(self.legacy(data, None), form="list", legacy=True, file=self.ctx.file)

    def full_config(self, data: Mapping[Any, Any]) -> WildcardConfig:
        for key in data:
            if key not in CONFIG_KEYS:
                close = did_you_mean(str(key), CONFIG_KEYS)
                extra = ""
                if key == "imports":
                    extra = ("; recipe 'imports' / '$import' composition is read from a recipe "
                             "file (load_wildcard, or qrt.load_rule_source on its path), not from data")
                raise self.error(
                    f"unknown config key {key!r}" + (f" ({close})" if close else "") + extra,
                    mark_of(data, key),
                    hint=f"a ModelOpt 0.47 config has only {', '.join(CONFIG_KEYS)}",
                )
        body = data["quant_cfg"]
        where = mark_of(data, "quant_cfg")
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
                mark_of(data, "effective_bits"),
            )
        algorithm = data.get("algorithm")
        self.check_algorithm(algorithm, mark_of(data, "algorithm"))
        has_algorithm = "algorithm" in data
        return WildcardConfig(
            entries,
            form="config" if has_algorithm or "effective_bits" in data else "quant_cfg",
            legacy=legacy,
            algorithm=freeze(algorithm),
            effective_bits=effective_bits,
            has_algorithm=has_algorithm,
            file=self.ctx.file,
        )

    def check_algorithm(self, algorithm: Any, mark: Mark | None) -> None:
        items = algorithm if isinstance(algorithm, (list, tuple)) else [algorithm]
        for item in items:
            method = item.get("method") if isinstance(item, Mapping) else item
            if isinstance(method, str) and method not in ALGORITHM_METHODS:
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
            self.entry(raw, i, f"quant_cfg[{i}]", mark_of(items, i) or where)
            for i, raw in enumerate(items)
        )

    def entry(self, raw: Any, index: int, path: str, mark: Mark | None) -> Entry:
        label = entry_label(index, path)
        valid = (
            "an entry is {quantizer_name: <glob>, cfg: {...} and/or enable: true|false, "
            "parent_class: nn.<Class> (optional)}"
        )
        if not isinstance(raw, Mapping):
            raise self.error(f"{label}: expected a mapping, got {raw!r}", mark, hint=valid)
        mark = own_mark(raw) or mark
        for key in raw:
            if key in ENTRY_KEYS:
                continue
            if len(raw) == 1 and not any(k in raw for k in ENTRY_KEYS):
                value = raw[key]
                raise self.error(
                    f"{label}: {{{key!r}: ...}} is ModelOpt's legacy single-key entry, which qrt "
                    "reads only in a legacy dict, not inside a list",
                    mark_of(raw, key),
                    hint=f"write it as {{'quantizer_name': {key!r}, 'cfg': {thaw(value)!r}}} "
                    "(with 'enable' beside 'cfg', not inside it)",
                )
            close = did_you_mean(str(key), ENTRY_KEYS)
            raise self.error(
                f"{label}: unknown entry key {key!r}" + (f" ({close})" if close else ""),
                mark_of(raw, key),
                hint=f"valid keys: {', '.join(ENTRY_KEYS)}",
            )
        names = [k for k in KEY_NAMES if k in raw]
        if len(names) == 2:
            raise self.error(
                f"{label}: both 'quantizer_name' and 'quantizer_path' are given; write one",
                mark_of(raw, "quantizer_path"),
                hint="ModelOpt 0.47 reads 'quantizer_name'; its documentation writes 'quantizer_path'",
            )
        if not names:
            raise self.error(
                f"{label}: no 'quantizer_name' (or 'quantizer_path'): the glob of quantizer "
                "names the entry applies to",
                mark,
                hint=valid,
            )
        return check_entry(self.ctx, EntryFields(
            index, path, mark,
            key_name=names[0],
            pattern=raw[names[0]],
            pattern_mark=mark_of(raw, names[0]),
            has_cfg="cfg" in raw,
            cfg=raw.get("cfg"),
            cfg_mark=mark_of(raw, "cfg"),
            has_enable="enable" in raw,
            enable=raw.get("enable"),
            enable_mark=mark_of(raw, "enable"),
            parent_class=raw.get("parent_class"),
            parent_mark=mark_of(raw, "parent_class"),
        ))

    # -- the legacy dict -----------------------------------------------------------------------

    def legacy(self, data: Mapping[Any, Any], where: Mark | None) -> tuple[Entry, ...]:
        """ModelOpt 0.47's conversion of a legacy dict, one key at a time, in dict order."""
        entries: list[Entry] = []
        for key, value in data.items():
            key_mark = mark_of(data, key) or where
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
                    sub_mark = mark_of(value, pattern) or key_mark
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
        label = entry_label(index, path)
        if value is None:
            raise self.error(
                f"{label}: a legacy pattern needs a value: a dict of attributes, {{}} to switch "
                "matched quantizers on, {enable: false} to switch them off, or a list of dicts "
                "for a sequential quantizer (ModelOpt 0.47 reads null as a switch on)",
                mark,
            )
        if isinstance(value, Mapping):
            rest = YamlMapping((k, v) for k, v in value.items() if k != "enable")
            if isinstance(value, YamlMapping):
                rest.mark = value.mark
                rest.key_marks = {k: m for k, m in value.key_marks.items() if k != "enable"}
            has_enable = "enable" in value
            enable = value.get("enable")
            cfg: Any = rest if rest else None
            if cfg is None and not has_enable:  # {pattern: {}}: no cfg, enable defaults to true
                has_enable, enable = True, True
            return check_entry(self.ctx, EntryFields(
                index, path, mark, key_name="quantizer_name", pattern=pattern, pattern_mark=mark,
                has_cfg=cfg is not None, cfg=cfg, cfg_mark=own_mark(value) or mark,
                has_enable=has_enable, enable=enable, enable_mark=mark_of(value, "enable") or mark,
                parent_class=parent_class, parent_mark=parent_mark,
            ))
        return check_entry(self.ctx, EntryFields(
            index, path, mark, key_name="quantizer_name", pattern=pattern, pattern_mark=mark,
            has_cfg=True, cfg=value, cfg_mark=own_mark(value) or mark,
            has_enable=False, enable=None, enable_mark=mark,
            parent_class=parent_class, parent_mark=parent_mark,
        ))


def wildcard_from_data(data: Any, *, file: str = DATA_FILE) -> WildcardConfig:
    """Read a wildcard config given as Python data (or data parsed from JSON or YAML).

    Accepts a list of entries, a single entry, ``{"quant_cfg": ...}``, a full config with
    ``algorithm``, or a legacy dict; see the module docstring. ``file`` labels errors and
    origins. Raises :class:`~.errors.WildcardConfigError` for the first problem found; no entry
    is returned unless every entry is valid.
    """
    return DocumentReader(ReadContext(file)).document(data)


def is_wildcard_document(data: Any) -> bool:
    """Whether loaded YAML/JSON data looks like a wildcard config (and not a hierarchical one).

    ``True`` for a list of mappings, a mapping with ``quant_cfg``, a single entry (a mapping
    with ``quantizer_name`` or ``quantizer_path``), a ModelOpt recipe (``imports`` at the top,
    or a ``quantize`` section: :mod:`.recipe`), and a legacy dict: string keys, each value a
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
    if "imports" in data or "quantize" in data:
        return True
    if not all(isinstance(k, str) for k in data):
        return False
    if not all(isinstance(v, (Mapping, list, tuple)) for v in data.values()):
        return False
    return any(
        k == "default" or k.startswith("nn.") or "quantizer" in k or any(c in k for c in "*?[")
        for k in data
    )
