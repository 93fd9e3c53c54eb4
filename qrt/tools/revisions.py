"""``REV:path`` arguments: a file as it was at a git revision, read with ``git show``.

So a CI job can compare a change without a second checkout: ``qrt diff
HEAD~1:configs/w4.yaml configs/w4.yaml --model SPEC``. ``path`` is as git reads it: relative
to the repository's top (``HEAD~1:configs/w4.yaml``) or, starting with ``./``, to the current
folder. An argument that names an existing file, or ``modelopt:NAME``, is never a revision.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from qrt.errors import GitRevisionError

__all__ = ["GitRevisionError", "Revision", "parse_revision", "read_revision"]

_REVISION = re.compile(r"(?P<rev>[^:\s]+):(?P<path>.+)")
_NOT_REVISIONS = ("modelopt:",)


@dataclass(frozen=True)
class Revision:
    rev: str
    path: str

    @property
    def label(self) -> str:
        return f"{self.rev}:{self.path}"


def parse_revision(arg: str) -> Revision | None:
    """The revision an argument names, or ``None`` for a plain path (or ``modelopt:NAME``)."""
    if arg.startswith(_NOT_REVISIONS) or Path(arg).exists():
        return None
    found = _REVISION.fullmatch(arg)
    if found is None or len(found.group("rev")) == 1 and found.group("path").startswith("\\"):
        return None  # C:\\... on Windows
    return Revision(found.group("rev"), found.group("path"))


def _git(*args: str) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(["git", *args], capture_output=True, text=True, check=False)
    except FileNotFoundError:
        raise GitRevisionError(
            "reading a file at a revision needs git, which is not installed",
            hint="install git, or pass the file itself",
        ) from None


def read_revision(revision: Revision) -> str:
    """The text of ``revision.path`` at ``revision.rev``; :class:`GitRevisionError` saying
    which part git did not find."""
    top = _git("rev-parse", "--show-toplevel")
    if top.returncode != 0:
        raise GitRevisionError(
            f"{revision.label}: not inside a git repository, so the revision cannot be read",
            location=revision.label,
            hint="run qrt from the repository's folder, or pass a file path",
        )
    if _git("rev-parse", "--verify", "--quiet", f"{revision.rev}^{{commit}}").returncode != 0:
        raise GitRevisionError(
            f"git revision {revision.rev!r} does not exist",
            location=revision.label,
            hint="name a commit, branch or tag: HEAD~1, main, v1.2 (see `git log --oneline`)",
        )
    shown = _git("show", f"{revision.rev}:{revision.path}")
    if shown.returncode != 0 and not revision.path.startswith(("./", "../")):
        shown = _git("show", f"{revision.rev}:./{revision.path}")
    if shown.returncode != 0:
        raise GitRevisionError(
            f"{revision.path!r} does not exist at revision {revision.rev!r}",
            location=revision.label,
            hint="paths are relative to the repository's top, or to this folder when they start "
            "with ./ (git: " + shown.stderr.strip().splitlines()[-1] + ")" if shown.stderr.strip() else
            "paths are relative to the repository's top, or to this folder when they start with ./",
        )
    return shown.stdout
