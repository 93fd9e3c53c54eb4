"""compressed-tensors 0.20's module matching, reproduced on an inventory (no torch).

The functions this mirrors, in ``compressed_tensors/utils/match.py`` and
``compressed_tensors/quantization/lifecycle/apply.py``:

* ``match_name(name, target)``: a target starting with ``re:`` is a regex tried with
  ``re.match`` — anchored at the start of the module name **only** (``re:q_proj`` does not
  match ``model.layers.0.self_attn.q_proj``; ``re:.*q_proj`` also matches
  ``…q_proj_extra``); any other target must equal the name.
* ``_match_class(module, target)``: the target equals the ``__name__`` of any
  ``nn.Module`` class in the module's MRO — its own class, every base, and ``Module`` itself,
  so ``"Module"`` matches every module. ``"Linear"`` also matches vLLM's ``LinearBase``.
* ``match_named_modules(model, targets, ignore)``: a module is selected when some target
  matches it (name or class) and no ``ignore`` entry does (name or class); ``InternalModule``
  subclasses (observers, transforms) never are.
* ``match_targets(name, module, targets)``: the targets that match, ordered by
  ``sorted(targets, key=lambda x: ("re:" in x, x))`` — plain strings before regexes, and
  **alphabetically** within each (compressed-tensors issue #847: overlapping regexes are not
  ordered by specificity, ``re:.*mlp.*`` beats ``re:.*mlp.down_proj``) — with every name match
  (exact or regex) before every class match.
* ``apply_quantization_config``: ``target_to_scheme`` maps each target string to its group
  (the last group that lists it); a selected module takes the scheme of the **first** of its
  ``match_targets`` (``_scheme_from_targets``), and the scheme takes effect only on
  ``torch.nn.Linear`` and ``torch.nn.Embedding`` instances (the attention branch aside, see
  :func:`cached_attention`).

The class half needs each module's MRO. An inventory records a module's own class and the
bases whose ``forward`` it runs (:attr:`~qrt.inventory.model.ModuleInfo.forward_bases`), not
a base whose ``forward`` it overrides (OPT's ``OPTLearnedPositionalEmbedding`` is an
``nn.Embedding`` with a ``forward`` of its own). So :func:`mro_classes` reads the class's real
MRO where it can find the class without running user code (already imported in this process
— the model was just built — or torch's and transformers' own), and falls back to the
inventory's record only for a saved inventory of classes it cannot import.
"""

from __future__ import annotations

import importlib
import re
import sys
from dataclasses import dataclass
from functools import lru_cache

from qrt.frontends.compressed_tensors.config import CompressedTensorsConfig, Group
from qrt.inventory.model import Inventory, ModuleInfo
from qrt.ir.patterns import check_regex, regex_fullmatch

__all__ = [
    "EMBEDDING",
    "LINEAR",
    "Match",
    "ModuleView",
    "cached_attention",
    "class_matches",
    "ignored_by",
    "is_match",
    "match_targets",
    "module_view",
    "module_views",
    "mro_classes",
    "name_matches",
    "name_regex",
    "regex_problem",
    "scheme_match",
    "sort_key",
]

LINEAR = "torch.nn.modules.linear.Linear"
EMBEDDING = "torch.nn.modules.sparse.Embedding"
_INTERNAL = "compressed_tensors.utils.internal.InternalModule"
_KV_PROJECTIONS = ("k_proj", "v_proj", "qkv_proj", "kv_b_proj")
_ATTENTION_PROJECTIONS = ("q_proj", "k_proj", "v_proj", "qkv_proj", "kv_b_proj", "q_a_proj")


@dataclass(frozen=True)
class ModuleView:
    """What compressed-tensors' matching reads of one module."""

    name: str
    classes: tuple[str, ...]
    """Fully-qualified classes known to be in its MRO, its own first (``Module`` implied)."""
    forward_args: tuple[str, ...] = ()

    @property
    def class_names(self) -> tuple[str, ...]:
        return (*(c.rpartition(".")[2] for c in self.classes), "Module")

    @property
    def kind(self) -> str | None:
        """``linear`` / ``embedding`` where the module is an ``nn.Linear`` / ``nn.Embedding``
        (the op type its sites carry), else ``None``: compressed-tensors gives it no scheme."""
        if LINEAR in self.classes:
            return "linear"
        if EMBEDDING in self.classes:
            return "embedding"
        return None

    @property
    def internal(self) -> bool:
        return _INTERNAL in self.classes


_TRUSTED_PACKAGES = ("torch.", "transformers.")


@lru_cache(maxsize=4096)
def mro_classes(fqn: str) -> tuple[str, ...] | None:
    """The fully-qualified ``nn.Module`` classes of ``fqn``'s MRO, where the class can be
    found without running user code: its module is already imported (the model was built in
    this process), or it is torch's or transformers' own. ``None`` otherwise."""
    module_name, _, qualname = fqn.rpartition(".")
    module = sys.modules.get(module_name)
    if module is None and fqn.startswith(_TRUSTED_PACKAGES):
        try:
            module = importlib.import_module(module_name)
        except Exception:  # noqa: BLE001 - an unimportable class falls back to the inventory
            return None
    cls = getattr(module, qualname, None) if module is not None else None
    if not isinstance(cls, type):
        return None
    out = []
    for base in cls.__mro__:
        if base is object:
            continue
        out.append(f"{base.__module__}.{base.__qualname__}")
    return tuple(out) if out and "torch.nn.modules.module.Module" in out else None


def module_view(info: ModuleInfo) -> ModuleView:
    """A module as compressed-tensors sees it: its class's whole MRO where
    :func:`mro_classes` finds the class, else what the inventory records (its own class and
    the bases whose ``forward`` it runs)."""
    return ModuleView(info.name, mro_classes(info.type) or info.forward_classes, info.forward_args)


def module_views(inv: Inventory) -> list[ModuleView]:
    """Every module of the inventory, in its order (``named_modules`` order for a traced model)."""
    return [module_view(m) for m in inv.modules]


def sort_key(target: str) -> tuple[bool, str]:
    """``match_targets``' order: ``("re:" in x, x)`` — note *in*, not *startswith*."""
    return ("re:" in target, target)


def name_regex(target: str) -> str:
    """The ``re.fullmatch`` form of ``re.match(target[3:], name)``: the pattern followed by
    anything (``(?:P).*``), its leading inline flags kept in front, so qrt's linear-time
    matcher reads it (:mod:`qrt.ir.patterns`)."""
    pattern = target.removeprefix("re:")
    flags = re.match(r"(?:\(\?[aiLmsux]+\))+", pattern)
    head = flags.group(0) if flags else ""
    return f"{head}(?:{pattern[len(head):]}).*"


def regex_problem(target: str) -> str | None:
    """Why a ``re:`` target cannot be matched by qrt, or ``None``."""
    return check_regex(name_regex(target))


def name_matches(target: str, name: str) -> bool:
    """``match_name(name, target)`` without ``fused``."""
    if target.startswith("re:"):
        return regex_fullmatch(name_regex(target), name)
    return target == name


def class_matches(target: str, module: ModuleView) -> bool:
    """``_match_class``: a class of the MRO by ``__name__`` (``Linear`` also names ``LinearBase``)."""
    names = module.class_names
    return target in names or (target == "Linear" and "LinearBase" in names)


def is_match(module: ModuleView, targets: tuple[str, ...] | list[str]) -> bool:
    """``is_match(name, module, targets)`` without ``ignore``/``fused``."""
    return not module.internal and any(name_matches(t, module.name) or class_matches(t, module) for t in targets)


@dataclass(frozen=True)
class Match:
    """Why a module gets the scheme it gets: every target that matched, in
    ``match_targets`` order (``by_name`` says how each matched), the winner first."""

    targets: tuple[str, ...]
    by_name: tuple[bool, ...]
    group: Group

    @property
    def winner(self) -> str:
        return self.targets[0]


def match_targets(module: ModuleView, targets: list[str]) -> tuple[list[str], list[bool]]:
    """``match_targets``: name matches in sorted order, then class matches in sorted order."""
    if module.internal:
        return [], []
    ordered = sorted(targets, key=sort_key)
    names = [t for t in ordered if name_matches(t, module.name)]
    classes = [t for t in ordered if t not in names and class_matches(t, module)]
    return names + classes, [True] * len(names) + [False] * len(classes)


def ignored_by(module: ModuleView, config: CompressedTensorsConfig) -> list[int]:
    """The indices of the ``ignore`` entries that match the module (name or class)."""
    return [i for i, t in enumerate(config.ignore) if name_matches(t.text, module.name) or class_matches(t.text, module)]


def scheme_match(module: ModuleView, config: CompressedTensorsConfig) -> Match | None:
    """The scheme ``apply_quantization_config`` marks this module with, and why; ``None``
    when no target selects it or ``ignore`` does (whatever the module's class: the caller
    applies the Linear/Embedding condition)."""
    table = config.target_to_scheme()
    targets = list(table)
    if not is_match(module, targets) or ignored_by(module, config):
        return None
    matched, by_name = match_targets(module, targets)
    return Match(tuple(matched), tuple(by_name), table[matched[0]])


def cached_attention(module: ModuleView, inv_names: frozenset[str]) -> bool:
    """``is_cached_attention_module``: ``attention`` in the class name (any case), a
    ``k_proj``/``v_proj``/``qkv_proj``/``kv_b_proj`` child and a ``past_key_value(s)``
    parameter of ``forward``. The inventory knows children as modules, not other attributes."""
    own = module.classes[0].rpartition(".")[2].lower() if module.classes else ""
    if "attention" not in own:
        return False
    if not any(f"{module.name}.{p}" in inv_names for p in _KV_PROJECTIONS):
        return False
    return "past_key_value" in module.forward_args or "past_key_values" in module.forward_args
