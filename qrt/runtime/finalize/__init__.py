"""Finalize: real low-bit weights (``pack``), finalizing a prepared model's weights
(``weights``), safetensors shards read back memory-mapped (``files``), the saved model's
manifest (``manifest``), save/load (``saved``), and the compressed-tensors export
(``compressed_tensors`` per weight, ``export`` per model)."""
