"""Sequential onloading: calibrate and finalize a checkpoint whose float weights do not fit in
memory, one decoder layer at a time (``qrt run --sequential``).

llm-compressor's sequential pipeline (``llmcompressor/pipelines/sequential/pipeline.py``,
``SequentialPipeline.__call__``) splits the model at its "sequential targets" — by default
the classes in ``model._no_split_modules``, the decoder layer
(``get_no_split_params`` in ``llmcompressor/utils/pytorch/module.py``) — runs every
calibration batch through one part, caches the part's outputs as the next part's inputs
(``IntermediatesCache``), and onloads each part to the execution device from where the model
is kept (the CPU, by default). qrt does the same with the part loaded from the checkpoint's
safetensors files instead (:mod:`.sequential_onload`), so what must fit is the model's packed
weights plus one float layer, not the float model:

1. the model is built on ``meta``, traced there and prepared (every quantizer placed, none
   calibrated); the modules outside the decoder layers (embeddings, final norm, head) are read;
2. stage ``s`` reads layer ``s``, runs every calibration batch through the model with
   layers ``0..s-1`` replaced by the outputs they gave in the stages before (cached per
   batch) and stops when layer ``s`` has returned; layer ``s``'s quantizers observe, then its
   weights are packed (``finalize``) and its float weights freed;
3. a last stage replays the last layer's outputs through the rest of the model (final
   norm, head) and calibrates that; the head is finalized, the model written.

Running the model's own forward in every stage (not the layer called alone) gives each layer
exactly the arguments the model gives it — attention masks that differ by layer type,
rotary embeddings, position ids — which llm-compressor gets by tracing the model into
``torch.fx`` subgraphs.

**The result equals the non-sequential run's**, bit for bit: a quantizer observes the same
tensors in the same order (every batch passes a layer in calibration order; fake
quantization is off while calibrating, so a layer's outputs are its float outputs as in one
whole-model pass), and packing reads the same weights and scales. Quantizers outside the
layers observe once: those that ran before the first layer observe in stage 0 only (the
embedding runs again in every stage, for the masks and positions, with its observers off),
the others in the last stage. llm-compressor differs here on purpose: it propagates each
part's *quantized* outputs to the next (``propagate_error``), so its sequential scales are
not its basic pipeline's.

The comparison with the float model (``qrt run``'s error figures) needs no float copy: the
held-out sample goes through each layer twice after the layer is calibrated, fake
quantization off and on, and both outputs are cached like the calibration batches'.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from qrt.errors import ModelSourceError
from qrt.runtime.progress import Bars
from qrt.runtime.quant.fake_quantizer import FakeQuantizer
from qrt.runtime.quant.quantizer import Quantizer
from qrt.runtime.quant.run import RunReport, _first_tensor, _like, finalize_figures, report_of
from qrt.runtime.sequential_onload import CheckpointReader, build_skeleton, check_names, onload
from qrt.runtime.sources import BuiltModel

__all__ = ["SequentialModel", "decoder_layers", "load_sequential", "run_sequential"]


class _Stop(Exception):
    """Raised after the stage's layer returned: nothing after it runs in this stage."""


@dataclass
class SequentialModel:
    """A checkpoint's model on ``meta``, ready to onload part by part."""

    model: nn.Module
    args: tuple[Any, ...]
    """example inputs on the CPU (seeded like ``build_model``'s)"""
    kwargs: dict[str, Any]
    reader: CheckpointReader
    info: dict[str, object]
    float_bytes: int
    """bytes of the float parameters and buffers (what the model takes when loaded whole)"""

    def built(self) -> BuiltModel:
        """As ``build_model`` describes a model: for the report's heading and ``--calib``."""
        return BuiltModel(self.model, self.args, self.kwargs, self.info)


def decoder_layers(model: nn.Module) -> tuple[str, nn.ModuleList]:
    """The model's decoder layers: the ``nn.ModuleList`` of the classes its
    ``_no_split_modules`` names (llm-compressor's default sequential targets), else the
    longest list of modules of one class."""
    classes = set(getattr(model, "_no_split_modules", None) or ())
    best: tuple[str, nn.ModuleList] | None = None
    fallback: tuple[str, nn.ModuleList] | None = None
    for name, m in model.named_modules():
        if not isinstance(m, nn.ModuleList) or len(m) == 0:
            continue
        if classes and all(type(c).__name__ in classes for c in m) and (best is None or len(m) > len(best[1])):
            best = (name, m)
        if len({type(c) for c in m}) == 1 and (fallback is None or len(m) > len(fallback[1])):
            fallback = (name, m)
    found = best or fallback
    if found is None:
        raise ModelSourceError(
            f"{type(model).__name__} has no list of layers to onload one at a time",
            hint="sequential onloading is for models made of a stack of layers (decoder LLMs); run without --sequential",
        )
    return found


def load_sequential(folder: str, *, dtype: str | None = None, input_shapes: Sequence[Sequence[int]] | None = None,
                    seed: int = 0) -> SequentialModel:
    """The model of a Hugging Face checkpoint folder on ``meta`` with a reader of its tensors
    (:mod:`.sequential_onload`), and CPU example inputs drawn as ``build_model`` draws them."""
    from qrt.model_spec import parse_model_spec
    from qrt.runtime.checkpoint import checkpoint_files
    from qrt.runtime.hf_inputs import hf_example_inputs
    from qrt.runtime.sources import build_model

    spec = parse_model_spec(folder)
    if spec.kind != "hf":
        raise ModelSourceError(
            f"--sequential reads a Hugging Face checkpoint folder one layer at a time; {folder} is not one",
            hint="pass a folder with config.json and *.safetensors, or run without --sequential",
        )
    path = Path(spec.target)
    path = path if path.is_dir() else path.parent
    files = checkpoint_files(path)
    if files is None:
        raise ModelSourceError(
            f"{path} has no *.safetensors weights to onload",
            location=str(path), hint="--sequential reads a checkpoint's weights; pass the checkpoint folder",
        )
    shell = build_model(spec, input_shapes=input_shapes, device="meta", seed=seed, dtype=dtype)  # checks the config
    torch_dtype = getattr(torch, str(shell.info["dtype"]))
    model = build_skeleton(shell.model.config, torch_dtype)
    float_bytes = sum(t.numel() * t.element_size() for t in model.state_dict().values())
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        args, kwargs = hf_example_inputs(model, model.config, input_shapes, "cpu", spec.target)
    info = dict(shell.info)
    info.update({
        "device": "cpu",
        "weights": f"checkpoint ({len(files)} safetensors file{'s' if len(files) != 1 else ''}, onloaded one layer at a time)",
    })
    reader = CheckpointReader(files)
    check_names(model, reader, str(path))
    return SequentialModel(model, args, kwargs, reader, info, float_bytes)


def _switch(quantizers: Sequence[FakeQuantizer], *, observer: bool | None = None, fake_quant: bool | None = None) -> None:
    for q in quantizers:
        for stage in (q, *q.stages):
            if observer is not None:
                stage.observer_enabled = observer
            if fake_quant is not None:
                stage.fake_quant_enabled = fake_quant


@contextlib.contextmanager
def _staged(layers: nn.ModuleList, stage: int, replay: Any) -> Iterator[list[Any]]:
    """Layers before ``stage`` return ``replay`` (the last real layer's output, cached);
    layer ``stage`` runs, its output is caught, and the forward stops once its hooks ran
    (the quantizers at its boundary included). Yields a one-item list that receives the
    caught output."""
    caught: list[Any] = []
    handles = []
    for layer in layers[:stage]:
        layer.forward = lambda *a, **k: replay  # type: ignore[method-assign]
    if stage < len(layers):
        layer = layers[stage]
        real = type(layer).forward.__get__(layer)

        def run(*a: Any, **k: Any) -> Any:
            out = real(*a, **k)
            caught.append(out)
            return out

        def stop(module: nn.Module, args: Any, output: Any) -> None:
            raise _Stop

        layer.forward = run  # type: ignore[method-assign]
        handles.append(layer.register_forward_hook(stop))
    try:
        yield caught
    finally:
        for h in handles:
            h.remove()
        for layer in layers[:stage + 1]:
            layer.__dict__.pop("forward", None)


def _call(model: nn.Module, args: Sequence[Any], kwargs: dict[str, Any], layers: nn.ModuleList, stage: int,
          replay: Any) -> tuple[Any, Any]:
    """One stage's forward of one batch: ``(the stage layer's output, the model's output)``
    (the model's output only in the last stage)."""
    with _staged(layers, stage, replay) as caught:
        try:
            out = model(*args, **kwargs)
        except _Stop:
            out = None
    if stage < len(layers) and len(caught) != 1:
        raise ModelSourceError(
            f"layer {stage} of {type(model).__name__} ran {len(caught)} times in one forward",
            hint="sequential onloading needs each layer run once per forward; run without --sequential",
        )
    return (caught[0] if caught else None), out


def run_sequential(config: Any, loaded: SequentialModel, *, batches: int = 8, seed: int = 0,
                   calibration: Sequence[torch.Tensor] | None = None, finalize_dir: str | None = None,
                   compare: bool = True, all_experts: bool = False, progress: Any = None,
                   bars: Bars | None = None) -> RunReport:
    """``run_config``'s calibration, comparison and finalize on a model onloaded one decoder
    layer at a time: the same batches (the example and random ones like it, or the
    ``calibration`` samples with the last held out), the same report, and — with
    ``finalize_dir`` — the same finalized directory, while at most one layer's float weights
    are in memory. The model ends finalized (packed weights) whether or not it is written.

    ``progress`` receives trace progress; ``bars`` draws progress bars (tracing, one step per
    layer, writing)."""
    from qrt.resolver.plan import resolve_source
    from qrt.runtime.finalize.weights import check_targets, finalize_weights, weight_targets
    from qrt.runtime.trace import trace_model

    bars = bars if bars is not None else Bars(False)
    model, args, kwargs = loaded.model, loaded.args, dict(loaded.kwargs)
    meta_args = tuple(a.to("meta") if isinstance(a, torch.Tensor) else a for a in args)
    meta_kwargs = {k: v.to("meta") if isinstance(v, torch.Tensor) else v for k, v in kwargs.items()}
    quantizer = Quantizer(model, config, execution_mode="eager")
    configured = getattr(getattr(quantizer.source, "config", None), "execution_mode", None)
    # traced on meta through the export branches, as `qrt resolve --model DIR` traces it: an
    # eager trace would read tensor data (Hugging Face's packed-sequence probe). The quantized
    # ops (inside the layers, the head) take the same branches either way.
    with bars.trace() as traced:
        inventory = trace_model(model, meta_args, meta_kwargs, progress=traced or progress)
    quantizer._install_plan(resolve_source(quantizer.source, inventory), inventory)
    state = quantizer.state
    assert state is not None
    prefix, layers = decoder_layers(model)
    names = [f"{prefix}.{i}" for i in range(len(layers))]
    targets = weight_targets(model, state, quantizer.plan)
    check_targets(targets)  # a weight that cannot be packed fails before anything is read
    by_layer: list[list[Any]] = [[] for _ in layers]
    rest_targets: list[Any] = []
    for t in targets:
        i = next((i for i, n in enumerate(names) if t.parameter.startswith(n + ".")), None)
        (rest_targets if i is None else by_layer[i]).append(t)
    layer_quantizers = [quantizer.quantizers(layer) for layer in layers]
    inside = {id(q) for qs in layer_quantizers for q in qs}
    outer = [q for q in quantizer.quantizers() if id(q) not in inside]
    every = quantizer.quantizers()

    onload(model, model, "", loaded.reader, skip=tuple(names))
    generator = torch.Generator().manual_seed(seed)
    if calibration is not None:
        samples = list(calibration)
        held = samples.pop() if len(samples) > 1 else None
        inputs = [((s, *args[1:]), kwargs) for s in samples]
        data: tuple[tuple[Any, ...], dict[str, Any]] = ((held if held is not None else samples[0], *args[1:]), kwargs)
        count = len(samples)
    else:
        inputs = [(args, kwargs)]
        for _ in range(max(batches - 1, 0)):
            inputs.append((tuple(_like(a, generator) for a in args), {k: _like(v, generator) for k, v in kwargs.items()}))
        data = (tuple(_like(a, generator) for a in args), {k: _like(v, generator) for k, v in kwargs.items()})
        count = batches
        held = None

    cache: list[Any] = [None] * len(inputs)
    floats: Any = None  # the held-out sample's float and quantized outputs of the last stage
    quants: Any = None
    got = want = None
    report: dict[str, Any] = {"weights": 0, "dense_bytes": 0, "packed_bytes": 0, "kept_dense": {}}
    head: set[int] = set()
    stages = len(layers) + 1
    with torch.no_grad(), quantizer.calibration_mode(all_experts=all_experts), bars(stages, "layers", "layer") as steps:
        for stage in range(stages):
            last = stage == len(layers)
            if not last:
                _onload_layer(quantizer, model, layers[stage], names[stage], loaded.reader)
                observing = list(layer_quantizers[stage]) + (outer if stage == 0 else [])
            else:
                observing = [q for q in outer if id(q) not in head]
            _switch(every, observer=False, fake_quant=False)
            _switch(observing, observer=True)
            hooks = [q.register_forward_pre_hook(lambda m, a: head.add(id(m))) for q in outer] if stage == 0 else []
            try:
                for b, (a, k) in enumerate(inputs):
                    cache[b], _ = _call(model, a, k, layers, stage, cache[b])
            finally:
                for h in hooks:
                    h.remove()
            # the held-out sample, float and quantized, through what is calibrated so far
            counting, every_expert = state.count_routing, state.all_experts
            state.count_routing = state.all_experts = False
            _switch(every, observer=False, fake_quant=True)
            quants, out = _call(model, *data, layers, stage, quants)
            if last:
                got = _first_tensor(out).float()
            if compare:  # the float model: the runner passes every op through untouched
                _switch(every, fake_quant=False)
                state.runner.paused += 1
                try:
                    floats, out = _call(model, *data, layers, stage, floats)
                finally:
                    state.runner.paused -= 1
                if last:
                    want = _first_tensor(out).float()
            state.count_routing, state.all_experts = counting, every_expert
            _switch(every, fake_quant=False)
            done = finalize_weights(by_layer[stage] if not last else rest_targets)
            for key in ("weights", "dense_bytes", "packed_bytes"):
                report[key] += done[key]
            report["kept_dense"].update(done["kept_dense"])
            _release_freed()
            steps.update()
    assert got is not None
    finalized = None
    if finalize_dir is not None:
        with bars.step("writing"):
            finalized = _write(model, finalize_dir, report, loaded.float_bytes, data, got)
    return report_of(quantizer, got, want, batches=count, finalized=finalized, mode="eager",
                     configured=configured, held_out=held is not None)


def _release_freed() -> None:
    """Hand the freed float layer back to the operating system. glibc keeps freed blocks in
    its heap for reuse, and between a layer's large blocks lie the small ones that stay (its
    packed weights), so without a trim the process keeps every layer's footprint: measured on a
    652 MiB float32 Llama (12 layers), the peak of the layer stages went from 897 to 783 MiB.
    A no-op where the C library has no ``malloc_trim``."""
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("c")
    try:
        trim = ctypes.CDLL(name).malloc_trim if name else None
    except (OSError, AttributeError):
        trim = None
    if trim is not None:
        trim(0)


def _onload_layer(quantizer: Quantizer, model: nn.Module, layer: nn.Module, name: str,
                  reader: CheckpointReader) -> None:
    """Read one layer. The NVFP4 weights of its fused groups share a global scale through weak
    references to the weights (:func:`qrt.runtime.fused_layers.shared_global_scale`), and a
    tensor with a weak reference cannot take its data in place: those links are dropped for
    the read and made again on the loaded weights."""
    from qrt.runtime.fused_layers import shared_global_scale

    groups = [g for g in quantizer.fused_groups if g and g[0].startswith(name + ".")]
    members = [[model.get_submodule(m) for m in g] for g in groups]
    weight_quantizers = [[next((q for q in quantizer.quantizers(m) if q.shared_global is not None), None) for m in g]
                         for g in members]
    for qs in weight_quantizers:
        for q in qs:
            if q is not None:
                q.shared_global = None
    # the closures holding the weak references are gone now (nothing else refers to them)
    onload(model, layer, name, reader)
    for g, qs in zip(members, weight_quantizers):
        shared = shared_global_scale([m.weight for m in g])
        for q in qs:
            if q is not None:
                q.shared_global = shared


def _write(model: nn.Module, directory: str, report: dict[str, Any], float_bytes: int,
           data: tuple[tuple[Any, ...], dict[str, Any]], prepared: torch.Tensor) -> dict[str, Any]:
    """The finalized model written as ``Quantizer.finalize(mmap_dir=...)`` writes it, and the
    figures ``qrt run --finalize`` reports (:func:`qrt.runtime.quant.run._finalize`)."""
    from qrt.runtime.finalize.saved import save_quantized

    save_quantized(model, directory, overwrite=True)
    with torch.no_grad():
        again = _first_tensor(model(*data[0], **data[1])).float()
    return finalize_figures(report, directory, float_bytes, again, prepared)
