"""Read one lint input (any front end) and turn what cannot be read into findings.

The front ends stop at a problem with a located :class:`~qrt.errors.QrtError`; a hierarchical
config collects every problem of a document first (``ConfigError.issues``). Each becomes an
error finding with the front end's code, so ``qrt lint`` reports it like any other finding
(and exits 2: the rest of the checks need a readable input).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from qrt.errors import QrtError, RuleSyntaxError
from qrt.files import read_text
from qrt.lint.diagnostics import Diagnostic
from qrt.lint.locate import read_lines

__all__ = ["LintInput", "read_input", "error_findings"]

Kind = Literal["dsl", "hierarchical", "wildcard", "compressed_tensors", "recipe", "torchao"]


@dataclass
class LintInput:
    label: str
    """what the user named (a path or ``modelopt:NAME``)"""
    path: str | None
    """the file read, for locations and source lines"""
    kind: Kind | None = None
    text: str | None = None
    rules: Any = None
    """the DSL's RuleSet"""
    config: Any = None
    """a hierarchical QuantizerConfig"""
    wildcard: Any = None
    """a WildcardConfig"""
    source: Any = None
    """the rule source of a compressed-tensors config or an llm-compressor recipe"""
    errors: list[Diagnostic] = field(default_factory=list)
    sources: dict[str, list[str]] = field(default_factory=dict)
    """lines of the other files its rules came from (includes), read once when first needed"""

    _lines: tuple[str, list[str]] | None = field(default=None, repr=False, compare=False)

    @property
    def lines(self) -> list[str]:
        """The input's lines, split once per text (every finding asks for them: splitting the
        whole file each time made 20,000 findings quadratic)."""
        text = self.text or ""
        if self._lines is None or self._lines[0] is not text:
            self._lines = (text, text.splitlines())
        return self._lines[1]

    def lines_of(self, file: str | None) -> list[str]:
        """The lines of ``file``: this input's own, or an included file's (read once)."""
        if file is None or file == self.path:
            return self.lines
        if file not in self.sources:
            self.sources[file] = read_lines(file)
        return self.sources[file]

    def rule_source(self) -> Any:
        from qrt.frontends.source import DslSource, HierarchicalSource, WildcardSource

        if self.kind == "dsl":
            return DslSource(self.rules, label=self.label)
        if self.kind == "hierarchical":
            return HierarchicalSource(self.config, label=self.label)
        if self.source is not None:
            return self.source
        return WildcardSource(self.wildcard, label=self.label)


def error_findings(exc: QrtError, default_file: str | None) -> list[Diagnostic]:
    """One error finding per problem an exception reports (:meth:`QrtError.diagnostics`)."""
    return exc.diagnostics(default_file)



def _preset_prefix() -> str:
    from qrt.frontends.wildcard.presets import PRESET_PREFIX

    return PRESET_PREFIX


def read_input(label: str) -> LintInput:
    """Read ``label`` (a path or ``modelopt:NAME``); problems become ``errors``."""
    path = label
    # the presets module imports the YAML reader (0.05 s): only a label with a prefix asks it
    if ":" in label and label.startswith(_preset_prefix()):
        from qrt.frontends.wildcard.presets import _folder, available_modelopt_presets

        name = label[len(_preset_prefix()):]
        if name not in available_modelopt_presets():
            from qrt.frontends.wildcard.presets import load_modelopt_preset

            try:
                load_modelopt_preset(name)
            except QrtError as exc:
                return LintInput(label, None, errors=error_findings(exc, label))
        path = str(_folder() / f"{name}.yaml")
    item = LintInput(label, path)
    try:
        item.text = read_text(path, what="rule file", error=RuleSyntaxError)
    except QrtError as exc:  # missing, a device or FIFO, too large, not UTF-8: located
        item.errors.extend(error_findings(exc, path))
        return item
    try:
        if Path(path).suffix.lower() not in (".yaml", ".yml", ".json"):
            item.kind = "dsl"
            from qrt.frontends.dsl import parse_rules

            item.rules = parse_rules(item.text, file=path, base_dir=Path(path).parent)
        else:  # the door's one detector: parsed once, the parse handed to the reader
            from qrt.frontends.source import HierarchicalSource, WildcardSource, detect, source_of

            detected = detect(item.text, label=path)
            item.kind = detected.kind
            source = source_of(detected)
            if isinstance(source, HierarchicalSource):
                item.config = source.config
            elif isinstance(source, WildcardSource):
                item.wildcard = source.config
            else:
                item.source = source
    except QrtError as exc:
        item.errors.extend(error_findings(exc, path))
    return item
