"""``import qrt`` and every command that needs no model must not import torch."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT, run_qrt


def python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)


def test_import_qrt_does_not_import_torch() -> None:
    done = python("import qrt, sys; assert 'torch' not in sys.modules, 'torch imported'")
    assert done.returncode == 0, done.stderr


def test_cli_on_a_saved_inventory_does_not_import_torch(tmp_path: Path) -> None:
    inv = tmp_path / "inv.json"
    assert run_qrt("inspect", "--model", "cnn", "--format", "json", "-o", str(inv)).returncode == 0
    code = (
        "import sys\n"
        "from qrt.cli.main import main\n"
        f"rc = main(['inspect', '--model', {str(inv)!r}, '--filter', 'fc.*'])\n"
        "assert rc == 0\n"
        "assert 'torch' not in sys.modules, 'torch imported'\n"
    )
    done = python(code)
    assert done.returncode == 0, done.stderr
    assert "fc.weight_quantizer" in done.stdout


def test_resolve_and_explain_on_a_saved_inventory_do_not_import_torch(tmp_path: Path) -> None:
    inv = tmp_path / "inv.json"
    assert run_qrt("inspect", "--model", "tiny_llama", "--format", "json", "-o", str(inv)).returncode == 0
    rules = ROOT / "rules" / "w8a8.qrt"
    code = (
        "import sys\n"
        "from qrt.cli.main import main\n"
        f"assert main(['resolve', {str(rules)!r}, '--model', {str(inv)!r}, '-o', {str(tmp_path / 'plan.json')!r}]) == 0\n"
        f"assert main(['explain', {str(rules)!r}, '--model', {str(inv)!r}, 'lm_head.*']) == 0\n"
        "assert 'torch' not in sys.modules, 'torch imported'\n"
    )
    done = python(code)
    assert done.returncode == 0, done.stderr
    assert "w8a8_weight" in done.stdout


def test_explain_on_a_saved_quantized_model_does_not_import_torch(tmp_path: Path) -> None:
    """``qrt explain DIR QUERY`` reads the manifest only: no torch (FinalizeError, which its
    errors raise, lives in ``qrt.errors``)."""
    saved = tmp_path / "saved"
    done = run_qrt("run", str(ROOT / "rules" / "w8a8.qrt"), "--model", "tiny_llama", "--finalize", str(saved),
                   "--allow-low-coverage", "--no-compare")
    assert done.returncode == 0, done.stderr
    code = (
        "import sys\n"
        "from qrt.cli.main import main\n"
        f"rc = main(['explain', {str(saved)!r}, 'lm_head.weight_quantizer'])\n"
        "assert 'torch' not in sys.modules, 'torch imported'\n"
        "sys.exit(rc)\n"
    )
    done = python(code)
    assert done.returncode == 0, done.stderr
