"""Write ``rules/modelopt/<NAME>.yaml`` from ModelOpt 0.47's presets as data.

The data file (``tests/data/modelopt_0.47_presets.json``) holds the released configs' values
with tuples written as lists and integer keys as strings; the YAML files written here give the
integer keys back (``-1: 16``) and keep ``num_bits: [4, 3]`` as a list, which qrt reads as the
tuple. Run it again after updating the data file; ``tests/frontends/wildcard/test_presets.py``
checks that the shipped files say exactly what the data says.

    python scripts/write_modelopt_presets.py
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run from a checkout without installing

from qrt.frontends.wildcard.writer import dump_wildcard  # noqa: E402

DATA = ROOT / "tests" / "data" / "modelopt_0.47_presets.json"
OUT = ROOT / "rules" / "modelopt"
INT_KEYED = ("block_sizes", "bias", "scale_block_sizes")


def _int_keys(value: Any, parent: str | None = None) -> Any:
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            key: Any = k
            if parent in INT_KEYED and isinstance(k, str) and k.lstrip("-").isdigit():
                key = int(k)
            out[key] = _int_keys(v, k if isinstance(k, str) else parent)
        return out
    if isinstance(value, list):
        return [_int_keys(v, parent) for v in value]
    return value


def main() -> int:
    about = json.loads(DATA.read_text())
    version = about["_about"]["modelopt_version"]
    OUT.mkdir(parents=True, exist_ok=True)
    for name, preset in sorted(about["presets"].items()):
        body: dict[str, Any] = {}
        if "algorithm" in preset:
            body["algorithm"] = preset["algorithm"]
        body["quant_cfg"] = _int_keys(preset["quant_cfg"])
        header = (
            f"{name}: ModelOpt {version}'s preset of that name, as a wildcard list (docs/semantics.md §4).\n"
            f"Written by scripts/write_modelopt_presets.py from the released config's values;\n"
            f"load it as `modelopt:{name}` (qrt resolve modelopt:{name} --model ...)."
        )
        text = dump_wildcard(body, header=header)
        (OUT / f"{name}.yaml").write_text(text, encoding="utf-8")
    print(f"wrote {len(about['presets'])} presets to {OUT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
