"""The quantizer module placed at a site: its spec, observer state and fake quantization.

One module per quantized tensor, registered under the site's quantizer path, so a prepared
model reads like a ModelOpt one (``model.get_submodule("...q_proj.weight_quantizer")``). It
holds:

* the resolved spec (axis filled) and its :class:`~.numerics.Format`;
* the observer state as buffers (``min_val``/``max_val`` per group), updated while the
  observer is on, by the spec's ``qparam_calculator``: ``minmax`` (running extremes),
  ``moving_average`` (EMA of each batch's range, the default for activations), ``static`` (the
  current tensor's range each time it is observed; the default for weights, so with the
  observer off after calibration the weight qparams are computed once);
* two switches, ``observer_enabled`` and ``fake_quant_enabled`` (the workflow API flips them;
  a QAT schedule drives them per module scope), and ``enabled`` — the ModelOpt-style on/off
  that ``set_quantizer_by_cfg`` toggles.

MX and NVFP4-style formats compute their block scales from each tensor (dynamic), so they
observe nothing.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from qrt.ir.spec import QuantizationSpec
from qrt.runtime.quant.numerics import Format, fake_quantize, format_of, group_min_max, group_shape, qparams, ste

__all__ = ["FakeQuantizer"]

_EMA = 0.01
_EMPTY = torch.empty(0)
_BUFFERS = ("min_val", "max_val", "scale", "zero_point")
_BUFFER_HOOKS = getattr(torch.nn.modules.module, "_global_buffer_registration_hooks", None)
"""torch's global buffer-registration hooks (``register_module_buffer_registration_hook``),
which ``register_buffer`` runs; ``None`` where this torch keeps them elsewhere"""


class FakeQuantizer(nn.Module):
    spec: QuantizationSpec
    fmt: Format
    role: str
    path: str
    shape: tuple[int, ...] | None
    block: tuple[int, ...] | None
    calculator: str
    _observer_enabled: bool
    _fake_quant_enabled: bool
    _enabled: bool
    _cache: tuple[torch.Tensor, int, torch.Tensor] | None
    shared_global: Any
    """for an NVFP4 weight of a fused layer group (q/k/v, gate/up): the callable giving the
    group's shared global scale (:mod:`qrt.runtime.fused_layers`); ``None``: its own"""

    def __init__(self, spec: QuantizationSpec, shape: tuple[int, ...] | None, *, role: str, path: str) -> None:
        super().__init__()
        fmt: Format = format_of(spec)
        shape = tuple(shape) if shape is not None else None
        block = group_shape(spec, shape) if shape is not None else None
        calc = spec.qparam_calculator or ("static" if role in ("state", "module_state") else "moving_average")
        if spec.range_calculator not in (None, "minmax"):
            from qrt.runtime.quant.numerics import NumericsError

            raise NumericsError(
                f"range_calculator {spec.range_calculator!r} is not run by the eager runtime; "
                f"valid: minmax (or leave it unset)"
            )
        # plain attributes written directly, as set_spec does: nn.Module.__setattr__ costs
        # microseconds per call, most of a quantizer's construction, and a load builds hundreds
        self.__dict__.update(
            spec=spec, fmt=fmt, role=role, path=path, shape=shape, block=block, calculator=calc,
            _observer_enabled=True, _fake_quant_enabled=True, _enabled=True, _cache=None, shared_global=None,
        )
        self._set_stages(spec, shape)
        if _BUFFER_HOOKS is None or _BUFFER_HOOKS:  # someone hooks buffer registration: register as ever
            for name in _BUFFERS:
                self.register_buffer(name, torch.empty(0), persistent=True)
        else:  # what register_buffer does with a new persistent buffer, without checking our own names
            buffers = self._buffers
            for name in _BUFFERS:
                buffers[name] = torch.empty(0)

    def _set_stages(self, spec: QuantizationSpec, shape: tuple[int, ...] | None) -> None:
        """Further stages of a sequential quantizer (``spec.then``), as ``stages.0`` …"""
        if "stages" in self._modules:
            del self._modules["stages"]
        if spec.then:
            self.stages = nn.ModuleList(
                FakeQuantizer(s, shape, role=self.role, path=f"{self.path}.stages.{i}") for i, s in enumerate(spec.then)
            )
        else:
            object.__setattr__(self, "stages", ())

    def set_spec(self, spec: QuantizationSpec, *, prepared: tuple[Format, tuple[int, ...] | None] | None = None) -> None:
        """Replace the spec (ModelOpt's full replacement): numerics rebuilt, observations reset.
        ``prepared`` passes the format and group shape when the caller checked them already."""
        if prepared is not None:
            fmt, block = prepared
        else:
            fmt = format_of(spec)
            block = group_shape(spec, self.shape) if self.shape is not None else None
        # plain attributes and buffers are written directly: nn.Module.__setattr__ costs
        # microseconds per call, and set_quantizer_by_cfg replaces thousands of specs
        d = self.__dict__
        d["spec"], d["fmt"], d["block"], d["_cache"] = spec, fmt, block, None
        d["calculator"] = spec.qparam_calculator or ("static" if self.role in ("state", "module_state") else "moving_average")
        buffers = self._buffers
        for name in ("min_val", "max_val", "scale", "zero_point"):
            buffers[name] = _EMPTY  # never written in place: observing assigns new tensors
        if spec.then or len(self.stages):
            self._set_stages(spec, self.shape)

    def set_enabled(self, value: bool) -> None:
        """``enabled`` without nn.Module's attribute machinery (the same effect)."""
        self.__dict__["_enabled"] = bool(value)
        self.__dict__["_cache"] = None

    # -- switches (changing one drops the cached weight) ------------------------------------------
    @property
    def enabled(self) -> bool:
        return self._enabled

    @enabled.setter
    def enabled(self, value: bool) -> None:
        self._enabled, self._cache = bool(value), None

    @property
    def observer_enabled(self) -> bool:
        return self._observer_enabled

    @observer_enabled.setter
    def observer_enabled(self, value: bool) -> None:
        self._observer_enabled, self._cache = bool(value), None

    @property
    def fake_quant_enabled(self) -> bool:
        return self._fake_quant_enabled

    @fake_quant_enabled.setter
    def fake_quant_enabled(self, value: bool) -> None:
        self._fake_quant_enabled, self._cache = bool(value), None

    # -- state -------------------------------------------------------------------------------
    @property
    def dynamic(self) -> bool:
        return self.fmt.dynamic

    @property
    def calibrated(self) -> bool:
        return self.dynamic or self.scale.numel() > 0

    def extra_repr(self) -> str:
        state = "on" if self.enabled else "off"
        return (
            f"{self.path}: {_spec_text(self.spec)}, {state}, observer={'on' if self.observer_enabled else 'off'}, "
            f"fake_quant={'on' if self.fake_quant_enabled else 'off'}, {self.calculator}"
        )

    def state(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "spec": self.spec.to_json(),
            "enabled": self.enabled,
            "observer": self.observer_enabled,
            "fake_quant": self.fake_quant_enabled,
            "calibrated": self.calibrated,
        }

    # -- observe and quantize -----------------------------------------------------------------
    def _observe(self, x: torch.Tensor, block: tuple[int, ...]) -> None:
        lo, hi = group_min_max(x.detach().float(), block)
        if self.calculator == "static" or self.min_val.numel() == 0 or self.min_val.shape != lo.shape:
            self.min_val, self.max_val = lo, hi
        elif self.calculator == "minmax":
            self.min_val = torch.minimum(self.min_val, lo)
            self.max_val = torch.maximum(self.max_val, hi)
        else:  # moving average
            self.min_val = self.min_val + _EMA * (lo - self.min_val)
            self.max_val = self.max_val + _EMA * (hi - self.max_val)
        scale, zero_point = qparams(self.spec, self.fmt, self.min_val, self.max_val, block)
        self.scale = scale
        self.zero_point = zero_point if zero_point is not None else torch.empty(0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.enabled or not x.is_floating_point():
            return x
        if x.numel() == 0 and "packed" not in self.__dict__:
            # an empty tensor (a Hugging Face KV cache before its first update, concatenated
            # with the new keys) has no range to observe and no values to round; a finalized
            # weight's quantizer is given an empty placeholder and returns its packed values
            return x
        cached = self._cache
        if cached is not None and cached[0] is x and cached[1] == x._version and not self.observer_enabled and self.fake_quant_enabled:
            # a weight unchanged since it was last quantized (inference): reuse the result
            return ste(x, cached[2])
        out = self._forward(x)
        finalized = "packed" in self.__dict__  # keeps its packed form only: a dense copy per weight
        if (self.role in ("state", "module_state") and not self.observer_enabled and self.fake_quant_enabled
                and out is not x and not finalized):  # would undo what finalize saved in memory
            self._cache = (x, x._version, out.detach())
        else:
            self._cache = None
        return out

    def pack(self, tensor: torch.Tensor) -> Any:
        """``tensor`` in its real low-bit form under this quantizer (``qrt.runtime.finalize.pack``)."""
        from qrt.runtime.finalize.pack import quantize_packed

        block = self.block if self.shape == tuple(tensor.shape) and self.block is not None else group_shape(self.spec, tuple(tensor.shape))
        scale = self.scale if self.scale.numel() else None
        zero_point = self.zero_point if self.zero_point.numel() else None
        return quantize_packed(self.spec, self.fmt, tensor, block, scale, zero_point, self._global())

    def _global(self) -> torch.Tensor | None:
        if self.shared_global is not None:
            return self.shared_global()  # type: ignore[no-any-return]
        if self._calibrated_global() and self.max_val.numel():
            from qrt.runtime.formats.nvfp4 import global_from_amax

            return global_from_amax(self.max_val)
        return None

    def _calibrated_global(self) -> bool:
        """NVFP4 activations with float8 block scales: the per-tensor (global) scale is
        calibrated — the largest magnitude seen while observing (ModelOpt's max calibration;
        compressed-tensors' static ``input_global_scale``) — and the block scales stay dynamic.
        Until calibrated, each call computes its own."""
        return self.fmt.global_scale and self.role not in ("state", "module_state")

    def _observe_global(self, x: torch.Tensor) -> None:
        amax = torch.maximum(x.detach().max(), -x.detach().min()).float().reshape(1)
        self.max_val = amax if self.max_val.numel() == 0 else torch.maximum(self.max_val, amax)

    def use_packed(self, packed: Any, dtype: torch.dtype) -> None:
        """From now on forward returns ``packed``'s values, whatever it is given (finalized).
        The observer's buffers go: the packed form carries the scales."""
        for name in ("min_val", "max_val", "scale", "zero_point"):
            self._buffers[name] = _EMPTY
        self.__dict__["packed"] = packed
        self.__dict__["packed_dtype"] = dtype
        self.__dict__["_cache"] = None

    def _forward(self, x: torch.Tensor) -> torch.Tensor:
        packed = self.__dict__.get("packed")
        if packed is not None:
            from qrt.runtime.finalize.pack import dequantize

            return dequantize(packed, self.__dict__["packed_dtype"])
        block = self.block if self.shape == tuple(x.shape) and self.block is not None else group_shape(self.spec, tuple(x.shape))
        if self.dynamic:
            if self.observer_enabled and self._calibrated_global() and x.numel():
                self._observe_global(x)
            out = ste(x, fake_quantize(self.spec, self.fmt, x, block, None, None, self._global())) if self.fake_quant_enabled else x
        else:
            if self.observer_enabled or (self.calculator == "static" and not self.scale.numel()):
                # static qparams (weights) are computed from the tensor the first time they
                # are needed even with the observer off: a prepared weight is quantized at once
                self._observe(x, block)
            if self.fake_quant_enabled and self.scale.numel():
                zp = self.zero_point if self.zero_point.numel() else None
                out = ste(x, fake_quantize(self.spec, self.fmt, x, block, self.scale, zp))
            else:
                out = x
        for stage in self.stages:
            out = stage(out)
        return out


def _spec_text(spec: QuantizationSpec) -> str:
    g = spec.granularity
    args = [str(g.block_size)] if getattr(g, "block_size", None) else []  # type: ignore[union-attr]
    if getattr(g, "axis", None) is not None:
        args.append(f"axis={g.axis}")  # type: ignore[union-attr]
    text = f"{spec.dtype} {spec.qscheme} {g.type}" + (f"({', '.join(args)})" if args else "")
    if spec.scale_dtype:
        text += f" scale={spec.scale_dtype}"
    return text
