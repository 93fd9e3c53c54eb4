"""A plan → a compressed-tensors ``quantization_config`` (``qrt convert --to
compressed-tensors``), exact or refused with every reason.

compressed-tensors can say, per ``nn.Linear`` / ``nn.Embedding`` module, one spec for its
weight, its input and its output (:mod:`.compile`'s ``ROLE_SITES``); nothing else. So:

* every module's three decisions are written as args (:func:`args_from_spec`, the inverse of
  :func:`~.args.spec_from_args`, checked by mapping back: a spec that does not come back equal
  is refused with the reason);
* modules with the same three decisions form one group, named ``group_0``, ``group_1`` … in
  model order; its targets are the modules' exact names — or ``Linear`` when the group is every
  Linear module of the model — so no ``ignore`` list and no ordering quirk is involved;
* any other quantized site (another op's tensors, a module boundary, a bias, a module of
  another class, the attention's keys and values) has no place in the format: the conversion
  is refused naming them, grouped by module type, op and role.
"""

from __future__ import annotations

from typing import Any

from qrt.frontends.compressed_tensors.args import check_args, spec_from_args
from qrt.frontends.compressed_tensors.compile import ROLE_SITES
from qrt.frontends.compressed_tensors.errors import CompressedTensorsConfigError
from qrt.frontends.compressed_tensors.match import module_views
from qrt.ir.spec import PerBlock, PerChannel, QuantizationSpec

__all__ = ["args_from_spec", "config_from_plan"]

_INTS = {f"int{n}": n for n in range(2, 9)}
_FLOATS = {"float8_e4m3fn": 8, "float4_e2m1fn_x2": 4}
_SCALES = {"float8_e8m0fnu": "torch.uint8", "float8_e4m3fn": "torch.float8_e4m3fn", "float16": "torch.float16",
           "bfloat16": "torch.bfloat16", "float32": "torch.float32"}
_CT_EXTRAS = ("strategy", "block_structure", "dynamic", "observer", "observer_kwargs", "actorder", "zp_dtype")


def _nowhere(path: tuple[Any, ...]) -> None:
    return None


def args_from_spec(spec: QuantizationSpec, role: str) -> tuple[dict[str, Any] | None, list[str]]:
    """compressed-tensors args for ``spec`` on ``role`` (``weights``, ``input_activations``,
    ``output_activations``), and the reasons it has none (empty when exact)."""
    reasons: list[str] = []
    extras = spec.extra_values()
    for name in extras:
        if name not in _CT_EXTRAS:
            reasons.append(f"extra {name!r} is no compressed-tensors argument")
    if spec.then:
        reasons.append("a sequential quantizer (then stages) has no compressed-tensors form")
    args: dict[str, Any] = {}
    if spec.dtype in _INTS:
        args.update(num_bits=_INTS[spec.dtype], type="int")
    elif spec.dtype in _FLOATS:
        args.update(num_bits=_FLOATS[spec.dtype], type="float")
    else:
        reasons.append(f"dtype {spec.dtype}: compressed-tensors has signed integers of 2-8 bits, FP8 E4M3 and FP4")
    args["symmetric"] = spec.qscheme == "symmetric"
    g = spec.granularity
    weights = role == "weights"
    if isinstance(g, PerChannel):
        if weights and g.axis in (0, -2):
            args["strategy"] = "channel"
        else:
            reasons.append(f"per_channel(axis={g.axis}) on {role.replace('_', ' ')}: compressed-tensors scales a "
                           "weight's output rows (axis 0) only")
    elif isinstance(g, PerBlock):
        if g.axis not in ((1, -1) if weights else (-1,)):
            reasons.append(f"per_block(axis={g.axis}): compressed-tensors groups run along the last dimension")
        nvfp4 = spec.dtype == "float4_e2m1fn_x2" and spec.scale_dtype == "float8_e4m3fn"
        args.update(strategy="tensor_group" if nvfp4 else "group", group_size=g.block_size)
    elif "block_structure" in extras:
        args.update(strategy="block", block_structure=extras["block_structure"])
    else:
        args["strategy"] = extras.get("strategy", "tensor")
    if spec.scale_dtype is not None:
        args["scale_dtype"] = _SCALES[spec.scale_dtype]
    if spec.qparam_calculator == "static":
        args["dynamic"] = False if weights else True
    elif spec.qparam_calculator is not None:
        reasons.append(f"qparam_calculator={spec.qparam_calculator}: compressed-tensors' calibration is "
                       "llm-compressor's observers (write them as extras observer=…), not qrt's calculators")
    elif weights:
        reasons.append("qparam_calculator unset on a weight: compressed-tensors computes weight scales from the "
                       "weight itself, qparam_calculator=static")
    if "dynamic" in extras:
        args["dynamic"] = extras["dynamic"]
    for name in ("observer", "observer_kwargs", "actorder", "zp_dtype"):
        if name in extras:
            args[name] = extras[name]
    if spec.range_calculator is not None:
        reasons.append(f"range_calculator={spec.range_calculator}: compressed-tensors names observers, "
                       "not range calculators")
    if spec.fake_quantize is not None:
        reasons.append(f"fake_quantize={spec.fake_quantize}: compressed-tensors has no training settings")
    if reasons:
        return None, reasons
    try:
        back = spec_from_args(check_args(args, role, _nowhere, ()), role, role, _nowhere, ())
    except CompressedTensorsConfigError as exc:
        return None, [exc.message]
    if back != spec:
        return None, [f"it reads back as {back.to_json(explicit_only=True)}, not the same spec"]
    return args, []


def config_from_plan(plan: Any) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """The ``quantization_config`` of a plan's decisions, and ``(quantizer path, reason)`` for
    every decision it cannot hold."""
    inv = plan.inventory
    sites_of: dict[tuple[str, str, str, Any], Any] = {}
    for site in inv.sites:
        sites_of.setdefault((site.module, site.op_type or "", site.role, site.key), site)
    covered: set[str] = set()
    reasons: list[tuple[str, str]] = []
    groups: dict[str, dict[str, Any]] = {}
    members: dict[str, list[str]] = {}
    linears: list[str] = []
    for module in module_views(inv):
        if module.kind is None:
            continue
        if module.kind == "linear":
            linears.append(module.name)
        scheme: dict[str, Any] = {}
        for role, (site_role, key) in ROLE_SITES.items():
            site = sites_of.get((module.name, module.kind, site_role, key))
            if site is None:
                continue
            covered.add(site.quantizer_path)
            spec = plan.spec(plan.decision(site.quantizer_path))
            if spec is None:
                continue
            args, why = args_from_spec(spec, role)
            reasons += [(site.quantizer_path, w) for w in why]
            if args is not None:
                scheme[role] = args
        if scheme:
            key_text = repr(sorted((k, repr(v)) for k, v in scheme.items()))
            groups.setdefault(key_text, scheme)
            members.setdefault(key_text, []).append(module.name)
    for decision in plan.decisions:
        site = decision.site
        if site.quantizer_path not in covered and plan.spec(decision) is not None:
            owner = site.module_type.rpartition(".")[2] or "<root>"
            reasons.append((site.quantizer_path, f"{site.op_type or 'module'} {site.role} in a {owner}: "
                            "compressed-tensors quantizes the weight, input and output of Linear and Embedding "
                            "modules only"))
    config_groups: dict[str, Any] = {}
    all_linears = set(linears)
    for i, (key_text, scheme) in enumerate(groups.items()):
        names = members[key_text]
        targets = ["Linear"] if set(names) == all_linears and len(groups) == 1 else names
        config_groups[f"group_{i}"] = {"targets": targets, **{r: scheme.get(r) for r in ROLE_SITES}}
    return {"config_groups": config_groups, "ignore": [], "quant_method": "compressed-tensors"}, reasons
