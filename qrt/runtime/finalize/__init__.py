"""Finalize: real low-bit weights (``pack``), and (to come) finalized models, safetensors and exports."""
