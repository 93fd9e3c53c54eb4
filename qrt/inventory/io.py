"""Inventory files: JSON in the format of ``schemas/inventory.schema.json``.

Reading needs no torch, so every command can take ``--model inventory.json`` and run where
torch is absent or the model is too big to build. Files are checked in this order, each
with its own error: valid JSON (line:col), the ``qrt_inventory`` version, then the schema
(with the JSON path of the offending element).
"""

from __future__ import annotations


from pathlib import Path
from typing import Any

from qrt.errors import InventoryFileError
from qrt.files import DATA_LIMIT, read_json
from qrt.inventory.model import Inventory, ModuleInfo, OpRecord, TensorInfo, TensorUse
from qrt.inventory.build import with_modelopt_names
from qrt.ir.site import ROLES, Site
from qrt.resources import schema
from qrt.inventory.canonical import INVENTORY_VERSION, dumps_inventory, inventory_digest, inventory_to_json
from qrt.sealed_json import is_sealed

__all__ = ["INVENTORY_VERSION", "dumps_inventory", "inventory_digest", "inventory_to_json", "inventory_from_json", "save_inventory", "load_inventory_file"]

def save_inventory(inv: Inventory, path: str | Path) -> None:
    Path(path).write_text(dumps_inventory(inv), encoding="utf-8")


def _shape(value: list[int] | None) -> tuple[int, ...] | None:
    return tuple(value) if value is not None else None


def inventory_from_json(data: Any, *, source: str = "<inventory>", trusted: bool = False) -> Inventory:
    """Check and read a parsed inventory document (``trusted``: the caller found qrt's seal
    intact, so the schema check is skipped)."""
    if not isinstance(data, dict) or "qrt_inventory" not in data:
        raise InventoryFileError(
            "not a qrt inventory: the top-level object has no 'qrt_inventory' key",
            location=source,
            hint="write one with `qrt inspect --model SPEC --format json -o FILE`",
        )
    version = data["qrt_inventory"]
    if version != INVENTORY_VERSION:
        raise InventoryFileError(
            f"inventory format version {version!r} is not supported",
            location=source,
            hint=f"this qrt reads version {INVENTORY_VERSION}; re-create the file with "
            "`qrt inspect ... --format json -o FILE`",
        )
    error = None if trusted else _schema_error(data)
    if error is not None:
        raise _schema_failure(error, source)
    try:
        return _read_rows(data, source, trusted)
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
        raise _malformed(data, source, exc) from None


def _schema_failure(error: Any, source: str) -> InventoryFileError:
    where = "".join(f"[{p!r}]" for p in error.absolute_path) or "<top>"
    return InventoryFileError(
        f"inventory does not match its schema at {where}: {error.message}",
        location=source,
        hint="the file must follow schemas/inventory.schema.json",
    )


def _malformed(data: Any, source: str, exc: Exception) -> InventoryFileError:
    """A sealed file skips the schema check (the seal says qrt wrote it); content that breaks
    the reader anyway was edited and sealed again. The schema check, run now, says where."""
    error = _schema_error(data)
    if error is not None:
        return _schema_failure(error, source)
    return InventoryFileError(f"inventory content is malformed: {type(exc).__name__}: {exc}", location=source,
                              hint="re-create the file with `qrt inspect --model SPEC --format json -o FILE`")


_OPTIONAL_TEXT = ("op_type", "op_name", "tensor")


def _check_site_rows(rows: list[dict[str, Any]]) -> None:
    """The site fields every tool hashes or compares, checked for their types in one pass
    (about 10 ms for a 70B model's 11,727 sites): what the schema says of them, for sealed
    files that skipped it. A wrong one raises ValueError, which :func:`_malformed` locates."""
    for s in rows:
        key = s["key"]
        if (s["role"] not in ROLES or type(s["quantizer_path"]) is not str
                or not (key is None or type(key) is str or type(key) is int)
                or any(not (s[f] is None or type(s[f]) is str) for f in _OPTIONAL_TEXT)
                or type(s["scope"]) is not list or any(type(n) is not str for n in s["scope"])
                or any(type(a) is not str for a in s.get("aliases", ()))):
            raise ValueError(f"site {s.get('quantizer_path')!r} has a field of the wrong type")
        shape = s.get("shape")
        if shape is not None and (type(shape) is not list or any(type(n) is not int or n < 0 for n in shape)):
            raise ValueError(f"site {s['quantizer_path']!r} has a malformed shape")


def _read_rows(data: dict[str, Any], source: str, trusted: bool) -> Inventory:
    _check_site_rows(data["sites"])
    modules = tuple(
        ModuleInfo(
            name=m["name"],
            type=m["type"],
            leaf=m["leaf"],
            called=m["called"],
            forward_args=tuple(m.get("forward_args", ())),
            scope=tuple(m.get("scope", ())),
            forward_bases=tuple(m.get("forward_bases", ())),
        )
        for m in data["modules"]
    )
    types = {m.name: m.type for m in modules}
    unknown = {n for s in data["sites"] for n in s["scope"] if n not in types}
    if unknown:
        raise InventoryFileError(
            f"sites name modules the inventory does not list: {sorted(unknown)[:5]}",
            location=source,
            hint="every name in a site's scope must appear in 'modules'",
        )
    if not trusted:  # qrt writes each site once; an edited file may not (issue 19)
        _refuse_duplicate_sites(data["sites"], source)
    ops_rows, tensor_rows = data["ops"], data["tensors"]

    def build_ops() -> tuple[OpRecord, ...]:
        try:
            return _ops(ops_rows)
        except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
            raise _malformed(data, source, exc) from None

    def build_tensors() -> tuple[TensorInfo, ...]:
        try:
            return _tensors(tensor_rows)
        except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
            raise _malformed(data, source, exc) from None

    def _ops(ops_rows: list[dict[str, Any]]) -> tuple[OpRecord, ...]:
        return tuple(
            OpRecord(
                name=o["name"],
                op_type=o["op_type"],
                module=o["module"],
                registered=o["registered"],
                inputs=tuple(TensorUse(k, t) for k, t in o.get("inputs", ())),
                outputs=tuple(TensorUse(k, t) for k, t in o.get("outputs", ())),
                source=o.get("source"),
            )
            for o in ops_rows
        )

    def _tensors(tensor_rows: list[dict[str, Any]]) -> tuple[TensorInfo, ...]:
        return tuple(
            TensorInfo(
                id=t["id"],
                shape=_shape(t["shape"]),
                dtype=t["dtype"],
                producer=t["producer"],
                readers=tuple(t["readers"]),
            )
            for t in tensor_rows
        )

    sites = with_modelopt_names(modules, [
        Site(
            quantizer_path=s["quantizer_path"],
            scope=tuple((n, types[n]) for n in s["scope"]),
            role=s["role"],
            key=s["key"],
            op_type=s["op_type"],
            op_name=s["op_name"],
            tensor=s["tensor"],
            shape=_shape(s.get("shape")),
            dtype=s.get("dtype"),
            arg_name=s.get("arg_name"),
            source=s.get("source"),
            aliases=tuple(s.get("aliases", ())),
            fused=s.get("fused"),
            expert=s.get("expert"),
        )
        for s in data["sites"]
    ])
    # the ops and tensors tables are built when first read (explain, load_quantized never read
    # them); the rows they are built from passed the schema check or carry qrt's seal
    return Inventory.with_lazy_tables(
        modules=modules, sites=tuple(sites), model=data["model"], tables={"ops": build_ops, "tensors": build_tensors},
        columns={"op_names": lambda: tuple(o["name"] for o in ops_rows),
                 "op_types": lambda: tuple(o["op_type"] for o in ops_rows)},
    )


def _refuse_duplicate_sites(sites: list[dict[str, Any]], source: str) -> None:
    """A quantizer path listed twice (as a site or an alias) would get two decisions, of which
    every tool would silently show one."""
    seen: dict[str, int] = {}
    for index, site in enumerate(sites):
        for path in (site["quantizer_path"], *site.get("aliases", ())):
            if path in seen:
                raise InventoryFileError(
                    f"quantizer path {path!r} is listed twice: sites[{seen[path]}] and sites[{index}]",
                    location=source,
                    hint="every site has one quantizer path; re-create the file with "
                    "`qrt inspect --model SPEC --format json -o FILE`",
                )
            seen[path] = index


def _schema_error(data: Any) -> Any:
    import jsonschema  # local: only needed when a file is read

    validator = jsonschema.Draft202012Validator(schema("inventory"))
    return jsonschema.exceptions.best_match(validator.iter_errors(data))


def load_inventory_file(path: str | Path) -> Inventory:
    """An inventory file, read through the bounded reader (:func:`qrt.files.read_json`: a
    regular file of at most 1 GiB, UTF-8, JSON nested at most 100 deep)."""
    text, data = read_json(path, what="inventory", limit=DATA_LIMIT, error=InventoryFileError)
    return inventory_from_json(data, source=str(path), trusted=is_sealed(text))
