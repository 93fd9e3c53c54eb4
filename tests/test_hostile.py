"""Hostile input (issue 19): every reader bounded, every failure a clean, located error.

Each hostile file is tried through every door that reads its kind: ``qrt lint``, ``qrt
resolve``, ``qrt explain`` and the Python API for rule files; ``--model`` for inventories and
config.json files; ``qrt lock --check`` and ``qrt diff`` for lock and plan files. A door passes
when it exits 2 with one message naming the file (and the line where there is one), without
"Traceback" or "internal error". No test has a timeout: a hostile input that would hang
(``/dev/zero``, a FIFO, an alias bomb, an include chain that doubles) must be stopped by a
cap in qrt, and the suite's running time is the check that it is.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

import qrt
from qrt.errors import QrtError
from qrt.inventory.io import load_inventory_file, save_inventory
from tests.conftest import run_qrt

Make = Callable[[Path], Path]
"""Writes a hostile file into a folder; returns the path to give qrt."""

RULE = "op linear weight -> int8\n"
LAUGHS = '["lol","lol","lol","lol","lol","lol","lol","lol","lol"]'


def _bytes(name: str, data: bytes) -> Make:
    def make(folder: Path) -> Path:
        path = folder / name
        path.write_bytes(data)
        return path

    return make


def _text(name: str, text: str) -> Make:
    return _bytes(name, text.encode("utf-8"))


def _link_to(name: str, target: str) -> Make:
    def make(folder: Path) -> Path:
        path = folder / name
        path.symlink_to(target)
        return path

    return make


def _fifo(name: str) -> Make:
    def make(folder: Path) -> Path:
        path = folder / name
        os.mkfifo(path)
        return path

    return make


def _includes(main: Make, files: dict[str, str], *, link: str | None = None) -> Make:
    def make(folder: Path) -> Path:
        if link is not None:
            (folder / link).symlink_to("/dev/zero")
        for name, text in files.items():
            (folder / name).write_text(text, encoding="utf-8")
        return main(folder)

    return make


def _bomb(list_form: bool) -> str:
    """A "billion laughs": nine anchors of nine aliases each, 10^9 nodes expanded, < 1 KB."""
    lead = "- " if list_form else ""
    lines, previous = [f"{lead}{'' if list_form else 'a: '}&a {LAUGHS}"], "a"
    for name in "bcdefghi":
        key = "" if list_form else f"{name}: "
        lines.append(f"{lead}{key}&{name} [" + ",".join([f"*{previous}"] * 9) + "]")
        previous = name
    return "\n".join(lines) + "\n"


CHAIN = {f"c{i}.qrt": f'include "c{i + 1}.qrt"\n' for i in range(1200)}
DOUBLING = {f"d{i}.qrt": f'include "d{i + 1}.qrt"\ninclude "d{i + 1}.qrt"\n' for i in range(24)}
DOUBLING["d24.qrt"] = RULE
DEEP = 10_000

# (id, file maker, a phrase the message must hold, the line named or None)
RULE_FILES: list[tuple[str, Make, str, int | None]] = [
    # -- unbounded reads: only regular files are read --------------------------------------
    ("dsl-dev-zero", _link_to("rules.qrt", "/dev/zero"), "character device", None),
    ("yaml-dev-zero", _link_to("rules.yaml", "/dev/zero"), "character device", None),
    ("dsl-fifo", _fifo("rules.qrt"), "named pipe", None),
    ("yaml-fifo", _fifo("rules.yaml"), "named pipe", None),
    ("include-dev-zero", _includes(_text("main.qrt", 'include "zero.qrt"\n'), {}, link="zero.qrt"), "character device", 1),
    # -- binary and non-UTF-8 files: refused at the byte ------------------------------------
    ("dsl-latin1", _bytes("rules.qrt", b"op linear weight -> int8\n# caf\xe9\n"), "byte offset 30", 2),
    ("yaml-binary", _bytes("rules.yaml", b"quantization_config: {}\nPNG\x00\x00"), "NUL byte", 2),
    ("json-utf16", _bytes("rules.json", '[{"quantizer_name": "*"}]'.encode("utf-16")), "byte 0xff", 1),
    # -- include chains: capped in depth and in count ----------------------------------------
    ("include-chain-1200", _includes(lambda f: f / "c0.qrt", CHAIN), "nested more than 32 files deep", 1),
    ("include-doubling-2^24", _includes(lambda f: f / "d0.qrt", DOUBLING), "more than 1000 files included", 1),
    # -- YAML and JSON bombs, depth, control characters, huge numbers ------------------------
    ("yaml-alias-bomb", _text("rules.yaml", "quantization_config: {}\n" + _bomb(False)), "alias 'bomb'", 8),
    ("modelopt-alias-bomb", _text("quant_cfg.yaml", _bomb(True)), "alias 'bomb'", 7),
    ("yaml-10000-deep", _text("rules.yaml", "quantization_config: " + "[" * DEEP + "]" * DEEP + "\n"), "nested more than 100", 1),
    ("modelopt-10000-deep", _text("quant_cfg.yaml", "- " + "[" * DEEP + "]" * DEEP + "\n"), "nested more than 100", 1),
    ("modelopt-json-1200-deep", _text("quant_cfg.json", "[" * 1200 + "]" * 1200), "nested more than 100", None),
    ("yaml-nul", _text("rules.yaml", "quantization_config:\n  global_config: \0\n"), "NUL byte", 2),
    ("yaml-esc", _text("rules.yaml", "quantization_config:\n  global_config: \x1b\n"), "control character #x1b", 2),
    ("modelopt-esc", _text("quant_cfg.yaml", "- quantizer_name: '*'\n  cfg: \x1b\n"), "control character #x1b", 2),
    ("yaml-5000-digits", _text("rules.yaml", "quantization_config:\n  x: " + "9" * 5000 + "\n"), "4300 digits", 2),
    ("modelopt-5000-digits", _text("quant_cfg.yaml", "- quantizer_name: '*'\n  cfg: {num_bits: " + "7" * 5000 + "}\n"), "4300 digits", 2),
    ("modelopt-json-5000-digits", _text("quant_cfg.json", '[{"quantizer_name": "*", "cfg": {"num_bits": ' + "7" * 5000 + "}}]"), "4300 digits", 1),
    ("dsl-5000-digits", _text("rules.qrt", "op linear weight -> int8 priority " + "9" * 5000 + "\n"), "5000 digits", 1),
    ("dsl-lone-surrogate", _text("rules.qrt", 'quantizer "*\\ud800*" -> int8\n'), "surrogate", 1),
    ("yaml-lone-surrogate", _text("rules.yaml", 'quantization_config:\n  module_name_configs:\n    "\\ud800": null\n'), "surrogate", 3),
    ("modelopt-lone-surrogate", _text("quant_cfg.yaml", '- quantizer_name: "*\\udfff*"\n  enable: false\n'), "surrogate", 1),
    ("modelopt-json-lone-surrogate", _text("quant_cfg.json", '[{"quantizer_name": "*\\ud800*", "enable": false}]'), "surrogate", 1),
    # -- a regex Python's parser cannot walk: 5,000 nested groups ----------------------------
    ("dsl-5000-nested-groups", _text("rules.qrt", "module /" + "(" * 5000 + "a" + ")" * 5000 + "/ -> off\n"), "nested too deep", 1),
]


@pytest.fixture(scope="module")
def inventory(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A saved inventory of the built-in two_add model: lint, resolve and explain read it
    without building a model."""
    from qrt.model_inventory import load_model_inventory

    path = tmp_path_factory.mktemp("inv") / "two_add.json"
    save_inventory(load_model_inventory("two_add"), path)
    return path


def _assert_clean(done, path: Path, phrase: str, line: int | None) -> None:  # type: ignore[no-untyped-def]
    said = done.stdout + done.stderr
    assert done.returncode == 2, said
    assert "Traceback" not in said and "internal error" not in said, said
    assert path.name in said, said
    assert phrase in said, said
    if line is not None:
        assert f":{line}:" in said, said


DOORS = ["lint", "resolve", "explain", "api"]


@pytest.mark.parametrize("door", DOORS)
@pytest.mark.parametrize(("make", "phrase", "line"), [c[1:] for c in RULE_FILES], ids=[c[0] for c in RULE_FILES])
def test_a_hostile_rule_file_is_a_clean_error_at_every_door(
    tmp_path: Path, inventory: Path, make: Make, phrase: str, line: int | None, door: str
) -> None:
    path = make(tmp_path)
    if door == "api":
        with pytest.raises(QrtError) as caught:
            qrt.resolve(str(path), load_inventory_file(inventory))
        said = str(caught.value)
        assert path.name in said and phrase in said, said
        if line is not None:
            assert f":{line}:" in said, said
        return
    args = {
        "lint": ["lint", str(path), "--model", str(inventory)],
        "resolve": ["resolve", str(path), "--model", str(inventory)],
        "explain": ["explain", str(path), "--model", str(inventory), "linear"],
    }[door]
    _assert_clean(run_qrt(*args, cwd=tmp_path), path, phrase, line)


def test_load_rules_refuses_a_dev_zero_include_and_a_surrogate(tmp_path: Path) -> None:
    """``qrt.load_rules`` (the DSL's own door) goes through the same reader and checks."""
    (tmp_path / "zero.qrt").symlink_to("/dev/zero")
    (tmp_path / "main.qrt").write_text('include "zero.qrt"\n')
    with pytest.raises(QrtError, match="character device"):
        qrt.load_rules(tmp_path / "main.qrt")
    with pytest.raises(QrtError, match="surrogate"):
        qrt.parse_rules('quantizer "\\udc00" -> int8\n')


def _inventory_with(inventory: Path, key: str, value: str) -> Make:
    """The saved inventory, unsealed, with ``"key": value`` added to its model record."""

    def make(folder: Path) -> Path:
        lines = inventory.read_text(encoding="utf-8").splitlines()
        body = [line for line in lines if not line.startswith(' "sha256"')]
        text = "\n".join(body).replace('"model": {', f'"model": {{"{key}": {value}, ', 1)
        path = folder / "inventory.json"
        path.write_text(text, encoding="utf-8")
        return path

    return make


def _model_files(inventory: Path) -> list[tuple[str, Make, str, int | None]]:
    return [
        ("dev-zero", _link_to("model.json", "/dev/zero"), "character device", None),
        ("fifo", _fifo("model.json"), "named pipe", None),
        ("hf-dev-zero", _link_to("config.json", "/dev/zero"), "character device", None),
        ("latin1", _bytes("model.json", b'{"model_type": "caf\xe9"}'), "byte offset 19", 1),
        ("1200-deep", _text("model.json", "[" * 1200 + "]" * 1200), "nested more than 100", None),
        ("inventory-150-deep", _inventory_with(inventory, "x", "[" * 150 + "]" * 150), "nested more than 100", None),
        ("inventory-5000-digits", _inventory_with(inventory, "x", "9" * 5000), "4300 digits", 3),
    ]


@pytest.mark.parametrize("case", range(7), ids=["dev-zero", "fifo", "hf-dev-zero", "latin1", "1200-deep", "inventory-150-deep", "inventory-5000-digits"])
@pytest.mark.parametrize("door", ["resolve", "lint"])
def test_a_hostile_model_file_is_a_clean_error(tmp_path: Path, inventory: Path, case: int, door: str) -> None:
    _, make, phrase, line = _model_files(inventory)[case]
    path = make(tmp_path)
    rules = tmp_path / "rules.qrt"
    rules.write_text(RULE)
    spec = f"hf:{path}" if path.name == "config.json" else str(path)
    _assert_clean(run_qrt(door, str(rules), "--model", spec, cwd=tmp_path), path, phrase, line)


LOCKS: list[tuple[str, Make, str, int | None]] = [
    ("dev-zero", _link_to("plan.lock", "/dev/zero"), "character device", None),
    ("fifo", _fifo("plan.lock"), "named pipe", None),
    ("binary", _bytes("plan.lock", b'{"qrt_lock": 1,\n\x00'), "NUL byte", 2),
    ("1200-deep", _text("plan.lock", "[" * 1200 + "]" * 1200), "nested more than 100", None),
    ("5000-digits", _text("plan.lock", '{"qrt_lock": ' + "1" * 5000 + "}"), "4300 digits", 1),
]


@pytest.mark.parametrize(("make", "phrase", "line"), [c[1:] for c in LOCKS], ids=[c[0] for c in LOCKS])
@pytest.mark.parametrize("door", ["lock", "diff"])
def test_a_hostile_lock_or_plan_file_is_a_clean_error(
    tmp_path: Path, inventory: Path, make: Make, phrase: str, line: int | None, door: str
) -> None:
    path = make(tmp_path)
    rules = tmp_path / "rules.qrt"
    rules.write_text(RULE)
    if door == "lock":
        args = ["lock", "--check", str(path), str(rules), "--model", str(inventory)]
    else:
        args = ["diff", str(path), str(rules), "--model", str(inventory)]
    _assert_clean(run_qrt(*args, cwd=tmp_path), path, phrase, line)


def test_valid_files_with_a_bom_and_with_aliases_still_read(tmp_path: Path, inventory: Path) -> None:
    """Nothing valid is refused: a UTF-8 BOM, a config sharing one spec by alias on many keys,
    a chain of a few includes, and a file included twice."""
    (tmp_path / "rules.qrt").write_bytes(b"\xef\xbb\xbf" + RULE.encode())
    assert run_qrt("resolve", str(tmp_path / "rules.qrt"), "--model", str(inventory)).returncode == 0
    keys = "".join(f"    layer{i}: {{op_type_config: {{linear: {{weight: *w}}}}}}\n" for i in range(300))
    (tmp_path / "many.yaml").write_text(
        "quantization_spec:\n  w: &w {dtype: int8, granularity: per_tensor}\n"
        "quantization_config:\n  module_name_configs:\n" + keys
    )
    done = run_qrt("lint", str(tmp_path / "many.yaml"), "--model", str(inventory))
    assert "invalid YAML" not in done.stdout + done.stderr, done.stdout
    for i in range(5):
        (tmp_path / f"i{i}.qrt").write_text(f'include "i{i + 1}.qrt"\ninclude "i{i + 1}.qrt"\n')
    (tmp_path / "i5.qrt").write_text("spec w = int8 per_tensor\n" + RULE)
    assert len(qrt.load_rules(tmp_path / "i0.qrt")) == 32


# -- RE2 limits: thousands of patterns compile (split into sets), never an internal error ----


def test_a_regex_set_holds_20000_patterns_and_matches_like_re() -> None:
    """20,000 ``op_name_config``-like keys: one RE2 set fails to compile ("failed to compile
    Set"); RegexSet splits them and still gives every hit, in the order given."""
    import re

    from qrt.ir.regex_set import RegexSet

    patterns = [f".*layers\\.{i}\\..*_quantizer" for i in range(20_000)]
    found = RegexSet(patterns)
    assert found.sets > 1
    expected = {"model.layers.0.mlp.weight_quantizer": [0], "layers.19999.layers.4096.a_quantizer": [4096, 19999],
                "model.layers.12345.q.input_quantizer": [12345], "lm_head": []}
    for name, hits in expected.items():
        assert sorted(found.match(name)) == hits
        assert all(re.fullmatch(patterns[i], name) for i in hits)


def test_a_5000_entry_modelopt_list_resolves(inventory: Path) -> None:
    """5,000 ModelOpt entries whose globs one RE2 set cannot hold: resolve and lint answer."""
    entries = [{"quantizer_name": f"*layers.{i}.*weight_quantizer", "enable": False} for i in range(5000)]
    entries.append({"quantizer_name": "*weight_quantizer", "cfg": {"num_bits": 8, "axis": 0}})
    inv = load_inventory_file(inventory)
    plan = qrt.resolve(entries, inv)
    assert len(plan) == len(inv.sites)


def test_control_characters_are_escaped_in_the_echoed_source_line(tmp_path: Path) -> None:
    """A hostile file's ESC sequence must not reach the terminal through qrt's own message:
    the echoed line shows it as ``\\x1b`` and the caret still points at it."""
    path = tmp_path / "esc.yaml"
    path.write_text("quantization_config:\n  global_config: \x1b[31m\n")
    for argv, stream in ((("lint", str(path)), "stdout"), (("resolve", str(path), "--model", "two_add"), "stderr")):
        done = run_qrt(*argv)
        out = getattr(done, stream)
        assert done.returncode == 2 and "\x1b" not in out, out
        echoed, caret = [line for line in out.splitlines() if "global_config:" in line or line.strip() == "^"][:2]
        assert "\\x1b[31m" in echoed and caret.index("^") == echoed.index("\\x1b")


# -- the corpus: every file a result or a clean error, under a memory cap and a timeout -------

CORPUS = Path(__file__).resolve().parent / "hostile" / "corpus"
VALID_RESULTS = {"empty.qrt", "only-comment.qrt", "regex-catastrophic.qrt"}
"""Corpus files that are odd but valid (an empty rule set, a regex RE2 runs in linear time)."""


def test_the_corpus_ends_in_results_or_clean_errors_under_a_memory_cap() -> None:
    """``tests/hostile/run_corpus.py`` in a fresh process capped at 1.5 GiB of address space, a
    20 s alarm per call: every corpus file through ``qrt resolve`` and ``qrt lint``."""
    import json
    import subprocess

    runner = CORPUS.parent / "run_corpus.py"
    done = subprocess.run([sys.executable, str(runner), "--doors", "resolve,lint"], capture_output=True,
                          text=True, timeout=240, env={**os.environ, "NO_COLOR": "1"})
    assert done.returncode == 0, done.stderr
    rows = [json.loads(line) for line in done.stdout.splitlines()]
    assert len(rows) == 2 * len(list(CORPUS.iterdir())) >= 100
    for row in rows:
        said, name = row["said"], row["file"]
        assert "Traceback" not in said and "internal error" not in said, row
        assert row["code"] in (0, 1, 2), row  # not "hang", "memory" or an exception
        if name.startswith("ok-") or name in VALID_RESULTS:
            assert row["code"] == 0 or (row["door"] == "lint" and row["code"] == 1), row
        else:
            assert row["code"] != 0 and name in said, row


# -- output paths: atomic, or a located refusal -----------------------------------------------


@pytest.mark.parametrize("target", ["a-dir", "missing/plan.json", "/dev/full"])
def test_an_output_path_qrt_cannot_write_is_a_clean_error(tmp_path: Path, inventory: Path, target: str) -> None:
    (tmp_path / "a-dir").mkdir()
    (tmp_path / "rules.qrt").write_text(RULE)
    out = target if target.startswith("/") else str(tmp_path / target)
    done = run_qrt("resolve", str(tmp_path / "rules.qrt"), "--model", str(inventory), "-o", out)
    said = done.stdout + done.stderr
    assert done.returncode == 2 and "QRT106" in said and out in said, said
    assert "Traceback" not in said and "internal error" not in said
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-dir", "rules.qrt"]  # nothing half-written


def test_output_files_are_replaced_whole(tmp_path: Path) -> None:
    from qrt.files import write_output

    path = tmp_path / "plan.json"
    path.write_text("old")
    path.chmod(0o640)
    write_output(path, "new ✓")
    assert path.read_text(encoding="utf-8") == "new ✓" and path.stat().st_mode & 0o777 == 0o640
    assert [p.name for p in tmp_path.iterdir()] == ["plan.json"]  # no scratch file left


# -- Python API misuse: a TypeError naming the argument ---------------------------------------


def _api_misuse(inventory: Path) -> list[tuple[Callable[[], object], str]]:
    import torch

    inv = load_inventory_file(inventory)
    rules = qrt.parse_rules(RULE)
    linear = torch.nn.Linear(4, 4)
    return [
        (lambda: qrt.resolve(5, inv), "qrt.resolve: rules must be"),
        (lambda: qrt.resolve(rules, 5), "qrt.resolve: model must be"),
        (lambda: qrt.explain(rules, inv, queries=[5]), "qrt.explain: queries must be"),
        (lambda: qrt.load_rules(5), "qrt.load_rules: source must be"),
        (lambda: qrt.parse_rules(b"op linear weight -> int8"), "qrt.parse_rules: text must be"),
        (lambda: qrt.Quantizer(linear, 12345), "qrt.Quantizer: config must be"),
        (lambda: qrt.Quantizer("two_add"), "qrt.Quantizer: model must be"),
        (lambda: qrt.Quantizer(linear, execution_mode="warp"), "qrt.Quantizer: execution_mode must be"),
        (lambda: qrt.load_quantized(".", "x"), "qrt.load_quantized: model must be"),
        (lambda: qrt.load_quantized(5, linear), "qrt.load_quantized: directory must be"),
    ]


def test_python_api_misuse_is_a_type_error_naming_the_argument(inventory: Path) -> None:
    from qrt.errors import ArgumentTypeError

    for call, phrase in _api_misuse(inventory):
        with pytest.raises(ArgumentTypeError) as caught:
            call()
        assert isinstance(caught.value, TypeError) and phrase in str(caught.value), str(caught.value)


# -- CLI options and --model specs ------------------------------------------------------------


def test_cli_options_out_of_range_are_clean_errors(tmp_path: Path) -> None:
    import torch

    factory = tmp_path / "leaves.py"
    factory.write_text("import sys\n\ndef make():\n    sys.exit(0)\n")
    cases = [
        (["inspect", "--model", "two_add", "--input-shape", "100000,100000"], "at most 2,147,483,648"),
        (["inspect", "--model", "two_add", "--seed", "1e23"], "invalid seed"),
        (["inspect", "--model", "two_add", "--seed", "9" * 30], "64-bit seed"),
        (["inspect", "--model", f"{factory}:make", "--no-cache"], "called exit()"),
    ]
    if not torch.cuda.is_available():
        cases.append((["inspect", "--model", "two_add", "--device", "cuda", "--no-cache"], "--device cpu"))
    for argv, phrase in cases:
        done = run_qrt(*argv)
        said = done.stdout + done.stderr
        assert done.returncode == 2 and phrase in said, (argv, said)
        assert "Traceback" not in said and "internal error" not in said, said


# -- plans that cannot hold on their model ----------------------------------------------------


def test_resolve_refuses_an_axis_beyond_the_rank_and_explain_shows_it(tmp_path: Path) -> None:
    model = str(CORPUS.parent / "model.json")
    rules = tmp_path / "axis.qrt"
    rules.write_text("# per-channel on the wrong axis\nop linear weight -> int8 per_channel(axis=7)\n")
    done = run_qrt("resolve", str(rules), "--model", model)
    said = done.stderr
    assert done.returncode == 2 and f"{rules}:2:1" in said and "proj.weight_quantizer" in said, said
    assert "axis 7 is beyond the rank" in said and "QRT022" in said
    shown = run_qrt("explain", str(rules), "--model", model, "proj.weight_quantizer")
    assert shown.returncode == 0 and "error: axis 7 is beyond the rank" in shown.stdout, shown.stdout
    # a ragged block is a valid ModelOpt plan (ModelOpt pads it): resolve keeps it, lint reports it
    ragged = tmp_path / "ragged.qrt"
    ragged.write_text("op linear weight -> int4 per_block(48)\n")
    assert run_qrt("resolve", str(ragged), "--model", model).returncode == 0
    assert "QRT023" in run_qrt("lint", str(ragged), "--model", model).stdout


def test_a_site_listed_twice_in_an_inventory_or_plan_is_refused(tmp_path: Path) -> None:
    import json

    data = json.loads((CORPUS.parent / "model.json").read_text())
    data.pop("sha256")
    data["sites"].append(data["sites"][3])
    (tmp_path / "inv.json").write_text(json.dumps(data))
    (tmp_path / "rules.qrt").write_text(RULE)
    done = run_qrt("resolve", str(tmp_path / "rules.qrt"), "--model", str(tmp_path / "inv.json"))
    assert done.returncode == 2 and "listed twice: sites[3] and sites[" in done.stderr, done.stderr
    plan = tmp_path / "plan.json"
    assert run_qrt("resolve", str(tmp_path / "rules.qrt"), "--model", str(CORPUS.parent / "model.json"),
                   "-o", str(plan)).returncode == 0
    data = json.loads(plan.read_text())
    data.pop("sha256")
    data["sites"].append(data["sites"][0])
    plan.write_text(json.dumps(data))
    done = run_qrt("diff", str(plan), str(plan))
    assert done.returncode == 2 and "more than once" in done.stderr and "plan.json" in done.stderr, done.stderr


def test_a_dsl_rule_set_past_the_rule_limit_is_refused_before_parsing(tmp_path: Path) -> None:
    from qrt.frontends.dsl.parse import MAX_RULES

    path = tmp_path / "huge.qrt"
    path.write_text('quantizer "*.weight_quantizer" -> int8\n' * (MAX_RULES + 1))
    with pytest.raises(QrtError, match=f"more than {MAX_RULES:,} rules") as caught:
        qrt.load_rules(path)
    assert f"huge.qrt:{MAX_RULES + 1}:" in str(caught.value)


# -- the eager runtime, finalized models and saved directories --------------------------------


@pytest.fixture(scope="module")
def finalized(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """A two-layer model quantized int8, calibrated, finalized into a saved directory."""
    import torch

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(16, 16), torch.nn.ReLU(), torch.nn.Linear(16, 16))
    x = torch.randn(4, 16)
    quantizer = qrt.Quantizer(model, "modelopt:INT8_DEFAULT_CFG")
    prepared = quantizer.prepare((x,))
    with torch.no_grad(), quantizer.calibration_mode():
        prepared(x)
    folder = tmp_path_factory.mktemp("saved") / "model"
    quantizer.finalize(mmap_dir=folder)
    return prepared, x, folder


def test_a_finalized_model_refuses_changes_to_its_packed_weights(finalized) -> None:  # type: ignore[no-untyped-def]
    from qrt.runtime.quant.modelopt_cfg import QuantizerCfgError

    model, x, _ = finalized
    before = model(x)
    for entry in ({"quantizer_name": "*", "enable": False}, {"quantizer_name": "*weight_quantizer", "cfg": {"num_bits": 4}}):
        with pytest.raises(QuantizerCfgError, match="the model is finalized"):
            with qrt.set_quantizer_by_cfg_context(model, [entry]):
                model(x)
    with qrt.set_quantizer_by_cfg_context(model, [{"quantizer_name": "*input_quantizer", "enable": False}]):
        model(x)  # activations may still be switched
    assert model(x).equal(before)  # nothing was changed by the refused entries


def _load(folder: Path):  # type: ignore[no-untyped-def]
    import torch

    model = torch.nn.Sequential(torch.nn.Linear(16, 16), torch.nn.ReLU(), torch.nn.Linear(16, 16))
    return qrt.load_quantized(folder, model)


def test_a_saved_directory_whose_manifest_or_shards_were_edited_is_refused(finalized, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    import json
    import shutil

    _, _, folder = finalized
    _load(folder)  # the untouched directory loads
    edited = tmp_path / "bits"
    shutil.copytree(folder, edited)
    text = (edited / "qrt-manifest.json").read_text()
    (edited / "qrt-manifest.json").write_text(text.replace('"bits":8', '"bits":4', 1))
    with pytest.raises(QrtError, match="its layout .int, 4 bits, shape .16, 16.. takes 128") as caught:
        _load(edited)
    assert str(edited) in str(caught.value)
    included = tmp_path / "include"
    shutil.copytree(folder, included)
    manifest = json.loads((included / "qrt-manifest.json").read_text())
    manifest["rules"]["dsl"] = 'include "/etc/passwd"\n' + manifest["rules"]["dsl"]
    (included / "qrt-manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(QrtError, match="hold an include") as caught:
        _load(included)
    assert "root:" not in str(caught.value)  # nothing of the named file is read or shown
    header = tmp_path / "header"
    shutil.copytree(folder, header)
    shard = sorted(header.glob("*.safetensors"))[0]
    shard.write_bytes(b"\xff" * 8 + shard.read_bytes()[8:])
    manifest = json.loads((header / "qrt-manifest.json").read_text())
    manifest.pop("sha256", None)  # not sealed: the shards are checked, not trusted
    (header / "qrt-manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(QrtError, match="header length|no longer belong|damaged"):
        _load(header)


def test_the_eager_runtime_refuses_what_it_does_not_run_and_nan_calibration() -> None:
    import torch

    from qrt.runtime.quant.eager import PrepareError
    from qrt.runtime.quant.quantizer import CalibrationRangeError

    torch.manual_seed(0)
    model, x = torch.nn.Sequential(torch.nn.Linear(8, 8)), torch.randn(2, 8)
    for cfg in ({"num_bits": 16}, {"num_bits": "8"}, {"num_bits": [4, 3], "block_sizes": {-1: 4, -2: 4}}):
        with pytest.raises(PrepareError, match="eager runtime does not run"):
            qrt.Quantizer(model, [{"quantizer_name": "*weight_quantizer", "cfg": cfg}]).prepare((x,))
    with pytest.raises(CalibrationRangeError, match="observed NaN"):
        qrt.quantize(model, "modelopt:INT8_DEFAULT_CFG", [x, torch.full_like(x, float("nan")), x])
