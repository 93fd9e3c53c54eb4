"""``--model SPEC``: one syntax, for every command, for where a model comes from.

=========================================  ===============================================
spec                                       meaning
=========================================  ===============================================
``two_add`` / ``builtin:two_add``          a built-in example (``qrt inspect --list-models``)
``path/to/file.py:factory``                a callable in a Python file
``package.module:factory``                 a callable in an importable module
``path/to/config.json`` / ``path/to/dir``  a Hugging Face config (built on ``meta``; ``qrt[hf]``)
``hf:path``                                the same, explicitly
``inventory.json``                         a saved inventory (no torch needed)
=========================================  ===============================================

A factory returns a model, or ``(model, example_inputs)`` where the inputs are a tensor, a
tuple of positional arguments, or a dict of keyword arguments.

This module decides *which* kind a spec is without importing torch; building and tracing a
model is left to ``qrt.runtime.sources`` (which reads the parsed spec), and
:func:`qrt.model_inventory.load_model_inventory` joins the two with the inventory cache.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from qrt.errors import ModelSourceError
from qrt.files import DATA_LIMIT, read_json

__all__ = ["ModelSpec", "parse_model_spec", "BUILTIN_NAMES", "SPEC_FORMS"]

Kind = Literal["builtin", "file", "module", "hf", "inventory"]

#: the names of built-in examples; ``qrt.runtime.examples.EXAMPLES`` holds the models.
BUILTIN_NAMES = ("two_add", "cnn", "mha", "tiny_llama")

SPEC_FORMS = (
    "valid forms: a built-in name (" + ", ".join(BUILTIN_NAMES) + "), "
    "path/to/file.py:factory, package.module:factory, a Hugging Face config.json or model "
    "directory (hf:PATH), or a saved inventory .json"
)


@dataclass(frozen=True)
class ModelSpec:
    kind: Kind
    target: str
    attr: str | None = None
    text: str = ""


def _peek_json(path: Path) -> dict[str, Any] | None:
    try:
        _, data = read_json(path, what="model spec", limit=DATA_LIMIT, error=ModelSourceError)
    except ModelSourceError as exc:
        extra = "a .json model spec must be a qrt inventory or a Hugging Face config.json"
        exc.hint = f"{exc.hint}\n{extra}" if exc.hint else extra
        exc.args = (exc.render(),)
        raise
    return data if isinstance(data, dict) else None


def parse_model_spec(text: str) -> ModelSpec:
    """Classify a ``--model`` value; raises :class:`ModelSourceError` listing the valid forms."""
    spec = text.strip()
    if not spec:
        raise ModelSourceError("empty model spec", hint=SPEC_FORMS)
    if spec.startswith("builtin:") or spec in BUILTIN_NAMES:
        name = spec.removeprefix("builtin:")
        if name not in BUILTIN_NAMES:
            from qrt.errors import did_you_mean

            raise ModelSourceError(
                f"no built-in model named {name!r}",
                hint=did_you_mean(name, BUILTIN_NAMES) or "built-ins: " + ", ".join(BUILTIN_NAMES),
            )
        return ModelSpec("builtin", name, text=spec)
    if spec.startswith("hf:"):
        folder = Path(spec[3:])
        config = folder / "config.json" if folder.is_dir() else folder
        if config.exists():
            _peek_json(config)  # bounded: a config.json that is /dev/zero fails here, not in transformers
        return ModelSpec("hf", spec[3:], text=spec)
    path = Path(spec)
    if path.is_dir():
        if not (path / "config.json").exists():
            raise ModelSourceError(
                f"directory {spec} has no config.json",
                hint="a model directory spec must be a Hugging Face model folder; " + SPEC_FORMS,
            )
        _peek_json(path / "config.json")
        return ModelSpec("hf", spec, text=spec)
    if path.suffix == ".json" and path.exists():  # a device or FIFO too: _peek_json refuses it
        data = _peek_json(path)
        if data is not None and "qrt_inventory" in data:
            return ModelSpec("inventory", spec, text=spec)
        if data is not None and ("model_type" in data or "architectures" in data):
            return ModelSpec("hf", spec, text=spec)
        raise ModelSourceError(
            f"{spec} is neither a qrt inventory nor a Hugging Face config",
            location=spec,
            hint="an inventory has a 'qrt_inventory' key; an HF config has 'model_type'",
        )
    match = re.fullmatch(r"(?P<target>.+):(?P<attr>[A-Za-z_][A-Za-z0-9_.]*)", spec)
    if match:
        target, attr = match["target"], match["attr"]
        if target.endswith(".py"):
            if not Path(target).is_file():
                raise ModelSourceError(f"no such file: {target}", hint=SPEC_FORMS)
            return ModelSpec("file", target, attr, text=spec)
        if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*", target):
            return ModelSpec("module", target, attr, text=spec)
    if path.suffix == ".json":
        raise ModelSourceError(f"no such file: {spec}", hint=SPEC_FORMS)
    from qrt.errors import did_you_mean

    close = did_you_mean(spec, BUILTIN_NAMES)  # a mistyped built-in name (tiny_lama)
    raise ModelSourceError(
        f"cannot tell what model {spec!r} names" + (": no built-in model has that name" if close else ""),
        hint=(close + "\n" if close else "") + SPEC_FORMS,
    )
