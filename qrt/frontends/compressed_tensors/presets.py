"""compressed-tensors 0.20's preset schemes, as data (``PRESET_SCHEMES`` in
``compressed_tensors/quantization/quant_scheme.py``).

A ``config_groups`` entry whose value is a list of targets names a preset by its group name
(``{"W4A16": ["Linear"]}``), upper-cased first (``preset_name_to_scheme``); llm-compressor's
``QuantizationModifier(scheme=...)`` reads the same table. qrt does not import
compressed-tensors, so the table is written out here; ``tests/frontends/compressed_tensors``
checks it against the installed library's, argument by argument.
"""

from __future__ import annotations

from typing import Any

__all__ = ["PRESET_SCHEMES", "preset_scheme"]

Args = dict[str, Any]


def _int_wnam(weight_bits: int, act_bits: int = 16) -> dict[str, Args]:
    """``_int_wnam``: integer weights in groups of 128, optional dynamic per-token inputs."""
    scheme: dict[str, Args] = {
        "weights": {"num_bits": weight_bits, "type": "int", "strategy": "group", "group_size": 128,
                    "symmetric": True, "dynamic": False},
    }
    if act_bits < 16:
        scheme["input_activations"] = {"num_bits": act_bits, "type": "int", "strategy": "token",
                                       "symmetric": True, "dynamic": True}
    return scheme


_MX_SCALE = {"scale_dtype": "torch.uint8", "zp_dtype": "torch.uint8"}
_NV_SCALE = {"scale_dtype": "torch.float8_e4m3fn", "zp_dtype": "torch.float8_e4m3fn"}
_NVFP4_W: Args = {"num_bits": 4, "type": "float", "strategy": "tensor_group", "symmetric": True,
                  "dynamic": False, "group_size": 16, **_NV_SCALE}


def _mx_weights(bits: int) -> Args:
    return {"num_bits": bits, "type": "float", "strategy": "group", "symmetric": True, "dynamic": False,
            "group_size": 32, **_MX_SCALE}


def _mx_inputs(bits: int, group: int = 32, scales: bool = True) -> Args:
    return {"num_bits": bits, "type": "float", "strategy": "group", "dynamic": True, "symmetric": True,
            "group_size": group, **(_MX_SCALE if scales else {})}


_W8A8: dict[str, Args] = {
    "weights": {"num_bits": 8, "type": "int", "strategy": "channel", "symmetric": True, "dynamic": False},
    "input_activations": {"num_bits": 8, "type": "int", "strategy": "token", "symmetric": True, "dynamic": True},
}

PRESET_SCHEMES: dict[str, dict[str, Args]] = {
    "UNQUANTIZED": {},
    "W4A16_ASYM": {"weights": {"num_bits": 4, "type": "int", "strategy": "group", "group_size": 128,
                               "symmetric": False, "dynamic": False}},
    "W8A8": _W8A8,
    "INT8": _W8A8,
    "W4AFP8": {
        "weights": {"num_bits": 4, "type": "int", "strategy": "group", "group_size": 128, "symmetric": True,
                    "dynamic": False},
        "input_activations": {"num_bits": 8, "type": "float", "strategy": "token", "symmetric": True,
                              "dynamic": True, "observer": None},
    },
    "FP8": {
        "weights": {"num_bits": 8, "type": "float", "strategy": "tensor", "symmetric": True, "dynamic": False},
        "input_activations": {"num_bits": 8, "type": "float", "strategy": "tensor", "symmetric": True,
                              "dynamic": False, "observer": "static_minmax"},
    },
    "FP8_DYNAMIC": {
        "weights": {"num_bits": 8, "type": "float", "strategy": "channel", "symmetric": True, "dynamic": False},
        "input_activations": {"num_bits": 8, "type": "float", "strategy": "token", "symmetric": True,
                              "dynamic": True},
    },
    "FP8_BLOCK": {
        "weights": {"num_bits": 8, "type": "float", "strategy": "block", "symmetric": True, "dynamic": False,
                    "block_structure": [128, 128]},
        "input_activations": {"num_bits": 8, "type": "float", "strategy": "group", "symmetric": True,
                              "dynamic": True, "group_size": 128},
    },
    "NVFP4A16": {"weights": dict(_NVFP4_W)},
    "NVFP4": {
        "weights": dict(_NVFP4_W),
        "input_activations": {"num_bits": 4, "type": "float", "strategy": "tensor_group", "symmetric": True,
                              "dynamic": "local", "group_size": 16, "observer": "static_minmax", **_NV_SCALE},
    },
    "MXFP4A16": {"weights": _mx_weights(4)},
    "MXFP4": {"weights": _mx_weights(4), "input_activations": _mx_inputs(4)},
    "MXFP4XFP8": {"weights": _mx_weights(4), "input_activations": _mx_inputs(8, 128, scales=False)},
    "MXFP6A16": {"weights": _mx_weights(6)},
    "MXFP6A8": {"weights": _mx_weights(6), "input_activations": _mx_inputs(8)},
    "MXFP8A16": {"weights": _mx_weights(8)},
    "MXFP8": {"weights": _mx_weights(8), "input_activations": _mx_inputs(8)},
    **{f"W{w}A{a}": _int_wnam(w, a) for w, a in (
        (2, 4), (2, 8), (2, 16), (3, 4), (3, 8), (3, 16), (4, 4), (4, 8), (4, 16),
        (5, 8), (5, 16), (6, 8), (6, 16), (7, 8), (7, 16), (8, 16))},
}
"""Preset name → the scheme's quantization args (``weights`` / ``input_activations``), as the
JSON a ``config.json`` would hold; ``INT8`` is an alias of ``W8A8``."""


def preset_scheme(name: str) -> dict[str, Args] | None:
    """The preset a group name names, upper-cased first as compressed-tensors does; ``None``
    for no preset."""
    scheme = PRESET_SCHEMES.get(name.upper())
    return None if scheme is None else {role: dict(args) for role, args in scheme.items()}
