"""Write the hostile-input corpus (``tests/hostile/corpus/``): ``python tests/hostile/write_corpus.py``.

Each file is one hostile (or, named ``ok-*``, one valid but unusual) input to a door that
reads rule files (``qrt resolve``, ``qrt lint``, ``qrt explain``). The files are generated,
not hand-typed, because several are megabytes of structure from a line of Python (an alias
bomb, 10,000 nested brackets) and must stay exactly what their name says; they are committed
so that CI and a reader see the very bytes that are tried. ``model.json`` is the inventory
they are resolved on (the built-in ``mha`` model: Linear weights of shape [32, 32]).
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
CORPUS = HERE / "corpus"

LAUGHS = '["lol","lol","lol","lol","lol","lol","lol","lol","lol"]'


def _bomb(list_form: bool) -> str:
    lead = "- " if list_form else ""
    lines, previous = [f"{lead}{'' if list_form else 'a: '}&a {LAUGHS}"], "a"
    for name in "bcdefghi":
        key = "" if list_form else f"{name}: "
        lines.append(f"{lead}{key}&{name} [" + ",".join([f"*{previous}"] * 9) + "]")
        previous = name
    return "\n".join(lines) + "\n"


DEEP = 10_000
RULE = "op linear weight -> int8\n"

FILES: dict[str, str | bytes] = {
    # -- readers: binary, encodings, control characters -------------------------------------
    "latin1.qrt": b"op linear weight -> int8\n# caf\xe9\n",
    "nul.yaml": b"quantization_config: {}\nPNG\x00\x00",
    "utf16.json": '[{"quantizer_name": "*"}]'.encode("utf-16"),
    "esc.yaml": "quantization_config:\n  global_config: \x1b[31m\n",
    "nul-in-value.yaml": "quantization_config:\n  global_config: \0\n",
    "ok-bom.qrt": b"\xef\xbb\xbf" + RULE.encode(),
    "ok-crlf.qrt": RULE.replace("\n", "\r\n"),
    "empty.qrt": "",
    "empty.yaml": "",
    "empty.json": "",
    "only-comment.qrt": "# nothing\n",
    # -- bombs and depth ---------------------------------------------------------------------
    "alias-bomb.yaml": "quantization_config: {}\n" + _bomb(False),
    "alias-bomb-list.yaml": _bomb(True),
    "deep-10000.yaml": "quantization_config: " + "[" * DEEP + "]" * DEEP + "\n",
    "deep-10000-list.yaml": "- " + "[" * DEEP + "]" * DEEP + "\n",
    "deep-1200.json": "[" * 1200 + "]" * 1200,
    "deep-150-lines.json": "[\n" * 150 + "]" * 150,
    "deep-5000-groups.qrt": "module /" + "(" * 5000 + "a" + ")" * 5000 + "/ -> off\n",
    # -- numbers -----------------------------------------------------------------------------
    "digits-5000.yaml": "quantization_config:\n  x: " + "9" * 5000 + "\n",
    "digits-5000.json": '[{"quantizer_name": "*", "cfg": {"num_bits": ' + "7" * 5000 + "}}]",
    "digits-5000.qrt": "op linear weight -> int8 priority " + "9" * 5000 + "\n",
    "nan.json": '[{"quantizer_name": "*weight_quantizer", "cfg": {"num_bits": NaN}}]',
    "infinity.json": '[{"quantizer_name": "*weight_quantizer", "cfg": {"num_bits": 8, "axis": -Infinity}}]',
    "nan.yaml": "- quantizer_name: '*weight_quantizer'\n  cfg: {num_bits: .nan}\n",
    "priority-nan.qrt": "op linear weight -> int8 priority nan\n",
    # -- strings -----------------------------------------------------------------------------
    "surrogate.qrt": 'quantizer "*\\ud800*" -> int8\n',
    "surrogate.yaml": 'quantization_config:\n  module_name_configs:\n    "\\ud800": null\n',
    "surrogate.json": '[{"quantizer_name": "*\\ud800*", "enable": false}]',
    "ok-unicode-name.qrt": 'quantizer "*größe*" -> int8\n',
    # -- values a plan cannot hold on this model -------------------------------------------
    "axis-7.qrt": "op linear weight -> int8 per_channel(axis=7)\n",
    "axis-7.yaml": "quantization_config:\n  global_config:\n    op_state_spec:\n      weight: {dtype: int8, granularity: {type: per_channel, axis: 7}}\n",
    "axis-7.json": '[{"quantizer_name": "*weight_quantizer", "cfg": {"num_bits": 8, "axis": 7}}]',
    "block-1e12.qrt": "op linear weight -> int4 per_block(1000000000000)\n",
    "block-1e12.json": '[{"quantizer_name": "*weight_quantizer", "cfg": {"num_bits": 4, "block_sizes": {"-1": 1000000000000}}}]',
    "block-0.qrt": "op linear weight -> int4 per_block(0)\n",
    "algorithm-nonsense.json": '{"quant_cfg": [{"quantizer_name": "*weight_quantizer", "cfg": {"num_bits": 8}}], "algorithm": {"method": "nonsense"}}',
    "algorithm-nonsense.yaml": "quantization_config:\n  global_config: {weight: {dtype: int8}}\nalgorithm: {method: nonsense}\n",
    "num-bits-0.json": '[{"quantizer_name": "*weight_quantizer", "cfg": {"num_bits": 0}}]',
    "num-bits-true.json": '[{"quantizer_name": "*weight_quantizer", "cfg": {"num_bits": true}}]',
    "dtype-nonsense.yaml": "quantization_config:\n  global_config: {weight: {dtype: int77}}\n",
    "unknown-key.yaml": "quantization_config:\n  global_config: {weight: {dtype: int8, bogus: 1}}\n",
    # -- structure -------------------------------------------------------------------------
    "yaml-object-tag.yaml": "quantization_config: !!python/object/apply:os.system ['true']\n",
    "yaml-scalar.yaml": "42\n",
    "json-string.json": '"quant_cfg"',
    "json-null-entries.json": "[null, null]",
    "unterminated.qrt": 'quantizer "*weight_quantizer -> int8\n',
    "garbage.qrt": "}{ -> -> ->\n",
    "self-include.qrt": 'include "self-include.qrt"\n',
    "include-missing.qrt": 'include "no-such-file.qrt"\n',
    "include-dir.qrt": 'include "."\n',
    "include-absolute.qrt": 'include "/etc/passwd"\n',
    "regex-bad.qrt": "module /(unclosed/ -> off\n",
    "regex-catastrophic.qrt": "module /(a+)+$/ -> off\n",
    "ok-glob-many-stars.qrt": 'quantizer "' + "*" * 2000 + 'weight_quantizer" -> int8\n',
}


def main() -> int:
    CORPUS.mkdir(exist_ok=True)
    for name, content in FILES.items():
        path = CORPUS / name
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8", newline="")
    link = CORPUS / "dev-zero.qrt"
    if not link.is_symlink():
        link.symlink_to("/dev/zero")
    link = CORPUS / "include-dev-zero.qrt"
    link.write_text('include "dev-zero.qrt"\n', encoding="utf-8")
    if "--model" in sys.argv:  # the inventory: needs torch, once
        from qrt.inventory.io import save_inventory
        from qrt.model_inventory import load_model_inventory

        save_inventory(load_model_inventory("mha"), HERE / "model.json")
    print(f"wrote {len(FILES) + 2} files to {CORPUS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
