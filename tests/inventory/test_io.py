"""Inventory files: exact round trip, and one clear error per kind of bad file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from qrt import InventoryFileError, inspect_model, load_inventory_file, save_inventory
from qrt.runtime.examples import EXAMPLES


@pytest.fixture(scope="module")
def llama_inventory():
    ex = EXAMPLES["tiny_llama"]
    return inspect_model(ex.build().eval(), *ex.inputs(None, "cpu"))


def test_round_trip_is_exact(tmp_path: Path, llama_inventory) -> None:
    path = tmp_path / "inv.json"
    save_inventory(llama_inventory, path)
    back = load_inventory_file(path)
    assert back.sites == llama_inventory.sites
    assert back.ops == llama_inventory.ops
    assert back.modules == llama_inventory.modules
    assert back.tensors == llama_inventory.tensors


def test_one_row_per_line(tmp_path: Path, llama_inventory) -> None:
    path = tmp_path / "inv.json"
    save_inventory(llama_inventory, path)
    lines = path.read_text().splitlines()
    assert sum(1 for line in lines if '"quantizer_path"' in line) == len(llama_inventory.sites)


def write(tmp_path: Path, data: object) -> Path:
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(data))
    return path


def test_wrong_version_names_the_supported_one(tmp_path: Path, llama_inventory) -> None:
    from qrt.inventory import inventory_to_json

    data = inventory_to_json(llama_inventory)
    data["qrt_inventory"] = 7
    with pytest.raises(InventoryFileError, match="version 7 is not supported") as err:
        load_inventory_file(write(tmp_path, data))
    assert "reads version 1" in str(err.value)


def test_schema_violation_points_at_the_element(tmp_path: Path, llama_inventory) -> None:
    from qrt.inventory import inventory_to_json

    data = inventory_to_json(llama_inventory)
    data["sites"][3]["role"] = "weights"
    with pytest.raises(InventoryFileError, match=r"\['sites'\]\[3\]\['role'\]"):
        load_inventory_file(write(tmp_path, data))


def test_not_json_gives_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text('{\n  "qrt_inventory": 1,\n  oops\n}')
    with pytest.raises(InventoryFileError, match=r"broken.json:3:3: not valid JSON"):
        load_inventory_file(path)


def test_not_an_inventory(tmp_path: Path) -> None:
    with pytest.raises(InventoryFileError, match="no 'qrt_inventory' key"):
        load_inventory_file(write(tmp_path, {"sites": []}))


def test_find_by_path_op_and_glob(llama_inventory) -> None:
    inv = llama_inventory
    assert [s.role for s in inv.find("lm_head.weight_quantizer")] == ["state"]
    assert {s.role for s in inv.find("lm_head.linear")} == {"input", "state", "output"}
    assert [s.key for s in inv.find("lm_head.linear:input[0]")] == [0]
    assert len(inv.find("model.layers.*.self_attn.k_bmm_quantizer")) == 2
    from qrt import QueryError

    with pytest.raises(QueryError, match="did you mean 'lm_head.weight_quantizer'"):
        inv.find("lm_head.wieght_quantizer")


def test_meta_inventory_equals_cpu_inventory_but_for_sources() -> None:
    ex = EXAMPLES["cnn"]
    cpu = inspect_model(ex.build().eval(), *ex.inputs(None, "cpu"))
    with torch.device("meta"):
        model = ex.build().eval()
    meta = inspect_model(model, *ex.inputs(None, "meta"))
    assert meta.sites == cpu.sites


def test_a_written_inventory_is_sealed_and_an_edit_breaks_the_seal(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """The seal lets readers skip the schema check for files qrt wrote as they are; an edited
    file is checked in full (and a bad edit is reported)."""
    from qrt.inventory.io import dumps_inventory, load_inventory_file
    from qrt.sealed_json import is_sealed as _sealed
    from qrt.model_inventory import load_model_inventory

    inv = load_model_inventory("two_add")
    text = dumps_inventory(inv)
    assert text.splitlines()[1].startswith(' "sha256": "') and _sealed(text)
    path = tmp_path / "inv.json"
    path.write_text(text)
    assert load_inventory_file(path).sites == inv.sites
    edited = text.replace('"leaf": true', '"leaf": "yes"', 1)
    assert not _sealed(edited)
    path.write_text(edited)
    import pytest

    from qrt.errors import InventoryFileError

    with pytest.raises(InventoryFileError, match="does not match its schema"):
        load_inventory_file(path)


@pytest.mark.parametrize(("field", "value", "said"), [
    ("role", None, "'role' is a required property"),
    ("role", "bogus", "'bogus' is not one of"),
    ("key", {"a": 1}, "is not of type 'integer', 'string'"),
    ("scope", 5, "5 is not of type 'array'"),
    ("shape", [-3, "x"], "['sites'][0]['shape']"),
    ("op_name", 7, "7 is not of type"),
])
def test_a_resealed_inventory_with_bad_content_is_located(tmp_path: Path, llama_inventory, field: str,
                                                         value: object, said: str) -> None:
    """A sealed file skips the schema check; one edited and sealed again (the seal is a digest,
    not a signature) still gets a located refusal, not a crash in a later tool nor a role
    nothing reads (issue 19)."""
    from qrt.sealed_json import dumps_sealed, is_sealed

    path = tmp_path / "inv.json"
    save_inventory(llama_inventory, path)
    data = json.loads(path.read_text())
    data.pop("sha256")
    if value is None:
        data["sites"][0].pop(field)
    else:
        data["sites"][0][field] = value
    path.write_text(dumps_sealed(data))
    assert is_sealed(path.read_text())  # so the reader trusts it and skips the schema
    with pytest.raises(InventoryFileError) as info:
        load_inventory_file(path).sites  # noqa: B018 - reading is the check
    assert said in str(info.value) and str(path) in str(info.value)
