"""A wildcard list → the engine's rules (SEMANTICS §4): one rule per entry, order decides.

Every rule has priority ``(0,)``, so the fold applies them in list order and a later entry
wins, as ModelOpt's loop does. In front of the entries stand the role defaults
(:func:`~qrt.frontends.wildcard.instrumented.leading_rules`): every site off with the default
attributes, then on for the quantizers ModelOpt creates on. Each entry becomes:

* ``cfg`` → a set effect with the mapped spec (:mod:`.spec_map`), enabled unless the entry
  says ``enable: false`` — a full replacement, as ``cfg`` is;
* ``enable`` alone (or an empty ``cfg`` with ``enable: false``) → a patch of the toggle only,
  which keeps the spec the site has (the leading rules give every site one);
* its selector is the glob over the site's ModelOpt name (``quantizer_names="modelopt"``:
  ``fnmatch``; a site ModelOpt would put no quantizer on has none, so no entry reaches it,
  however broad) and, with ``parent_class``, the owning module's exact class, fully qualified
  (ModelOpt 0.47 tests ``isinstance`` against the class its registry generated for exactly
  that class, so a forward-inheriting subclass, converted to a class of its own, does not
  match — measured, see ``tests/frontends/wildcard/test_against_modelopt.py``).

The rules depend on nothing but the list (the universe is a fact each site carries), so one
compiled rule set serves every model;
:func:`~qrt.frontends.wildcard.reference.reference_states` is the literal loop they are
checked against.
"""

from __future__ import annotations

from qrt.frontends.wildcard.entries import Entry, WildcardConfig, qualified_parent_class
from qrt.frontends.wildcard.instrumented import leading_rules
from qrt.frontends.wildcard.spec_map import spec_from_attributes
from qrt.ir.effect import Effect, Patch, Set
from qrt.ir.rule import Rule, RuleSet
from qrt.ir.selector import Selector

__all__ = ["compile_wildcard", "entry_rule"]


def entry_rule(entry: Entry) -> Rule:
    """The rule of one entry (its origin is the entry's ``file:line:col`` and ``quant_cfg[i]``)."""
    parent = qualified_parent_class(entry.parent_class) if entry.parent_class is not None else None
    selector = Selector(quantizer_path=entry.pattern, quantizer_names="modelopt", parent_class=parent)
    effect: Effect
    if entry.is_toggle:
        assert entry.enable is not None  # an entry with neither is refused when read
        effect = Patch(enable=entry.enable)
    else:
        attributes = entry.attributes()
        assert attributes is not None
        where = entry.origin.config_path or f"quant_cfg[{entry.index}]"
        effect = Set(spec_from_attributes(attributes, where=f"{where}.cfg"), enable=entry.effective_enable)
    return Rule(selector, effect, (0,), origin=entry.origin)


def compile_wildcard(config: WildcardConfig) -> RuleSet:
    """The rule set of a wildcard list: the role defaults, then one rule per entry."""
    return RuleSet.of([*leading_rules(), *(entry_rule(e) for e in config)])
