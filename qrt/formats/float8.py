"""float8 formats: ``float8_e4m3fn`` and ``float8_e5m2`` elements under a scale per group.

The scale is the group's largest magnitude over the format's largest value (448 for e4m3fn,
57344 for e5m2), elements are rounded by a cast (torchao's ``_quantize_affine_float8``). No
zero point (``QuantizationSpec`` refuses asymmetric floats). Stored as the float8 dtype itself;
compressed-tensors holds e4m3fn only (``naive-quantized``, or ``float-quantized`` when the
inputs are quantized too).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from qrt.formats.family import Format, FormatFamily
from qrt.ir.spec import QuantizationSpec

__all__ = ["ELEMENT_MAX", "FLOAT8", "FLOAT8_DTYPES", "Float8Family", "mantissa_bits"]

ELEMENT_MAX: dict[str, float] = {"float8_e4m3fn": 448.0, "float8_e5m2": 57344.0}
"""the largest finite value of each float8 element dtype (``torch.finfo(...).max``)"""

FLOAT8_DTYPES: tuple[str, ...] = tuple(ELEMENT_MAX)

_MANTISSA = {"float8_e4m3fn": 3, "float8_e5m2": 2}


def mantissa_bits(dtype: str) -> int:
    """Explicit mantissa bits of a float8 element dtype."""
    return _MANTISSA[dtype]


class Float8Family(FormatFamily):
    kind = "float8"
    packed_bits = {"float8": 8}
    compressed_tensors_formats = {"float8": ("naive-quantized", "float-quantized")}
    compressed_tensors_type = "float"
    one_scale_per_group = True
    compressed_tensors_with_inputs = "float-quantized"

    def claims(self, dtype: str, scale_dtype: str | None) -> bool:
        return dtype in ELEMENT_MAX and scale_dtype != "float8_e8m0fnu"

    def format(self, spec: QuantizationSpec) -> Format:
        return Format("float8", spec.dtype, 8, element_max=ELEMENT_MAX[spec.dtype])

    def display_name(self, dtype: str, scale_dtype: str | None) -> str:
        return "fp8_e4m3" if "e4m3" in dtype else "fp8_e5m2"

    def compressed_tensors_input_args(self, spec: Mapping[str, Any], where: str) -> dict[str, Any] | None:
        """A static per-tensor float8_e4m3fn input (``input_scale``)."""
        if spec["granularity"]["type"] != "per_tensor" or spec["dtype"] != "float8_e4m3fn":
            return None
        return {"num_bits": 8, "type": "float", "symmetric": True, "strategy": "tensor", "group_size": None,
                "block_structure": None, "dynamic": False, "actorder": None, "observer": "minmax",
                "observer_kwargs": {}}


FLOAT8 = Float8Family()
