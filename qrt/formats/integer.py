"""Integer formats: ``int2``–``int8`` and ``uint2``–``uint8``, affine with a scale (and zero
point) per group.

The code range is the dtype's: ``[-2**(b-1), 2**(b-1) - 1]`` signed, ``[0, 2**b - 1]``
unsigned. A finalized weight stores codes minus ``qmin`` (unsigned), two to a byte for 4 bits
and four for 2 bits (low bits first), one a byte otherwise (3, 5, 6, 7 bits have no portable
packing). compressed-tensors writes them as ``pack-quantized`` (int32 words), or one code a
byte (``naive-quantized``, ``int-quantized`` when the inputs are quantized too).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from qrt.formats.family import Format, FormatFamily
from qrt.ir.spec import INT_QUANT_DTYPES, QuantizationSpec

__all__ = ["INTEGER", "IntegerFamily", "PACKED_BELOW_A_BYTE", "int_range"]

PACKED_BELOW_A_BYTE: tuple[int, ...] = (2, 4)
"""bit widths whose codes share a byte in qrt's own packed form (``8 // bits`` a byte)"""


def int_range(dtype: str) -> tuple[int, int, int, bool]:
    """``(bits, qmin, qmax, signed)`` of an integer dtype name such as ``int4`` or ``uint8``."""
    signed = dtype.startswith("int")
    bits = int(dtype.lstrip("uint"))
    if signed:
        return bits, -(2 ** (bits - 1)), 2 ** (bits - 1) - 1, True
    return bits, 0, 2**bits - 1, False


class IntegerFamily(FormatFamily):
    kind = "int"
    packed_bits = {"int": None}
    compressed_tensors_formats = {"int": ("pack-quantized", "naive-quantized", "int-quantized")}
    compressed_tensors_type = "int"
    one_scale_per_group = True
    compressed_tensors_with_inputs = "int-quantized"
    has_zero_point = True

    def claims(self, dtype: str, scale_dtype: str | None) -> bool:
        return dtype in INT_QUANT_DTYPES and scale_dtype != "float8_e8m0fnu"

    def format(self, spec: QuantizationSpec) -> Format:
        bits, qmin, qmax, signed = int_range(spec.dtype)
        return Format("int", spec.dtype, bits, signed, qmin, qmax)

    def display_name(self, dtype: str, scale_dtype: str | None) -> str:
        return dtype

    def compressed_tensors_input_args(self, spec: Mapping[str, Any], where: str) -> dict[str, Any] | None:
        """A static per-tensor int8 input (``input_scale``, ``input_zero_point`` when asymmetric)."""
        if spec["granularity"]["type"] != "per_tensor" or spec["dtype"] != "int8":
            return None
        return {"num_bits": 8, "type": "int", "symmetric": spec["qscheme"] == "symmetric", "strategy": "tensor",
                "group_size": None, "block_structure": None, "dynamic": False, "actorder": None,
                "observer": "minmax", "observer_kwargs": {}}


INTEGER = IntegerFamily()
