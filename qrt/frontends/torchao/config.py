"""Reading a torchao ``FqnToConfig`` / ``ModuleFqnToConfig``, a single torchao config, or
transformers' ``TorchAoConfig`` as it stands in a checkpoint's ``config.json``.

Forms read (all JSON/YAML data; a Python object is turned into the first two by torchao's own
``config_to_dict``, :func:`torchao_from_object`):

* ``{"_type": "FqnToConfig", "_version": 1, "_data": {"fqn_to_config": {KEY: CONFIG | null},
  "module_fqn_to_config": {…}}}`` — ``config_to_dict`` of an ``FqnToConfig`` (or
  ``ModuleFqnToConfig``, its alias) writes both maps, equal; one alone is read too, and two
  different ones are refused as ``FqnToConfig.__post_init__`` refuses them;
* a single config (``{"_type": "Int8WeightOnlyConfig", …}``): ``quantize_(model, config)`` with
  its default ``filter_fn=_is_linear`` — every ``nn.Linear`` — read as ``{"_default": config}``,
  which selects and applies exactly so;
* transformers' ``TorchAoConfig.to_dict()`` (``quant_method: torchao``, ``quant_type:
  {"default": CONFIG}``, ``modules_to_not_convert``, …), alone or as a ``config.json``'s
  ``quantization_config``. transformers quantizes a checkpoint's parameters itself, one by one
  (``transformers/integrations/torchao.py``, ``TorchAoQuantize.convert``), with a precedence of
  its own for an ``FqnToConfig`` (transformers #41242): qrt reads a single config there (each
  Linear weight not in ``modules_to_not_convert``) and refuses an ``FqnToConfig`` rather than
  read it by torchao's rules.

The keys keep their order: torchao tries regexes in the map's order.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from qrt.errors import did_you_mean
from qrt.frontends.compressed_tensors.positions import key_marks
from qrt.frontends.torchao.configs import SUPPORTED, MappedConfig, map_config
from qrt.frontends.torchao.errors import TorchAoConfigError
from qrt.frontends.marks import MarkedDocument
from qrt.ir.origin import Origin

__all__ = [
    "DEFAULT_KEY",
    "Entry",
    "TorchAoFqnConfig",
    "is_torchao_document",
    "torchao_from_data",
    "torchao_from_object",
    "torchao_from_text",
]

DEFAULT_KEY = "_default"
FQN_TYPES = ("FqnToConfig", "ModuleFqnToConfig")
TRANSFORMERS_KEYS = ("quant_method", "quant_type", "modules_to_not_convert", "include_input_output_embeddings",
                     "untie_embedding_weights")
"""``TorchAoConfig``'s attributes as ``QuantizationConfigMixin.to_dict`` writes them (transformers 5)."""


@dataclass(frozen=True)
class Entry:
    """One key of the map: a module or parameter fqn, ``re:REGEX`` or ``_default``, and its
    config (``None``: leave what it selects float)."""

    key: str
    config: MappedConfig | None
    index: int
    origin: Origin

    @property
    def regex(self) -> bool:
        return self.key.startswith("re:")

    def describe(self) -> str:
        return f"fqn_to_config[{self.key!r}] = {self.config.text if self.config else 'None'}"


@dataclass(frozen=True)
class TorchAoFqnConfig:
    """A read torchao config: the map's entries in order; ``plain`` when it was one config
    (``quantize_(model, config)``); transformers' ``modules_to_not_convert`` where it was
    a ``TorchAoConfig`` (``None``: transformers' defaults, computed on the model)."""

    entries: tuple[Entry, ...]
    plain: bool = False
    transformers: bool = False
    modules_to_not_convert: tuple[str, ...] | None = None
    not_convert_origin: Origin | None = None
    file: str = "<data>"
    data: Any = field(default=None, compare=False, repr=False)

    def get(self, key: str) -> Entry | None:
        for entry in self.entries:
            if entry.key == key:
                return entry
        return None


def _is_config_dict(data: Any, types: tuple[str, ...] | None = None) -> bool:
    return (isinstance(data, Mapping) and isinstance(data.get("_type"), str) and "_data" in data
            and (types is None or data["_type"] in types))


def is_torchao_document(data: Any) -> bool:
    """A torchao config by its shape: ``_type``/``_data`` at the top (``config_to_dict``), a
    ``quant_method: torchao`` mapping, or a ``config.json`` whose ``quantization_config`` is one."""
    if not isinstance(data, Mapping):
        return False
    if _is_config_dict(data):
        return True
    if data.get("quant_method") == "torchao":
        return True
    inner = data.get("quantization_config")
    return isinstance(inner, Mapping) and inner.get("quant_method") == "torchao"


class _Reader(MarkedDocument):
    def fail(self, message: str, path: tuple[Any, ...], hint: str | None = None) -> TorchAoConfigError:
        return TorchAoConfigError(message, location=self.locate(path), hint=hint)

    def fqn_map(self, data: Mapping[str, Any], path: tuple[Any, ...]) -> tuple[Entry, ...]:
        entries = []
        for i, (key, raw) in enumerate(data.items()):
            where = f"fqn_to_config[{key!r}]"
            if not isinstance(key, str):
                raise self.fail(f"{where}: a key must be a string (a module or parameter fqn, 're:REGEX' or "
                                "'_default')", (*path, key))
            if key.startswith("re:"):
                from qrt.ir.patterns import check_regex

                problem = check_regex(key[3:])
                if problem:
                    raise self.fail(f"{where}: {key!r}: {problem}", (*path, key))
            config = None if raw is None else map_config(raw, where, (*path, key), self.fail)
            entries.append(Entry(key, config, i, self.origin((*path, key), where)))
        return tuple(entries)

    def fqn_to_config(self, data: Mapping[str, Any], path: tuple[Any, ...]) -> TorchAoFqnConfig:
        stored = data.get("_version", 1)
        if stored != 1:
            raise self.fail(f"{data['_type']} _version {stored!r}: qrt reads version 1 (torchao 0.18's)",
                            (*path, "_version"))
        body = data["_data"]
        if not isinstance(body, Mapping):
            raise self.fail(f"{data['_type']}._data: must be a mapping", (*path, "_data"))
        for key in body:
            if key not in ("fqn_to_config", "module_fqn_to_config", "version"):
                raise self.fail(f"{data['_type']}: no field {key!r} (torchao would raise TypeError)",
                                (*path, "_data", key), did_you_mean(str(key), ("fqn_to_config", "module_fqn_to_config"))
                                or "fields: fqn_to_config, module_fqn_to_config")
        if body.get("version", 1) != 1:
            raise self.fail(f"{data['_type']}.version: qrt reads version 1", (*path, "_data", "version"))
        maps = {}
        for name in ("fqn_to_config", "module_fqn_to_config"):
            value = body.get(name)
            if value is None:
                continue
            if not isinstance(value, Mapping):
                raise self.fail(f"{name}: must be a mapping of keys to configs, got {value!r}", (*path, "_data", name))
            maps[name] = value
        first, second = maps.get("fqn_to_config") or {}, maps.get("module_fqn_to_config") or {}
        if first and second and dict(first) != dict(second):
            raise self.fail("fqn_to_config and module_fqn_to_config are both given and differ: torchao's "
                            "FqnToConfig refuses that (ValueError)", (*path, "_data", "module_fqn_to_config"))
        if first and second and list(first) != list(second):
            raise self.fail("fqn_to_config and module_fqn_to_config list the same keys in another order: torchao "
                            "keeps fqn_to_config's order; write one of them", (*path, "_data", "module_fqn_to_config"))
        name = "fqn_to_config" if first or not second else "module_fqn_to_config"
        entries = self.fqn_map(first or second, (*path, "_data", name))
        return TorchAoFqnConfig(entries, file=self.file, data=data)

    def config(self, data: Any, path: tuple[Any, ...]) -> TorchAoFqnConfig:
        if _is_config_dict(data, FQN_TYPES):
            return self.fqn_to_config(data, path)
        mapped = map_config(data, "config", path, self.fail)
        entry = Entry(DEFAULT_KEY, mapped, 0, self.origin(path, data.get("_type", "config")))
        return TorchAoFqnConfig((entry,), plain=True, file=self.file, data=data)

    def transformers(self, data: Mapping[str, Any]) -> TorchAoFqnConfig:
        for key in data:
            if key not in TRANSFORMERS_KEYS:
                raise self.fail(f"unknown key {key!r} in a TorchAoConfig (transformers writes "
                                f"{', '.join(TRANSFORMERS_KEYS)})", (key,),
                                did_you_mean(str(key), TRANSFORMERS_KEYS) or None)
        quant_type = data.get("quant_type")
        if not isinstance(quant_type, Mapping) or list(quant_type) != ["default"]:
            raise self.fail("quant_type: transformers stores {'default': CONFIG} (TorchAoConfig.from_dict asserts "
                            f"exactly that key), got {quant_type!r}", ("quant_type",))
        inner = quant_type["default"]
        if _is_config_dict(inner, FQN_TYPES):
            raise self.fail(
                "quant_type.default is an FqnToConfig: transformers applies it parameter by parameter with a "
                "precedence of its own (integrations/torchao.py TorchAoQuantize.convert: the first regex matching "
                "the parameter or its module, transformers #41242), which qrt does not read yet",
                ("quant_type", "default"),
                "read the FqnToConfig alone (its config_to_dict) for torchao's own quantize_ reading")
        for key in ("include_input_output_embeddings", "untie_embedding_weights"):
            if data.get(key):
                raise self.fail(f"{key}: true is not read yet (the embeddings' quantization); qrt reads false",
                                (key,))
        read = self.config(inner, ("quant_type", "default"))
        skip = data.get("modules_to_not_convert")
        if skip is not None and (not isinstance(skip, list) or not all(isinstance(s, str) for s in skip)):
            raise self.fail(f"modules_to_not_convert: must be a list of module names or null, got {skip!r}",
                            ("modules_to_not_convert",))
        if skip is not None:
            from qrt.ir.patterns import check_regex

            for i, s in enumerate(skip):
                problem = check_regex(s)  # should_convert_module matches each key as a regex
                if problem:
                    raise self.fail(f"modules_to_not_convert[{i}]: {s!r}: {problem}", ("modules_to_not_convert", i))
        return TorchAoFqnConfig(read.entries, plain=True, transformers=True,
                                modules_to_not_convert=None if skip is None else tuple(skip),
                                not_convert_origin=self.origin(("modules_to_not_convert",), "modules_to_not_convert"),
                                file=self.file, data=data)

    def document(self, data: Any) -> TorchAoFqnConfig:
        if isinstance(data, Mapping) and data.get("quant_method") == "torchao":
            return self.transformers(data)
        if not isinstance(data, Mapping):
            raise self.fail(f"a torchao config must be a mapping, got {type(data).__name__}", ())
        return self.config(data, ())


def torchao_from_data(data: Any, *, file: str = "<data>",
                      marks: Mapping[tuple[Any, ...], tuple[int, int]] | None = None) -> TorchAoFqnConfig:
    """A config from data: any form of the module docstring, or a ``config.json`` holding one."""
    prefix: tuple[Any, ...] = ()
    if (isinstance(data, Mapping) and not _is_config_dict(data) and data.get("quant_method") != "torchao"
            and isinstance(data.get("quantization_config"), Mapping)):
        prefix, data = ("quantization_config",), data["quantization_config"]
    return _Reader(file, marks or {}, prefix).document(data)


def torchao_from_text(text: str, *, file: str) -> TorchAoFqnConfig:
    """A config from a file's text (JSON, or YAML by the file's suffix), with positions."""
    from qrt.frontends.yaml_load import structured_from_text

    data = structured_from_text(text, file=file, error=TorchAoConfigError)
    return torchao_from_data(data, file=file, marks=key_marks(text))


def torchao_from_object(config: Any) -> TorchAoFqnConfig:
    """A torchao ``FqnToConfig`` / ``ModuleFqnToConfig`` or a single ``AOBaseConfig`` object,
    read through torchao's own ``config_to_dict`` (so an object and its saved JSON read alike)."""
    try:
        from torchao.core.config import AOBaseConfig, config_to_dict
    except ImportError as exc:  # an object of torchao's needs torchao
        raise TorchAoConfigError(f"reading a torchao config object needs torchao: {exc}") from None
    if not isinstance(config, AOBaseConfig):
        raise TorchAoConfigError(f"not a torchao config: {type(config).__name__}",
                                 hint="pass an FqnToConfig or one of " + ", ".join(SUPPORTED))
    return torchao_from_data(config_to_dict(config), file=f"<{type(config).__name__}>")
