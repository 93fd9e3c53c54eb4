"""Plan lock files: the resolved plan of a config on a model, checked into the repository.

``package-lock.json`` for quantization plans: ``qrt lock CONFIG --model SPEC -o plan.lock``
writes every site's decision, sorted by quantizer path, one site per line (so a change reads
as changed lines in review), sealed (:mod:`qrt.sealed_json`), with a header saying what made
it: qrt's version, the config and the digest of its text, the model and the digest of its
inventory. ``qrt lock --check plan.lock CONFIG --model SPEC`` resolves again and fails when
the config, the model or qrt would now give another plan; a changed digest alone (an edited
comment, a re-traced but equal model) is reported and passes.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from qrt._version import __version__
from qrt.files import read_text
from qrt.sealed_json import digest, dumps_sealed
from qrt.tools.plan_diff import PlanDiff, diff_views
from qrt.tools.plan_view import PlanView, view_of_json, view_of_plan

__all__ = ["LOCK_VERSION", "LockCheck", "check_lock", "config_digest", "lock_text"]

LOCK_VERSION = 1
_ROW_FIELDS = ("quantizer_path", "module_type", "op_type", "role", "key", "decision", "origin")


def config_digest(label: str) -> str | None:
    """The digest of a config file's text (``None`` for ``modelopt:NAME`` and non-files)."""
    path = Path(label)
    if not path.is_file():
        if label.startswith("modelopt:"):
            from qrt.frontends.wildcard.presets import _folder

            shipped = _folder() / f"{label.split(':', 1)[1]}.yaml"
            return digest(shipped.read_text(encoding="utf-8")) if shipped.is_file() else None
        return None
    return digest(read_text(path, what="config file"))


def lock_text(plan: Any, config: str) -> str:
    """The lock file of ``plan`` (resolved from ``config``)."""
    data = plan.to_json()
    sites = sorted(({k: row[k] for k in _ROW_FIELDS} for row in data["sites"]), key=lambda r: r["quantizer_path"])
    return dumps_sealed(
        {
            "qrt_lock": LOCK_VERSION,
            "qrt_version": __version__,
            "config": config,
            "config_sha256": config_digest(config),
            "model": data.get("model", {}),
            "inventory_sha256": data.get("inventory_sha256"),
            "summary": data.get("summary", {}),
            "sites": sites,
        }
    )


@dataclass
class LockCheck:
    diff: PlanDiff
    notes: list[str]

    @property
    def ok(self) -> bool:
        return self.diff.equal


def check_lock(lock_label: str, lock_text_: str, plan: Any, config: str) -> LockCheck:
    """Compare a lock file with the plan the config gives now."""
    locked = view_of_json(lock_text_, lock_label)
    if not locked.header:
        from qrt.tools.plan_view import PlanFileError

        raise PlanFileError(
            f"{lock_label} is a plan, not a lock file",
            location=lock_label,
            hint="write a lock file with `qrt lock CONFIG --model SPEC -o plan.lock`",
        )
    now: PlanView = view_of_plan(plan, f"{config} (now)")
    locked.label = f"{lock_label} (locked)"
    notes = []
    header = locked.header
    if header.get("qrt_version") != __version__:
        notes.append(f"written by qrt {header.get('qrt_version')}, checked with qrt {__version__}")
    if header.get("config") != config:
        notes.append(f"locked config was {header.get('config')!r}, checking {config!r}")
    elif header.get("config_sha256") and header.get("config_sha256") != config_digest(config):
        notes.append("the config's text changed since it was locked")
    if header.get("inventory_sha256") != now.inventory_sha256:
        notes.append("the model changed since it was locked (its inventory digest differs)")
    return LockCheck(diff_views(locked, now), notes)
