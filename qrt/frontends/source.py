"""One door for every front end: a rule file of any style, detected by its content.

Commands take ``RULES`` as a path and never ask which style it is:

* a YAML/JSON document with a ``quantization_config`` key is a hierarchical config
  (front end 1); it compiles against the model's inventory, because docs/semantics.md §3's
  priorities depend on scope depth and module-level quantizers override the op-level sites
  on their tensor;
* a YAML/JSON list of entries, a mapping with ``quant_cfg`` (a full ModelOpt config too), a
  single entry or a legacy dict is a wildcard list (front end 2, ModelOpt ``quant_cfg``);
  ``modelopt:NAME`` is one of the shipped ModelOpt presets;
* a compressed-tensors ``quantization_config`` (``config_groups`` at the top, or a
  ``config.json`` whose ``quantization_config`` has them or ``quant_method:
  compressed-tensors``) is read by :mod:`qrt.frontends.compressed_tensors`, and so is a
  checkpoint folder whose ``config.json`` holds one; an llm-compressor recipe (top-level
  ``NAME_stage`` keys) by the same package;
* a torchao config (``_type``/``_data`` at the top, as ``config_to_dict`` writes an
  ``FqnToConfig``, or transformers' ``TorchAoConfig`` with ``quant_method: torchao``, alone or in
  a ``config.json``) is read by :mod:`qrt.frontends.torchao`;
* anything else is a rule file in the selector DSL.

A :class:`RuleSource` gives the rules for an inventory, checks a resolved plan the way its
front end requires, and adds front-end facts to explanations (which module configuration
governed a site, and at which op level).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from qrt.frontends.rule_source import InventoryKey, RuleSource
from qrt.inventory.model import Inventory
from qrt.ir.rule import RuleSet
from qrt.ir.site import Site

if TYPE_CHECKING:
    from qrt.resolver.plan import Plan

__all__ = [
    "InventoryKey",
    "RuleSource",
    "Detected",
    "DslSource",
    "HierarchicalSource",
    "WildcardSource",
    "compressed_tensors_source",
    "detect",
    "document_kind",
    "load_rule_source",
    "rule_source_from_text",
    "source_of",
    "torchao_source",
]


@dataclass
class DslSource:
    rules: RuleSet
    label: str = "rules"

    def rules_for(self, inv: Inventory) -> RuleSet:
        return self.rules

    def check(self, plan: Plan) -> None:
        return None

    def notes(self, site: Site, inv: Inventory) -> list[str]:
        return []


@dataclass
class HierarchicalSource:
    config: Any  # QuantizerConfig
    label: str = "hierarchical config"
    _compiled: dict[InventoryKey, RuleSet] = field(default_factory=dict)

    def rules_for(self, inv: Inventory) -> RuleSet:
        from qrt.frontends.hierarchical.compile import compile_config

        key = InventoryKey(inv)
        if key not in self._compiled:
            self._compiled[key] = compile_config(self.config, inv).rules
        return self._compiled[key]

    def check(self, plan: Plan) -> None:
        from qrt.frontends.hierarchical.axes_check import check_axes

        check_axes(self.config, plan)

    def notes(self, site: Site, inv: Inventory) -> list[str]:
        from qrt.frontends.hierarchical.direct import read_site

        reading = read_site(self.config, site, inv)
        lines = []
        if reading.candidates:
            listed = ", ".join(
                f"{c.path} (depth {d}, order {c.order})" for c, d in sorted(reading.candidates, key=lambda cd: (cd[0].level, cd[1], cd[0].order))
            )
            lines.append(f"candidate module configurations: {listed}")
        if reading.governing is not None:
            lines.append(f"governed by {reading.governing.path} at depth {reading.governing_depth}")
        if reading.path:
            lines.append(f"setting: {reading.path} — {reading.note}")
        elif reading.note:
            lines.append(reading.note)
        return lines


@dataclass
class WildcardSource:
    config: Any  # WildcardConfig
    label: str = "wildcard config"
    _rules: RuleSet | None = None

    def rules_for(self, inv: Inventory) -> RuleSet:
        if self._rules is None:
            from qrt.frontends.wildcard.compile import compile_wildcard

            self._rules = compile_wildcard(self.config)
        return self._rules

    def check(self, plan: Plan) -> None:
        return None

    def notes(self, site: Site, inv: Inventory) -> list[str]:
        from qrt.frontends.wildcard.instrumented import role_default_state

        if site.modelopt_name is None:
            return [
                "ModelOpt 0.47 creates no quantizer on this tensor (its module is of no class "
                "ModelOpt converts, or the tensor is none of the module's input/weight/output), "
                "so no entry of a list reaches it, however broad: it stays off (docs/semantics.md §4)"
            ]
        start = "enabled" if role_default_state(site) is not None else "disabled"
        return [
            f"ModelOpt's quantizer {site.modelopt_name}, created {start} (a role default rule "
            "sets it first); entries match this name"
        ]


def _read_structured(path: Path) -> Any:
    """A ``.yaml``/``.yml``/``.json`` rule file as a rule source, detected by content; the file
    is read once, through the bounded reader (:func:`qrt.files.read_text`)."""
    if path.suffix.lower() not in (".yaml", ".yml", ".json"):
        return None
    from qrt.files import read_text
    from qrt.frontends.hierarchical.errors import ConfigError

    text = read_text(path, what="config file", error=ConfigError)
    return _structured_from_text(text, label=str(path))


Kind = Literal["compressed_tensors", "recipe", "torchao", "wildcard", "hierarchical"]


def document_kind(data: Any) -> Kind:
    """Which front end reads a loaded YAML/JSON document or Python data, by its shape:
    ``compressed_tensors``, ``recipe`` (llm-compressor), ``torchao``, ``wildcard`` (a ModelOpt
    list or config, or a ModelOpt recipe) or ``hierarchical`` (also the reader that reports
    what is wrong with a document of no known shape). The one detector: :func:`detect` (files),
    :func:`load_rule_source` (data) and lint all ask it."""
    from qrt.frontends.compressed_tensors import is_compressed_tensors_document
    from qrt.frontends.compressed_tensors.recipe import is_recipe_document
    from qrt.frontends.torchao import is_torchao_document
    from qrt.frontends.wildcard import is_wildcard_document

    if is_compressed_tensors_document(data):
        return "compressed_tensors"
    if is_recipe_document(data):
        return "recipe"
    if is_torchao_document(data):
        return "torchao"
    if is_wildcard_document(data):
        return "wildcard"
    return "hierarchical"


@dataclass(frozen=True)
class Detected:
    """A structured rule file's text, parsed once, and the front end that reads it.

    ``documents`` is the YAML parse with positions (:func:`qrt.frontends.yaml_load.load_positioned`;
    two documents for a ModelOpt snippet's header and body), handed on to the wildcard and
    hierarchical readers so they do not parse again; ``None`` for a ``.json`` file read by the
    fast JSON reader (whose readers then take positions from the text) or a text that did not
    parse (the chosen reader reports the problem, located). ``data`` is the first document."""

    kind: Kind
    text: str
    label: str
    data: Any
    documents: list[tuple[Any, Any]] | None


def detect(text: str, *, label: str) -> Detected:
    """Parse a ``.yaml``/``.yml``/``.json`` rule file's text once and say which front end reads
    it (:func:`document_kind` of its first document; a second document makes it a ModelOpt
    snippet, read by the wildcard front end)."""
    import yaml

    from qrt.frontends.yaml_load import DuplicateKeyError, NotPlainError, load_positioned, safe_load

    data = _json_data(text) if label.endswith(".json") else None
    documents: list[tuple[Any, Any]] | None = None
    if data is None:
        try:
            documents = load_positioned(text, file=label)
        except yaml.MarkedYAMLError as exc:
            if exc.context and "expected a single document" in exc.context:
                try:
                    documents = load_positioned(text, file=label, documents=2)
                except yaml.YAMLError:
                    documents = None
            elif isinstance(exc, (DuplicateKeyError, NotPlainError)):
                try:  # the shape still says whose reader words the refusal
                    data = safe_load(text)
                except yaml.YAMLError:
                    data = None
        except yaml.YAMLError:
            documents = None  # the reader chosen below reports it with its position
        if documents:
            data = documents[0][0]
    if documents is not None and len(documents) > 1:
        kind: Kind = "wildcard" if isinstance(data, dict) and "imports" in data else "hierarchical"
    else:
        kind = document_kind(data)
    return Detected(kind, text, label, data, documents)


def _json_data(text: str) -> Any:
    """A ``.json`` file's data by the bounded JSON reader (C speed: a 5,000-key config is read
    in milliseconds, where the YAML parser takes seconds), or ``None`` when it is no JSON (a
    YAML text named ``.json``: the YAML reader then decides)."""
    from qrt.errors import QrtError
    from qrt.files import parse_json

    try:
        return parse_json(text, file="<detect>", error=QrtError)
    except QrtError:
        return None


def _structured_from_text(text: str, *, label: str) -> RuleSource:
    """A YAML/JSON document's rule source: detected once (:func:`detect`), then read by its
    front end from the parse (a hierarchical config's reader reports a syntax error, or a
    missing ``quantization_config``, located)."""
    return source_of(detect(text, label=label))


def source_of(detected: Detected) -> RuleSource:
    """The rule source of a detected document, its parse handed on where its reader takes one."""
    from qrt.errors import RuleSyntaxError
    from qrt.frontends.hierarchical import is_hierarchical_document
    from qrt.frontends.hierarchical.yaml_io import config_from_parsed, config_from_yaml_text
    from qrt.frontends.wildcard.reading import wildcard_from_documents, wildcard_from_text

    kind, text, label, data, documents = (
        detected.kind, detected.text, detected.label, detected.data, detected.documents
    )
    if kind in ("compressed_tensors", "recipe"):
        return compressed_tensors_source(text, label=label, recipe=kind == "recipe")
    if kind == "torchao":
        return torchao_source(text, label=label)
    if kind == "wildcard":
        if documents is not None and not label.endswith(".json"):  # .json: its constants checked first
            return WildcardSource(wildcard_from_documents(documents, text=text, file=label), label=label)
        return WildcardSource(wildcard_from_text(text, file=label), label=label)
    if data is not None and not is_hierarchical_document(data):
        raise RuleSyntaxError(
            f"{label} is not a rule file qrt reads: no 'quantization_config' key",
            location=label,
            hint="a hierarchical config has a top-level 'quantization_config' key; rule files in "
            "the selector DSL are plain text (docs/dsl.md); a ModelOpt wildcard config is a list "
            "of entries or has a 'quant_cfg' key; a compressed-tensors config has 'config_groups' "
            "(docs/compressed-tensors.md)",
        )
    if documents is not None and len(documents) == 1:
        return HierarchicalSource(config_from_parsed(data, text=text, file=label), label=label)
    return HierarchicalSource(config_from_yaml_text(text, file=label), label=label)


def compressed_tensors_source(text: str, *, label: str, recipe: bool) -> RuleSource:
    """A compressed-tensors config's or an llm-compressor recipe's rule source."""
    from qrt.frontends.compressed_tensors import compressed_tensors_from_text
    from qrt.frontends.compressed_tensors.recipe import recipe_from_text
    from qrt.frontends.compressed_tensors.source import CompressedTensorsSource, RecipeSource

    if recipe:
        return RecipeSource(recipe_from_text(text, file=label), label=label)
    return CompressedTensorsSource(compressed_tensors_from_text(text, file=label), label=label)


def torchao_source(text: str, *, label: str) -> RuleSource:
    """A torchao config's rule source."""
    from qrt.frontends.torchao import torchao_from_text
    from qrt.frontends.torchao.source import TorchAoSource

    return TorchAoSource(torchao_from_text(text, file=label), label=label)


RULES_ACCEPTED = (
    "a rule file's path (DSL, YAML, JSON), 'modelopt:NAME', a RuleSet, a QuantizerConfig, a "
    "hierarchical config dict, a ModelOpt quant_cfg list, or a compressed-tensors or torchao config"
)
"""What every door that takes rules accepts (named in the TypeError for anything else)."""


def load_rule_source(source: str | Path | RuleSet | Any, *, door: str = "qrt.load_rule_source",
                     argument: str = "source") -> RuleSource:
    """A rule source from a path (any front end), ``modelopt:NAME``, a RuleSet, a
    WildcardConfig or a ModelOpt list as data, a compressed-tensors or torchao config (as data, or
    a torchao ``FqnToConfig``/``AOBaseConfig`` object), a hierarchical config dict or QuantizerConfig."""
    if isinstance(source, RuleSet):
        return DslSource(source)
    from qrt.frontends.wildcard import WildcardConfig

    if isinstance(source, WildcardConfig):
        return WildcardSource(source)
    from qrt.frontends.compressed_tensors import CompressedTensorsConfig
    from qrt.frontends.compressed_tensors.source import CompressedTensorsSource

    if isinstance(source, CompressedTensorsConfig):
        return CompressedTensorsSource(source)
    from qrt.frontends.torchao import TorchAoFqnConfig
    from qrt.frontends.torchao.source import TorchAoSource

    if isinstance(source, TorchAoFqnConfig):
        return TorchAoSource(source)
    if type(source).__module__.startswith("torchao."):  # an FqnToConfig or AOBaseConfig object
        from qrt.frontends.torchao import torchao_from_object

        return TorchAoSource(torchao_from_object(source), label=type(source).__name__)
    if isinstance(source, (list, tuple, dict)):
        return _data_source(source, door, argument)
    if not isinstance(source, (str, Path)):
        from qrt.frontends.hierarchical import QuantizerConfig

        if not isinstance(source, QuantizerConfig):
            from qrt.errors import wrong_type

            raise wrong_type(door, argument, source, RULES_ACCEPTED)
        return HierarchicalSource(source, label="QuantizerConfig")
    from qrt.frontends.wildcard.presets import PRESET_PREFIX, load_modelopt_preset

    if isinstance(source, str) and source.startswith(PRESET_PREFIX):
        return WildcardSource(load_modelopt_preset(source), label=source)
    path = Path(source)
    if path.is_dir():
        from qrt.frontends.checkpoint import checkpoint_source

        return checkpoint_source(path)
    structured = _read_structured(path)
    if structured is not None:
        return structured
    from qrt.frontends.dsl import load_rules

    return DslSource(load_rules(path), label=str(path))


def _data_source(data: list[Any] | tuple[Any, ...] | dict[Any, Any], door: str, argument: str) -> RuleSource:
    """A config given as Python data, read by the front end :func:`document_kind` names; a
    dict of no known shape is a hierarchical config dict (whose reader says what is wrong), a
    list of none is the wrong type."""
    kind = document_kind(data)
    if kind == "compressed_tensors":
        from qrt.frontends.compressed_tensors import compressed_tensors_from_data
        from qrt.frontends.compressed_tensors.source import CompressedTensorsSource

        return CompressedTensorsSource(compressed_tensors_from_data(data), label="quantization_config")
    if kind == "recipe":
        from qrt.frontends.compressed_tensors.recipe import recipe_from_data
        from qrt.frontends.compressed_tensors.source import RecipeSource

        return RecipeSource(recipe_from_data(data), label="recipe")
    if kind == "torchao":
        from qrt.frontends.torchao import torchao_from_data
        from qrt.frontends.torchao.source import TorchAoSource

        return TorchAoSource(torchao_from_data(data), label="torchao config")
    if kind == "wildcard":
        from qrt.frontends.wildcard import wildcard_from_data

        return WildcardSource(wildcard_from_data(data), label="quant_cfg")
    if not isinstance(data, dict):
        from qrt.errors import wrong_type

        raise wrong_type(door, argument, data, RULES_ACCEPTED)
    from qrt.frontends.hierarchical import QuantizerConfig

    return HierarchicalSource(QuantizerConfig.from_dict(data), label="config dict")


def rule_source_from_text(text: str, *, label: str, suffix: str, base_dir: Path | None = None) -> RuleSource:
    """A rule source from a file's text (a file at a git revision): ``suffix`` picks YAML/JSON
    vs the DSL as for a path, ``label`` names it in origins and errors, and a DSL ``include``
    resolves against ``base_dir``."""
    if suffix.lower() in (".yaml", ".yml", ".json"):
        return _structured_from_text(text, label=label)
    from qrt.frontends.dsl import parse_rules

    return DslSource(parse_rules(text, file=label, base_dir=base_dir), label=label)
