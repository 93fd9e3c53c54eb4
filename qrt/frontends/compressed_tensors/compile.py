"""A compressed-tensors config → the engine's rules on one model (docs/semantics.md §2's fold).

compressed-tensors decides per *module* (:mod:`.match`): a Linear or Embedding selected by
some target and by no ``ignore`` entry takes the scheme of the first target in
``match_targets`` order, and that scheme says, for its weight, input and output, a spec or
nothing. The rules say exactly that, for the sites of the op the module runs (``linear`` or
``embedding``: state ``weight``, input 0, output 0; bias is never quantized):

* for every module and every target that matches it, one rule per role: ``set`` the group's
  spec for that role, or ``off`` where the scheme leaves the role unquantized. Its priority
  ``(0, 0, by_name, -rank, effective)`` encodes ``match_targets``: a name match (exact or
  ``re:``) beats any class match; within that, the earlier target in
  ``sorted(targets, key=("re:" in x, x))`` wins (the alphabetical order of compressed-tensors
  #847). ``effective`` is 0 for a group whose target string a later group lists again
  (``target_to_scheme`` keeps the later group's scheme), so explain shows both and the later
  one wins;
* for every ``ignore`` entry that matches the module, ``off`` on each role at priority
  ``(1,)``: above every target, as ``match_named_modules`` drops the module whatever matched it;
* ``kv_cache_scheme``: ``set`` on the cached keys and values (ModelOpt's
  ``k_bmm_quantizer`` / ``v_bmm_quantizer`` names on the attention op's inputs) of every module
  ``is_cached_attention_module`` accepts — every one: ``_apply_kv_cache_scheme`` takes no
  targets and no ``ignore``.

The rules name modules exactly (``module_name`` is the escaped name), because the class half of
the matching reads the module's MRO, which only the inventory knows; so a config compiles per
inventory, as a hierarchical config does. Modules that match but are no Linear/Embedding get
no rule (compressed-tensors gives them nothing); :func:`module_notes` says so in explain.

Refused (:class:`~.errors.CompressedTensorsConfigError`, naming the group and the module):
a config group that narrowly targets a cached attention module (compressed-tensors then
quantizes its query/key/value states, ``initialize_hooked_attention``), which qrt does not
read yet; a ``re:`` target qrt's linear-time matcher cannot run (lookaround, backreferences).
"""

from __future__ import annotations

import re

from qrt.frontends.compressed_tensors.config import CompressedTensorsConfig, Group, Target
from qrt.frontends.compressed_tensors.errors import CompressedTensorsConfigError
from qrt.frontends.compressed_tensors.match import (
    ModuleView,
    cached_attention,
    ignored_by,
    is_match,
    module_views,
    name_matches,
    regex_problem,
    scheme_match,
    sort_key,
)
from qrt.frontends.compressed_tensors.args import ROLES
from qrt.inventory.model import Inventory
from qrt.ir.effect import Effect, Off, Set
from qrt.ir.origin import Origin
from qrt.ir.rule import Rule, RuleSet
from qrt.ir.selector import Selector
from qrt.ir.spec import QuantizationSpec

__all__ = ["ROLE_SITES", "check_targets", "compile_compressed_tensors", "compile_sequence", "config_rules", "module_notes"]

ROLE_SITES: dict[str, tuple[str, int | str]] = {
    "weights": ("state", "weight"),
    "input_activations": ("input", 0),
    "output_activations": ("output", 0),
}
"""A scheme's role → the (role, key) of the site it quantizes on the module's op."""

KV_NAMES = ("k_bmm_quantizer", "v_bmm_quantizer")


def _effect(spec: QuantizationSpec | None) -> Effect:
    return Off() if spec is None else Set(spec)


def _glob_escape(name: str) -> str:
    return re.sub(r"([*?\[])", r"[\1]", name)


def check_targets(config: CompressedTensorsConfig) -> None:
    """Every ``re:`` target and ignore entry is one qrt can match (refused where written)."""
    for target in [t for g in config.groups for t in g.targets] + list(config.ignore):
        if target.text.startswith("re:"):
            problem = regex_problem(target.text)
            if problem:
                raise CompressedTensorsConfigError(
                    f"{target.origin.config_path}: {target.text!r}: {problem}", location=target.origin.position,
                    offending=target.text)


def _target_origin(group: Group, text: str) -> Origin:
    for target in group.targets:
        if target.text == text:
            return target.origin
    return group.origin


def _narrow(module: ModuleView, targets: tuple[Target, ...], views: dict[str, ModuleView]) -> bool:
    """``is_narrow_match``: a target matches the module, not its parent (``name.rsplit('.', 1)[0]``,
    the module itself for a top-level name) and none of its descendants."""
    parent = views.get(module.name.rsplit(".", 1)[0])
    prefix = module.name + "."
    children = [v for n, v in views.items() if n.startswith(prefix) or (module.name == "" and n)]
    for target in targets:
        t = (target.text,)
        if is_match(module, t) and not (parent is not None and is_match(parent, t)) and not any(is_match(c, t) for c in children):
            return True
    return False


def compile_compressed_tensors(config: CompressedTensorsConfig, inv: Inventory) -> RuleSet:
    """The rule set of a config on one inventory; see the module docstring."""
    return RuleSet.of(config_rules(config, inv))


def compile_sequence(configs: list[CompressedTensorsConfig], inv: Inventory) -> RuleSet:
    """The rules of configs applied one after another, as an llm-compressor recipe's
    quantization modifiers apply theirs (``QuantizationMixin.initialize_quantization``): each
    resets and re-marks the modules *it* selects, so a later config wins on those and leaves
    the others as the earlier ones marked them — its ``ignore`` keeps a module out of its own
    reach, it does not switch off what an earlier config set."""
    return RuleSet.of(r for i, config in enumerate(configs) for r in config_rules(config, inv, tier=i))


def config_rules(config: CompressedTensorsConfig, inv: Inventory, *, tier: int = 0) -> list[Rule]:
    """One config's rules, their priorities prefixed by ``tier`` (its place in a sequence)."""
    check_targets(config)
    table = config.target_to_scheme()
    ranks = {t: i for i, t in enumerate(sorted(table, key=sort_key))}
    views = {v.name: v for v in module_views(inv)}
    names = frozenset(views)
    rules: list[Rule] = []
    for module in views.values():
        match = scheme_match(module, config)
        if module.kind is None:
            if match is not None and cached_attention(module, names) and _narrow(module, match.group.targets, views):
                raise CompressedTensorsConfigError(
                    f"config_groups[{match.group.name!r}] targets the attention module {module.name} "
                    f"({match.winner!r}): compressed-tensors then quantizes its query, key and value states "
                    "(attention quantization), which qrt does not read yet",
                    location=_target_origin(match.group, match.winner).position,
                    hint="target the attention's Linear projections, or use kv_cache_scheme for the cached keys and values")
            continue
        escaped = re.escape(module.name)
        ignored = ignored_by(module, config)
        if ignored and tier > 0:
            continue  # out of this config's reach: what an earlier one set stays
        targets = [t for t in sorted(table, key=sort_key) if is_match(module, (t,))]
        by_names = _name_matches(module, targets)
        for target in targets:
            for group in config.groups:
                if not any(t.text == target for t in group.targets):
                    continue
                effective = int(table[target] is group)
                priority = (tier, 0, int(target in by_names), -ranks[target], effective)
                origin = _target_origin(group, target)
                for role in ROLES:
                    site_role, key = ROLE_SITES[role]
                    selector = Selector(module_name=escaped, op_type=module.kind, role=site_role, key=key)
                    rules.append(Rule(selector, _effect(group.spec(role)), priority, origin=origin))
        for i in ignored:
            for role in ROLES:
                site_role, key = ROLE_SITES[role]
                selector = Selector(module_name=escaped, op_type=module.kind, role=site_role, key=key)
                rules.append(Rule(selector, Off(), (tier, 1), origin=config.ignore[i].origin))
    if config.kv_cache is not None:
        origin = config.kv_cache_origin or Origin(config_path="kv_cache_scheme")
        for module in views.values():
            if cached_attention(module, names):
                for leaf in KV_NAMES:
                    selector = Selector(quantizer_path=f"{_glob_escape(module.name)}.{leaf}")
                    rules.append(Rule(selector, Set(config.kv_cache), (tier, 0), origin=origin))
    return rules


def _name_matches(module: ModuleView, targets: list[str]) -> set[str]:
    return {t for t in targets if name_matches(t, module.name)}


def module_notes(config: CompressedTensorsConfig, inv: Inventory, module_name: str) -> list[str]:
    """compressed-tensors' reading of one module, for explain: which targets matched it in
    ``match_targets`` order and which group won, or why it gets no scheme."""
    views = {v.name: v for v in module_views(inv)}
    module = views.get(module_name)
    if module is None:
        return []
    kind = module.classes[0].rpartition(".")[2] if module.classes else "?"
    lines = _kv_notes(config, module, frozenset(views))
    match = scheme_match(module, config)
    ignored = ignored_by(module, config)
    if ignored:
        listed = ", ".join(f"ignore[{i}] {config.ignore[i].text!r}" for i in ignored)
        return [*lines, f"compressed-tensors: {module_name} ({kind}) is ignored by {listed}: no scheme"]
    if match is None:
        return [*lines, f"compressed-tensors: {module_name} ({kind}) matches no target of any config group: no scheme"]
    how = ", ".join(f"{t!r} ({'name' if n else 'class'})" for t, n in zip(match.targets, match.by_name))
    line = (f"compressed-tensors: {module_name} ({kind}) matches {how} — exact names, then regexes, each "
            f"alphabetically, then class names (match_targets) — so config_groups[{match.group.name!r}] applies")
    if match.group.preset:
        line += f" (preset {match.group.preset})"
    if module.kind is None:
        line += "; but compressed-tensors applies schemes to Linear and Embedding modules only: nothing here"
    elif module.kind == "embedding" and match.group.input_activations is not None:
        line += ("; its input_activations are attached to the Embedding too, whose input is integer token ids: "
                 "no tensor qrt (or a kernel) quantizes, so none here")
    return [*lines, line]


def _kv_notes(config: CompressedTensorsConfig, module: ModuleView, names: frozenset[str]) -> list[str]:
    """Whether ``kv_cache_scheme`` reaches this attention-like module, and why not."""
    if config.kv_cache is None:
        return []
    own = module.classes[0].rpartition(".")[2] if module.classes else ""
    if "attention" not in own.lower() or not any(f"{module.name}.{p}" in names for p in ("k_proj", "v_proj", "qkv_proj", "kv_b_proj")):
        return []
    if cached_attention(module, names):
        return [f"compressed-tensors: kv_cache_scheme quantizes the cached keys and values of {module.name} "
                "(is_cached_attention_module)"]
    return [f"compressed-tensors: kv_cache_scheme does not reach {module.name}: compressed-tensors 0.20 takes an "
            "attention module for a cached one only if its forward has a past_key_value(s) parameter, and this "
            f"forward's are ({', '.join(module.forward_args)}); its keys and values stay unquantized"]
