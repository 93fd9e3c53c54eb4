"""docs/semantics.md §5.5: compiled wildcard rules equal the literal loop over entries and quantizers.

Models are generated as ModelOpt-shaped site lists: modules of registry classes (and of a
subclass that inherits or overrides ``forward``, a norm, an attention with ``q/k/v/p_bmm``
aliases) whose op is named after the module (``q_proj.input_quantizer``), ops that are not
(``blk.add.input_quantizer_0``), and module-level sites; each site's ModelOpt name comes from
the inventory's own rule (:func:`qrt.inventory.build.with_modelopt_names`), so the universe a list
may reach varies with the classes drawn. Lists are drawn from globs that hit, miss, cross dots, use ``?`` and
``[kv]``, differ only in case, with ``parent_class`` by registry name or full name, full
replacement ``cfg``s (dicts and stages), ``enable: false`` beside a ``cfg``, and toggles.

For every site the fold of the compiled rules — its enable toggle and its spec mapped back to
ModelOpt attributes in ModelOpt's frame (a ``Conv1D`` weight, run by ``addmm``, is stored
transposed) — must equal the reference loop's state. The built-in models (traced once)
are checked the same way with generated lists.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qrt.frontends.wildcard import WildcardConfig, reference_site_states, wildcard_from_data
from qrt.frontends.wildcard.compile import compile_wildcard
from qrt.frontends.wildcard.spec_map import attributes_for_site
from qrt.inventory.build import with_modelopt_names
from qrt.inventory.model import Inventory, ModuleInfo
from qrt.ir.site import Site
from qrt.resolver.fast import FastResolver
from qrt.resolver.reference import resolve_reference
from tests.frontends.wildcard.test_spec_map import attribute_dicts

LINEAR = "torch.nn.modules.linear.Linear"
CLASSES = {
    "Linear": LINEAR,
    "Conv2d": "torch.nn.modules.conv.Conv2d",
    "Embedding": "torch.nn.modules.sparse.Embedding",
    "LayerNorm": "torch.nn.modules.normalization.LayerNorm",
    "MyLinear": "my.models.MyLinear",
    "RMSNorm": "my.models.RMSNorm",
    "Attention": "my.models.Attention",
    "Block": "my.models.Block",
    "Conv1D": "transformers.pytorch_utils.Conv1D",  # ModelOpt converts it into nn.Linear's class
}
MODULE_NAMES = ["q_proj", "k_proj", "fc1", "lm_head", "norm", "embed", "attn", "blk", "Q_proj"]


@st.composite
def modelopt_sites(draw: st.DrawFn) -> list[Site]:
    out: list[Site] = []
    parents = draw(st.lists(st.sampled_from(["layers.0", "layers.1", "model", ""]), min_size=1, max_size=3, unique=True))
    for parent in parents:
        for name in draw(st.lists(st.sampled_from(MODULE_NAMES), min_size=1, max_size=4, unique=True)):
            module = f"{parent}.{name}" if parent else name
            cls = CLASSES[draw(st.sampled_from(sorted(CLASSES)))]
            inherits = cls == CLASSES["MyLinear"] and draw(st.booleans())  # Linear's forward
            forward_classes = (cls, LINEAR) if inherits else (cls,)
            first = len(out)
            scope = (("", "my.models.Model"), (module, cls)) if module else (("", cls),)
            prefix = f"{module}."
            if cls.endswith("Attention"):
                op = f"{prefix}scaled_dot_product_attention"
                for key, alias in ((0, "q"), (1, "k"), (2, "v")):
                    out.append(Site(f"{op}.input_quantizer_{key}", scope, "input", key, "scaled_dot_product_attention", op,
                                    tensor=f"t{len(out)}", aliases=(f"{prefix}{alias}_bmm_quantizer",)))
                out.append(Site(f"{op}.output_quantizer_p", scope, "output", "p", "scaled_dot_product_attention", op,
                                tensor=f"t{len(out)}", aliases=(f"{prefix}p_bmm_quantizer",)))
            elif draw(st.booleans()) or cls == LINEAR:  # one op named after the module
                # Conv1D runs addmm on its (in, out) weight, which ModelOpt sees transposed
                ops = ["linear", "conv2d", "embedding", "layer_norm"] + (["addmm"] if cls == CLASSES["Conv1D"] else [])
                op_type = draw(st.sampled_from(ops))
                out.append(Site(f"{prefix}input_quantizer", scope, "input", 0, op_type, f"{prefix}{op_type}", tensor=f"t{len(out)}"))
                out.append(Site(f"{prefix}weight_quantizer", scope, "state", "weight", op_type, f"{prefix}{op_type}", tensor=f"t{len(out)}"))
                if draw(st.booleans()):
                    out.append(Site(f"{prefix}bias_quantizer", scope, "state", "bias", op_type, f"{prefix}{op_type}", tensor=f"t{len(out)}"))
                out.append(Site(f"{prefix}output_quantizer", scope, "output", 0, op_type, f"{prefix}{op_type}", tensor=f"t{len(out)}"))
            else:  # several ops: named after themselves
                for op in ("add", "mul_1"):
                    out.append(Site(f"{prefix}{op}.input_quantizer_0", scope, "input", 0, op.split("_")[0], f"{prefix}{op}", tensor=f"t{len(out)}"))
                    out.append(Site(f"{prefix}{op}.weight_quantizer", scope, "state", "weight", op.split("_")[0], f"{prefix}{op}", tensor=f"t{len(out)}"))
            if draw(st.booleans()):
                out.append(Site(f"{prefix}module_input_quantizer_0", scope, "module_input", 0, tensor=f"t{len(out)}"))
            info = ModuleInfo(module, cls, leaf=True, forward_bases=forward_classes[1:])
            out[first:] = with_modelopt_names([info], out[first:])
    seen: set[str] = set()
    unique = []
    for site in out:
        if site.quantizer_path not in seen:
            seen.add(site.quantizer_path)
            unique.append(site)
    return unique


PATTERNS = st.sampled_from(
    [
        "*", "*weight_quantizer", "*input_quantizer", "*output_quantizer", "*[kv]_bmm_quantizer",
        "*p_bmm_quantizer", "*q_bmm_quantizer", "*q_proj*", "*Q_proj*", "layers.?.*", "layers.0.*",
        "*lm_head*", "*.add.*", "*_quantizer_0", "model.fc1.weight_quantizer", "*module_input*",
        "*proj.[io]*", "nothing",
    ]
)
PARENTS = st.none() | st.sampled_from(
    ["nn.Linear", "nn.Conv2d", "nn.Embedding", "nn.LayerNorm", "my.models.MyLinear", LINEAR,
     "transformers.pytorch_utils.Conv1D"]
)


@st.composite
def entries(draw: st.DrawFn) -> dict[str, Any]:
    entry: dict[str, Any] = {"quantizer_name": draw(PATTERNS)}
    parent = draw(PARENTS)
    if parent is not None:
        entry["parent_class"] = parent
    kind = draw(st.sampled_from(["cfg", "stages", "toggle", "cfg_off", "empty_off"]))
    if kind == "cfg":
        entry["cfg"] = draw(attribute_dicts())
    elif kind == "stages":
        entry["cfg"] = draw(st.lists(attribute_dicts(), min_size=1, max_size=2))
    elif kind == "toggle":
        entry["enable"] = draw(st.booleans())
    elif kind == "cfg_off":
        entry["cfg"] = draw(attribute_dicts())
        entry["enable"] = False
    else:
        entry["cfg"] = {}
        entry["enable"] = False
    if kind in ("cfg", "cfg_off") and entry["cfg"] == {}:
        entry["cfg"] = {"num_bits": 4}
    if kind == "stages":
        entry["cfg"] = [stage or {"num_bits": 4} for stage in entry["cfg"]]
    return entry


wildcard_lists = st.lists(entries(), max_size=8).map(wildcard_from_data)


def compiled_states(config: WildcardConfig, sites: list[Site]) -> dict[str, dict[str, Any]]:
    decisions = FastResolver(compile_wildcard(config)).resolve(sites)
    out = {}
    for d in decisions:
        assert d.state.spec is not None, f"{d.site.quantizer_path} has no spec after the leading rules"
        # in ModelOpt's frame, as the literal loop keeps them (a Conv1D weight's axes translated back)
        out[d.site.quantizer_path] = {"enable": d.state.enabled, "attributes": attributes_for_site(d.state.spec, d.site)}
    return out


def literal_states(config: WildcardConfig, sites: list[Site]) -> dict[str, dict[str, Any]]:
    return reference_site_states(config, sites)


@settings(max_examples=300, deadline=None)
@given(modelopt_sites(), wildcard_lists)
def test_compiled_rules_equal_the_literal_loop(sites: list[Site], config: WildcardConfig) -> None:
    assert compiled_states(config, sites) == literal_states(config, sites)


@settings(max_examples=50, deadline=None)
@given(modelopt_sites(), wildcard_lists)
def test_fast_and_reference_resolvers_agree_on_compiled_lists(sites: list[Site], config: WildcardConfig) -> None:
    rules = compile_wildcard(config)
    fast = FastResolver(rules).resolve(sites)
    slow = resolve_reference(rules, sites)
    assert [d.state for d in fast] == [d.state for d in slow]


@cache
def builtin(name: str) -> Inventory:
    from qrt.model_inventory import load_model_inventory

    return load_model_inventory(name)


@pytest.mark.parametrize("model", ["two_add", "cnn", "mha", "tiny_llama"])
@settings(max_examples=20, deadline=None)
@given(config=wildcard_lists)
def test_compiled_rules_equal_the_literal_loop_on_builtin_models(model: str, config: WildcardConfig) -> None:
    sites = list(builtin(model).sites)
    assert compiled_states(config, sites) == literal_states(config, sites)


@pytest.mark.parametrize("target", ["dsl", "quant-cfg", "hierarchical"])
@settings(max_examples=25, deadline=None)
@given(config=wildcard_lists)
def test_generated_lists_convert_to_every_front_end_and_resolve_equal(target: str, config: WildcardConfig) -> None:
    """docs/semantics.md §5.6: a config converted to another front end decides every site the same.
    (``convert`` verifies by itself; this resolves the written text again independently.)"""
    from qrt.api import resolve
    from qrt.errors import QrtError
    from qrt.frontends.dsl import parse_rules
    from qrt.frontends.hierarchical import config_from_yaml_text
    from qrt.frontends.source import WildcardSource
    from qrt.frontends.wildcard import wildcard_from_text
    from qrt.tools.convert import convert

    inv = builtin("tiny_llama")
    source = WildcardSource(config)
    try:
        text = convert(source, target, inv)  # type: ignore[arg-type]
    except QrtError as exc:
        # only a hierarchical config may lack a form: an op-level site quantized on a tensor
        # whose module-level site is quantized too, or one op's outputs keyed by position and
        # by name (sdpa's 0 and "p") both quantized
        assert target == "hierarchical", exc.message
        assert "differently" in exc.message or "all positions or all names" in exc.message, exc.message
        return
    back = {"dsl": parse_rules, "quant-cfg": wildcard_from_text, "hierarchical": config_from_yaml_text}[target](text)
    want = resolve(source, inv)
    got = resolve(back, inv)
    assert [want.spec(d) for d in want.decisions] == [got.spec(d) for d in got.decisions]
