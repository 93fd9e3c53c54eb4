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
from dataclasses import replace
from pathlib import Path
from typing import Any

from qrt.files import read_json
from qrt._version import __version__
from qrt.runtime.finalize.pack import FinalizeError

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "MANIFEST_NAME",
    "model_fingerprint",
    "plan_from_manifest",
    "read_manifest",
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
    """The compiled rules as canonical DSL text plus each rule's origin."""
    from qrt.frontends.dsl.printer import print_rules

    origins = [
        {k: v for k, v in (("file", r.origin.file), ("line", r.origin.line), ("column", r.origin.column),
                           ("config_path", r.origin.config_path)) if v is not None}
        for r in rules
    ]
    return {"dsl": print_rules(rules), "origins": origins}


def rules_from_json(data: dict[str, Any], *, source: str) -> Any:
    from qrt.frontends.dsl import parse_rules
    from qrt.ir.origin import Origin
    from qrt.ir.rule import RuleSet

    parsed = parse_rules(data["dsl"], file=f"{source} (rules)")
    origins = data["origins"]
    if len(parsed) != len(origins):
        raise FinalizeError(
            f"{source}: the manifest's rules parse to {len(parsed)} rules but record {len(origins)} origins",
            hint="the manifest was edited or written by another qrt; save the model again",
        )
    return RuleSet.of(replace(rule, origin=Origin(**o)) for rule, o in zip(parsed, origins))


def read_manifest(directory: Path, *, allow_version_mismatch: bool = False) -> dict[str, Any]:
    """The checked manifest of a saved model directory."""
    import jsonschema

    from qrt.resources import schema

    path = directory / MANIFEST_NAME
    if not directory.is_dir():
        raise FinalizeError(f"{directory}: no such directory", hint="pass the directory qrt.save_quantized wrote")
    if not path.is_file():
        raise FinalizeError(
            f"{path}: no manifest — {directory} is not a model saved by qrt",
            hint="a saved model is a directory written by qrt.save_quantized, Quantizer.finalize(mmap_dir=...) "
            "or `qrt run --finalize DIR`",
        )
    _, data = read_json(path, what="manifest", error=FinalizeError)  # bounded, located errors
    if isinstance(data, dict) and data.get("format") == FORMAT and data.get("format_version") != FORMAT_VERSION:
        raise FinalizeError(
            f"{path}: format_version {data.get('format_version')!r}; this qrt ({__version__}) reads version {FORMAT_VERSION}",
            hint="load it with the qrt version that wrote it, or save the model again",
        )
    errors = sorted(jsonschema.Draft202012Validator(schema("quantized-manifest")).iter_errors(data), key=lambda e: list(e.path))
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
    return data


def plan_from_manifest(manifest: dict[str, Any], *, source: str) -> Any:
    """The plan, resolved again from the manifest's rules and inventory; an error when it is
    not the plan the manifest recorded."""
    from qrt.inventory.io import inventory_from_json
    from qrt.resolver.plan import plan_spec_json
    from qrt.api import resolve

    inventory = inventory_from_json(manifest["inventory"], source=f"{source} (inventory)")
    plan = resolve(rules_from_json(manifest["rules"], source=source), inventory)
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
