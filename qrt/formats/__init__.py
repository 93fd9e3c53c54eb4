"""Number formats, torch-free: one module per family, one registry.

* :mod:`.family` — the :class:`Format` value (how one spec is computed) and the family
  interface;
* :mod:`.integer`, :mod:`.float8`, :mod:`.mx`, :mod:`.nvfp4` — each family's facts: bit
  widths and code ranges, element ranges, block and scale dtypes, packed kinds, the
  compressed-tensors names, the names users say, lint's check;
* :mod:`.registry` — lookup by spec, by packed kind, by dtype.

The arithmetic (fake quantization, packing, the torchao PT2E spec) is in
``qrt/runtime/formats/``, one module per family under the same kind.
"""

from __future__ import annotations

from qrt.formats.family import Format, FormatFamily, FormatKind, PackedKind, UnsupportedFormat
from qrt.formats.registry import (
    COMPRESSED_TENSORS_FORMATS,
    FAMILIES,
    PACKED_BITS,
    display_name,
    element_bits,
    family_of,
    format_of,
    global_scale_bits,
    packed_family,
    packed_within_bytes,
    scales_per_group,
    spec_fix,
    spec_problem,
)

__all__ = [
    "COMPRESSED_TENSORS_FORMATS",
    "FAMILIES",
    "PACKED_BITS",
    "Format",
    "FormatFamily",
    "FormatKind",
    "PackedKind",
    "UnsupportedFormat",
    "display_name",
    "element_bits",
    "family_of",
    "format_of",
    "global_scale_bits",
    "packed_family",
    "packed_within_bytes",
    "scales_per_group",
    "spec_fix",
    "spec_problem",
]
