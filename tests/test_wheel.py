"""A non-editable wheel ships grammar/, schemas/ and rules/ and runs from its install."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.conftest import ROOT


@pytest.mark.slow
def test_wheel_contains_data_and_runs(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-w", str(dist), str(ROOT)],
        capture_output=True,
        text=True,
    )
    assert build.returncode == 0, build.stderr[-2000:]
    (wheel,) = dist.glob("qrt-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    shipped = [
        f"qrt/_data/{folder}/{f.name}"
        for folder, pattern in (
            ("grammar", "*.lark"), ("schemas", "*.json"), ("rules", "*.qrt"), ("rules/presets", "*.yaml"),
            ("rules/modelopt", "*.yaml"),
        )
        for f in (ROOT / folder).glob(pattern)
    ]
    assert "qrt/_data/schemas/inventory.schema.json" in shipped
    shipped.append("qrt/_data/report.html")  # qrt report's page template
    assert set(shipped) <= names, sorted(set(shipped) - names)

    target = tmp_path / "site"
    install = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "--target", str(target), str(wheel)],
        capture_output=True,
        text=True,
    )
    assert install.returncode == 0, install.stderr[-2000:]
    env = {**os.environ, "PYTHONPATH": str(target)}
    code = (
        "import qrt, qrt.resources as r\n"
        f"assert qrt.__file__.startswith({str(target)!r}), qrt.__file__\n"
        "assert r.data_dir('schemas').joinpath('inventory.schema.json').is_file()\n"
        "assert 'qrt_inventory' in r.schema('inventory')['properties']\n"
        "rules = qrt.parse_rules('include preset w8a8')\n"
        "from qrt.frontends.wildcard.presets import available_modelopt_presets, load_modelopt_preset\n"
        "assert len(available_modelopt_presets()) == 39, available_modelopt_presets()\n"
        "assert len(load_modelopt_preset('FP8_DEFAULT_CFG')) > 3\n"
        f"assert str(rules.rules[0].origin.file).startswith({str(target)!r}), rules.rules[0].origin\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    out = tmp_path / "inv.json"
    run = subprocess.run(
        [sys.executable, "-m", "qrt", "inspect", "--model", "two_add", "--format", "json", "-o", str(out)],
        capture_output=True, text=True, env=env, cwd=tmp_path,
    )
    assert run.returncode == 0, run.stderr
    again = subprocess.run(
        [sys.executable, "-m", "qrt", "inspect", "--model", str(out)],
        capture_output=True, text=True, env=env, cwd=tmp_path,
    )
    assert again.returncode == 0 and "submodule_b.add_1" in again.stdout, again.stderr
    (tmp_path / "rules.qrt").write_text("op add input -> int8\n")
    page = subprocess.run(  # qrt report's page template comes from the installed package
        [sys.executable, "-m", "qrt", "report", "rules.qrt", "--model", str(out), "-o", "plan.html"],
        capture_output=True, text=True, env=env, cwd=tmp_path,
    )
    assert page.returncode == 0, page.stderr
    assert '"qrt_report":1' in (tmp_path / "plan.html").read_text()


def test_every_package_is_listed_in_pyproject() -> None:
    """pyproject lists packages explicitly (the data packages are mapped), so guard the list."""
    import tomllib

    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    on_disk = {
        ".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "qrt").rglob("__init__.py")
    }
    assert on_disk <= listed, sorted(on_disk - listed)
