"""Fuzzing every input family (issue 19): generated input ends in a result or a QrtError.

One hypothesis strategy per family a user hands qrt: DSL text, YAML/JSON configs of every
front end, ModelOpt lists as data, bytes of a valid file with random damage, inventory
documents, and ``qrt`` command lines. The property is the same for all: qrt returns a result
or raises a :class:`qrt.QrtError` (the CLI: exit 0, 1 for lint findings, or 2 with a message),
never another exception, a traceback or "internal error". The ``ci`` profile keeps each test
under a second; ``QRT_HYPOTHESIS_PROFILE=heavy`` runs a thousand examples each.
"""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import qrt
from qrt.errors import QrtError
from qrt.inventory.io import inventory_from_json, load_inventory_file

HERE = Path(__file__).resolve().parent
MODEL = HERE / "model.json"
INVENTORY = load_inventory_file(MODEL)
_PROFILE_EXAMPLES = settings().max_examples
FAST = settings(max_examples=15 if _PROFILE_EXAMPLES <= 40 else _PROFILE_EXAMPLES, deadline=None,
                suppress_health_check=[HealthCheck.too_slow])
"""15 examples a family in CI (under a second each); the ``heavy`` profile's count otherwise."""


def _settle(call: Any) -> None:
    """Run ``call``; a QrtError is a clean end, any other exception fails the property."""
    try:
        call()
    except QrtError:
        pass


# -- the selector DSL -------------------------------------------------------------------------
TOKENS = [
    "op", "module", "quantizer", "type", "layer", "linear", "conv2d", "matmul", "weight", "input",
    "output", "state", "->", "off", "enable", "disable", "patch", "spec", "=", "include", "preset",
    "int8", "int4", "uint8", "float8_e4m3fn", "per_tensor", "per_channel", "per_block(32)",
    "per_channel(axis=7)", "per_block(1000000000000)", "priority", "-1", "0", "1", "99999999999",
    "0..3", "3..0", '"*"', '"*proj*"', '"\\ud800"', '"unterminated', "/.*/", "/(/", "/" + "(" * 50 + "/",
    "#", "\n", " ", "\t", "\r", "\x1b", "\0", "é", "größe", "{", "}", "[", "]", ",", ":", "and", "not",
]


@FAST
@given(st.lists(st.sampled_from(TOKENS), max_size=40))
def test_dsl_text_parses_or_is_a_qrt_error(tokens: list[str]) -> None:
    text = " ".join(tokens)
    _settle(lambda: qrt.resolve(qrt.parse_rules(text), INVENTORY))


# -- YAML and JSON configs of every front end -------------------------------------------------
KEYS = [
    "quantization_config", "quantization_spec", "global_config", "module_name_configs",
    "module_type_configs", "op_state_spec", "op_input_spec", "weight", "dtype", "granularity",
    "type", "axis", "block_size", "execution_mode", "quant_cfg", "quantizer_name", "cfg", "enable",
    "num_bits", "block_sizes", "algorithm", "method", "config_groups", "targets", "weights",
    "input_activations", "strategy", "group_size", "symmetric", "ignore", "format", "_type", "_data",
    "quant_method", "proj", "*weight_quantizer", "-1", "bogus",
]
SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.floats(allow_nan=True),
    st.sampled_from(["int8", "int4", "per_channel", "per_block", "eager", "graph", "*", "max", "nonsense",
                     "float8_e4m3fn", "channel", "group", "\x1b", "é", "Linear"]),
    st.text(max_size=8),
)
DOCUMENTS = st.recursive(
    SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.sampled_from(KEYS), inner, max_size=5)),
    max_leaves=10,
)


@FAST
@given(DOCUMENTS, st.sampled_from([".yaml", ".json"]), st.booleans())
def test_structured_configs_resolve_or_are_a_qrt_error(data: Any, suffix: str, wrap: bool) -> None:
    from qrt.frontends.source import rule_source_from_text

    document = {"quantization_config": data} if wrap else data
    if suffix == ".json":
        text = json.dumps(document)  # NaN and Infinity included: Python writes them, JSON has none
    else:
        text = yaml.safe_dump(document, allow_unicode=True)
    _settle(lambda: qrt.resolve(rule_source_from_text(text, label=f"fuzz{suffix}", suffix=suffix), INVENTORY))


# -- ModelOpt lists as Python data ------------------------------------------------------------
ATTRIBUTES = st.dictionaries(
    st.sampled_from(["num_bits", "axis", "block_sizes", "enable", "type", "calibrator", "unsigned",
                     "fake_quant", "learn_amax", "bias", "trt_high_precision_dtype", "bogus"]),
    SCALARS | st.dictionaries(st.sampled_from(["-1", "-2", "type", "scale_bits", 1, -1]), SCALARS, max_size=3)
    | st.lists(st.integers(-3, 9), max_size=3),
    max_size=4,
)
ENTRIES = st.lists(
    st.fixed_dictionaries(
        {"quantizer_name": st.sampled_from(["*", "*weight_quantizer", "*input_quantizer", "proj.*", "[", "*\\"])},
        optional={"cfg": ATTRIBUTES | st.lists(ATTRIBUTES, max_size=2), "enable": SCALARS},
    ),
    max_size=5,
)


@FAST
@given(ENTRIES)
def test_modelopt_lists_resolve_or_are_a_qrt_error(entries: list[dict[str, Any]]) -> None:
    _settle(lambda: qrt.resolve(entries, INVENTORY))


# -- damaged bytes of valid files -------------------------------------------------------------
VALID = {
    "rules.qrt": b"spec w = int4 per_block(16)\nop linear weight -> w\nmodule /norm/ -> off\n",
    "rules.yaml": b"quantization_config:\n  global_config:\n    op_state_spec:\n      weight: {dtype: int8}\n",
    "quant_cfg.json": b'[{"quantizer_name": "*weight_quantizer", "cfg": {"num_bits": 8, "axis": 0}}]',
}


@FAST
@given(st.sampled_from(sorted(VALID)), st.lists(st.tuples(st.integers(0, 200), st.binary(max_size=3)), max_size=4))
def test_damaged_files_read_or_are_a_qrt_error(tmp_path_factory: pytest.TempPathFactory, name: str,
                                               edits: list[tuple[int, bytes]]) -> None:
    data = bytearray(VALID[name])
    for at, new in edits:
        at = at % (len(data) + 1)
        data[at:at + len(new)] = new
    path = tmp_path_factory.mktemp("damaged") / name
    path.write_bytes(bytes(data))
    _settle(lambda: qrt.resolve(str(path), INVENTORY))


# -- inventory documents ----------------------------------------------------------------------
DOCUMENT = json.loads(MODEL.read_text(encoding="utf-8"))
DOCUMENT.pop("sha256", None)


def _mutate(doc: Any, path: list[Any], value: Any) -> Any:
    """``doc`` with the item at ``path`` (indices taken modulo the container's size) replaced."""
    if not path or not isinstance(doc, (dict, list)) or not doc:
        return value
    key = path[0]
    if isinstance(doc, dict):
        keys = sorted(doc)
        name = keys[key % len(keys)] if isinstance(key, int) else key
        return {**doc, name: _mutate(doc.get(name), path[1:], value)}
    index = key % len(doc) if isinstance(key, int) else 0
    return [*doc[:index], _mutate(doc[index], path[1:], value), *doc[index + 1:]]


@FAST
@given(st.lists(st.integers(0, 50), min_size=1, max_size=4), DOCUMENTS)
def test_damaged_inventories_load_or_are_a_qrt_error(path: list[int], value: Any) -> None:
    _settle(lambda: qrt.resolve(qrt.parse_rules("op linear weight -> int8\n"),
                                inventory_from_json(_mutate(DOCUMENT, path, value), source="fuzz.json")))


# -- command lines ----------------------------------------------------------------------------
OPTIONS = [
    ["--format", "json"], ["--format", "text"], ["--summary"], ["--input-shape", "100000,100000"],
    ["--input-shape", "0"], ["--input-shape", "x"], ["--seed", "1e23"], ["--seed", "-1"],
    ["--seed", "9" * 30], ["--device", "meta"], ["--dtype", "float16"], ["--no-cache"], ["--color", "always"],
    ["--format"], ["--bogus"], ["-o"], ["--model"], ["--fail-on", "info"],
]


@FAST
@given(st.sampled_from(["resolve", "lint", "explain", "diff", "lock", "convert", "report"]),
       st.lists(st.sampled_from(OPTIONS), max_size=4))
def test_command_lines_end_in_an_exit_status(command: str, options: list[list[str]]) -> None:
    from qrt.cli.main import main

    rules = HERE / "corpus" / "ok-bom.qrt"
    argv = [command, str(rules), "--model", str(MODEL)] + [a for o in options for a in o]
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as exit_:  # argparse's usage errors
            code = exit_.code if isinstance(exit_.code, int) else 2
    said = out.getvalue() + err.getvalue()
    assert code in (0, 1, 2), said
    assert "Traceback" not in said and "internal error" not in said, (argv, said)
