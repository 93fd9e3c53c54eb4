"""The format registry's facts, torch-free: every spec belongs to exactly one family, every
family has its arithmetic in the runtime, and importing the facts imports no torch."""

from __future__ import annotations

import itertools
import subprocess
import sys

from qrt.formats import COMPRESSED_TENSORS_FORMATS, FAMILIES, PACKED_BITS, display_name, family_of, packed_family
from qrt.ir.spec import QUANT_DTYPES, SCALE_DTYPES

PAIRS = list(itertools.product(QUANT_DTYPES, (None, *SCALE_DTYPES)))


def test_exactly_one_family_claims_every_dtype_and_scale_dtype() -> None:
    for dtype, scale in PAIRS:
        claiming = [f.kind for f in FAMILIES.values() if f.claims(dtype, scale)]
        assert len(claiming) == 1, (dtype, scale, claiming)
        assert family_of(dtype, scale) is FAMILIES[claiming[0]]


def test_every_packed_kind_belongs_to_one_family_with_a_compressed_tensors_format() -> None:
    owners = [k for f in FAMILIES.values() for k in f.packed_bits]
    assert sorted(owners) == sorted(set(owners)) == sorted(PACKED_BITS)
    for kind in PACKED_BITS:
        family = packed_family(kind)
        assert family is not None and kind in family.packed_bits
        assert COMPRESSED_TENSORS_FORMATS[kind], kind
    assert packed_family("fp6") is None


def test_the_names_users_say_are_distinct_per_format() -> None:
    names = {display_name(d, s) for d, s in PAIRS}
    assert {"int4", "uint8", "fp8_e4m3", "fp8_e5m2", "mxfp8", "mxfp8_e5m2", "mxfp4", "nvfp4", "fp4_e2m1"} <= names


def test_the_facts_import_no_torch() -> None:
    code = "import sys, qrt.formats, qrt.formats.registry; print('torch' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.stdout.strip() == "False", done.stderr
