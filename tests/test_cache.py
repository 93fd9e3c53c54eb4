"""The inventory cache (qrt/inventory/cache.py, `qrt cache`, `--no-cache`): a second command on
the same model reads the trace back (no build, no torch), anything that changes the trace
misses, a damaged entry is a miss that is rewritten, and the cache stays in its bound."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from qrt.inventory.cache import cache_info, inventory_key, load_cached, store_cached
from qrt.inventory.io import dumps_inventory
from qrt.model_inventory import load_model_inventory
from qrt.model_spec import parse_model_spec
from tests.conftest import ROOT, marking_factory, run_qrt

TINY_LLAMA = {
    "model_type": "llama", "architectures": ["LlamaForCausalLM"], "vocab_size": 64, "hidden_size": 32,
    "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
}


def _entries(cache: Path) -> list[Path]:
    return sorted((cache / "inventories").glob("*.qinv"))


def test_a_second_command_reads_the_trace_back_and_no_cache_traces_again(
    tmp_path: Path, _private_inventory_cache: Path
) -> None:
    factory, mark = marking_factory(tmp_path)
    spec = f"{factory}:make"
    first = run_qrt("inspect", "--model", spec, "--format", "json")
    assert first.returncode == 0, first.stderr
    assert mark.exists()
    mark.unlink()
    second = run_qrt("inspect", "--model", spec, "--format", "json")
    assert second.stdout == first.stdout
    assert not mark.exists(), "the model was built again: the cached inventory was not used"
    again = run_qrt("inspect", "--model", spec, "--format", "json", "--no-cache")
    assert again.stdout == first.stdout and mark.exists()
    entries = _entries(_private_inventory_cache)
    assert run_qrt("inspect", "--model", spec, "--input-shape", "3,4", "--no-cache").returncode == 0
    assert _entries(_private_inventory_cache) == entries  # --no-cache writes nothing either


def test_what_changes_the_trace_changes_the_key(tmp_path: Path) -> None:
    factory, _ = marking_factory(tmp_path)
    spec = parse_model_spec(f"{factory}:make")
    base = inventory_key(spec)
    assert base is not None and inventory_key(spec) == base
    assert inventory_key(spec, input_shapes=[(3, 4)]) != base
    assert inventory_key(spec, seed=1) != base
    assert inventory_key(spec, dtype="bfloat16") != base
    factory.write_text(factory.read_text() + "\n# edited\n")
    assert inventory_key(spec) != base
    config = tmp_path / "hf"
    config.mkdir()
    (config / "config.json").write_text(json.dumps(TINY_LLAMA))
    hf = parse_model_spec(str(config))
    meta = inventory_key(hf)
    assert inventory_key(hf, seed=5) == meta, "nothing random is drawn on meta: the seed is no part of the key"
    (config / "model.safetensors").write_bytes(b"")  # weights beside the config decide its dtype
    assert inventory_key(hf) != meta
    (config / "config.json").write_text(json.dumps({**TINY_LLAMA, "num_hidden_layers": 3}))
    assert inventory_key(hf) not in (meta, None)
    assert inventory_key(parse_model_spec("no_such_package_qrt.models:make")) is None  # not readable unrun


def test_a_damaged_entry_is_a_miss_and_is_rewritten(tmp_path: Path, _private_inventory_cache: Path) -> None:
    assert run_qrt("inspect", "--model", "two_add").returncode == 0
    [entry] = _entries(_private_inventory_cache)
    whole = entry.read_bytes()
    flipped = bytearray(whole)
    flipped[-5] ^= 1  # one bit of the rows: the seal no longer holds
    for damaged in (whole[: len(whole) // 2], bytes(flipped), whole.replace(b"add", b"mul", 1), b"", b"\x00garbage"):
        entry.write_bytes(damaged)
        assert load_cached(entry.stem) is None
        result = run_qrt("inspect", "--model", "two_add", "--format", "json")
        assert result.returncode == 0, result.stderr
        assert entry.read_bytes() == whole


def test_an_entry_reads_back_as_the_traced_inventory(_private_inventory_cache: Path) -> None:
    """Equal tables, ModelOpt names, digest and JSON text, its ops and tensors built on first use."""
    traced = load_model_inventory("tiny_llama")
    assert store_cached("1" * 64, traced, spec="tiny_llama")
    read = load_cached("1" * 64)
    assert read is not None and (read.op_names, read.op_types) == (traced.op_names, traced.op_types)
    assert "ops" not in vars(read)  # not built until read (the names and types come from the rows)
    assert read.sites == traced.sites and [s.modelopt_name for s in read.sites] == [s.modelopt_name for s in traced.sites]
    assert read == traced and read.sha256 == traced.sha256
    assert dumps_inventory(read) == dumps_inventory(traced)


def test_concurrent_writers_leave_a_whole_entry(tmp_path: Path, _private_inventory_cache: Path) -> None:
    inv = load_model_inventory("two_add")
    key = "0" * 64
    errors: list[BaseException] = []

    def work() -> None:
        try:
            for _ in range(5):
                store_cached(key, inv, spec="two_add")
                found = load_cached(key)
                assert found is None or found == inv
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert load_cached(key) == inv
    assert [p.name for p in (_private_inventory_cache / "inventories").iterdir() if p.suffix == ".tmp"] == []


def test_the_cache_keeps_to_its_bound(monkeypatch: pytest.MonkeyPatch, _private_inventory_cache: Path) -> None:
    inv = load_model_inventory("two_add")
    assert store_cached("e" * 64, inv, spec="two_add")
    [entry] = _entries(_private_inventory_cache)
    size = entry.stat().st_size
    monkeypatch.setenv("QRT_CACHE_MAX_BYTES", str(2 * size + 10))
    for i in range(4):
        assert store_cached(f"{i:064d}", inv, spec="two_add")
    kept = [p.stem for p in _entries(_private_inventory_cache)]
    assert kept == [f"{2:064d}", f"{3:064d}"]  # the least recently used went first ("e"*64 too)
    monkeypatch.setenv("QRT_CACHE_MAX_BYTES", str(size // 2))
    assert not store_cached("f" * 64, inv, spec="two_add")  # larger than the whole cache


def test_cache_info_and_clear(_private_inventory_cache: Path) -> None:
    assert run_qrt("inspect", "--model", "two_add").returncode == 0
    info = run_qrt("cache", "info", "--format", "json")
    data = json.loads(info.stdout)
    assert data["directory"] == str(_private_inventory_cache)
    [entry] = data["entries"]
    assert entry["spec"] == "two_add" and entry["sites"] == len(load_model_inventory("two_add").sites)
    assert "two_add" in run_qrt("cache", "info").stdout
    cleared = json.loads(run_qrt("cache", "clear", "--format", "json").stdout)
    assert cleared["removed"] == 1 and cleared["bytes"] > 0
    assert cache_info()["entries"] == [] and _entries(_private_inventory_cache) == []


def test_commands_on_a_cached_model_import_neither_torch_nor_transformers(tmp_path: Path) -> None:
    pytest.importorskip("transformers")
    (tmp_path / "config.json").write_text(json.dumps(TINY_LLAMA))
    model = str(tmp_path)
    rules = str(ROOT / "rules" / "w8a8.qrt")
    assert run_qrt("inspect", "--model", model).returncode == 0  # traces, and fills the cache
    calls = [
        ["explain", rules, "--model", model, "lm_head.*"],
        ["lint", rules, "--model", model],
        ["resolve", rules, "--model", model, "-o", str(tmp_path / "plan.json")],
        ["diff", rules, str(ROOT / "rules" / "w4a16.qrt"), "--model", model],
        ["lock", rules, "--model", model, "-o", str(tmp_path / "w8a8.lock")],
        ["inspect", "--model", model],
    ]
    code = (
        "import sys\n"
        "from qrt.cli.main import main\n"
        f"codes = [main(argv) for argv in {calls!r}]\n"
        "heavy = sorted(m for m in ('torch', 'transformers') if m in sys.modules)\n"
        "print(codes, heavy)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "[0, 1, 0, 1, 0, 0] []"  # lint finds, diff differs


def test_explaining_a_cached_inventory_builds_only_the_sites_asked_for(_private_inventory_cache: Path) -> None:
    """While the sites are rows, ``find`` and ``site_by_path`` build only their matches, equal to
    what the built table holds; explain then decides those alone (no table of every site)."""
    from qrt.api import explain
    from qrt.frontends.source import load_rule_source
    from qrt.tools.explain_query import resolve_for_queries

    traced = load_model_inventory("tiny_llama")
    assert store_cached("2" * 64, traced, spec="tiny_llama")
    read = load_cached("2" * 64)
    assert read is not None
    queries = ["model.layers.0.mlp.down_proj.weight_quantizer", "lm_head", "model.layers.1.self_attn.q_proj.linear",
               "lm_head.weight_quantizer"]
    for query in queries:
        assert read.find(query) == traced.find(query), query
    assert read.site_by_path("lm_head.weight_quantizer") == traced.site_by_path("lm_head.weight_quantizer") is not None
    assert read.site_by_path("no.such_quantizer") is None
    source = load_rule_source("modelopt:NVFP4_DEFAULT_CFG")
    named = [queries[0], queries[3]]  # quantizer paths (a glob or a module's name reads every site)
    ours = explain(resolve_for_queries(source, read), queries=named)  # as `qrt explain` does
    assert "sites" not in vars(read)  # decided from the rows it named
    assert ours == explain(source, traced, named)
    assert read.sites == traced.sites  # and the whole table, once something reads it
