"""Run every file of the hostile corpus through the doors that read rule files, in one process
under a memory cap and a per-file timeout; print one JSON line per (file, door).

    python tests/hostile/run_corpus.py [--mem-mib 1536] [--timeout 20]

``qrt resolve``, ``qrt lint`` and ``qrt explain`` run in-process on ``model.json`` (a saved
inventory: no torch is imported). The process caps its own address space (RLIMIT_AS), so an
unbounded read or an alias bomb ends as a ``MemoryError`` here rather than on the machine,
and each call has an alarm, so a hang ends as ``"hang"``. ``tests/test_hostile.py`` runs this
script in a fresh process and checks every line; CI runs it with the rest of the suite.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import resource
import signal
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
CORPUS = HERE / "corpus"
MODEL = HERE / "model.json"
DOORS = ("resolve", "lint", "explain")
"""Every door ``--doors`` may name; the test runs resolve and lint (explain reads the file as
resolve does, and a third pass over the corpus would cost the suite seconds)."""


class _Hang(Exception):
    pass


def _alarm(signum: int, frame: object) -> None:
    raise _Hang()


def run_one(path: Path, door: str, timeout: int) -> dict[str, object]:
    from qrt.cli.main import main

    argv = {
        "resolve": ["resolve", path.name, "--model", str(MODEL)],
        "lint": ["lint", path.name, "--model", str(MODEL)],
        "explain": ["explain", path.name, "--model", str(MODEL), "proj"],
    }[door]
    out, err = io.StringIO(), io.StringIO()
    start = time.perf_counter()
    signal.alarm(timeout)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code: object = main(argv)
            except SystemExit as exit_:
                code = exit_.code
    except _Hang:
        code = "hang"
    except MemoryError:
        code = "memory"
    except BaseException as exc:  # noqa: BLE001 - recorded, the test fails on it
        code = f"raised {type(exc).__name__}: {exc}"
    finally:
        signal.alarm(0)
    said = out.getvalue() + err.getvalue()
    return {"file": path.name, "door": door, "code": code, "seconds": round(time.perf_counter() - start, 3),
            "said": said if len(said) <= 4000 else said[:2000] + "\n…\n" + said[-2000:]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mem-mib", type=int, default=1536)
    parser.add_argument("--timeout", type=int, default=20)
    parser.add_argument("--doors", default=",".join(DOORS), help="comma-separated: resolve,lint,explain")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    import os

    os.chdir(CORPUS)  # includes and messages name files relative to the corpus
    import qrt.cli.main  # noqa: F401 - imported before the cap, as a user's process has it

    cap = args.mem_mib << 20
    resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    signal.signal(signal.SIGALRM, _alarm)
    for path in sorted(CORPUS.iterdir(), key=lambda p: p.name):
        for door in args.doors.split(","):
            print(json.dumps(run_one(path, door, args.timeout)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
