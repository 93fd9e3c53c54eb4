"""qrt's packed weights in the compressed-tensors format, checked against compressed-tensors
itself: its checkpoint dequantizer reads the files qrt writes back to exactly the values qrt
dequantizes to, and its compressors write the same tensors from those values."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from qrt.ir.spec import QuantizationSpec
from qrt.runtime.finalize import compressed_tensors as ct
from qrt.runtime.finalize.pack import FinalizeError, Packed, dequantize, quantize_packed
from qrt.runtime.quant.numerics import format_of, group_shape

pytest.importorskip("compressed_tensors")

from compressed_tensors.compressors import BaseCompressor  # noqa: E402
from compressed_tensors.compressors.format import infer_module_format  # noqa: E402
from compressed_tensors.compressors.pack_quantized.helpers import pack_to_int32 as ct_pack_to_int32  # noqa: E402
from compressed_tensors.compressors.pack_quantized.helpers import unpack_from_int32  # noqa: E402
from compressed_tensors.quantization import QuantizationArgs, QuantizationConfig, QuantizationScheme  # noqa: E402

OUT, IN = 64, 128


def _block(size: int, axis: int = -1) -> dict[str, object]:
    return {"type": "per_block", "block_size": size, "axis": axis}


CHANNEL = {"type": "per_channel", "axis": 0}
CASES: dict[str, dict[str, object]] = {
    "int8 per channel": dict(dtype="int8", granularity=CHANNEL),
    "int4 per group 32": dict(dtype="int4", granularity=_block(32)),
    "uint4 asymmetric per group 32": dict(dtype="uint4", qscheme="asymmetric", granularity=_block(32)),
    "uint4 symmetric per group 32": dict(dtype="uint4", granularity=_block(32)),
    "int4 asymmetric per channel": dict(dtype="int4", qscheme="asymmetric", granularity=CHANNEL),
    "uint8 asymmetric per tensor": dict(dtype="uint8", qscheme="asymmetric"),
    "int2 per channel": dict(dtype="int2", granularity=CHANNEL),
    "int3 per group 32": dict(dtype="int3", granularity=_block(32)),
    "uint4 asymmetric per block 32 along axis 0": dict(dtype="uint4", qscheme="asymmetric", granularity=_block(32, 0)),
    "float8 per tensor": dict(dtype="float8_e4m3fn"),
    "float8 per channel": dict(dtype="float8_e4m3fn", granularity=CHANNEL),
    "mxfp4": dict(dtype="float4_e2m1fn_x2", granularity=_block(32), scale_dtype="float8_e8m0fnu"),
    "mxfp8": dict(dtype="float8_e4m3fn", granularity=_block(32), scale_dtype="float8_e8m0fnu"),
    "nvfp4": dict(dtype="float4_e2m1fn_x2", granularity=_block(16), scale_dtype="float8_e4m3fn"),
}

I32, I64, F32, U8, E4M3 = torch.int32, torch.int64, torch.float32, torch.uint8, torch.float8_e4m3fn
SHAPE = ("weight_shape", I64, (2,))
EXPECTED: dict[str, tuple[str, dict[str, object], dict[str, tuple[torch.dtype, tuple[int, ...]]]]] = {
    # name: (format, QuantizationArgs beyond num_bits/type/dynamic, {tensor: (dtype, shape)})
    "int8 per channel": ("pack-quantized", dict(symmetric=True, strategy="channel"),
                         {"weight_packed": (I32, (64, 32)), "weight_scale": (F32, (64, 1)), "weight_shape": (I64, (2,))}),
    "int4 per group 32": ("pack-quantized", dict(symmetric=True, strategy="group", group_size=32),
                          {"weight_packed": (I32, (64, 16)), "weight_scale": (F32, (64, 4)), "weight_shape": (I64, (2,))}),
    "uint4 asymmetric per group 32": (
        "pack-quantized", dict(symmetric=False, strategy="group", group_size=32, zp_dtype="torch.int8"),
        {"weight_packed": (I32, (64, 16)), "weight_scale": (F32, (64, 4)), "weight_shape": (I64, (2,)),
         "weight_zero_point": (I32, (8, 4))}),
    "uint4 symmetric per group 32": ("pack-quantized", dict(symmetric=True, strategy="group", group_size=32),
                                     {"weight_packed": (I32, (64, 16)), "weight_scale": (F32, (64, 4)),
                                      "weight_shape": (I64, (2,))}),
    "int4 asymmetric per channel": (
        "pack-quantized", dict(symmetric=False, strategy="channel", zp_dtype="torch.int8"),
        {"weight_packed": (I32, (64, 16)), "weight_scale": (F32, (64, 1)), "weight_shape": (I64, (2,)),
         "weight_zero_point": (I32, (8, 1))}),
    "uint8 asymmetric per tensor": (
        "pack-quantized", dict(symmetric=False, strategy="tensor", zp_dtype="torch.int8"),
        {"weight_packed": (I32, (64, 32)), "weight_scale": (F32, (1,)), "weight_shape": (I64, (2,)),
         "weight_zero_point": (torch.int8, (1,))}),
    "int2 per channel": ("pack-quantized", dict(symmetric=True, strategy="channel"),
                         {"weight_packed": (I32, (64, 8)), "weight_scale": (F32, (64, 1)), "weight_shape": (I64, (2,))}),
    "int3 per group 32": ("pack-quantized", dict(symmetric=True, strategy="group", group_size=32),
                          {"weight_packed": (I32, (64, 12)), "weight_scale": (F32, (64, 4)), "weight_shape": (I64, (2,))}),
    "uint4 asymmetric per block 32 along axis 0": (
        "pack-quantized", dict(symmetric=False, strategy="block", block_structure=[32, 1], zp_dtype="torch.int8"),
        {"weight_packed": (I32, (64, 16)), "weight_scale": (F32, (2, 128)), "weight_shape": (I64, (2,)),
         "weight_zero_point": (torch.int8, (2, 128))}),
    "float8 per tensor": ("naive-quantized", dict(symmetric=True, strategy="tensor"),
                          {"weight": (E4M3, (64, 128)), "weight_scale": (F32, (1,))}),
    "float8 per channel": ("naive-quantized", dict(symmetric=True, strategy="channel"),
                           {"weight": (E4M3, (64, 128)), "weight_scale": (F32, (64, 1))}),
    "mxfp4": ("mxfp4-pack-quantized", dict(symmetric=True, strategy="group", group_size=32, scale_dtype="torch.uint8"),
              {"weight_packed": (U8, (64, 64)), "weight_scale": (U8, (64, 4))}),
    "mxfp8": ("mxfp8-quantized", dict(symmetric=True, strategy="group", group_size=32, scale_dtype="torch.uint8"),
              {"weight": (E4M3, (64, 128)), "weight_scale": (U8, (64, 4))}),
    "nvfp4": ("nvfp4-pack-quantized",
              dict(symmetric=True, strategy="tensor_group", group_size=16, scale_dtype="torch.float8_e4m3fn"),
              {"weight_packed": (U8, (64, 64)), "weight_scale": (E4M3, (64, 8)), "weight_global_scale": (F32, (1,))}),
}


def _packed(name: str, seed: int = 0) -> tuple[Packed, QuantizationSpec]:
    torch.manual_seed(seed)
    w = torch.randn(OUT, IN)
    spec = QuantizationSpec(**CASES[name])
    return quantize_packed(spec, format_of(spec), w, group_shape(spec, tuple(w.shape)), None, None), spec


def _local(tensors: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    return {k.removeprefix(prefix + "."): v for k, v in tensors.items() if k.startswith(prefix + ".")}


def _checkpoint(root: Path, layers: dict[str, tuple[Packed, QuantizationSpec]]) -> Path:
    """A model folder as llm-compressor leaves one: model.safetensors + config.json."""
    root.mkdir()
    tensors: dict[str, torch.Tensor] = {}
    groups = {}
    for i, (module, (packed, spec)) in enumerate(layers.items()):
        tensors.update(ct.weight_tensors(module, packed))
        groups[f"group_{i}"] = ct.config_group([module], packed, spec)
    save_file(tensors, str(root / "model.safetensors"))
    config = {"architectures": ["LlamaForCausalLM"], "model_type": "llama",
              "quantization_config": ct.quantization_config(groups)}
    (root / "config.json").write_text(json.dumps(config, indent=2))
    return root


def _ct_dequantize(src: Path, dst: Path) -> dict[str, torch.Tensor]:
    """compressed-tensors' own model-free path from a compressed checkpoint on disk to dense
    weights: ``convert_checkpoint`` with its ``CompressedTensorsDequantizer``, which reads
    ``config.json``, picks each module's compressor and decompresses the safetensors files."""
    convert = pytest.importorskip("compressed_tensors.entrypoints.convert")  # needs transformers
    convert.convert_checkpoint(src, dst, convert.CompressedTensorsDequantizer(src, dtype=torch.float32),
                               max_workers=1, device="cpu")
    assert "quantization_config" not in json.loads((dst / "config.json").read_text())
    return load_file(str(dst / "model.safetensors"))


def _assert_same_values(name: str, got: torch.Tensor, packed: Packed) -> None:
    """Integer and float8 weights: compressed-tensors dequantizes in the scales' float32, with
    qrt's arithmetic — equal exactly. MX: it dequantizes in bfloat16, but an fp4/fp8 element
    times a power of two is exact there — equal exactly. NVFP4: it dequantizes in bfloat16 with
    scale / global_scale, the reciprocal of qrt's, which can differ from qrt's scale · global
    by an ulp of float32 — equal to qrt's values rounded to bfloat16 within one bfloat16 ulp."""
    want = dequantize(packed)
    if packed.kind != "nvfp4":
        assert torch.equal(got, want), f"{name}: max difference {(got - want).abs().max().item()}"
        return
    assert torch.equal(got, got.to(torch.bfloat16).float())  # computed in bfloat16
    g, w = got.to(torch.bfloat16).view(torch.int16).int(), want.to(torch.bfloat16).view(torch.int16).int()
    assert int((g - w).abs().max()) <= 1


@pytest.mark.parametrize("name", list(CASES))
def test_compressed_tensors_reads_the_checkpoint_back_to_qrts_values(name: str, tmp_path: Path) -> None:
    packed, spec = _packed(name)
    fmt, args, tensors = EXPECTED[name]
    # the tensors, dtypes and shapes compressed-tensors stores for this scheme
    written = _local(ct.weight_tensors("model.layers.0.mlp.up_proj", packed), "model.layers.0.mlp.up_proj")
    assert {k: (v.dtype, tuple(v.shape)) for k, v in written.items()} == tensors
    # the config: valid QuantizationArgs, in their canonical JSON; the format CT infers itself
    got_args = ct.quantization_args(packed, spec)
    assert got_args == {"num_bits": packed.bits, "type": "int" if packed.kind == "int" else "float",
                        "group_size": None, "dynamic": False, **args}
    assert QuantizationArgs(**got_args).model_dump(mode="json") == got_args
    scheme = QuantizationScheme(targets=["Linear"], weights=QuantizationArgs(**got_args))
    assert ct.format_name(packed) == fmt == infer_module_format(torch.nn.Linear, scheme).value
    # exactly the parameters its compressor reads (a symmetric zero point would be left over)
    assert set(tensors) == set(BaseCompressor.get_value_from_registry(fmt).compression_param_names(scheme))

    src = _checkpoint(tmp_path / "compressed", {"model.layers.0.mlp.up_proj": (packed, spec)})
    dense = _ct_dequantize(src, tmp_path / "dense")
    assert set(dense) == {"model.layers.0.mlp.up_proj.weight"}
    _assert_same_values(name, dense["model.layers.0.mlp.up_proj.weight"], packed)


def _no_negative_zero(fp4: torch.Tensor) -> torch.Tensor:
    """Packed E2M1 bytes with -0 nibbles (0x8) made +0: compressed-tensors' CPU compressor
    rounds small negatives to +0, its Triton kernel (like torchao) to -0 — the same value."""
    lo, hi = fp4 & 0xF, fp4 >> 4
    lo, hi = torch.where(lo == 8, 0, lo), torch.where(hi == 8, 0, hi)
    return lo | (hi << 4)


@pytest.mark.parametrize("name", list(CASES))
def test_compressed_tensors_compresses_qrts_values_to_the_same_tensors(name: str) -> None:
    """compressed-tensors' compressor, given the dense weight qrt's packed form stands for and
    its qparams, writes bit for bit the tensors qrt writes."""
    packed, spec = _packed(name)
    ours = _local(ct.weight_tensors("layer", packed), "layer")
    fmt = ct.format_name(packed)
    scheme = QuantizationScheme(targets=["Linear"], weights=QuantizationArgs(**ct.quantization_args(packed, spec)),
                                format=fmt)
    dense = {"weight": dequantize(packed), "weight_scale": ours["weight_scale"]}
    if packed.kind in ("mxfp4", "mxfp8", "nvfp4"):  # compressors take float scales
        dense["weight_scale"] = packed.scale.float()
    if "weight_global_scale" in ours:
        dense["weight_global_scale"] = ours["weight_global_scale"]
    if "weight_zero_point" in ours:
        zp = ours["weight_zero_point"]
        if zp.dtype == torch.int32:  # packed along axis 0
            zp = unpack_from_int32(zp, packed.bits, torch.Size([OUT, ours["weight_scale"].shape[-1]]), packed_dim=0)
        dense["weight_zero_point"] = zp
    theirs = BaseCompressor.get_value_from_registry(fmt).compress(dense, scheme)
    assert set(theirs) == set(ours)
    for key, t in ours.items():
        assert theirs[key].dtype == t.dtype and theirs[key].shape == t.shape, key
        a, b = theirs[key], t
        if a.dtype.itemsize == 1:
            a, b = a.view(torch.uint8), b.view(torch.uint8)
        if key == "weight_packed" and packed.kind in ("mxfp4", "nvfp4"):
            a, b = _no_negative_zero(a), _no_negative_zero(b)
        assert torch.equal(a, b), key


def test_one_mixed_precision_checkpoint(tmp_path: Path) -> None:
    layers = {f"model.layers.{i}.proj": _packed(name, seed=i) for i, name in enumerate(CASES)}
    src = _checkpoint(tmp_path / "compressed", layers)
    config = json.loads((src / "config.json").read_text())["quantization_config"]
    assert config["format"] == "mixed-precision" and config["quant_method"] == "compressed-tensors"
    assert QuantizationConfig.model_validate(config).model_dump(mode="json")["config_groups"] == config["config_groups"]
    dense = _ct_dequantize(src, tmp_path / "dense")
    assert set(dense) == {f"{m}.weight" for m in layers}
    for (module, (packed, _)), name in zip(layers.items(), CASES):
        _assert_same_values(name, dense[f"{module}.weight"], packed)


@pytest.mark.parametrize("name, fmt", [
    ("int8 per channel", "naive-quantized"),
    ("uint4 asymmetric per group 32", "naive-quantized"),
    ("int8 per channel", "int-quantized"),
    ("float8 per channel", "float-quantized"),
])
def test_unpacked_formats_for_quantized_activations(name: str, fmt: str, tmp_path: Path) -> None:
    """naive-/int-/float-quantized (what compressed-tensors writes for W8A8 schemes): one
    code a byte in ``weight``, read from a real file by the format's registered compressor."""
    packed, spec = _packed(name)
    tensors = ct.weight_tensors("layer", packed, format=fmt)
    save_file(tensors, str(tmp_path / "model.safetensors"))
    stored = _local(load_file(str(tmp_path / "model.safetensors")), "layer")
    assert stored["weight"].dtype == (torch.int8 if packed.kind == "int" else torch.float8_e4m3fn)
    scheme = QuantizationScheme.model_validate(ct.config_group(["Linear"], packed, spec, format=fmt))
    compressor = BaseCompressor.get_value_from_registry(scheme.format)
    assert set(stored) == set(compressor.compression_param_names(scheme))
    _assert_same_values(name, compressor.decompress(stored, scheme)["weight"], packed)


@pytest.mark.parametrize("bits", range(1, 9))
def test_int32_packing_is_compressed_tensors(bits: int) -> None:
    torch.manual_seed(bits)
    for rows, cols in ((3, 37), (5, 64), (2, 5), (7, 100)):
        codes = torch.randint(-(1 << (bits - 1)), 1 << (bits - 1), (rows, cols), dtype=torch.int8)
        for dim in (0, 1):
            assert torch.equal(ct.pack_to_int32(codes, bits, dim), ct_pack_to_int32(codes, bits, dim))


# ---------------------------------------------------------------------------------------------
# Forms compressed-tensors cannot express


@pytest.mark.parametrize("kw, message, hint", [
    (dict(dtype="float8_e5m2", granularity=CHANNEL), "float8_e4m3fn only", "float8_e4m3fn"),
    (dict(dtype="float8_e5m2", granularity=_block(32), scale_dtype="float8_e8m0fnu"), "float8_e4m3fn only",
     "float8_e4m3fn"),
    (dict(dtype="float4_e2m1fn_x2", granularity=_block(16)), "float32 block scales", "per_block(16, axis=-1)"),
    (dict(dtype="float4_e2m1fn_x2", granularity=_block(16), scale_dtype="bfloat16"), "bfloat16 block scales",
     "scale_dtype=float8_e4m3fn"),
    (dict(dtype="float4_e2m1fn_x2", granularity=_block(32), scale_dtype="float8_e4m3fn"), "NVFP4 (blocks of 16",
     "per_block(16, axis=-1)"),
    (dict(dtype="float4_e2m1fn_x2", granularity=_block(16, 0), scale_dtype="float8_e4m3fn"), "groups of (16, 1)",
     "per_block(16, axis=-1)"),
])
def test_forms_compressed_tensors_cannot_express(kw: dict[str, object], message: str, hint: str) -> None:
    torch.manual_seed(0)
    w = torch.randn(OUT, IN)
    spec = QuantizationSpec(**kw)
    packed = quantize_packed(spec, format_of(spec), w, group_shape(spec, tuple(w.shape)), None, None)
    for call in (lambda: ct.weight_tensors("layer", packed), lambda: ct.quantization_args(packed, spec),
                 lambda: ct.format_name(packed)):
        with pytest.raises(FinalizeError, match="compressed-tensors") as err:
            call()
        assert message in err.value.message and hint in (err.value.hint or "")
        assert spec.dtype in err.value.message or "float8_e5m2" in err.value.message


def test_weights_not_2d_are_refused() -> None:
    spec = QuantizationSpec(dtype="int4", granularity=_block(32))
    w = torch.randn(4, 16, 64)
    packed = quantize_packed(spec, format_of(spec), w, group_shape(spec, tuple(w.shape)), None, None)
    with pytest.raises(FinalizeError, match=r"2-D \(Linear / Embedding\) weights only"):
        ct.weight_tensors("experts", packed)


def test_asymmetric_float_is_refused() -> None:
    packed, _ = _packed("float8 per channel")
    skewed = dataclasses.replace(packed, zero_point=torch.ones(OUT, 1, dtype=torch.int8))
    with pytest.raises(FinalizeError, match="no asymmetric float formats"):
        ct.quantization_args(skewed)


def test_a_format_the_kind_has_not_is_refused() -> None:
    packed, _ = _packed("int4 per group 32")
    with pytest.raises(FinalizeError, match="cannot be written in compressed-tensors format 'float-quantized'") as err:
        ct.weight_tensors("layer", packed, format="float-quantized")
    assert "pack-quantized, naive-quantized, int-quantized" in (err.value.hint or "")


def test_a_spec_other_than_the_packed_ones_is_refused() -> None:
    packed, _ = _packed("int4 per group 32")
    with pytest.raises(FinalizeError, match="the spec says uint4 but the packed weight is int4"):
        ct.quantization_args(packed, QuantizationSpec(**CASES["uint4 symmetric per group 32"]))
