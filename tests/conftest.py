"""Shared test set-up: hypothesis profiles and small helpers.

Profiles: ``ci`` (default: fast, deterministic) and ``heavy`` (local runs:
``QRT_HYPOTHESIS_PROFILE=heavy pytest``).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from hypothesis import HealthCheck, settings

ROOT = Path(__file__).resolve().parent.parent

settings.register_profile(
    "ci",
    max_examples=40,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("heavy", max_examples=1000, deadline=None)
settings.load_profile(os.environ.get("QRT_HYPOTHESIS_PROFILE", "ci"))

if str(ROOT) not in sys.path:  # tests run from the tree even without an install
    sys.path.insert(0, str(ROOT))


def run_qrt(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None):
    """Run the CLI in a fresh interpreter, exactly as a user's shell would."""
    import subprocess

    full_env = {**os.environ, "PYTHONPATH": str(ROOT), "NO_COLOR": "1", **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "qrt", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=full_env,
        timeout=300,
    )
