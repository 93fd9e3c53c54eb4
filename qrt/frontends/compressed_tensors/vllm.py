"""vLLM's reading of a compressed-tensors config (the consumer view, ``--as vllm``), reproduced
on a Hugging Face model's inventory (no torch, no vLLM).

vLLM does not run compressed-tensors' matching. It builds its own model, whose layers are not
the checkpoint's modules: q/k/v projections are one ``QKVParallelLinear`` named ``qkv_proj``,
gate/up one ``MergedColumnParallelLinear`` named ``gate_up_proj`` (the model class's
``packed_modules_mapping``), and asks, per layer, with code of its own
(``vllm/model_executor/layers/quantization/compressed_tensors/compressed_tensors.py``:
``CompressedTensorsConfig.from_config``, ``_quantization_scheme_map_from_config``,
``get_quant_method``, ``get_scheme`` / ``get_scheme_dict``; ``.../compressed_tensors/utils.py``:
``should_ignore_layer``, ``find_matched_target``, ``_find_first_match``,
``_is_equal_or_regex_match``, ``_match_fused_layer``):

1. ``target_scheme_map``: every target of every group, in the config's order, → that group's
   ``weights`` and ``input_activations`` (a target listed again keeps its first place and takes
   the later group's scheme). ``output_activations`` is not read at all.
2. Only ``LinearBase`` layers get a scheme. ``lm_head`` is a ``ParallelLMHead`` (an embedding
   class) and the embeddings ``VocabParallelEmbedding``: not quantized whatever the targets
   say; MoE routers are built without a quantization config.
3. ``should_ignore_layer(name, ignore, packed_modules_mapping)``: ``ignore`` entries match
   **names only** (exact, or ``re:`` with ``re.match``) — a class name in ``ignore`` is never
   honoured. A fused layer is ignored when its shards are (``name.replace(fused, shard)``
   for each shard), and vLLM **refuses to load** (``ValueError``: "Found a different
   quantization schemes for [...] ... vLLM requires all to use the same scheme") when some
   shards are ignored and others not.
4. ``find_matched_target``: the **first target in the map's order** (not compressed-tensors'
   sorted order) that (a) equals or ``re.match``-es the layer's vLLM name; else (b) matches its
   vLLM class name — ``re:`` by ``re.match``, any other target when it is **contained in it,
   ignoring case** (``Linear`` is contained in ``QKVParallelLinear``); else (c) for a fused
   layer, when every shard name equals or matches some target: the target of the **first
   shard** — the others' are not compared, so k/v or up read q's or gate's scheme. A name
   match on the fused name or a class match decides before the shards are looked at.
   No target: the layer is not quantized (vLLM releases before ``get_scheme_dict`` raised
   "Unable to find matching target" instead).
5. ``kv_cache_scheme``: every attention layer (``CompressedTensorsKVCacheMethod``), no targets,
   no ``ignore``; vLLM accepts fp8 (8-bit float), per-tensor or per-head, symmetric only.

qrt maps the HF model onto vLLM's layout per architecture (:data:`LAYOUTS`, each citing
its ``vllm/model_executor/models/*.py``) and refuses an architecture it has no layout for.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from qrt.frontends.compressed_tensors.config import CompressedTensorsConfig, Group, Target
from qrt.frontends.compressed_tensors.errors import CompressedTensorsConfigError
from qrt.frontends.compressed_tensors.match import ModuleView, module_views, name_matches
from qrt.inventory.model import Inventory
from qrt.ir.rule import Rule
from qrt.ir.origin import Origin
from qrt.ir.spec import QuantizationSpec

__all__ = [
    "LAYOUTS",
    "Layout",
    "VllmLayer",
    "VllmReading",
    "layout_of",
    "vllm_notes",
    "vllm_reading",
    "vllm_rules",
]

VLLM_CONFIG_FILE = "vllm/model_executor/layers/quantization/compressed_tensors/compressed_tensors.py"
VLLM_UTILS_FILE = "vllm/model_executor/layers/quantization/compressed_tensors/utils.py"

_LLAMA_PACKED: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("qkv_proj", ("q_proj", "k_proj", "v_proj")),
    ("gate_up_proj", ("gate_proj", "up_proj")),
)
_QKV_PACKED: tuple[tuple[str, tuple[str, ...]], ...] = (("qkv_proj", ("q_proj", "k_proj", "v_proj")),)

_ROW = ("o_proj", "down_proj")
"""Leaf names vLLM builds as ``RowParallelLinear`` in these architectures."""
_FUSED_CLASS = {"qkv_proj": "QKVParallelLinear", "gate_up_proj": "MergedColumnParallelLinear"}


@dataclass(frozen=True)
class Layout:
    """How vLLM lays out one architecture: its ``packed_modules_mapping`` (in order: vLLM tries
    the keys in that order) and the HF Linears it builds with no quantization config."""

    packed: tuple[tuple[str, tuple[str, ...]], ...]
    model_file: str
    unquantized: tuple[str, ...] = ()
    """module-name suffixes vLLM builds without a quant_config (MoE routers)"""

    @property
    def fused_mapping(self) -> dict[str, tuple[str, ...]]:
        return dict(self.packed)

    def shard_of(self, leaf: str) -> str | None:
        """The fused layer a leaf name is a shard of, or ``None``."""
        for fused, shards in self.packed:
            if leaf in shards:
                return fused
        return None


_LLAMA = Layout(_LLAMA_PACKED, "vllm/model_executor/models/llama.py")
LAYOUTS: dict[str, Layout] = {
    "LlamaForCausalLM": _LLAMA,
    "MistralForCausalLM": _LLAMA,
    "TinyLlama": _LLAMA,  # qrt's built-in tiny_llama: Llama's module names, read as LlamaForCausalLM
    "Qwen2ForCausalLM": Layout(_LLAMA_PACKED, "vllm/model_executor/models/qwen2.py"),
    "Qwen3ForCausalLM": Layout(_LLAMA_PACKED, "vllm/model_executor/models/qwen3.py"),
    "MixtralForCausalLM": Layout(_QKV_PACKED, "vllm/model_executor/models/mixtral.py",
                                 unquantized=("block_sparse_moe.gate", "mlp.gate")),
    "Qwen2MoeForCausalLM": Layout(_LLAMA_PACKED, "vllm/model_executor/models/qwen2_moe.py",
                                  unquantized=("mlp.gate", "mlp.shared_expert_gate")),
}
"""HF architecture (the root module's class name) → vLLM's layout of it."""

_LINEAR = "torch.nn.modules.linear.Linear"
_ACTIVATION_FORMATS = ("naive-quantized", "int-quantized", "float-quantized", "nvfp4-pack-quantized",
                       "mxfp4-pack-quantized")
"""``is_activation_quantization_format`` (``.../compressed_tensors/utils.py``)."""


def layout_of(inv: Inventory) -> tuple[str, Layout]:
    """The architecture of the inventory's root module and vLLM's layout of it; an
    architecture qrt has no layout for is refused (which layers vLLM fuses is per model)."""
    root = next((m for m in inv.modules if m.name == ""), None)
    arch = root.type.rpartition(".")[2] if root is not None else "?"
    layout = LAYOUTS.get(arch)
    if layout is None:
        raise CompressedTensorsConfigError(
            f"--as vllm: qrt does not know how vLLM lays out {arch} (which of its Linears vLLM fuses "
            "into one layer is the model class's packed_modules_mapping)",
            hint=f"architectures qrt reads as vLLM does: {', '.join(sorted(LAYOUTS))}")
    return arch, layout


@dataclass(frozen=True)
class VllmLayer:
    """One HF Linear as vLLM reads it."""

    module: str
    """the HF module (a checkpoint tensor's owner)"""
    layer: str
    """the vLLM layer that runs it (``...qkv_proj`` for a q/k/v projection)"""
    vllm_class: str
    group: Group | None
    """the group whose scheme vLLM uses, or ``None``: not quantized"""
    reason: str
    """how vLLM came to it, in vLLM's steps"""
    origin: Origin | None = None
    shards: tuple[str, ...] = ()
    """for a fused layer: its HF shard modules"""

    def spec(self, role: str) -> QuantizationSpec | None:
        """The spec vLLM gives ``role`` (``weights`` / ``input_activations``); never an output."""
        if self.group is None or role == "output_activations":
            return None
        return self.group.spec(role)


@dataclass
class VllmReading:
    """vLLM's reading of a config on one model: every HF Linear, the attention modules whose
    KV cache it quantizes, and what it refuses."""

    architecture: str
    layout: Layout
    layers: dict[str, VllmLayer] = field(default_factory=dict)
    """HF module name → its reading"""
    kv_modules: tuple[str, ...] = ()
    refusals: list[tuple[str, str, Origin | None]] = field(default_factory=list)
    """(vLLM layer, vLLM's error, the ignore entry that splits it) for each layer vLLM refuses"""
    notes: dict[str, str] = field(default_factory=dict)
    """HF module → why vLLM gives it nothing (not a LinearBase, built unquantized)"""


def _ignored(name: str, ignore: tuple[Target, ...]) -> Target | None:
    """``check_equal_or_regex_match``: the first ``ignore`` entry equal to or ``re.match``-ing
    the name (class names are not read)."""
    return next((t for t in ignore if name_matches(t.text, name)), None)


def _class_matches(target: str, vllm_class: str) -> bool:
    """``_is_equal_or_regex_match(class_name, target, check_contains=True)``."""
    if target.startswith("re:"):
        return name_matches(target, vllm_class)
    return target.lower() in vllm_class.lower()


def _leaf(name: str) -> str:
    return name.rpartition(".")[2]


def _first(value: str, targets: list[str]) -> str | None:
    return next((t for t in targets if name_matches(t, value)), None)


def _vllm_layer(module: str, layout: Layout) -> tuple[str, str, tuple[str, ...]] | None:
    """(vLLM layer name, its class, the fused layer's shard *names*) for an HF Linear; ``None``
    when qrt does not know which vLLM layer runs it."""
    parent, _, leaf = module.rpartition(".")
    fused = layout.shard_of(leaf)
    if fused is not None:
        layer = f"{parent}.{fused}" if parent else fused
        # should_ignore_layer / _match_fused_layer: name.replace(fused, shard), every occurrence
        return layer, _FUSED_CLASS.get(fused, "MergedColumnParallelLinear"), tuple(
            layer.replace(fused, s) for s in layout.fused_mapping[fused])
    if leaf in _ROW:
        return module, "RowParallelLinear", ()
    return None


def vllm_reading(config: CompressedTensorsConfig, inv: Inventory) -> VllmReading:
    """vLLM's reading of ``config`` on ``inv``'s model (see the module docstring). Refusals are
    collected, not raised: :class:`~.source.VllmSource` raises the first, lint reports each."""
    from qrt.frontends.compressed_tensors.compile import check_targets

    check_targets(config)  # a regex qrt's matcher cannot run is refused where written
    arch, layout = layout_of(inv)
    reading = VllmReading(arch, layout)
    _check_groups(config)
    table = config.target_to_scheme()
    targets = list(table)
    views = module_views(inv)
    names = {v.name for v in views}
    done: set[str] = set()
    for view in views:
        if _LINEAR not in view.classes:
            continue
        if view.name == "lm_head" or view.name.endswith(".lm_head"):
            reading.notes[view.name] = ("vLLM builds lm_head as a ParallelLMHead, an embedding class: "
                                        "get_quant_method gives only LinearBase layers a scheme, so not quantized")
            continue
        if any(view.name == s or view.name.endswith("." + s) for s in layout.unquantized):
            reading.notes[view.name] = (f"vLLM builds this router without a quantization config "
                                        f"({layout.model_file}): not quantized")
            continue
        placed = _vllm_layer(view.name, layout)
        if placed is None:
            raise CompressedTensorsConfigError(
                f"--as vllm: qrt does not know which vLLM layer of {arch} runs {view.name} "
                f"({layout.model_file}), so it cannot say how vLLM reads it",
                hint="the layouts qrt knows cover the attention and MLP projections and lm_head")
        layer, vllm_class, shard_names = placed
        if layer in done:
            continue
        done.add(layer)
        read = _read_layer(layer, vllm_class, shard_names, config, targets, table, reading)
        shards = tuple(s for s in shard_names if s in names) or (view.name,)
        for module in shards:
            entry = VllmLayer(module, layer, vllm_class, read[0], read[1], read[2], shards if shard_names else ())
            reading.layers[module] = entry
    if config.kv_cache is not None:
        _check_kv(config)
        reading.kv_modules = tuple(v.name for v in views if _attention(v, names))
    return reading


def _check_groups(config: CompressedTensorsConfig) -> None:
    """What ``_quantization_scheme_map_from_config`` fails on: a group written as a preset list
    (it reads ``quant_config.get("targets")`` of every group), a group without ``weights``
    (``QuantizationArgs.model_validate(None)``), integer weights with no input activations under
    an activation format (its ``assert ... == QuantizationType.FLOAT``)."""
    for group in config.groups:
        if group.preset:
            raise CompressedTensorsConfigError(
                f"--as vllm: config_groups[{group.name!r}] is a preset ({group.preset}) written as a list of "
                f"targets: vLLM reads every group as a mapping with 'targets' ({VLLM_CONFIG_FILE}, "
                "_quantization_scheme_map_from_config) and fails on it",
                location=group.origin.position, hint="write the group out (targets, weights, ...) as llm-compressor saves it")
        fmt = group.format or config.format
        if (fmt in _ACTIVATION_FORMATS and group.input_activations is None and group.weights is not None
                and not group.weights.dtype.startswith("float")):
            raise CompressedTensorsConfigError(
                f"--as vllm: config_groups[{group.name!r}] has integer weights, no input_activations and the "
                f"activation format {fmt!r}: vLLM asserts that such a group's weights are float "
                f"({VLLM_CONFIG_FILE}, _quantization_scheme_map_from_config)", location=group.origin.position)
        if group.weights is None:
            raise CompressedTensorsConfigError(
                f"--as vllm: config_groups[{group.name!r}] has no weights: vLLM validates every group's "
                f"weights as QuantizationArgs ({VLLM_CONFIG_FILE}, _quantization_scheme_map_from_config) and "
                "fails on None", location=group.origin.position)


def _check_kv(config: CompressedTensorsConfig) -> None:
    """``CompressedTensorsKVCacheMethod.validate_kv_cache_scheme``."""
    data = config.data.get("kv_cache_scheme") if isinstance(config.data, dict) else None
    if not isinstance(data, dict):
        return
    problem = None
    if data.get("type") != "float" and data.get("num_bits") != 8:
        problem = f"num_bits={data.get('num_bits')}, type={data.get('type')}: vLLM supports num_bits=8, type=float"
    elif data.get("strategy") not in ("tensor", "attn_head"):
        problem = f"strategy {data.get('strategy')!r}: vLLM supports tensor and attn_head"
    elif not data.get("symmetric", True):
        problem = "symmetric: false: vLLM supports symmetric KV-cache scales only"
    if problem:
        raise CompressedTensorsConfigError(f"--as vllm: kv_cache_scheme {problem} (validate_kv_cache_scheme, {VLLM_CONFIG_FILE})",
                          location=config.kv_cache_origin.position if config.kv_cache_origin else None)


def _attention(view: ModuleView, names: set[str]) -> bool:
    """An HF attention module vLLM replaces by an ``Attention`` layer: ``attention`` in its
    class name and a k/v projection child."""
    own = view.classes[0].rpartition(".")[2].lower() if view.classes else ""
    return "attention" in own and any(f"{view.name}.{p}" in names for p in ("k_proj", "v_proj", "qkv_proj"))


def _read_layer(layer: str, vllm_class: str, shard_names: tuple[str, ...], config: CompressedTensorsConfig,
                targets: list[str], table: dict[str, Group], reading: VllmReading) -> tuple[Group | None, str, Origin | None]:
    """``get_scheme_dict`` for one vLLM layer: (group, how, origin)."""
    # should_ignore_layer
    if shard_names and layer not in [t.text for t in config.ignore]:
        hits = [_ignored(s, config.ignore) for s in shard_names]
        if any(hits) and not all(hits):
            leaves = [_leaf(s) for s in shard_names]
            which = ", ".join(f"{_leaf(s)} {('ignored by ' + repr(h.text)) if h else 'not ignored'}"
                              for s, h in zip(shard_names, hits))
            reading.refusals.append((layer, f"Found a different quantization schemes for {leaves} in {layer}. "
                                            f"vLLM requires all to use the same scheme. ({which})",
                                     next(h for h in hits if h).origin))
            return None, f"vLLM refuses to load {layer}: {which}", None
        hit = hits[0] if hits else None
    else:
        hit = _ignored(layer, config.ignore)
    if hit is not None:
        return None, f"vLLM layer {layer} is ignored: {hit.text!r} matches its name", hit.origin
    # find_matched_target
    found = _first(layer, targets)
    how = f"{found!r} matches the vLLM layer's name {layer}" if found else ""
    if found is None:
        found = next((t for t in targets if _class_matches(t, vllm_class)), None)
        how = f"{found!r} matches its vLLM class {vllm_class} (contained in it, ignoring case)" if found else ""
    if found is None and shard_names:
        per_shard = [_first(s, targets) for s in shard_names]
        if all(per_shard):
            found = per_shard[0]
            listed = ", ".join(f"{_leaf(s)}: {t!r}" for s, t in zip(shard_names, per_shard))
            how = (f"every shard matches a target ({listed}); "
                   f"vLLM takes the first shard's {found!r} for the whole {layer}")
    if found is None:
        return None, f"no target matches vLLM layer {layer} ({vllm_class}) by name, class or shards: not quantized", None
    group = table[found]
    origin = next((t.origin for t in group.targets if t.text == found), group.origin)
    return group, f"{how} — the first such target in the config's order — so config_groups[{group.name!r}]", origin



def vllm_rules(config: CompressedTensorsConfig, inv: Inventory) -> list[Rule]:
    """The rules of vLLM's reading: per HF Linear, the spec of the group vLLM uses for its
    weight and input (its output: never), ``off`` where vLLM quantizes nothing; ``set`` of
    ``kv_cache_scheme`` on every attention's cached keys and values. Raises
    :class:`~.errors.CompressedTensorsConfigError` where vLLM refuses to load the config (the
    message says so and quotes vLLM's reason)."""
    from qrt.frontends.compressed_tensors.compile import KV_NAMES, ROLE_SITES, _glob_escape
    from qrt.ir.effect import Off, Set
    from qrt.ir.selector import Selector

    reading = vllm_reading(config, inv)
    if reading.refusals:
        layer, error, where = reading.refusals[0]
        raise CompressedTensorsConfigError(f"--as vllm: vLLM refuses to load this config on {layer}: {error} "
                          f"(should_ignore_layer, {VLLM_UTILS_FILE})", location=where.position if where else None,
                          hint="ignore all shards of a fused layer, or none")
    rules: list[Rule] = []
    for module, entry in reading.layers.items():
        origin = entry.origin or Origin(config_path=f"vLLM: {entry.layer}")
        for role, (site_role, key) in ROLE_SITES.items():
            spec = entry.spec(role)
            selector = Selector(module_name=re.escape(module), op_type="linear", role=site_role, key=key)
            rules.append(Rule(selector, Off() if spec is None else Set(spec), (0,), origin=origin))
    for module, why in reading.notes.items():
        for site_role, key in ROLE_SITES.values():
            selector = Selector(module_name=re.escape(module), op_type="linear", role=site_role, key=key)
            rules.append(Rule(selector, Off(), (0,), origin=Origin(config_path=f"vLLM: {why.split(':')[0]}")))
    if config.kv_cache is not None:
        origin = config.kv_cache_origin or Origin(config_path="kv_cache_scheme")
        for module in reading.kv_modules:
            for leaf in KV_NAMES:
                rules.append(Rule(Selector(quantizer_path=f"{_glob_escape(module)}.{leaf}"), Set(config.kv_cache),
                                  (0,), origin=origin))
    return rules


def vllm_notes(config: CompressedTensorsConfig, inv: Inventory, module: str) -> list[str]:
    """vLLM's reading of one HF module, for explain."""
    reading = vllm_reading(config, inv)
    lines = []
    if module in reading.kv_modules:
        lines.append(f"vLLM: kv_cache_scheme quantizes the cached keys and values of {module}'s Attention layer "
                     "(CompressedTensorsKVCacheMethod: every attention layer, no targets, no ignore)")
    entry = reading.layers.get(module)
    if entry is not None:
        shards = f" (fused from {', '.join(_leaf(s) for s in entry.shards)})" if entry.shards else ""
        outcome = " applies" if entry.group is not None else ""
        line = f"vLLM: {module} runs in vLLM layer {entry.layer} ({entry.vllm_class}){shards}: {entry.reason}{outcome}"
        if entry.group is not None and entry.group.output_activations is not None:
            line += "; vLLM does not read output_activations: its output is not quantized"
        lines.append(line)
    elif module in reading.notes:
        lines.append(f"vLLM: {module}: {reading.notes[module]}")
    return lines
