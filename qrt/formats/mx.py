"""MX formats (OCP Microscaling): blocks of 32 elements sharing one power-of-two scale.

Elements are FP4 E2M1 (``mxfp4``), float8 e4m3fn or e5m2 (``mxfp8``), scales
``float8_e8m0fnu`` (a biased exponent, ``2**(e - 127)``), computed from each tensor as it comes
(torchao's ``MXTensor.to_mx``, which floors the block's largest magnitude to a power of two:
the OCP rule). qrt runs them along one axis; a finalized weight needs its blocks along the last
axis. compressed-tensors writes ``mxfp4-pack-quantized`` (two codes a byte, low nibble first)
and ``mxfp8-quantized``, scales as their exponent bits in uint8.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from qrt.errors import FinalizeError

from qrt.formats.family import Format, FormatFamily, UnsupportedFormat
from qrt.ir.spec import QuantizationSpec

__all__ = ["BLOCK_SIZE", "COMPRESSED_TENSORS_ARGS", "ELEMENT_DTYPES", "MX", "MXFamily", "SCALE_DTYPE"]

BLOCK_SIZE = 32
SCALE_DTYPE = "float8_e8m0fnu"
ELEMENT_DTYPES: tuple[str, ...] = ("float4_e2m1fn_x2", "float8_e4m3fn", "float8_e5m2")
_BITS = {"float4_e2m1fn_x2": 4, "float8_e4m3fn": 8, "float8_e5m2": 8}

COMPRESSED_TENSORS_ARGS: dict[str, Any] = {"group_size": BLOCK_SIZE, "strategy": "group", "scale_dtype": "torch.uint8"}
"""compressed-tensors' ``QuantizationArgs`` fields for an MX weight (its MXFP4/MXFP8 presets)"""


class MXFamily(FormatFamily):
    kind = "mx"
    packed_bits = {"mxfp8": 8, "mxfp4": 4}
    compressed_tensors_formats = {"mxfp4": ("mxfp4-pack-quantized",), "mxfp8": ("mxfp8-quantized",)}
    compressed_tensors_type = "float"
    compressed_tensors_args = COMPRESSED_TENSORS_ARGS

    def claims(self, dtype: str, scale_dtype: str | None) -> bool:
        return scale_dtype == SCALE_DTYPE

    def format(self, spec: QuantizationSpec) -> Format:
        dtype, g = spec.dtype, spec.granularity
        if self.block_size_of(spec) != BLOCK_SIZE or dtype not in ELEMENT_DTYPES:
            raise UnsupportedFormat(
                f"{dtype} with float8_e8m0fnu scales in {g.type} granularity: the MX formats this "
                f"runtime runs are float4_e2m1fn_x2, float8_e4m3fn or float8_e5m2 per_block(32) "
                f"with float8_e8m0fnu scales"
            )
        return Format("mx", dtype, _BITS[dtype], block_size=BLOCK_SIZE)

    def display_name(self, dtype: str, scale_dtype: str | None) -> str:
        if dtype == "float4_e2m1fn_x2":
            return "mxfp4"
        if dtype.startswith("float8"):
            return "mxfp8" if "e4m3" in dtype else "mxfp8_e5m2"
        return dtype

    def lint_problem(self, spec: QuantizationSpec) -> str | None:
        block = self.block_size_of(spec)
        if block is not None and block != BLOCK_SIZE:
            return (
                f"power-of-two (float8_e8m0fnu) scales are the MX formats', which use blocks "
                f"of 32, not {block}"
            )
        return None

    def compressed_tensors_input_args(self, spec: Mapping[str, Any], where: str) -> dict[str, Any] | None:
        # compressed-tensors would hold it (MXFP4/MXFP8 presets: dynamic groups of 32), but its
        # forward computes each block's scale by rounding the block's largest magnitude to a
        # power of two (generate_mx_scales in quantization/utils/mxfp_utils.py: torchao's EVEN
        # mode for FP4, RCEIL for FP8), where qrt floors it (the OCP rule, torchao's default):
        # about one block in six gets another scale, so the checkpoint would not compute what
        # qrt measured. MX weights are exact (their scales are stored).
        raise FinalizeError(
            f"{where}: a {spec['dtype']} MX input quantizer: compressed-tensors computes dynamic MX "
            "activation scales with another rounding than qrt (a power of two rounded, not "
            "floored), so the export would not reproduce qrt's numbers",
            hint="export the MX weights alone with weights_only=True (--weights-only), or quantize "
            "the Linear inputs with a format compressed-tensors stores as qrt computes it "
            "(static per_tensor int8 / float8_e4m3fn, or NVFP4); docs/finalize.md",
        )

    @staticmethod
    def packed_kind(dtype: str) -> str:
        """``mxfp4`` for FP4 elements, ``mxfp8`` for float8 ones."""
        return "mxfp4" if dtype == "float4_e2m1fn_x2" else "mxfp8"


MX = MXFamily()
