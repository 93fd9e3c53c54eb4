"""Build a model and its example inputs from a :class:`~qrt.model_spec.ModelSpec`.

Every failure a user can cause (a spec that does not import, a factory that raises or returns
the wrong thing, a missing ``transformers``) becomes a :class:`ModelSourceError` that says
what was tried and what would be valid.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import sys
import traceback
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from qrt.errors import ModelSourceError
from qrt.files import parse_json, read_text
from qrt.model_spec import SPEC_FORMS, ModelSpec
from qrt.runtime.checkpoint import checkpoint_files, resolve_dtype
from qrt.runtime.hf_inputs import hf_example_inputs

__all__ = ["BuiltModel", "build_model", "hf_config_from_dict", "hf_model", "hf_model_class"]


@dataclass
class BuiltModel:
    model: torch.nn.Module
    args: tuple[Any, ...]
    kwargs: dict[str, Any] = field(default_factory=dict)
    info: dict[str, object] = field(default_factory=dict)


def _describe_inputs(args: tuple[Any, ...], kwargs: dict[str, Any]) -> list[dict[str, object]]:
    out: list[dict[str, object]] = []
    for key, value in [*enumerate(args), *kwargs.items()]:
        if isinstance(value, torch.Tensor):
            out.append({"key": key, "shape": list(value.shape), "dtype": str(value.dtype).removeprefix("torch.")})
    return out


def _user_frame(exc: BaseException, filename: str | None) -> str | None:
    frames = traceback.extract_tb(exc.__traceback__)
    for fr in reversed(frames):
        if filename is None or Path(fr.filename).resolve() == Path(filename).resolve():
            return f"{fr.filename}:{fr.lineno}"
    return None


def _random_inputs(shapes: Sequence[Sequence[int]], device: str) -> tuple[torch.Tensor, ...]:
    return tuple(torch.randn(tuple(s), device=device) for s in shapes)


def _split_inputs(value: Any, where: str) -> tuple[tuple[Any, ...], dict[str, Any]]:
    if isinstance(value, torch.Tensor):
        return (value,), {}
    if isinstance(value, dict):
        return (), dict(value)
    if isinstance(value, (tuple, list)):
        return tuple(value), {}
    raise ModelSourceError(
        f"example inputs are a {type(value).__name__}",
        location=where,
        hint="return (model, example_inputs) with a tensor, a tuple of arguments, or a dict "
        "of keyword arguments",
    )


_FILE_MODULE = "__qrt_model_file__"
"""Marks a module qrt imported from a ``file.py:factory`` spec, so a later load of the same
stem may replace it, and a module Python imported by that name (``json``) never is."""


def _import_file(path: Path, spec: ModelSpec) -> Any:
    """Import ``path/to/file.py`` as module ``file`` (docs/semantics.md §1), so its classes are
    ``file.Net`` in every process, and rules, lint suggestions, lock files and diffs that name
    them stay valid. The file is executed afresh on each load (it may have changed); a module
    of the same name that did not come from such a file is never shadowed."""
    name = path.stem
    if not name.isidentifier():
        raise ModelSourceError(
            f"cannot import {spec.target}: {name!r} is not a Python module name",
            location=spec.target,
            hint="rename the file to a valid module name (letters, digits, underscores), e.g. "
            f"{''.join(c if c.isalnum() else '_' for c in name)}.py: its classes are named after it",
        )
    existing = sys.modules.get(name)
    if existing is not None and not getattr(existing, _FILE_MODULE, None):
        origin = getattr(existing, "__file__", None) or "built in"
        if origin != "built in" and Path(origin).resolve() == path:
            return existing  # the caller imported this very file already: use their module
        raise ModelSourceError(
            f"cannot import {spec.target} as module {name!r}: that name is already the module "
            f"{origin}",
            location=spec.target,
            hint="rename the file (its classes are named <file stem>.<class>), or make it "
            "importable and use the package.module:factory form",
        )
    loader_spec = importlib.util.spec_from_file_location(name, path)
    if loader_spec is None or loader_spec.loader is None:
        raise ModelSourceError(f"cannot import {spec.target}", hint=SPEC_FORMS)
    module = importlib.util.module_from_spec(loader_spec)
    setattr(module, _FILE_MODULE, str(path))
    sys.modules[name] = module  # dataclasses and pickling look classes up by module name
    try:
        loader_spec.loader.exec_module(module)
    except (Exception, SystemExit) as exc:  # a file that calls exit() at import is an error too
        if existing is None:
            del sys.modules[name]
        else:
            sys.modules[name] = existing
        raise ModelSourceError(
            f"importing {spec.target} failed: {type(exc).__name__}: {exc}",
            location=_user_frame(exc, str(path)) or spec.target,
            hint="fix the file so that `python " + spec.target + "` runs; --debug shows the traceback",
        ) from exc
    return module


def _load_callable(spec: ModelSpec) -> tuple[Any, str | None]:
    assert spec.attr is not None
    if spec.kind == "file":
        path = Path(spec.target).resolve()
        module = _import_file(path, spec)
        filename: str | None = str(path)
    else:
        try:
            module = importlib.import_module(spec.target)
        except Exception as exc:
            raise ModelSourceError(
                f"cannot import module {spec.target!r}: {type(exc).__name__}: {exc}",
                hint="the module must be importable from the current directory or installed; "
                + SPEC_FORMS,
            ) from exc
        filename = getattr(module, "__file__", None)
    obj: Any = module
    for part in spec.attr.split("."):
        if not hasattr(obj, part):
            from qrt.errors import did_you_mean

            names = [n for n in dir(module) if not n.startswith("_")]
            raise ModelSourceError(
                f"{spec.target} has no attribute {spec.attr!r}",
                hint=did_you_mean(part, names) or f"callables there: {', '.join(names[:12])}",
            )
        obj = getattr(obj, part)
    if not callable(obj):
        raise ModelSourceError(f"{spec.text} is not callable", hint="name a function or class returning a model")
    return obj, filename


def _from_factory(spec: ModelSpec, shapes: Sequence[Sequence[int]] | None, device: str) -> BuiltModel:
    factory, filename = _load_callable(spec)
    ctx = torch.device(device) if device == "meta" else contextlib.nullcontext()
    try:
        with ctx:
            result = factory()
    except (Exception, SystemExit) as exc:  # exit() in a factory is no model: not a clean exit 0
        raise ModelSourceError(
            f"factory {spec.text} raised {type(exc).__name__}: {exc}"
            + (" (it called exit(); a factory must return a model)" if isinstance(exc, SystemExit) else ""),
            location=_user_frame(exc, filename),
            hint="the factory is called with no arguments and must return a model or "
            "(model, example_inputs); --debug shows the traceback",
        ) from exc
    model, inputs = (result if isinstance(result, tuple) and len(result) == 2 and isinstance(result[0], torch.nn.Module) else (result, None))
    if not isinstance(model, torch.nn.Module):
        raise ModelSourceError(
            f"factory {spec.text} returned a {type(result).__name__}, not a torch.nn.Module",
            hint="return a model, or (model, example_inputs)",
        )
    if shapes:
        args, kwargs = _random_inputs(shapes, device), {}
    elif inputs is not None:
        args, kwargs = _split_inputs(inputs, spec.text)
    else:
        raise ModelSourceError(
            f"factory {spec.text} returned a model but no example inputs",
            hint="return (model, example_inputs) from the factory, or pass --input-shape "
            "(e.g. --input-shape 1,3,224,224)",
        )
    if device != "meta":
        model = model.to(device)
    return BuiltModel(model, args, kwargs, {"spec": spec.text, "device": device})


def _from_builtin(spec: ModelSpec, shapes: Sequence[Sequence[int]] | None, device: str) -> BuiltModel:
    from qrt.runtime.examples import EXAMPLES

    example = EXAMPLES[spec.target]
    with torch.device(device):
        model = example.build().eval()
    if shapes and len(shapes) > 1:
        raise ModelSourceError(
            f"built-in {spec.target!r} takes one input; got {len(shapes)} --input-shape values"
        )
    args = example.inputs(shapes[0] if shapes else None, device)
    return BuiltModel(model, args, {}, {"spec": spec.text, "device": device})


def _from_hf(spec: ModelSpec, shapes: Sequence[Sequence[int]] | None, device: str,
             dtype: str | None = None, require_weights: bool = False) -> BuiltModel:
    """A Hugging Face model: on ``meta`` its structure only; elsewhere the folder's
    safetensors weights when it has them (every parameter from the checkpoint, or an error),
    random weights when it has none, unless ``require_weights``."""
    try:
        import transformers
    except ImportError as exc:
        raise ModelSourceError(
            f"{spec.text} is a Hugging Face model, and transformers is not installed",
            hint="install the extra: pip install 'qrt[hf]'",
        ) from exc
    path = Path(spec.target)
    config_file = path / "config.json" if path.is_dir() else path
    try:
        text = read_text(config_file, what="Hugging Face config", error=ModelSourceError)
        config = hf_config_from_dict(parse_json(text, file=str(config_file), error=ModelSourceError), str(config_file))
    except ModelSourceError:
        raise
    except Exception as exc:
        raise ModelSourceError(
            f"cannot read Hugging Face config {spec.target}: {type(exc).__name__}: {exc}",
            location=spec.target,
            hint="the file must be a transformers config.json with a known model_type",
        ) from exc
    quantized = getattr(config, "quantization_config", None)
    if quantized is not None:
        method = quantized.get("quant_method") if isinstance(quantized, dict) else getattr(quantized, "quant_method", "?")
        raise ModelSourceError(
            f"{spec.target} is already quantized ({method}): qrt quantizes a float model",
            location=spec.target,
            hint="pass the float checkpoint it was made from; `qrt explain DIR` reads a model qrt saved",
        )
    files = checkpoint_files(path)
    if files is None and require_weights and device != "meta":
        raise ModelSourceError(
            "this Hugging Face config has no weights beside it (no *.safetensors): the run would "
            "calibrate, compare and save a randomly initialised model",
            location=spec.target,
            hint="pass the checkpoint folder (config.json + model.safetensors), or --random-weights "
            "to run on random weights of this architecture on purpose",
        )
    torch_dtype = getattr(torch, resolve_dtype(dtype, config, files is not None))
    arch = (getattr(config, "architectures", None) or [None])[0]
    load = files is not None and device != "meta"
    try:
        model_cls = hf_model_class(config)
        if load:
            with _no_progress_bars(transformers):  # qrt's output only, on stderr too
                model, info = model_cls.from_pretrained(
                    str(path), config=config, local_files_only=True, use_safetensors=True,
                    dtype=torch_dtype, output_loading_info=True,
                )
            _check_loaded(spec, info)
            model = model.to(device)
        else:
            with torch.device(device):
                model = hf_model(config)
            model = model.to(torch_dtype)
    except ModelSourceError:
        raise
    except Exception as exc:
        raise ModelSourceError(
            f"transformers could not {'load' if load else 'build'} {arch or config.model_type}: "
            f"{type(exc).__name__}: {exc}",
            location=spec.target,
        ) from exc
    model.eval()
    args, kwargs = hf_example_inputs(model, config, shapes, device, spec.target)
    return BuiltModel(model, args, kwargs, {
        "spec": spec.text, "device": device, "hf_architecture": arch or type(model).__name__,
        "weights": f"checkpoint ({len(files)} safetensors file{'s' if len(files) != 1 else ''})" if load
        else "none (meta)" if device == "meta" else "random",
        "dtype": str(torch_dtype).removeprefix("torch."),
    })


@contextlib.contextmanager
def _no_progress_bars(transformers: Any) -> Iterator[None]:
    """transformers draws a "Loading weights" bar on stderr; a checkpoint of a few files loads
    in a blink, and a user should see only qrt's output."""
    hf_logging = transformers.utils.logging
    was = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was:
            hf_logging.enable_progress_bar()


def _check_loaded(spec: ModelSpec, info: dict[str, Any]) -> None:
    """Every parameter comes from the checkpoint, and every checkpoint tensor is used: a
    missing key would silently stay random, an unexpected one be silently dropped."""
    problems = [
        (what, sorted(str(k[0] if isinstance(k, tuple) else k) for k in info.get(key) or ()))
        for key, what in (("missing_keys", "not in the checkpoint (would stay random)"),
                          ("unexpected_keys", "in the checkpoint but not in the model"),
                          ("mismatched_keys", "of another shape in the checkpoint"))
    ]
    problems = [(what, keys) for what, keys in problems if keys]
    if problems:
        detail = "; ".join(f"{len(keys)} tensor(s) {what}: {', '.join(keys[:4])}" + (" …" if len(keys) > 4 else "")
                           for what, keys in problems)
        raise ModelSourceError(
            f"the checkpoint in {spec.target} does not match its config: {detail}",
            location=spec.target,
            hint="the weights and config.json must come from the same save_pretrained",
        )


_AUTO_CLASSES = ("AutoModelForMaskedLM", "AutoModelForCausalLM", "AutoModelForImageClassification", "AutoModel")
"""A config without ``architectures`` is built as the first of these that knows its type (an
encoder-decoder as a text or speech sequence-to-sequence model first): the model with its
head, since the head is part of what gets quantized, and an encoder (BERT) as the masked LM
it was trained as, not as a decoder it was not."""


def hf_config_from_dict(data: Any, where: str) -> Any:
    """A transformers config from the contents of a ``config.json``."""
    import transformers

    if not isinstance(data, dict):
        raise ModelSourceError(f"{where} holds a JSON {type(data).__name__}, not an object", location=where,
                               hint="a Hugging Face config.json is one JSON object with a model_type")
    data = dict(data)
    model_type = data.pop("model_type", None)
    if model_type is None:
        raise ModelSourceError(f"{where} has no 'model_type'", location=where)
    return transformers.AutoConfig.for_model(model_type, **data)


def hf_model_class(config: Any) -> Any:
    """The class a config builds: its ``architectures`` entry, else the first auto class
    that knows its type (``_AUTO_CLASSES``; build with ``from_config``)."""
    import transformers

    arch = (getattr(config, "architectures", None) or [None])[0]
    cls = getattr(transformers, arch, None) if arch else None
    return cls if cls is not None else _auto_class(transformers, config)


def hf_model(config: Any) -> torch.nn.Module:
    """A randomly initialised model of ``config`` (under the caller's device context)."""
    cls = hf_model_class(config)
    return cls.from_config(config) if hasattr(cls, "_model_mapping") else cls(config)  # an auto class, or the class


def _auto_class(transformers: Any, config: Any) -> Any:
    seq2seq = ("AutoModelForSeq2SeqLM", "AutoModelForSpeechSeq2Seq") if getattr(config, "is_encoder_decoder", False) else ()
    for name in (*seq2seq, *_AUTO_CLASSES):
        auto = getattr(transformers, name)
        if type(config) in auto._model_mapping:
            return auto
    raise ModelSourceError(
        f"transformers has no model class for config type {type(config).__name__}",
        hint='add "architectures": ["<ModelClass>"] to the config',
    )


def build_model(
    spec: ModelSpec,
    *,
    input_shapes: Sequence[Sequence[int]] | None = None,
    device: str | None = None,
    seed: int | None = None,
    dtype: str | None = None,
    require_weights: bool = False,
) -> BuiltModel:
    """Build the model a spec names, with example inputs, on ``device``.

    Defaults: ``meta`` for Hugging Face configs (no weights are allocated), ``cpu`` else.

    ``seed``: built-in and config-only models start from random weights, and example inputs
    are random, so without a seed two processes build different models and print different
    numbers. With one, the random generator is seeded before the model is built (a factory
    included) and its inputs drawn: the same seed gives the same weights and inputs in every
    process. The caller's global random state is restored afterwards.

    ``dtype``: ``auto`` (or ``None``) keeps a checkpoint's own dtype and builds everything else
    in float32; ``float32``/``bfloat16``/``float16`` casts the model and its floating-point
    example inputs. ``require_weights``: a Hugging Face config without a checkpoint beside it
    is an error (runs that compute from the weights ask for it), not random weights.
    ``info["weights"]`` says where the weights came from.
    """
    device = device or ("meta" if spec.kind == "hf" else "cpu")
    if spec.kind == "inventory":
        raise ModelSourceError(f"{spec.text} is a saved inventory, not a model", hint=SPEC_FORMS)
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ModelSourceError(
            f"cannot build {spec.text} on {device}: this torch ({torch.__version__}) "
            + ("was built without CUDA" if torch.version.cuda is None else "finds no CUDA device"),
            hint="use --device cpu (or meta to trace without weights)",
        )
    with torch.random.fork_rng(devices=[]) if seed is not None else contextlib.nullcontext():
        if seed is not None:
            torch.manual_seed(seed)
        if spec.kind == "builtin":
            built = _from_builtin(spec, input_shapes, device)
        elif spec.kind in ("file", "module"):
            built = _from_factory(spec, input_shapes, device)
        else:
            built = _from_hf(spec, input_shapes, device, dtype, require_weights)
    if spec.kind != "hf":
        built.info.setdefault("weights", "random" if spec.kind == "builtin" else "from its factory")
        if dtype not in (None, "auto"):
            target = getattr(torch, resolve_dtype(dtype, None, False))
            built.model = built.model.to(target)
            built.args = tuple(_cast(a, target) for a in built.args)
            built.kwargs = {k: _cast(v, target) for k, v in built.kwargs.items()}
            built.info["dtype"] = str(target).removeprefix("torch.")
    built.info.setdefault("inputs", _describe_inputs(built.args, built.kwargs))
    return built


def _cast(value: Any, dtype: torch.dtype) -> Any:
    return value.to(dtype) if isinstance(value, torch.Tensor) and value.is_floating_point() else value
