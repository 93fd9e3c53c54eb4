"""Rule files in the selector DSL → a :class:`~qrt.ir.rule.RuleSet` (docs/semantics.md §2): the loader
and the public entry points :func:`parse_rules`, :func:`load_rules`, :func:`available_presets`.

Why it is built this way:

* **Two passes.** :mod:`~qrt.frontends.dsl.transform` turns one file into statements and
  builds every part that needs no context. The loader here then walks the statements in
  order: it expands ``include`` in place, keeps the spec names defined so far, and turns spec
  bodies into :class:`~qrt.ir.spec.QuantizationSpec` (:mod:`~qrt.frontends.dsl.specs`).
  Includes act as if the included file's text stood on the include line, so rule order (the
  fold's tie-break) is the reading order and a spec defined in an included file is usable
  after the include.
* **Read once.** A command's rule file read before comes from the compiled-rules cache
  (:mod:`qrt.frontends.rules_cache`) when the command turns it on: the loader
  (:mod:`~qrt.frontends.dsl.loader`) and lark are imported only on a miss.
* **Every error is located**, here too: a missing or cyclic include, an unknown preset, a spec
  name defined twice or used before it is defined all carry ``file:line:col``, the line with a
  caret, and what would have been valid. An error inside an included file also says which
  include line brought it in.
"""

from __future__ import annotations

from pathlib import Path

from qrt.errors import IncludeError
from qrt.files import read_text
from qrt.frontends.dsl.limits import MAX_INCLUDE_DEPTH, MAX_INCLUDES, MAX_RULES
from qrt.frontends.dsl.source import STRING_SOURCE, Source, available_presets, key_of
from qrt.ir.rule import RuleSet

__all__ = ["MAX_INCLUDES", "MAX_INCLUDE_DEPTH", "MAX_RULES", "parse_rules", "load_rules", "available_presets"]

# ---------------------------------------------------------------------------------------------
# Public entry points


def parse_rules(text: str, *, file: str = STRING_SOURCE, base_dir: Path | None = None) -> RuleSet:
    """Rules from DSL text. ``file`` labels origins and errors; ``include "x"`` is resolved
    against ``base_dir`` (default: the folder of ``file``, or the working directory for text
    that comes from no file)."""
    if base_dir is None:
        base_dir = Path(file).parent if not file.startswith("<") else Path(".")
    key = key_of(Path(file)) if not file.startswith("<") else None
    from qrt.frontends import rules_cache

    cached = rules_cache.active()
    if cached:  # a command's rule file, read before: no lark, no spec checks (issue 24)
        parts = [file, str(Path(base_dir).resolve()), key, rules_cache.digest(text)]
        found = rules_cache.load("dsl", parts)
        if isinstance(found, RuleSet):
            return found
    from qrt.frontends.dsl.loader import Loader

    loader = Loader()
    loader.load(Source(text=text, file=file, base=Path(base_dir), key=key))
    rules = RuleSet.of(loader.rules)
    if cached:
        rules_cache.store("dsl", parts, rules, deps=loader.deps)
    return rules


def load_rules(path: str | Path) -> RuleSet:
    """Rules from a ``.qrt`` file; its includes are resolved relative to it."""
    target = Path(path)
    text = read_text(target, what="rule file", error=IncludeError)
    return parse_rules(text, file=str(path), base_dir=target.parent)
