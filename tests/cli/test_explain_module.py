"""``qrt explain RULES --model M MODULE``: a module's name lists what that module runs, with
each site's decision (issue 16, item 5) — not only its boundary sites, which most configs
leave off."""

from __future__ import annotations

import json

from tests.conftest import ROOT, run_qrt

W8A8 = str(ROOT / "rules" / "w8a8.qrt")
Q_PROJ = "model.layers.0.self_attn.q_proj"


def test_a_module_name_lists_its_ops_sites_with_their_decisions() -> None:
    done = run_qrt("explain", W8A8, "--model", "tiny_llama", Q_PROJ)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert out.startswith(f"{Q_PROJ} is a module (Linear): 6 site(s) of its own ops and boundary, 2 quantized\n")
    weight = out.split(f"{Q_PROJ}.weight_quantizer  {Q_PROJ}.linear:state[weight]\n", 1)[1].split("\n\n", 1)[0]
    assert "=> int8 symmetric per_channel axis=0" in weight
    as_json = json.loads(run_qrt("explain", W8A8, "--model", "tiny_llama", Q_PROJ, "--format", "json").stdout)
    paths = [s["quantizer_path"] for s in as_json["sites"]]
    assert paths[:3] == [f"{Q_PROJ}.input_quantizer", f"{Q_PROJ}.weight_quantizer", f"{Q_PROJ}.output_quantizer"]
    assert len(paths) == 6


def test_a_container_module_points_to_its_submodules_and_globs_still_work() -> None:
    done = run_qrt("explain", W8A8, "--model", "tiny_llama", "model.layers.0.self_attn")
    assert done.returncode == 0, done.stderr
    assert "(its submodules' sites: query 'model.layers.0.self_attn.*')" in done.stdout
    glob = run_qrt("explain", W8A8, "--model", "tiny_llama", f"{Q_PROJ}.*_quantizer")
    assert glob.returncode == 0 and "is a module" not in glob.stdout and f"{Q_PROJ}.weight_quantizer" in glob.stdout


def test_the_python_api_reads_a_module_name_as_the_command_does() -> None:
    import qrt

    explained = qrt.explain(qrt.load_rules(W8A8), "tiny_llama", queries=[Q_PROJ])
    paths = [ex.site.quantizer_path for ex in explained]
    assert paths[:3] == [f"{Q_PROJ}.input_quantizer", f"{Q_PROJ}.weight_quantizer", f"{Q_PROJ}.output_quantizer"]
    assert len(paths) == 6
    assert explained[1].final is not None
