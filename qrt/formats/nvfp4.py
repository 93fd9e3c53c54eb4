"""NVFP4-style FP4: E2M1 elements (magnitudes 0, 0.5, 1, 1.5, 2, 3, 4, 6) in blocks with a scale
each, computed from each tensor as it comes.

With ``float8_e4m3fn`` block scales (NVFP4 proper: NVIDIA's, ModelOpt's, compressed-tensors'
``tensor_group``) each block scale is block amax / 6, stored in e4m3 relative to one fp32
per-tensor *global* scale of amax / (448·6); an activation's global scale is calibrated (the
largest magnitude seen), its block scales stay dynamic. Other scale dtypes (float32 by
default, float16, bfloat16) store the block scale itself and have no global scale. Any block
size runs; NVFP4 checkpoints use 16 along the last axis. Stored two codes a byte, low nibble
first (torch's ``float4_e2m1fn_x2``); compressed-tensors writes ``nvfp4-pack-quantized`` with
the *reciprocal* global scale (``448·6 / amax``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from qrt.formats.family import Format, FormatFamily, UnsupportedFormat
from qrt.ir.spec import QuantizationSpec

__all__ = [
    "BLOCK_SIZE",
    "COMPRESSED_TENSORS_ARGS",
    "DTYPE",
    "ELEMENT_MAX",
    "GLOBAL_SCALE_BITS",
    "NVFP4",
    "NVFP4Family",
    "SCALE_DTYPE",
    "SCALE_MAX",
    "is_compressed_tensors_input",
]

DTYPE = "float4_e2m1fn_x2"
ELEMENT_MAX = 6.0
"""the largest FP4 E2M1 magnitude"""
SCALE_DTYPE = "float8_e4m3fn"
"""the block scale dtype that makes FP4 NVFP4 proper (with a global scale)"""
SCALE_MAX = 448.0
"""the largest float8_e4m3fn value: block scales are clamped to it"""
BLOCK_SIZE = 16
"""the block NVFP4 checkpoints (compressed-tensors, ModelOpt) use, along the last axis"""
GLOBAL_SCALE_BITS = 32
_RUNS_WITH = (None, SCALE_DTYPE, "float32", "bfloat16", "float16")

COMPRESSED_TENSORS_ARGS: dict[str, Any] = {
    "group_size": BLOCK_SIZE, "strategy": "tensor_group", "scale_dtype": "torch.float8_e4m3fn",
}  # fmt: skip
"""compressed-tensors' ``QuantizationArgs`` fields for an NVFP4 weight (its NVFP4 preset)"""


class NVFP4Family(FormatFamily):
    kind = "nvfp4"
    packed_bits = {"nvfp4": 4}
    compressed_tensors_formats = {"nvfp4": ("nvfp4-pack-quantized",)}
    compressed_tensors_type = "float"
    compressed_tensors_args = COMPRESSED_TENSORS_ARGS

    def claims(self, dtype: str, scale_dtype: str | None) -> bool:
        return dtype == DTYPE and scale_dtype != "float8_e8m0fnu"

    def format(self, spec: QuantizationSpec) -> Format:
        if spec.scale_dtype not in _RUNS_WITH:
            raise UnsupportedFormat(f"float4_e2m1fn_x2 with {spec.scale_dtype} scales has no implementation")
        return Format("nvfp4", DTYPE, 4, element_max=ELEMENT_MAX, global_scale=spec.scale_dtype == SCALE_DTYPE)

    def display_name(self, dtype: str, scale_dtype: str | None) -> str:
        return "nvfp4" if scale_dtype == SCALE_DTYPE else "fp4_e2m1"

    def lint_problem(self, spec: QuantizationSpec) -> str | None:
        # lint accepts FP4 with MX (claimed by MX) or NVFP4 scales, or none given
        if spec.scale_dtype not in (None, SCALE_DTYPE):
            return (
                f"float4_e2m1fn_x2 with {spec.scale_dtype} scales: FP4 runs as MXFP4 (float8_e8m0fnu "
                f"scales, blocks of 32) or NVFP4 (float8_e4m3fn scales, blocks of 16)"
            )
        return None

    def compressed_tensors_input_args(self, spec: Mapping[str, Any], where: str) -> dict[str, Any] | None:
        """compressed-tensors' NVFP4 (W4A4) activations: dynamic block scales under a static,
        calibrated global scale (quant_scheme.py's NVFP4 preset), as qrt computes them."""
        if not is_compressed_tensors_input(spec):
            return None
        return {"num_bits": 4, "type": "float", "symmetric": True, "strategy": "tensor_group", "group_size": 16,
                "block_structure": None, "dynamic": "local", "actorder": None, "observer": "static_minmax",
                "observer_kwargs": {}, "scale_dtype": "torch.float8_e4m3fn", "zp_dtype": "torch.float8_e4m3fn"}

    @staticmethod
    def global_scale_bits(dtype: str, scale_dtype: str | None) -> int:
        """Bits of the per-tensor global scale a weight of this pair stores (0: none)."""
        return GLOBAL_SCALE_BITS if dtype == DTYPE and scale_dtype == SCALE_DTYPE else 0


def is_compressed_tensors_input(spec: Mapping[str, Any]) -> bool:
    """Whether a (JSON) spec is an input quantizer compressed-tensors holds as NVFP4: e4m3
    block scales in blocks of 16 along the last axis (``input_global_scale`` stored)."""
    g = spec["granularity"]
    return (spec["dtype"] == DTYPE and spec.get("scale_dtype") == SCALE_DTYPE
            and g["type"] == "per_block" and g.get("block_size") in (16, [16]) and g.get("axis") in (-1, None))


NVFP4 = NVFP4Family()
