"""load_quantized trusts a sealed manifest of this qrt (its quantizers placed from the recorded
placements, no rule parsed or matched, the plan rebuilt from the recorded matches only when
asked) and verifies in full whenever anything does not match: a broken seal, a manifest
without the records, ``verify=True``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from hypothesis import given, settings
from safetensors import safe_open

from qrt.ir.site import Site
from qrt.ir.spec import QuantizationSpec
from qrt.runtime.finalize.files import read_shard, write_shard
from qrt.runtime.finalize.manifest import MANIFEST_NAME, read_manifest_sealed
from qrt.runtime.finalize.load import load_quantized
from qrt.runtime.finalize.placements import placements_from_json, placements_json
from qrt.runtime.quant.fake_quantizer import FakeQuantizer
from qrt.sealed_json import dumps_rows, seal
from tests.ir.test_spec import valid_specs
from tests.runtime.test_saved import calibrated, fresh, is_mapped_from

RULES = (  # a disabled-but-configured set too: the quantizer it places depends on the fold
    "op linear weight -> int4 per_block(32, axis=-1) qparam_calculator=static\n"
    "op linear input[0] -> int8 qparam_calculator=minmax\n"
    "module /model\\.layers\\.1\\..*/ op linear input[0] -> int8 disabled\n"
)


def _decisions(model: torch.nn.Module) -> list[tuple[str, object, tuple[int, ...]]]:
    plan = model._qrt_quantizer.plan  # type: ignore[union-attr]
    return [(d.site.quantizer_path, d.state, tuple(r.order for r in d.matched)) for d in plan.decisions]


def _placed(model: torch.nn.Module) -> dict[str, tuple[object, bool]]:
    state = model._qrt_quantizer.state  # type: ignore[union-attr]
    return {path: (q.spec, q.enabled) for path, q in state.quantizers.items()}


def test_a_sealed_manifest_loads_the_plan_full_verification_would_and_anything_else_is_verified(tmp_path: Path) -> None:
    _, q, inputs, prepared = calibrated(RULES)
    q.finalize(mmap_dir=tmp_path / "m")
    manifest, sealed = read_manifest_sealed(tmp_path / "m")
    assert sealed and manifest["matched"]
    trusted = load_quantized(tmp_path / "m", fresh())
    checked = load_quantized(tmp_path / "m", fresh(), verify=True)
    assert _decisions(trusted) == _decisions(checked)
    assert _placed(trusted) == _placed(checked)
    assert any(not enabled for _, enabled in _placed(trusted).values())  # the disabled set placed its quantizer
    with torch.no_grad():
        torch.testing.assert_close(trusted(*inputs), prepared)

    # anything that does not match resolves again (one saved model for both: calibrating costs)
    path = tmp_path / "m" / MANIFEST_NAME
    manifest = json.loads(path.read_text())
    reference = _decisions(checked)
    # a record that lies, behind a broken seal: ignored, the rules are matched again
    lying = {**manifest, "matched": {p: [0] for p in manifest["matched"]}}
    path.write_text(json.dumps(lying))
    assert not read_manifest_sealed(tmp_path / "m")[1]
    assert _decisions(load_quantized(tmp_path / "m", fresh())) == reference
    # an older qrt's manifest (no record), sealed: resolved too
    older = {k: v for k, v in manifest.items() if k not in ("matched", "placements", "sha256")}
    path.write_text(seal(dumps_rows(older)))
    assert read_manifest_sealed(tmp_path / "m")[1]
    loaded = load_quantized(tmp_path / "m", fresh())
    assert _decisions(loaded) == reference
    with torch.no_grad():
        torch.testing.assert_close(loaded(*inputs), prepared)


def _explicit(value: Any) -> Any:
    """A spec's values with the fields its author wrote, nested values and stages included
    (``==`` on specs compares values only)."""
    if isinstance(value, tuple):
        return tuple(_explicit(v) for v in value)
    if not hasattr(value, "model_fields"):
        return value
    return type(value).__name__, sorted(value.model_fields_set), {n: _explicit(getattr(value, n)) for n in value.model_fields}


def _quantizers(model: torch.nn.Module) -> dict[str, Any]:
    """What each placed quantizer computes with, and where the runtime files it."""
    quantizer = model._qrt_quantizer  # type: ignore[union-attr]
    state = quantizer.state
    paths = {id(q): path for path, q in state.quantizers.items()}
    out: dict[str, Any] = {
        path: (_explicit(q.spec), q.fmt, q.block, q.calculator, q.role, q.shape, q.path, q.enabled,
               q.observer_enabled, q.fake_quant_enabled, q.shared_global is None, len(q.stages),
               q.__dict__["packed"].layout() if "packed" in q.__dict__ else None)
        for path, q in state.quantizers.items()
    }
    out["by_op"] = {op: {k: paths[id(q)] for k, q in qs.items()} for op, qs in state.by_op.items()}
    out["by_module"] = {m: {k: paths[id(q)] for k, q in qs.items()} for m, qs in state.by_module.items()}
    out["by_param"] = sorted(paths[id(q)] for q in state.by_param.values())
    out["runner"] = (sorted(state.runner.active_modules), state.runner.global_mode, len(state.handles))
    out["modules"] = [name for name, _ in model.named_modules(remove_duplicate=False)]
    out["fused_groups"] = quantizer.fused_groups
    return out


def _same_tensors(a: torch.nn.Module, b: torch.nn.Module) -> None:
    sa, sb = a.state_dict(), b.state_dict()
    assert list(sa) == list(sb)
    for name in sa:
        assert sa[name].dtype == sb[name].dtype and torch.equal(sa[name], sb[name]), name
    qa, qb = a._qrt_quantizer.state.quantizers, b._qrt_quantizer.state.quantizers  # type: ignore[union-attr]
    for path, q in qa.items():
        if "packed" in q.__dict__:
            ta, tb = q.__dict__["packed"].tensors(), qb[path].__dict__["packed"].tensors()
            assert list(ta) == list(tb) and all(torch.equal(ta[k], tb[k]) for k in ta), path


def test_a_trusted_load_places_from_the_record_exactly_what_verification_places(tmp_path: Path) -> None:
    _, q, inputs, prepared = calibrated(RULES)
    q.finalize(mmap_dir=tmp_path / "m")
    trusted = load_quantized(tmp_path / "m", fresh())
    state = trusted._qrt_quantizer.state  # type: ignore[union-attr]
    # placed without the plan: no inventory read, no rule parsed or matched, no rule source made
    assert state.saved_plan is not None and state._plan is None and state._inventory is None
    assert not {"_plan", "_inventory", "_config", "_source"} & set(vars(trusted._qrt_quantizer))
    checked = load_quantized(tmp_path / "m", fresh(), verify=True)
    assert checked._qrt_quantizer.state.saved_plan is None  # type: ignore[union-attr]
    assert _quantizers(trusted) == _quantizers(checked)
    assert any(not q.enabled for q in state.quantizers.values())  # the disabled set placed its quantizer
    _same_tensors(trusted, checked)
    with torch.no_grad():
        out_trusted, out_checked = trusted(*inputs), checked(*inputs)
    assert torch.equal(out_trusted, out_checked)
    torch.testing.assert_close(out_trusted, prepared)
    # the plan, rebuilt when asked: the one verification resolved, shared by quantizer and state
    assert _decisions(trusted) == _decisions(checked)
    assert state.plan is trusted._qrt_quantizer.plan and state.inventory is state.plan.inventory  # type: ignore[union-attr]
    assert trusted._qrt_quantizer.config is state.plan.rules  # type: ignore[union-attr]
    assert type(trusted._qrt_quantizer.source) is type(checked._qrt_quantizer.source)  # type: ignore[union-attr]
    assert state.inventory.sites == checked._qrt_quantizer.inventory.sites  # type: ignore[union-attr]

    # an edited manifest breaks the seal: its placements are not read, the plan is resolved and checked
    path = tmp_path / "m" / MANIFEST_NAME
    text = path.read_text()
    lines = text.split("\n")
    at = next(i for i, line in enumerate(lines) if line.startswith('"placements": '))
    assert '"version":1' in lines[at] and ",true]" in lines[at]
    lines[at] = lines[at].replace(",true]", ",false]")  # every quantizer switched off
    path.write_text("\n".join(lines))
    assert not read_manifest_sealed(tmp_path / "m")[1]
    edited = load_quantized(tmp_path / "m", fresh())
    assert edited._qrt_quantizer.state.saved_plan is None  # type: ignore[union-attr]
    assert _quantizers(edited) == _quantizers(checked)
    # sealed again in the writer's layout, with a record of another version: placed from the plan
    manifest = json.loads(text)
    manifest["placements"]["version"] = 99
    body = [f"{json.dumps(k)}: {json.dumps(v, separators=(',', ':'))}" for k, v in manifest.items() if k != "sha256"]
    path.write_text(seal("{\n" + ",\n".join(body) + "\n}\n"))
    assert read_manifest_sealed(tmp_path / "m")[1]
    other = load_quantized(tmp_path / "m", fresh())
    assert other._qrt_quantizer.state.saved_plan is None  # type: ignore[union-attr]
    assert _quantizers(other) == _quantizers(checked)
    with torch.no_grad():
        assert torch.equal(other(*inputs), out_checked)


_SITE = Site("model.layers.0.mlp.down_proj.weight_quantizer", (("", "Llama"), ("model.layers.0.mlp.down_proj", "torch.nn.Linear")),
             "state", "weight", op_type="linear", op_name="model.layers.0.mlp.down_proj.linear", tensor="param:w",
             shape=(64, 128), dtype="float32", aliases=("a.b",), modelopt_name="down_proj.weight_quantizer")


@settings(max_examples=60, deadline=None)
@given(valid_specs())
def test_placements_read_back_every_site_and_spec_as_written(spec: QuantizationSpec) -> None:
    planned = [(_SITE, spec, True), (Site("x.input_quantizer", (), "input", 0), spec, False)]
    record = placements_json(planned)
    assert record is not None  # a spec that would not read back writes no record (the load then uses the plan)
    back = placements_from_json(json.loads(json.dumps(record)))
    assert back is not None and len(back) == 2
    for (site, s, enabled), (site2, s2, enabled2) in zip(planned, back):
        assert site2 == site and enabled2 is enabled and _explicit(s2) == _explicit(s)
    assert placements_from_json({**record, "version": 2}) is None
    assert placements_from_json({**record, "site_fields": record["site_fields"][:-1]}) is None
    assert placements_from_json({**record, "specs": [{"granularity": {}}]}) is None  # malformed: not placed from


def test_shards_map_as_safetensors_maps_them(tmp_path: Path) -> None:
    tensors = {
        "bf16": torch.randn(3, 5).to(torch.bfloat16), "f32": torch.randn(7), "i8": torch.randint(-8, 8, (2, 3), dtype=torch.int8),
        "u8": torch.randint(0, 255, (9,), dtype=torch.uint8), "flag": torch.tensor([True, False]), "i64": torch.arange(3),
        "fp8": torch.randn(4).to(torch.float8_e4m3fn), "scalar": torch.tensor(2.5), "empty": torch.empty(0, 4),
        "f64": torch.randn(2, dtype=torch.float64), "e8m0": torch.full((4,), 2.0).to(torch.float8_e8m0fnu),
    }
    path = tmp_path / "s.safetensors"
    record = write_shard(path, tensors)
    mapped = read_shard(path, record)
    with safe_open(str(path), framework="pt", device="cpu") as f:
        peer = {name: f.get_tensor(name) for name in f.keys()}  # noqa: SIM118
    assert sorted(mapped) == sorted(tensors)
    for name, t in mapped.items():
        want = peer[name].view(torch.float8_e8m0fnu) if name == "e8m0" else peer[name]
        assert t.dtype == want.dtype and t.shape == want.shape and t.stride() == want.stride()
        assert torch.equal(t.flatten().view(torch.uint8), want.flatten().view(torch.uint8))  # the same bytes
        assert t.untyped_storage().nbytes() == want.untyped_storage().nbytes()  # a storage of its own
        assert t.numel() == 0 or is_mapped_from(t, path)


def test_a_buffer_registration_hook_sees_a_quantizers_buffers() -> None:
    seen: list[str] = []
    handle = torch.nn.modules.module.register_module_buffer_registration_hook(lambda m, name, t: seen.append(name))
    try:
        FakeQuantizer(QuantizationSpec(), (4, 4), role="state", path="w")
    finally:
        handle.remove()
    assert seen == ["min_val", "max_val", "scale", "zero_point"]
