"""The manifest of a saved quantized model (``qrt-manifest.json``, schema
``schemas/quantized-manifest.schema.json``).

It makes a directory of safetensors shards a qrt model: which shard tensors are whose packed
weight (and its layout), which parameters were freed, which names are tied, the quantizers'
switches — and the plan that produced it: the inventory, the compiled rules (as DSL text with
every rule's original origin: file, line, config path) and the decisions. So a saved model
loads without tracing, and ``qrt explain DIR QUERY`` answers for it exactly as it did for the
config and model that made it.

Reading checks, in this order, and stops at the first problem with an error naming it: the
file exists and is JSON, it matches the schema, its format version is one this qrt reads, it
was written by this qrt version (another version may resolve the same rules differently;
``allow_version_mismatch`` loads it anyway after re-checking every decision), and, when a
model is given, the model has the parameter names and shapes it was saved from.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import replace
from pathlib import Path
from typing import Any

from qrt.files import DATA_LIMIT, read_json
from qrt._version import __version__
from qrt.errors import FinalizeError
from qrt.sealed_json import SEAL_KEY

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "MANIFEST_NAME",
    "model_fingerprint",
    "matched_json",
    "plan_from_manifest",
    "read_manifest",
    "read_manifest_sealed",
    "read_trusted_manifest",
    "rules_from_json",
    "rules_to_json",
]

MANIFEST_NAME = "qrt-manifest.json"
FORMAT = "qrt-quantized"
FORMAT_VERSION = 1


def model_fingerprint(names_and_shapes: list[tuple[str, tuple[int, ...]]], class_name: str) -> dict[str, Any]:
    """What identifies the model a checkpoint belongs to: its class and the sha256 of its
    parameters' names and shapes (not values, not dtypes: a model built on the meta device,
    or in another dtype, is the same model)."""
    text = "\n".join(f"{n}:{','.join(map(str, s))}" for n, s in sorted(names_and_shapes))
    return {"class": class_name, "parameters": len(names_and_shapes), "sha256": hashlib.sha256(text.encode()).hexdigest()}


def rules_to_json(rules: Any) -> dict[str, Any]:
    """The compiled rules as canonical DSL text plus each rule's origin (and its baseline flag,
    which DSL text cannot say)."""
    from qrt.frontends.dsl.printer import print_rules

    origins = [
        {k: v for k, v in (("file", r.origin.file), ("line", r.origin.line), ("column", r.origin.column),
                           ("config_path", r.origin.config_path), ("baseline", r.baseline or None)) if v is not None}
        for r in rules
    ]
    return {"dsl": print_rules(rules), "origins": origins}


def rules_from_json(data: dict[str, Any], *, source: str) -> Any:
    from qrt.frontends.dsl import parse_rules
    from qrt.ir.origin import Origin
    from qrt.ir.rule import RuleSet

    found = re.search(r"(?m)^[ \t]*include\b.*$", data["dsl"])
    if found is not None:  # qrt writes compiled rules, never an include: confine what a saved model reads
        raise FinalizeError(
            f"{source}: the manifest's rules hold an include ({found.group().strip()[:80]!r}); a saved "
            "model's rules are compiled and read no other file",
            hint="the manifest was edited; save the model again",
        )
    parsed = parse_rules(data["dsl"], file=f"{source} (rules)")
    origins = data["origins"]
    if len(parsed) != len(origins):
        raise FinalizeError(
            f"{source}: the manifest's rules parse to {len(parsed)} rules but record {len(origins)} origins",
            hint="the manifest was edited or written by another qrt; save the model again",
        )
    return RuleSet.of(replace(rule, origin=Origin(**{k: v for k, v in o.items() if k != "baseline"}),
                              baseline=_baseline(o)) for rule, o in zip(parsed, origins))


def _baseline(origin: dict[str, Any]) -> bool:
    """The rule's baseline flag; a manifest written before the flag existed says it only in
    the origin of ModelOpt's starting rule, which is read here, once, to migrate it."""
    if "baseline" in origin:
        return bool(origin["baseline"])
    return origin.get("file") == "<ModelOpt role defaults>" and origin.get("config_path") == "every site starts off"


def read_manifest(directory: Path, *, allow_version_mismatch: bool = False) -> dict[str, Any]:
    """The checked manifest of a saved model directory."""
    return read_manifest_sealed(directory, allow_version_mismatch=allow_version_mismatch)[0]


def read_manifest_sealed(directory: Path, *, allow_version_mismatch: bool = False) -> tuple[dict[str, Any], bool]:
    """The checked manifest, and whether its seal (:mod:`qrt.sealed_json`) is intact: then qrt
    wrote it as it is, and the schema check is skipped (it costs more than the rest of a load)."""
    from qrt.sealed_json import is_sealed

    path = directory / MANIFEST_NAME
    if not directory.is_dir():
        raise FinalizeError(f"{directory}: no such directory", hint="pass the directory qrt.save_quantized wrote")
    if not path.is_file():
        raise FinalizeError(
            f"{path}: no manifest — {directory} is not a model saved by qrt",
            hint="a saved model is a directory written by qrt.save_quantized, Quantizer.finalize(mmap_dir=...) "
            "or `qrt run --finalize DIR`",
        )
    text, data = read_json(path, what="manifest", error=FinalizeError)  # bounded, located errors
    if isinstance(data, dict) and data.get("format") == FORMAT and data.get("format_version") != FORMAT_VERSION:
        raise FinalizeError(
            f"{path}: format_version {data.get('format_version')!r}; this qrt ({__version__}) reads version {FORMAT_VERSION}",
            hint="load it with the qrt version that wrote it, or save the model again",
        )
    sealed = isinstance(data, dict) and is_sealed(text)
    errors = [] if sealed else _schema_errors(data)
    if errors:
        first = errors[0]
        where = "/".join(map(str, first.absolute_path)) or "(top level)"
        raise FinalizeError(f"{path}: {where}: {first.message}", hint="the manifest does not match schemas/quantized-manifest.schema.json")
    if data["qrt_version"] != __version__ and not allow_version_mismatch:
        raise FinalizeError(
            f"{path}: written by qrt {data['qrt_version']}, this is qrt {__version__}",
            hint="another qrt may resolve the same rules differently; pass allow_version_mismatch=True "
            "(--allow-version-mismatch) to load it anyway — every decision is checked against the manifest's plan",
        )
    return data, sealed


_PLAN_ONLY = ("rules", "inventory", "plan", "matched")
"""The manifest's fields only the plan is made from: megabytes on a large model, which a
trusted load that places from ``placements`` keeps unread (:func:`read_trusted_manifest`)."""
_SEALED = re.compile(rb'\{\n "' + SEAL_KEY.encode() + rb'": "([0-9a-f]{64})",\n')
_MEMBER = re.compile(rb'"([a-z_0-9]+)": ')


def read_trusted_manifest(directory: Path) -> tuple[dict[str, Any], dict[str, memoryview]] | None:
    """The manifest of a load that may trust it, read in part: every field but the plan's
    (:data:`_PLAN_ONLY`, returned as views of their JSON bytes), or ``None`` where the load may not trust
    it or cannot place from it — no such file, a broken seal, another format or qrt version,
    no ``placements`` (:mod:`.placements`: a manifest of an older qrt), a layout other than
    the one :class:`~.saved.ModelWriter` writes. The caller then reads it in full
    (:func:`read_manifest_sealed`), which says what is wrong where anything is.

    The writer puts each top-level field on a line of its own (JSON text holds no raw newline
    inside a string), and the intact seal says this is the file as qrt wrote it: the seal is
    checked on the file's bytes (:func:`qrt.sealed_json.is_sealed`'s check, with no decoded or
    re-encoded copy of the megabytes), and each field's line is parsed alone — the plan's
    fields not at all."""
    data = _bounded_bytes(directory / MANIFEST_NAME)
    sealed = _SEALED.match(data) if data is not None else None
    if data is None or sealed is None:
        return None
    body = hashlib.sha256(b"{\n")
    body.update(memoryview(data)[sealed.end():])
    if body.hexdigest().encode() != sealed.group(1) or not data.endswith(b"\n}\n"):
        return None
    head: dict[str, Any] = {}
    deferred: dict[str, memoryview] = {}
    view = memoryview(data)
    pos, stop = 3, len(data) - 2  # from the seal's field (after '{', newline, space) to the closing brace
    while pos < stop:
        end = data.index(b"\n", pos)
        found = _MEMBER.match(data, pos, end)
        last = end == stop - 1
        if found is None or (data[end - 1] == 44) == last:  # 44: the comma between fields
            return None
        key = found.group(1).decode()
        value = (found.end(), end if last else end - 1)
        if key in head or key in deferred:
            return None
        if key in _PLAN_ONLY:
            deferred[key] = view[value[0]:value[1]]  # no copy of the megabytes
        else:
            try:
                head[key] = json.loads(data[value[0]:value[1]])
            except ValueError:
                return None
        pos = end + 1
    if (head.get("format") != FORMAT or head.get("format_version") != FORMAT_VERSION
            or head.get("qrt_version") != __version__ or set(deferred) != set(_PLAN_ONLY)
            or not isinstance(head.get("placements"), dict)):
        return None
    return head, deferred


def _bounded_bytes(path: Path) -> bytes | None:
    """The bytes of a regular file of at most :data:`qrt.files.DATA_LIMIT`; ``None`` for
    anything else (the full read, :func:`qrt.files.read_text`, then says what)."""
    import os
    import stat

    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError:
        return None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_size > DATA_LIMIT:
            return None
        with os.fdopen(fd, "rb", closefd=False) as handle:
            data = handle.read(info.st_size + 1)
        return data if len(data) <= info.st_size else None
    except OSError:
        return None
    finally:
        os.close(fd)


def _schema_errors(data: Any) -> list[Any]:
    import jsonschema

    from qrt.resources import schema

    return sorted(jsonschema.Draft202012Validator(schema("quantized-manifest")).iter_errors(data), key=lambda e: list(e.path))


def matched_json(plan: Any) -> dict[str, list[int]]:
    """Each site's matching rules, as their indices in the plan's rule set, in fold order: what a
    load needs to rebuild every decision without resolving (:func:`plan_from_manifest`)."""
    return {d.site.quantizer_path: [r.order for r in d.matched] for d in plan.decisions if d.matched}


def plan_from_manifest(manifest: dict[str, Any], *, source: str, trusted: bool = False) -> Any:
    """The plan, resolved again from the manifest's rules and inventory; an error when it is
    not the plan the manifest recorded.

    ``trusted``: the caller found the manifest's seal intact and this qrt's version in it, so
    the plan is the one this qrt resolved when it saved the model. Then no rule is matched
    against any site: each decision is rebuilt by folding the rules the manifest records as
    matching it (``matched``), exactly as the resolver folded them. A manifest without that
    record (an older qrt's) is resolved and checked in full."""
    import gc

    from qrt.inventory.io import inventory_from_json
    from qrt.resolver.plan import plan_spec_json

    # tens of thousands of small objects, none in a cycle: the cyclic GC would walk the
    # caller's whole heap (torch, the model) again and again meanwhile — 4x the time of a load
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        inventory = inventory_from_json(manifest["inventory"], source=f"{source} (inventory)", trusted=trusted)
        rules = rules_from_json(manifest["rules"], source=source)
        if trusted and "matched" in manifest:
            plan = _recorded_plan(rules, inventory, manifest["matched"])
            if plan is not None:
                return plan
    finally:
        if was_enabled:
            gc.enable()
    from qrt.frontends.source import load_rule_source
    from qrt.resolver.plan import resolve_source

    plan = resolve_source(load_rule_source(rules), inventory, check_tensors=False)  # compared with the recorded plan below
    recorded = {s["quantizer_path"]: s["decision"] for s in manifest["plan"]["sites"]}
    for d in plan.decisions:
        spec = plan.spec(d)
        now = plan_spec_json(spec) if spec is not None else None
        if recorded.get(d.site.quantizer_path, "missing") != now:
            raise FinalizeError(
                f"{source}: {d.site.quantizer_path}: the manifest's rules now decide "
                f"{json.dumps(now)}, but the saved model has {json.dumps(recorded.get(d.site.quantizer_path))}",
                hint="this qrt resolves the saved rules differently; load the model with the qrt version that saved it",
            )
    return plan


def _recorded_plan(rules: Any, inventory: Any, matched: dict[str, list[int]]) -> Any:
    """The plan whose decisions fold the recorded matching rules; ``None`` when the record
    does not fit the rules (then the caller resolves)."""
    from qrt.resolver.decision import Decision, fold
    from qrt.resolver.plan import Plan

    table = rules.rules
    folded: dict[tuple[tuple[int, ...], str], tuple[Any, Any]] = {}  # a few distinct rule lists
    decisions = []
    for site in inventory.sites:
        orders = tuple(matched.get(site.quantizer_path, ()))
        found = folded.get((orders, site.role))
        if found is None:
            if any(not isinstance(i, int) or not 0 <= i < len(table) for i in orders):
                return None
            hits = tuple(table[i] for i in orders)
            found = folded[(orders, site.role)] = (hits, fold(hits, site.role))
        decisions.append(Decision(site, found[1], found[0]))
    return Plan(inventory, rules, tuple(decisions))
