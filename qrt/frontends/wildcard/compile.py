"""A wildcard list → the engine's rules (docs/semantics.md §4): one rule per entry, order decides.

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

**Frames.** Where ModelOpt sees a weight transposed (transformers' ``Conv1D``: stored
``(in, out)``, quantized by ModelOpt as ``(out, in)``), a ``cfg``'s ``axis``/``block_sizes``
mean the other dimension of the stored tensor, and a plan stores the stored tensor's axes
(docs/semantics.md §3, §4). So a set rule whose spec names an axis is followed by one more rule, for
the sites :func:`~qrt.inventory.modelopt.weight_transposed` picks out, selected by the same
glob and ``parent_class`` plus the role and the op that reads such a weight (``state`` of
``addmm``), setting the translated spec (:func:`~qrt.frontends.wildcard.spec_map.transposed_attributes`).
Order alone makes it win there. Its origin is synthetic (``<…>``, naming the entry), as the
role defaults' are: lint does not report it for selecting nothing on a model without
``Conv1D``. The role defaults' ``axis: 0`` is translated the same way, so
an untouched ``Conv1D`` weight is per output feature, as in ModelOpt.

The rules depend on nothing but the list (the universe is a fact each site carries), so one
compiled rule set serves every model;
:func:`~qrt.frontends.wildcard.reference.reference_states` is the literal loop they are
checked against.
"""

from __future__ import annotations

from dataclasses import replace

from qrt.frontends.wildcard.entry_check import qualified_parent_class
from qrt.frontends.wildcard.model import Entry, WildcardConfig
from qrt.frontends.wildcard.instrumented import leading_rules
from qrt.frontends.wildcard.spec_map import NoModelOptEquivalent, attributes_from_spec, spec_from_attributes
from qrt.inventory.modelopt import TRANSPOSED_WEIGHT_OPS
from qrt.ir.effect import Effect, Patch, Set
from qrt.ir.origin import Origin
from qrt.ir.rule import Rule, RuleSet
from qrt.ir.selector import Selector

__all__ = ["FRAME_ORIGIN", "compile_wildcard", "entry_rule", "entry_rules", "framed", "is_frame_of"]

FRAME_ORIGIN = "<ModelOpt's (out, in) view of a Conv1D weight>"
"""The file of a frame rule's origin. Synthetic (``<…>``), as the role defaults are: nobody wrote
it, so lint does not report it for selecting nothing on a model without ``Conv1D``; its config
path names the entry it translates."""


def framed(rule: Rule) -> list[Rule]:
    """``rule``, followed by its translation for the weights ModelOpt sees transposed where
    that changes its spec (a set whose spec names an axis; a switch or a per-tensor spec means
    the same in both frames): the same set with the translated spec, selected by the rule's
    own selector plus the role and op type of such a weight, so it stands right after the set
    it translates and wins on exactly those sites. A set rather than a patch of the fields
    that differ: the difference may be in a spec's stages or extras (a multi-axis
    ``block_sizes``), which a patch cannot carry in DSL text. One rule per such op type:
    ``addmm`` today."""
    effect = rule.effect
    if not isinstance(effect, Set) or rule.selector.quantizer_names != "modelopt":
        return [rule]
    try:  # exact for a list's specs (they came from attributes)
        attributes = attributes_from_spec(effect.spec)
    except NoModelOptEquivalent:  # a DSL rule's spec ModelOpt cannot say has no ModelOpt frame
        return [rule]
    spec = spec_from_attributes(attributes, transposed=True)
    if spec == effect.spec:
        return [rule]
    origin = Origin(file=FRAME_ORIGIN, config_path=f"{rule.origin}: its axes on the stored (in, out) weight")
    out = [rule]
    for op_type in sorted(TRANSPOSED_WEIGHT_OPS):
        if rule.selector.op_type not in (None, op_type) or rule.selector.role not in (None, "state"):
            continue  # the rule cannot reach such a weight
        selector = replace(rule.selector, role="state", op_type=op_type)
        out.append(Rule(selector, Set(spec, enable=effect.enable), rule.priority, origin=origin))
    return out


def is_frame_of(rule: Rule, previous: Rule) -> bool:
    """Whether ``rule`` is the translation :func:`framed` puts right after ``previous`` (same
    selector plus role and op, the translated set), e.g. read back from DSL text a list was converted
    to: writing ``previous`` as an entry brings it back, so it needs no entry of its own."""
    return any(rule.selector == f.selector and rule.effect == f.effect for f in framed(previous)[1:])


def entry_rules(entry: Entry) -> list[Rule]:
    """The rules of one entry: :func:`entry_rule`, and where its ``cfg`` names an axis, the
    same for the weights ModelOpt sees transposed (:func:`framed`). Use this, not
    :func:`entry_rule` alone, wherever an entry is applied to sites."""
    return framed(entry_rule(entry))


def entry_rule(entry: Entry) -> Rule:
    """The rule of one entry in ModelOpt's frame (its origin is the entry's ``file:line:col``
    and ``quant_cfg[i]``); :func:`entry_rules` adds the translation for transposed weights."""
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
    """The rule set of a wildcard list: the role defaults, then the rules of each entry, each
    followed by its translation for transposed weights where it has one."""
    rules = [*leading_rules(), *(entry_rule(e) for e in config)]
    return RuleSet.of(r for rule in rules for r in framed(rule))
