"""One side of ``qrt diff``: any qrt input, a plan or lock file, or either at a git revision.

A config (DSL, hierarchical YAML, ModelOpt list, ``modelopt:NAME``) is resolved on the model
given with ``--model``; a plan or lock file already holds its decisions and records the digest
of the inventory it was resolved on, which is how two inputs of different models are told
apart (and refused unless asked for).
"""

from __future__ import annotations

from pathlib import Path

from qrt.errors import DiffInputError, QrtError
from qrt.files import DATA_LIMIT, parse_json, read_text
from qrt.inventory.model import Inventory
from qrt.tools.plan_view import PlanView, plan_kind, view_of_json, view_of_plan
from qrt.tools.revisions import parse_revision, read_revision

__all__ = ["DiffInputError", "load_side", "check_same_model"]


def _as_plan_file(text: str, suffix: str) -> bool:
    if suffix.lower() not in (".json", ".lock"):
        return False
    try:
        head = parse_json(text, file="<sniffed>")
    except QrtError:  # not JSON, too deep …: a .lock is still read as one, and refused located
        return suffix.lower() == ".lock"
    return plan_kind(head) is not None


def load_side(arg: str, inventory: Inventory | None) -> PlanView:
    """The plan rows of one ``qrt diff`` argument."""
    revision = parse_revision(arg)
    if revision is not None:
        text = read_revision(revision)
        label, suffix, base = revision.label, Path(revision.path).suffix, Path(revision.path).parent
    elif arg.startswith("modelopt:"):
        text, label, suffix, base = None, arg, "", None
    else:
        path = Path(arg)
        text = read_text(path, what="diff input", limit=DATA_LIMIT, error=DiffInputError)
        label, suffix, base = arg, path.suffix, path.parent
    if text is not None and _as_plan_file(text, suffix):
        return view_of_json(text, label)
    if inventory is None:
        raise DiffInputError(
            f"{label} is a config: comparing it needs a model to resolve it on",
            location=label,
            hint="pass --model SPEC (a saved inventory needs no torch), or compare two plan "
            "files written by `qrt resolve ... -o plan.json`",
        )
    from qrt.frontends.source import load_rule_source, rule_source_from_text
    from qrt.resolver.plan import resolve_source

    if revision is not None:
        assert text is not None
        source = rule_source_from_text(text, label=label, suffix=suffix, base_dir=base)
    else:
        source = load_rule_source(arg)
    return view_of_plan(resolve_source(source, inventory), label)


def check_same_model(a: PlanView, b: PlanView, inventory: Inventory | None, *, across: bool) -> None:
    """Refuse to compare plans of different models (unless ``across``)."""
    if across:
        return
    want = inventory.sha256 if inventory is not None else None
    for side in (a, b):
        if want is not None and side.inventory_sha256 not in (None, want):
            raise DiffInputError(
                f"{side.label} was resolved on another model than --model (inventory digest "
                f"{side.inventory_sha256[:12]}… vs {want[:12]}…)",
                location=side.label,
                hint="resolve it again on this model, or pass --across-models to compare plans of "
                "two models (sites on one side only show as absent)",
            )
    if a.inventory_sha256 and b.inventory_sha256 and a.inventory_sha256 != b.inventory_sha256:
        raise DiffInputError(
            f"{a.label} and {b.label} are plans of different models (inventory digests "
            f"{a.inventory_sha256[:12]}… and {b.inventory_sha256[:12]}…)",
            hint="pass --model SPEC with two configs to resolve both on one model, or "
            "--across-models to compare the plans anyway (sites on one side only show as absent)",
        )
    if (a.inventory_sha256 is None or b.inventory_sha256 is None) and set(a.rows) != set(b.rows):
        raise DiffInputError(
            f"{a.label} and {b.label} do not have the same sites, so they are plans of different "
            "models",
            hint="pass --across-models to compare them anyway",
        )
