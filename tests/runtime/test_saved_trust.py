"""load_quantized trusts a sealed manifest of this qrt (each decision folded from its recorded
rules, no rule matched again) and verifies in full whenever anything does not match: a broken
seal, a manifest without the record, ``verify=True``."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from qrt.runtime.finalize.manifest import MANIFEST_NAME, read_manifest_sealed
from qrt.runtime.finalize.load import load_quantized
from qrt.sealed_json import dumps_rows, seal
from tests.runtime.test_saved import calibrated, fresh

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
    older = {k: v for k, v in manifest.items() if k not in ("matched", "sha256")}
    path.write_text(seal(dumps_rows(older)))
    assert read_manifest_sealed(tmp_path / "m")[1]
    loaded = load_quantized(tmp_path / "m", fresh())
    assert _decisions(loaded) == reference
    with torch.no_grad():
        torch.testing.assert_close(loaded(*inputs), prepared)
