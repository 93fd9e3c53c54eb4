"""The runtime: the only part of qrt that imports torch (tracing, model sources, eager and
graph quantization, finalize). Importing it first silences torch's and torchao's known
import-time noise (``quiet``), so a user sees only qrt's own output."""

from qrt.runtime import quiet as _quiet

_quiet.install()
