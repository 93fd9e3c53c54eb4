"""Which Hugging Face configs share an inventory template, the probes a template is learned
from, and where templates are kept (``templates/`` in the inventory cache's folder).

A config splits into its **sizes** — the integer fields a template varies (:data:`SIZE_FIELDS`
and the layer count) — and its **structure**: every other field, compared exactly. Two configs
share a template when their structures are equal, they vary the same size fields, and their
sizes stand in the same **regime**: the same fields are equal to each other, the same are 1,
and the hidden size is the heads' product (or not) alike. The regime matters because code
branches on it (``repeat_kv`` does nothing when the key/value heads are the query heads), and
the probes a template is learned from are built in the config's own regime.

The key of a template is made of the structure, the varied fields, the regime, whether weights
lie beside the config (they decide its dtype), the command's ``--input-shape``/``--device``/
``--dtype``, and :func:`qrt.inventory.cache.environment` (qrt's tracing code, the op registry,
Python, torch, transformers). A config whose structure was never traced — by any size — has no
template: it is traced, and its template learned then (:mod:`qrt.model_inventory`).
"""

from __future__ import annotations

import hashlib
import json
import marshal
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from qrt.inventory.template import Node, TemplateError, instantiate, learn

if TYPE_CHECKING:
    from qrt.inventory.model import Inventory
    from qrt.model_spec import ModelSpec

__all__ = ["PROBES", "SIZE_FIELDS", "Family", "family_of", "from_template", "prove_and_store", "store_none",
           "template_known"]

TEMPLATE_FORMAT = 2
_MAGIC = b"qrt inventory template 2\n"

SIZE_FIELDS: dict[str, str] = {
    "hidden_size": "hidden", "n_embd": "hidden",
    "intermediate_size": "inter", "ffn_dim": "inter",
    "num_attention_heads": "heads", "n_head": "heads",
    "num_key_value_heads": "kv",
    "head_dim": "head_dim",
    "vocab_size": "vocab",
    "moe_intermediate_size": "moe",
    "shared_expert_intermediate_size": "shared",
    "word_embed_proj_dim": "proj",
}
"""The config fields a template varies, with their role (which probe values they take). Any
other field is structure."""

LAYER_FIELDS = ("num_hidden_layers", "n_layer")
METADATA = ("_name_or_path", "transformers_version")
"""Fields that name where a config came from, not the model: left out of the structure."""

_VALUES: dict[str, tuple[int, int, int]] = {
    "heads": (6, 12, 20), "kv": (3, 4, 5), "head_dim": (40, 120, 280), "hidden": (44, 76, 108),
    "inter": (52, 92, 124), "vocab": (97, 113, 131), "moe": (28, 44, 60), "shared": (36, 20, 52),
    "proj": (48, 84, 116),
}
"""Probe sizes: every field differs between probes and from the others, the key/value heads
divide the heads in ratios 2, 3, 4 (so ``heads / kv`` is no constant), head dims are
multiples of 40 (a partial rotary of a quarter or 0.4 of them is still an even whole number).
On ``meta`` a probe's size costs nothing."""

_LARGEST = 1 << 24
"""The largest size a template serves (vocabularies and hidden sizes are far below)."""
_MOST_LAYERS = 4096
"""The most layers a template serves (the deepest models have a few hundred): rows are made
for each layer, and a config asking for a billion must not make a command run for hours."""

PROBES = 3
PROBE_LAYERS = (3, 4)
"""Three probes of 3 layers learn the template; a fourth, of 4 layers, proves its layer loops."""


@dataclass(frozen=True)
class Family:
    """A config seen as a template sees it: its sizes, its structure and its regime."""

    config: dict[str, Any]
    layers_field: str
    layers: int
    sizes: dict[str, int]
    """The varied fields and their values (those equal to 1 are structure)."""
    classes: tuple[tuple[str, ...], ...]
    """Varied fields of equal value, each class sorted; the regime."""
    hidden_from_heads: bool
    """The hidden size is ``heads · head_dim`` (head_dim given or implied)."""
    key: str

    def probe_config(self, n: int, layers: int) -> dict[str, Any]:
        """The config of probe ``n`` (0, 1, 2) with ``layers`` layers: the structure as is, the
        sizes from :data:`_VALUES` in this config's regime."""
        values = {f: _VALUES[SIZE_FIELDS[f]][n] for f in self.sizes}
        for f in self.sizes:  # the vocabulary holds the special token ids, the class's defaults too:
            if SIZE_FIELDS[f] == "vocab":  # above the config's own vocabulary, they are held
                values[f] += max(self.sizes[f], _largest_token_id(self.config) + 1)
        roles = {SIZE_FIELDS[f]: f for f in self.sizes}
        heads = roles.get("heads")
        if self.hidden_from_heads and heads and "hidden" in roles:
            head_dim = values[roles["head_dim"]] if "head_dim" in roles else _VALUES["head_dim"][n]
            values[roles["hidden"]] = values[heads] * head_dim
        for cls in self.classes:  # equal fields stay equal: the derived hidden size leads
            lead = roles.get("hidden") if roles.get("hidden") in cls else cls[0]
            for f in cls:
                values[f] = values[lead]  # type: ignore[index]
        out = dict(self.config)
        out.update(values)
        out[self.layers_field] = layers
        return out

    def probe_sizes(self, n: int) -> dict[str, int]:
        config = self.probe_config(n, PROBE_LAYERS[0])
        return {f: config[f] for f in self.sizes}


def _largest_token_id(config: Mapping[str, Any]) -> int:
    """The largest ``*_token_id`` of the config (ints or lists of them), -1 where none."""
    ids = [-1]
    for key, value in config.items():
        if key.endswith(("token_id", "token_ids")):
            for v in value if isinstance(value, list) else [value]:
                if type(v) is int:
                    ids.append(v)
    return max(ids)


def _regime_ok(sizes: Mapping[str, int], roles: Mapping[str, str], hidden_from_heads: bool) -> bool:
    heads, kv, hidden = roles.get("heads"), roles.get("kv"), roles.get("hidden")
    if heads and kv and sizes[heads] % sizes[kv]:
        return False
    if heads and hidden and "head_dim" not in roles and sizes[hidden] % sizes[heads]:
        return False
    return True


def family_of(config: Any, *, has_weights: bool, options: Mapping[str, Any]) -> Family | None:
    """The family of a parsed ``config.json``, or ``None`` where no template can serve it: not
    a decoder stack qrt knows how to vary (no layer count, fewer than 3 layers, no size field),
    sizes in a regime the probes cannot reproduce (key/value heads that do not divide the
    heads), or values of a kind a key cannot hold. ``options``: the command's input shapes,
    device and dtype."""
    if not isinstance(config, dict) or not isinstance(config.get("model_type"), str):
        return None
    found = [f for f in LAYER_FIELDS if f in config]
    if len(found) != 1 or type(config[found[0]]) is not int or not 3 <= config[found[0]] <= _MOST_LAYERS:
        return None
    layers_field = found[0]
    sizes = {f: v for f, v in config.items() if f in SIZE_FIELDS and type(v) is int and v > 1}
    if any(v > _LARGEST for v in sizes.values()):
        return None  # beyond any real model: whether it builds at all is the trace's to say
    roles: dict[str, str] = {}
    for f in sizes:
        if SIZE_FIELDS[f] in roles:
            return None  # two fields of one role (n_embd and hidden_size): which one counts?
        roles[SIZE_FIELDS[f]] = f
    if not sizes:
        return None
    heads, hidden = roles.get("heads"), roles.get("hidden")
    if heads and hidden:
        head_dim = sizes[roles["head_dim"]] if "head_dim" in roles else None
        hidden_from_heads = head_dim is None or sizes[hidden] == sizes[heads] * head_dim
    else:
        hidden_from_heads = False
    if not _regime_ok(sizes, roles, hidden_from_heads):
        return None
    by_value: dict[int, list[str]] = {}
    for f, v in sizes.items():
        by_value.setdefault(v, []).append(f)
    classes = tuple(sorted(tuple(sorted(c)) for c in by_value.values() if len(c) > 1))
    structure = {k: v for k, v in config.items() if k not in sizes and k not in METADATA and k != layers_field}
    from qrt.inventory.cache import environment

    try:
        key = hashlib.sha256(json.dumps({
            "format": TEMPLATE_FORMAT, "structure": structure, "sizes": sorted(sizes), "classes": classes,
            "hidden_from_heads": hidden_from_heads, "layers_field": layers_field, "weights": has_weights,
            "options": dict(options), **environment(hf=True),
        }, sort_keys=True).encode()).hexdigest()
    except (TypeError, ValueError):
        return None
    family = Family(dict(config), layers_field, config[layers_field], sizes, classes, hidden_from_heads, key)
    for n in range(PROBES):  # the probes must be in the config's regime, or they teach nothing about it
        probe = family.probe_config(n, PROBE_LAYERS[0])
        if not _regime_ok({f: probe[f] for f in sizes}, roles, hidden_from_heads):
            return None
    return family


def _path(key: str) -> Path:
    from qrt.inventory.cache import _TEMPLATES, _TEMPLATES_SUFFIX, cache_dir

    return cache_dir() / _TEMPLATES / f"{key}{_TEMPLATES_SUFFIX}"


def _read(key: str) -> tuple[Any, ...] | None:
    from qrt.inventory.cache import read_entry, unseal

    data = read_entry(_path(key))
    body = unseal(_MAGIC, data) if data is not None else None
    if body is None:
        return None
    try:
        entry = marshal.loads(body)
    except (ValueError, EOFError, TypeError):
        return None
    if not isinstance(entry, tuple) or len(entry) != 4 or entry[0] != TEMPLATE_FORMAT:
        return None
    return entry


def template_known(family: Family) -> bool:
    """Whether a template — or the record that none could be learned — is stored for the
    family (then no probe is traced again)."""
    return _read(family.key) is not None


def _store(family: Family, model: dict[str, Any] | None, template: Node | None, why: str, *,
           learned_from: str | None = None) -> bool:
    from qrt.inventory.cache import _meta, _plain, _write_atomic, seal, write_entry

    try:
        body = marshal.dumps((TEMPLATE_FORMAT, _plain(model) if model is not None else None, template, why), 4)
    except ValueError:
        return False
    path = _path(family.key)
    if not write_entry(path, seal(_MAGIC, body)):
        return False
    meta = {  # for `qrt cache info`: which family, learned or why not
        "model_type": family.config.get("model_type"), "architectures": family.config.get("architectures"),
        "sizes": sorted(family.sizes), "layers_field": family.layers_field, "learned": template is not None,
        "why": why or None, "from": learned_from,
    }
    try:
        _write_atomic(_meta(path), json.dumps(meta).encode("utf-8"))
    except (OSError, TypeError, ValueError):
        pass  # only `qrt cache info` reads it
    return True


def store_none(family: Family, why: str, *, learned_from: str | None = None) -> bool:
    """Record that the family has no template (a probe failed): its next cold trace does not
    probe again."""
    return _store(family, None, None, why, learned_from=learned_from)


def prove_and_store(family: Family, probes: Sequence[tuple[dict[str, Any], tuple[Any, ...]]],
                    longer: tuple[dict[str, Any], tuple[Any, ...]], traced: Inventory) -> str | None:
    """Learn the family's template from the probes' ``(model, rows)`` (3 layers each), check it
    gives the 4-layer probe's rows and the traced inventory's rows exactly, and store it; where
    anything differs, store the record that this family has no template. Returns why not, or
    ``None`` when the template was stored."""
    from qrt.inventory.canonical import inventory_rows

    why: str | None = None
    template: Node | None = None
    model = {k: v for k, v in traced.model.items() if k != "spec"}
    try:
        for probe_model, _ in (*probes, longer):
            if {k: v for k, v in probe_model.items() if k != "spec"} != model:
                raise TemplateError("a probe's model differs beyond its spec")
        template = learn([(family.probe_sizes(n), PROBE_LAYERS[0], rows) for n, (_, rows) in enumerate(probes)])
        if instantiate(template, family.probe_sizes(0), PROBE_LAYERS[1]) != longer[1]:
            raise TemplateError(f"the template misses the {PROBE_LAYERS[1]}-layer probe")
        if instantiate(template, family.sizes, family.layers) != inventory_rows(traced):
            raise TemplateError("the template misses the traced model")
    except TemplateError as exc:
        why, template = str(exc), None
    _store(family, model if template is not None else None, template, why or "", learned_from=str(traced.model.get("spec")))
    return why


def from_template(family: Family, spec: ModelSpec) -> Inventory | None:
    """The inventory of the family's config from its stored template, or ``None`` (none stored,
    none learnable, or a size expression not whole at this config's sizes)."""
    from qrt.inventory.cache import inventory_from_rows

    entry = _read(family.key)
    if entry is None or entry[2] is None:
        return None
    _, model, template, _ = entry
    try:
        rows = instantiate(template, family.sizes, family.layers)
        if not isinstance(model, dict) or not isinstance(rows, tuple) or len(rows) != 4:
            return None
        inv = inventory_from_rows({"spec": spec.text, **model}, *rows)
        inv.__dict__["_rows_shared"] = True  # equal values are one object: the cache writes them as they are
        return inv
    except Exception:  # noqa: BLE001 — a size not whole here, or an entry sealed by anyone but
        return None  # qrt's learner (nothing in it is run): a miss, the model is traced
