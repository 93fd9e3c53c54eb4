"""qrt's bounded reader under an address-space cap (``prlimit --as``, as a memory-capped
sequential run sets): reading a small file must not reserve the reader's whole limit."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import ROOT


def test_a_small_file_reads_under_a_cap_far_below_the_limit() -> None:
    code = (
        "import resource\n"
        "resource.setrlimit(resource.RLIMIT_AS, (700 << 20, 700 << 20))\n"
        "from qrt.files import read_text\n"
        f"print(len(read_text({str(ROOT / 'README.md')!r}, what='file', limit=1 << 30)))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert int(done.stdout) == len((ROOT / "README.md").read_text(encoding="utf-8"))
