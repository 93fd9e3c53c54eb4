"""What the report tests share: a tiny_llama inventory file, two rule files whose cascades have
winners and losers, and the explain text rebuilt from a report as its page rebuilds it."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from qrt.inventory.model import Inventory

from tests.conftest import run_qrt

# a cascade with every kind of step: a preset's rules replaced, a priority that beats order
RULES = """\
include preset w8a8
op linear weight -> int4 per_block(32)
module /lm_head/ -> off priority (1)
"""
OTHER = """\
include preset w8a8
"""
WEIGHT = "model.layers.0.self_attn.q_proj.weight_quantizer"


@cache
def tiny_llama() -> Inventory:
    """The built-in tiny_llama's inventory, traced once for every report and coverage test."""
    from qrt.model_inventory import load_model_inventory

    return load_model_inventory("tiny_llama")


def write_inputs(folder: Path) -> tuple[str, str, str]:
    """``(inventory, rules, other)`` paths in ``folder``."""
    from qrt.inventory.io import save_inventory

    inv = folder / "inv.json"
    if not inv.exists():
        save_inventory(tiny_llama(), inv)
    (folder / "rules.qrt").write_text(RULES)
    (folder / "other.qrt").write_text(OTHER)
    return str(inv), str(folder / "rules.qrt"), str(folder / "other.qrt")


def explain_text(doc: dict[str, Any], path: str) -> str:
    """A site's explanation as the page shows it: its heading rebuilt from the site, then the
    shared cascade text (``explainText`` in qrt/_data/report.html)."""
    site = next(s for s in doc["sites"] if s["path"] == path)
    module = doc["modules"][site["module"]]
    head = f"{site['path']}  {site['label']}\n"
    if site["aliases"]:
        head += f"  also named {', '.join(site['aliases'])}\n"
    head += f"  module {module['name'] or '<root>'} ({module['type']})\n"
    return head + doc["explanations"][site["explain"]]


def report_json(*args: str) -> dict[str, Any]:
    done = run_qrt("report", *args, "--format", "json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)
