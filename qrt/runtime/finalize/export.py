"""``qrt export``: a saved quantized model in the compressed-tensors format.

compressed-tensors is what llm-compressor writes and vLLM, SGLang and transformers read: a
Hugging Face checkpoint whose quantized Linear modules store ``weight_packed`` /
``weight_scale`` / … instead of ``weight``, and whose ``config.json`` has a
``quantization_config`` (config groups of targets with their quantization args, an ignore list,
the storage format). This module turns a directory written by ``qrt.save_quantized`` (or
``Quantizer.finalize(mmap_dir=...)``, ``qrt run --finalize``) into one, without building the
model: every tensor it needs is in the saved shards, every fact in the manifest. The
per-weight layouts are :mod:`.compressed_tensors`'s.

What compressed-tensors can say, qrt writes exactly; what it cannot, is an error naming the
site — never dropped silently:

* weights of ``Linear`` modules (``weight`` parameters), and each expert's matrices of fused
  mixture-of-experts modules, written as the per-expert Linear weights of the model type's
  checkpoints (:class:`_ExpertNames`, ``docs/moe.md``);
* a Linear's input may carry a static per-tensor int8 or float8_e4m3fn quantizer (its
  calibrated ``input_scale``, and ``input_zero_point`` when asymmetric);
* any other activation quantizer (other ops' inputs, outputs, per-token or MX activations)
  has no place in the format: ``weights_only=True`` (``--weights-only``) exports the weights
  and leaves activations in float, and the report lists what was left out.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from qrt.files import parse_json, read_text
from qrt.formats import family_of, nvfp4, packed_family
from qrt.runtime.finalize.compressed_tensors import config_group, quantization_config, weight_tensors
from qrt.runtime.finalize.files import read_shard
from qrt.runtime.finalize.manifest import read_manifest
from qrt.runtime.finalize.pack import FinalizeError, Packed

__all__ = ["export_compressed_tensors"]

_SHARD_BYTES = 5 * (1 << 30)


def _linear_modules(inventory: Mapping[str, Any]) -> dict[str, str]:
    return {m["name"]: m["type"] for m in inventory["modules"] if m["type"].rsplit(".", 1)[-1] == "Linear"}


def _input_args(spec: Mapping[str, Any], where: str) -> dict[str, Any]:
    """compressed-tensors args of a Linear's input quantizer: what its format family can say
    (static per-tensor int8 / float8_e4m3fn, NVFP4; :mod:`qrt.formats`), or an error."""
    family = family_of(spec["dtype"], spec.get("scale_dtype"))
    args = family.compressed_tensors_input_args(spec, where) if family is not None else None
    if args is not None:
        return args
    raise FinalizeError(
        f"{where}: a {spec['dtype']} {spec['granularity']['type']} input quantizer has no compressed-tensors form",
        hint="compressed-tensors stores static per_tensor int8 or float8_e4m3fn Linear inputs; pass "
        "weights_only=True (--weights-only) to export the weights and leave activations in float",
    )


def export_compressed_tensors(saved: str | Path, out: str | Path, *, hf_config: str | Path | None = None,
                              weights_only: bool = False, overwrite: bool = False) -> dict[str, Any]:
    """Write the saved model at ``saved`` to ``out`` in the compressed-tensors format:
    ``model.safetensors`` (or HF-style shards with an index) and ``config.json`` — the model's
    own ``config.json`` (``hf_config``: the file or its directory) with a
    ``quantization_config`` added, or that block alone. Returns a report (modules, groups,
    what was left out with ``weights_only``)."""
    saved, out = Path(saved), Path(out)
    manifest = read_manifest(saved)
    from qrt.files import output_directory

    output_directory(out, what="export directory")
    if out.exists() and any(out.iterdir()) and not overwrite:
        raise FinalizeError(f"{out}: the directory exists and is not empty", hint="pass a new directory, or overwrite=True (--overwrite)")
    tensors: dict[str, torch.Tensor] = {}
    for record in manifest["files"]:
        tensors.update(read_shard(saved / record["name"], record))
    sites = {s["quantizer_path"]: s for s in manifest["plan"]["sites"]}
    switches = manifest["quantizers"]
    linears = _linear_modules(manifest["inventory"])
    written: dict[str, torch.Tensor] = {}
    groups: dict[str, dict[str, Any]] = {}
    members: dict[str, list[str]] = {}
    quantized_modules: set[str] = set()
    used_quantizers: set[str] = set()
    untied: list[str] = []
    experts = _ExpertNames(manifest)
    for path, record in manifest["packed"].items():
        if sites[path].get("fused") is not None:  # one expert's matrix of a fused MoE parameter
            packed = Packed.from_stored(record["layout"], {f: tensors[n] for f, n in record["tensors"].items()})
            try:
                for module, part in experts.linears(sites[path], packed):
                    group = config_group([module], part)
                    written.update(weight_tensors(module, part))
                    key = json.dumps({k: v for k, v in group.items() if k != "targets"}, sort_keys=True)
                    input_path = experts.input_quantizer(sites[path], switches)
                    if input_path is not None and not weights_only:
                        group["input_activations"] = _input_args(sites[input_path]["decision"], f"{saved}: {input_path}")
                        key = json.dumps({k: v for k, v in group.items() if k != "targets"}, sort_keys=True)
                        written.update(_input_tensors(tensors, module, input_path, sites[input_path]["decision"], saved))
                        used_quantizers.add(input_path)
                    groups.setdefault(key, group)
                    members.setdefault(key, []).append(module)
                    quantized_modules.add(module)
            except FinalizeError as exc:
                raise FinalizeError(f"{saved}: {path}: {exc.message}", hint=exc.hint) from None
            used_quantizers.add(path)
            continue
        parameter = _linear_weight(manifest, path, record["parameter"], linears)
        module, _, leaf = parameter.rpartition(".")
        if parameter != record["parameter"]:
            untied.append(parameter)  # a tied head quantized, its embedding kept float
        if leaf != "weight" or module not in linears:
            raise FinalizeError(
                f"{saved}: {path}: compressed-tensors stores quantized Linear weights only; "
                f"{parameter} is a {linears.get(module) or _module_type(manifest, module)} {leaf}",
                hint="leave that weight unquantized in the config (or keep the model in qrt's own format)",
            )
        where = f"{saved}: {path}"
        try:
            packed = Packed.from_stored(record["layout"], {f: tensors[n] for f, n in record["tensors"].items()})
        except FinalizeError as exc:  # the layout and the stored tensors disagree (an edited manifest)
            raise FinalizeError(f"{where}: {exc.message}", hint=exc.hint) from None
        try:
            group = config_group([module], packed)
            written.update(weight_tensors(module, packed))
        except FinalizeError as exc:
            raise FinalizeError(f"{where}: {exc.message}", hint=exc.hint) from None
        used_quantizers.add(path)
        quantized_modules.add(module)
        input_path = _input_quantizer(manifest, module, switches)
        if input_path is not None and not weights_only:
            # with quantized inputs compressed-tensors keeps 8-bit weights unpacked
            # (int-quantized / float-quantized: what it infers, and reads back, for W8A8)
            family = packed_family(packed.kind)
            fmt = family.compressed_tensors_with_inputs if family is not None else None
            if fmt is not None and packed.bits == 8:
                group = config_group([module], packed, format=fmt)
                for name in [n for n in written if n.startswith(module + ".weight")]:
                    del written[name]
                written.update(weight_tensors(module, packed, format=fmt))
            spec = sites[input_path]["decision"]
            group["input_activations"] = _input_args(spec, f"{saved}: {input_path}")
            written.update(_input_tensors(tensors, module, input_path, spec, saved))
            zp = tensors.get(f"{input_path}.zero_point")
            if spec["qscheme"] != "symmetric" and zp is not None and zp.numel():
                written[f"{module}.input_zero_point"] = zp.reshape(1).to(torch.int8).clone()
            used_quantizers.add(input_path)
        key = json.dumps({k: v for k, v in group.items() if k != "targets"}, sort_keys=True)
        groups.setdefault(key, group)
        members.setdefault(key, []).append(module)
    left_out = _activations_left(manifest, switches, used_quantizers)
    if left_out and not weights_only:
        raise FinalizeError(
            f"{saved}: {len(left_out)} activation quantizer(s) have no compressed-tensors form, e.g. "
            + ", ".join(left_out[:3]),
            hint="compressed-tensors keeps static per-tensor Linear input scales only; pass weights_only=True "
            "(--weights-only) to export the weights and leave activations in float",
        )
    if weights_only:
        left_out = sorted(set(left_out) | {p for p in used_quantizers if p not in manifest["packed"]})
        for group in groups.values():
            group["input_activations"] = None
        written = {n: t for n, t in written.items() if not n.endswith((".input_scale", ".input_zero_point"))}
        groups = _regroup(groups, members)
    config_groups: dict[str, dict[str, Any]] = {}
    for i, (key, group) in enumerate(groups.items()):
        names = sorted(members[key])
        group["targets"] = ["Linear"] if len(groups) == 1 else names
        config_groups[f"group_{i}"] = group
    ignore = sorted((set(linears) | experts.routers()) - quantized_modules)
    qconfig = quantization_config(config_groups, ignore=ignore)
    # every other tensor of the model, as saved (quantizer state and freed weights excluded)
    quantizer_prefixes = tuple(p + "." for p in switches)
    freed = {r["parameter"] for r in manifest["packed"].values() if not r.get("dense")}
    skip = freed | set(manifest.get("non_persistent", ()))
    for name, t in tensors.items():
        if name.startswith(quantizer_prefixes) or name in skip:
            continue
        written[experts.rename(name)] = t
    config: dict[str, Any] = {}
    folder = None
    if hf_config is not None:  # checked before anything is written
        source = Path(hf_config)
        folder = source if source.is_dir() else None
        source = source / "config.json" if source.is_dir() else source
        if not source.is_file():
            raise FinalizeError(f"{hf_config}: no config.json there", hint="pass the model's config.json or its directory")
        config = parse_json(read_text(source, what="Hugging Face config", error=FinalizeError), file=str(source),
                            error=FinalizeError)
        if not isinstance(config, dict):
            raise FinalizeError(f"{source}: not a JSON object", hint="pass the model's config.json or its directory")
        _check_config_fits(config, manifest, source)
    config["quantization_config"] = qconfig
    if untied:
        # the head is stored quantized and the embedding float: tied, a loader would give one
        # of them the other's tensor
        config["tie_word_embeddings"] = False
    files = _write_atomically(out, written, config, folder)
    return {"modules": len(quantized_modules), "groups": len(config_groups), "ignore": ignore,
            "activations_left_out": left_out, "files": files, "format": qconfig["format"]}


_COMPANIONS = ("generation_config.json", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json",
               "tokenizer.model", "vocab.json", "vocab.txt", "merges.txt", "added_tokens.json",
               "chat_template.jinja", "chat_template.json", "preprocessor_config.json")
"""Files beside a Hugging Face config that a deployment loads with the weights (tokenizer,
generation defaults, processor): an export without them cannot ``generate``."""


def _write_atomically(out: Path, tensors: dict[str, torch.Tensor], config: dict[str, Any],
                      folder: Path | None) -> list[str]:
    """Write the export into a scratch folder beside ``out``, then move its files in: a
    failure (a full disk, an interrupt) leaves ``out`` as it was, never half a checkpoint.
    Into an existing ``out`` (``--overwrite``) the files of an earlier export are removed
    first — a stale shard or index beside a new ``model.safetensors`` would be read by a
    loader — and anything else there is left alone."""
    import os
    import shutil

    scratch = out.parent / f".{out.name}.partial-{os.getpid()}"
    try:
        shutil.rmtree(scratch, ignore_errors=True)
        scratch.mkdir(parents=True)
        files = _write(scratch, tensors)
        if folder is not None:
            files += _copy_companions(folder, scratch)
        (scratch / "config.json").write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
        files_written = [*files, "config.json"]
        out.mkdir(exist_ok=True)
        for old in out.iterdir():
            if old.is_file() and (old.name in _COMPANIONS or old.name == "config.json" or _is_weights_file(old.name)):
                old.unlink()
        for name in files_written:
            os.replace(scratch / name, out / name)
    except OSError as exc:
        raise FinalizeError(f"{out}: cannot write the export: {exc.strerror or exc}",
                            hint="nothing was left half-written; free space or pass another directory") from None
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return files


def _is_weights_file(name: str) -> bool:
    return name == "model.safetensors.index.json" or (name.startswith("model") and name.endswith(".safetensors"))


def _copy_companions(folder: Path, out: Path) -> list[str]:
    import shutil

    copied = []
    for name in _COMPANIONS:
        if (folder / name).is_file():
            shutil.copyfile(folder / name, out / name)
            copied.append(name)
    return copied


def _check_config_fits(config: dict[str, Any], manifest: Mapping[str, Any], where: Path) -> None:
    """The config must describe the saved model: a config of another size writes an export
    that fails to load (or, worse, loads other shapes). Built on the meta device from the
    config, every parameter the saved model also has must have its shape."""
    from qrt.runtime.sources import hf_config_from_dict, hf_model

    try:
        hf = hf_config_from_dict({k: v for k, v in config.items() if k != "quantization_config"}, str(where))
        with torch.device("meta"):
            model = hf_model(hf)
    except Exception:  # noqa: BLE001 - a config transformers cannot build is refused by whoever loads it
        return
    saved = {t["id"][len("param:"):]: tuple(t["shape"]) for t in manifest["inventory"]["tensors"]
             if t["id"].startswith("param:") and t.get("shape") is not None}
    wrong = [(name, saved[name], tuple(p.shape)) for name, p in model.named_parameters()
             if name in saved and saved[name] != tuple(p.shape)]
    if wrong:
        shown = "; ".join(f"{n}: saved {list(a)}, config {list(b)}" for n, a, b in wrong[:3])
        raise FinalizeError(
            f"{where} describes another model: {len(wrong)} parameter(s) of other shapes ({shown})",
            hint="pass the config.json of the model that was quantized",
        )


def _input_tensors(tensors: Mapping[str, torch.Tensor], module: str, input_path: str, spec: Mapping[str, Any],
                   saved: Path) -> dict[str, torch.Tensor]:
    """What a quantized Linear input stores: a static ``input_scale``, or NVFP4's
    ``input_global_scale`` (the reciprocal of qrt's global scale from the calibrated amax)."""
    if nvfp4.is_compressed_tensors_input(spec):
        amax = tensors.get(f"{input_path}.max_val")
        if amax is None or amax.numel() != 1:
            raise FinalizeError(f"{saved}: {input_path}: not calibrated (no global amax)",
                                hint="calibrate the model (Quantizer.calibration_mode) before saving it")
        from qrt.runtime.formats.nvfp4 import global_from_amax

        return {f"{module}.input_global_scale": (1.0 / global_from_amax(amax).double()).float().reshape(1)}
    return {f"{module}.input_scale": _static_scale(tensors, input_path, saved)}


def _static_scale(tensors: Mapping[str, torch.Tensor], input_path: str, saved: Path) -> torch.Tensor:
    scale = tensors.get(f"{input_path}.scale")
    if scale is None or scale.numel() != 1:
        raise FinalizeError(f"{saved}: {input_path}: not calibrated (no scale)",
                            hint="calibrate the model (Quantizer.calibration_mode) before saving it")
    return scale.reshape(1).float().clone()


_EXPERT_CHECKPOINT: dict[str, tuple[str, tuple[str, str], str]] = {
    "mixtral": ("block_sparse_moe", ("w1", "w3"), "w2"),
    "qwen2_moe": ("mlp", ("gate_proj", "up_proj"), "down_proj"),
    "qwen3_moe": ("mlp", ("gate_proj", "up_proj"), "down_proj"),
}
"""How a model type's checkpoints name one expert's matrices: the MoE block's attribute,
the gate and up projections (concatenated in this order into ``gate_up_proj``), the down
projection. transformers 5.25 merges exactly these into its fused experts when loading
(``transformers/conversion_mapping.py``, ``_build_checkpoint_conversion_mapping``: Mixtral's
``block_sparse_moe.experts.*.w1/w3/w2``, renamed ``.block_sparse_moe.`` → ``.mlp.``; Qwen2-MoE's
``mlp.experts.*.gate_proj/up_proj/down_proj``, which Qwen3-MoE shares), writes them back on
``save_pretrained``, and vLLM's loaders read them (its Mixtral has no ``mlp`` module)."""


class _ExpertNames:
    """Fused experts in an export: each expert's matrices as the per-expert Linear weights a
    checkpoint of the model's type holds (``docs/moe.md``), and the renaming that type needs."""

    def __init__(self, manifest: Mapping[str, Any]) -> None:
        self.sites = {s["quantizer_path"]: s for s in manifest["plan"]["sites"]}
        types = {m["name"]: m["type"] for m in manifest["inventory"]["modules"]}
        self.modules = {s["module"]: types.get(s["module"], "") for s in self.sites.values() if s.get("fused")}
        self.style: tuple[str, tuple[str, str], str] | None = None
        for module, cls in self.modules.items():
            model_type = cls.split(".")[2] if cls.startswith("transformers.models.") else None
            style = _EXPERT_CHECKPOINT.get(model_type or "")
            if style is None:
                raise FinalizeError(
                    f"{module} ({cls}) keeps fused experts whose checkpoint names qrt does not know for "
                    f"model type {model_type!r}",
                    hint=f"compressed-tensors export of fused experts covers: {', '.join(sorted(_EXPERT_CHECKPOINT))}; "
                    "keep the model in qrt's own format (qrt.save_quantized), or leave the experts unquantized",
                )
            self.style = style

    def _block(self, module: str) -> str:
        """The checkpoint's name of the MoE block holding the experts module ``module``."""
        parent = module.rpartition(".")[0]
        assert self.style is not None
        head, _, _ = parent.rpartition(".")
        return f"{head}.{self.style[0]}" if head else self.style[0]

    def rename(self, name: str) -> str:
        """A tensor name of the fused model as the checkpoint names it (Mixtral's MoE block is
        ``block_sparse_moe``, its router ``block_sparse_moe.gate``)."""
        for module in self.modules:
            parent = module.rpartition(".")[0] + "."
            if name.startswith(parent):
                return self._block(module) + "." + name[len(parent):]
        return name

    def routers(self) -> set[str]:
        """The routers of the MoE blocks (kept float: vLLM would quantize them otherwise)."""
        return {f"{self._block(module)}.gate" for module in self.modules}

    def linears(self, site: Mapping[str, Any], packed: Packed) -> list[tuple[str, Packed]]:
        """One expert's packed matrix as the checkpoint's per-expert Linear weights: its
        ``gate_up_proj`` rows split into gate (first half) and up, or its ``down_proj``."""
        assert self.style is not None
        block, (gate, up), down = self._block(site["module"]), self.style[1], self.style[2]
        prefix = f"{block}.experts.{site['expert']}"
        if site["fused"] == "down_proj":
            return [(f"{prefix}.{down}", packed)]
        if site["fused"] != "gate_up_proj":
            raise FinalizeError(f"the fused parameter {site['fused']!r} has no per-expert checkpoint form",
                                hint="keep the model in qrt's own format (qrt.save_quantized)")
        rows = packed.shape[0] // 2
        return [(f"{prefix}.{gate}", _rows(packed, 0, rows)), (f"{prefix}.{up}", _rows(packed, rows, 2 * rows))]

    def input_quantizer(self, site: Mapping[str, Any], switches: Mapping[str, Any]) -> str | None:
        """The enabled input quantizer of the fused parameter ``site`` belongs to."""
        path = f"{site['module']}.{site['fused']}_input_quantizer"
        found = self.sites.get(path)
        if found is None or found["decision"] is None or not switches.get(path, {}).get("enabled"):
            return None
        return path


def _rows(packed: Packed, start: int, stop: int) -> Packed:
    """Rows ``start:stop`` of a packed 2-D weight whose groups lie within rows (what
    compressed-tensors can hold): codes and scales are row-major, the global scale is the
    whole matrix's (so gate and up share it, as vLLM requires)."""
    rows, cols = packed.shape
    if len(packed.shape) != 2 or packed.block[0] != 1 or packed.zero_point is not None:
        raise FinalizeError(
            "a gate_up_proj expert matrix splits into gate and up only when its scales are per row or per "
            "group within rows and symmetric (no zero points: transformers cannot load expert zero points)",
            hint="use a symmetric per_channel or per_block(N) spec on the experts' weights",
        )
    per_row, odd = divmod(cols * packed.bits, 8 * packed.data.element_size())
    if odd:
        raise FinalizeError(f"rows of {cols} {packed.bits}-bit codes do not end on a byte boundary",
                            hint="use an even number of input features")
    data = packed.data.reshape(-1)[start * per_row: stop * per_row].clone()
    scale = packed.scale.reshape(rows, -1)[start:stop].clone() if packed.scale.numel() > 1 else packed.scale.clone()
    return Packed(data, scale, None, (stop - start, cols), packed.block, packed.kind, packed.bits, packed.signed,
                  packed.qmin, None if packed.global_scale is None else packed.global_scale.clone())


def _linear_weight(manifest: Mapping[str, Any], path: str, parameter: str, linears: Mapping[str, str]) -> str:
    """The name of the Linear weight the quantizer at ``path`` quantizes. A tied weight is
    saved once, under its first name (``model.embed_tokens.weight``), while the quantizer is
    the head's (``lm_head.weight_quantizer``): the export stores the head's weight."""
    module = next((s["module"] for s in manifest["plan"]["sites"] if s["quantizer_path"] == path), None)
    if module in linears and manifest.get("aliases", {}).get(f"{module}.weight") == parameter:
        return f"{module}.weight"
    return parameter


def _module_type(manifest: Mapping[str, Any], module: str) -> str:
    for m in manifest["inventory"]["modules"]:
        if m["name"] == module:
            return str(m["type"])
    return "module"


def _input_quantizer(manifest: Mapping[str, Any], module: str, switches: Mapping[str, Any]) -> str | None:
    """The quantizer of the Linear ``module``'s input (its linear op's ``input[0]``), if on."""
    for s in manifest["plan"]["sites"]:
        if (s["module"] == module and s["op_type"] == "linear" and s["role"] == "input" and str(s["key"]) == "0"
                and s["decision"] is not None and switches.get(s["quantizer_path"], {}).get("enabled")):
            return str(s["quantizer_path"])
    return None


def _activations_left(manifest: Mapping[str, Any], switches: Mapping[str, Any], used: set[str]) -> list[str]:
    """Enabled quantizers that are neither an exported weight nor an exported Linear input."""
    return sorted(
        s["quantizer_path"] for s in manifest["plan"]["sites"]
        if s["decision"] is not None and s["quantizer_path"] not in used and s["quantizer_path"] in switches
        and switches[s["quantizer_path"]]["enabled"] and s["quantizer_path"] not in manifest["packed"]
    )


def _regroup(groups: dict[str, dict[str, Any]], members: dict[str, list[str]]) -> dict[str, dict[str, Any]]:
    """Merge groups that became equal once their input activations were dropped."""
    merged: dict[str, dict[str, Any]] = {}
    merged_members: dict[str, list[str]] = {}
    for key, group in groups.items():
        new_key = json.dumps({k: v for k, v in group.items() if k != "targets"}, sort_keys=True)
        merged.setdefault(new_key, group)
        merged_members.setdefault(new_key, []).extend(members[key])
    members.clear()
    members.update(merged_members)
    return merged


def _write(out: Path, tensors: dict[str, torch.Tensor]) -> list[str]:
    """``model.safetensors``, or Hugging Face-style shards of at most 5 GiB with their index."""
    from safetensors.torch import save_file

    shards: list[dict[str, torch.Tensor]] = [{}]
    size = 0
    for name in sorted(tensors):
        t = tensors[name].contiguous()
        n = t.numel() * t.element_size()
        if size and size + n > _SHARD_BYTES:
            shards.append({})
            size = 0
        shards[-1][name] = t
        size += n
    if len(shards) == 1:
        save_file(shards[0], str(out / "model.safetensors"), metadata={"format": "pt"})
        return ["model.safetensors"]
    names = [f"model-{i + 1:05d}-of-{len(shards):05d}.safetensors" for i in range(len(shards))]
    weight_map = {}
    for name, shard in zip(names, shards):
        save_file(shard, str(out / name), metadata={"format": "pt"})
        weight_map.update(dict.fromkeys(shard, name))
    total = sum(t.numel() * t.element_size() for t in tensors.values())
    (out / "model.safetensors.index.json").write_text(
        json.dumps({"metadata": {"total_size": total}, "weight_map": weight_map}, indent=2) + "\n", encoding="utf-8"
    )
    return names
