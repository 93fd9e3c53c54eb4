"""The compiled-rules cache (qrt/frontends/rules_cache.py): a command's second reading of a DSL
file or a ModelOpt list gives the same rules without its parser, an edited include or a damaged
or planted entry is a miss, ``--no-cache`` neither reads nor writes, and a library call is not
cached."""

from __future__ import annotations

import pickle
import subprocess
import sys
from pathlib import Path

from qrt.frontends import rules_cache
from qrt.frontends.cached_source import CachedWildcardSource, cached_rule_source
from qrt.frontends.dsl import parse_rules
from qrt.frontends.source import load_rule_source
from qrt.inventory.cache import cache_info
from qrt.model_inventory import load_model_inventory
from tests.conftest import ROOT, run_qrt


def _rules_entries(cache: Path) -> list[Path]:
    return sorted((cache / "rules").glob("*.qrules"))


def _files(tmp_path: Path) -> tuple[Path, Path]:
    shared = tmp_path / "shared.qrt"
    shared.write_text("spec w4 = int4 per_channel\n")
    main = tmp_path / "main.qrt"
    main.write_text('include "shared.qrt"\nop linear weight -> w4\nop linear input -> int8 per_tensor\n')
    return main, shared


def test_a_second_reading_comes_from_the_cache_and_an_edited_include_misses(
    tmp_path: Path, _private_inventory_cache: Path
) -> None:
    main, shared = _files(tmp_path)
    text = main.read_text()
    fresh = parse_rules(text, file=str(main))
    assert _rules_entries(_private_inventory_cache) == []  # a library call: not cached
    with rules_cache.using(True):
        assert parse_rules(text, file=str(main)) == fresh
        [entry] = _rules_entries(_private_inventory_cache)
        assert parse_rules(text, file=str(main)) == fresh
        shared.write_text("spec w4 = int4 per_block(32)\n")  # the include changed: a miss
        edited = parse_rules(text, file=str(main))
        assert edited != fresh and edited == parse_rules(text, file=str(main), base_dir=tmp_path)
        entry.write_bytes(entry.read_bytes()[:-5])  # damaged: a miss, rewritten
        assert parse_rules(text, file=str(main)) == edited
    assert not rules_cache.active()
    assert cache_info()["rules"]["entries"] == 1  # one file, one entry: rewritten each time


def test_a_planted_entry_runs_nothing(tmp_path: Path, _private_inventory_cache: Path) -> None:
    main, _ = _files(tmp_path)
    text = main.read_text()
    with rules_cache.using(True):
        parse_rules(text, file=str(main))
        [entry] = _rules_entries(_private_inventory_cache)
        data = entry.read_bytes()
        import hashlib
        import marshal

        mark = tmp_path / "ran"

        class Evil:
            def __reduce__(self):  # type: ignore[no-untyped-def]
                return (Path.touch, (mark,))

        body = marshal.dumps((rules_cache.CACHE_FORMAT, (), pickle.dumps(Evil(), protocol=5)), 4)
        magic = data[: data.index(b"\n") + 1]
        entry.write_bytes(magic + hashlib.sha256(body).hexdigest().encode() + b"\n" + body)  # a valid seal
        assert parse_rules(text, file=str(main)) == parse_rules(text, file=str(main), base_dir=tmp_path)
    assert not mark.exists()


def _same_source_as_the_front_end() -> None:
    inv = load_model_inventory("mha", cache=True)  # traced by the command before
    real = load_rule_source("modelopt:NVFP4_DEFAULT_CFG")
    with rules_cache.using(True):
        first = cached_rule_source("modelopt:NVFP4_DEFAULT_CFG")  # a miss: the front end's
        cached = cached_rule_source("modelopt:NVFP4_DEFAULT_CFG")
    assert type(first) is type(real) and type(cached) is not type(real)
    assert cached.label == real.label and cached.rules_for(inv) == real.rules_for(inv)
    sites = inv.sites
    assert [cached.notes(s, inv) for s in sites] == [real.notes(s, inv) for s in sites]
    assert cached.config == real.config  # read by the front end when asked for


def test_commands_fill_it_the_source_is_the_front_ends_and_no_cache_neither_reads_nor_writes(tmp_path: Path, _private_inventory_cache: Path) -> None:
    rules = str(ROOT / "rules" / "w8a8.qrt")
    assert run_qrt("lint", rules, "--no-cache").returncode == 0
    assert _rules_entries(_private_inventory_cache) == []
    first = run_qrt("explain", "modelopt:INT8_DEFAULT_CFG", "--model", "mha", "*_quantizer")
    assert first.returncode == 0 and len(_rules_entries(_private_inventory_cache)) == 1
    _same_source_as_the_front_end()
    assert run_qrt("lint", rules).returncode == 0 and len(_rules_entries(_private_inventory_cache)) == 3
    entries = _rules_entries(_private_inventory_cache)
    code = (
        "import sys\n"
        "from qrt.cli.main import main\n"
        f"lint = main(['lint', {rules!r}])\n"
        "parser = 'lark' in sys.modules\n"
        "explain = main(['explain', 'modelopt:INT8_DEFAULT_CFG', '--model', 'mha', '*_quantizer'])\n"
        "print(lint, explain, parser)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == "0 0 False", done.stdout[-300:]  # lint imported no parser
    assert _rules_entries(_private_inventory_cache) == entries  # both read, nothing written
    assert first.stdout in done.stdout  # and the same explanation


def test_a_cached_source_pickles(_private_inventory_cache: Path) -> None:
    with rules_cache.using(True):
        cached_rule_source("modelopt:INT8_WEIGHT_ONLY_CFG")
        cached = cached_rule_source("modelopt:INT8_WEIGHT_ONLY_CFG")
    assert isinstance(cached, CachedWildcardSource)
    back = pickle.loads(pickle.dumps(cached))
    assert back.rules_for(None) == cached.rules_for(None) and back.label == cached.label
