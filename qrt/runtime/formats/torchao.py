"""The torchao PT2E spec of a qrt spec, for graph mode.

Specs become torchao ``QuantizationSpec``\\s with fake-quantize constructors, so one prepared
graph serves calibration and QAT alike (``prepare_pt2e`` inserts them as they are). The spec's
format family decides (:meth:`~.base.FormatArithmetic.torchao_affine_spec`): integer
per-tensor and per-channel specs use torchao's own ``FakeQuantize`` around a min/max or
moving-average observer (``qrt/runtime/formats/integer.py``); float8, per-block, MX/NVFP4-style
formats and sequential stages, which PT2E's affine specs cannot say, use a torchao
fake-quantize module around qrt's own ``FakeQuantizer`` — the same numbers as eager mode. A
spec neither can run (extras, an unsupported range calculator, a block that does not divide
its axis) raises :class:`GraphSpecError` naming the site, never a fallback.
"""

from __future__ import annotations

from typing import Any

import torch

from qrt.errors import GraphSpecError
from qrt.ir.spec import QuantizationSpec

__all__ = ["GraphSpecError", "torchao_spec"]


def _qrt_spec(spec: QuantizationSpec, where: str, shape: Any, role: str) -> Any:
    """A torchao spec whose fake-quantize module runs the eager runtime's numerics (float8,
    per-block, MX, NVFP4-style, sequential stages)."""
    from torchao.quantization.pt2e.quantizer import QuantizationSpec as TorchaoSpec

    from qrt.runtime.formats.groups import NumericsError, group_shape

    if shape is not None:
        try:
            group_shape(spec, tuple(shape))
        except NumericsError as exc:
            raise GraphSpecError(f"{where}: {exc.message}", hint="change the spec of this site") from None
    return TorchaoSpec(
        dtype=torch.uint8,  # a placeholder torchao records; the module holds the real format
        observer_or_fake_quant_ctr=_QrtFakeQuantize.with_args(
            spec_json=spec.to_json(), shape=None if shape is None else tuple(shape), role=role, path=where
        ),
    )


def _qrt_fake_quantize() -> type:
    from torchao.quantization.pt2e import FakeQuantizeBase

    from qrt.runtime.quant.fake_quantizer import FakeQuantizer

    class QrtFakeQuantize(FakeQuantizeBase):  # type: ignore[misc]
        """torchao's fake-quantize interface around qrt's :class:`FakeQuantizer`: the switches
        are torchao's buffers, the numbers are the eager runtime's."""

        def __init__(self, spec_json: Any = None, shape: Any = None, role: str = "input", path: str = "", **_: Any) -> None:
            super().__init__()
            self.inner = FakeQuantizer(QuantizationSpec.from_json(spec_json), shape, role=role, path=path)
            self._flags = (1, 1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            flags = (int(self.observer_enabled[0]), int(self.fake_quant_enabled[0]))
            if flags != self._flags:
                self.inner.observer_enabled, self.inner.fake_quant_enabled = bool(flags[0]), bool(flags[1])
                self._flags = flags
            return self.inner(x)  # type: ignore[no-any-return]

        def calculate_qparams(self, **kwargs: Any) -> Any:
            return self.inner.scale, self.inner.zero_point

        def convert(self, model: torch.fx.GraphModule, node: torch.fx.Node) -> None:
            """``convert_pt2e``'s hook: a weight becomes its packed form (qrt.runtime.graph.finalize);
            an activation keeps this module, observer off, fake quantization on."""
            from qrt.runtime.graph.finalize import convert_qrt_node

            convert_qrt_node(model, node, self.inner)

    return QrtFakeQuantize


class _LazyClass:
    """Resolves the torchao-based class on first use (torchao is imported lazily)."""

    def __init__(self, factory: Any) -> None:
        self.factory = factory
        self.cls: Any = None

    def __getattr__(self, name: str) -> Any:
        if self.cls is None:
            self.cls = self.factory()
        return getattr(self.cls, name)


_QrtFakeQuantize: Any = _LazyClass(_qrt_fake_quantize)


def torchao_spec(spec: QuantizationSpec, where: str, shape: Any = None, role: str = "input") -> Any:
    """The torchao PT2E spec of a qrt spec: torchao's affine fake quantization where the
    spec's format family can say it (integer per-tensor and per-channel specs), the eager
    runtime's numerics for the rest."""
    from qrt.formats import UnsupportedFormat, format_of
    from qrt.runtime.formats import arithmetic

    problems = []
    if spec.extras:
        problems.append("extras (settings qrt has no field for)")
    if spec.range_calculator not in (None, "minmax"):
        problems.append(f"range_calculator {spec.range_calculator}")
    if problems:
        raise GraphSpecError(
            f"{where}: graph mode cannot run {', '.join(problems)} ({spec.dtype} {spec.granularity.type})",
            hint="set execution_mode: eager, or drop the setting from the spec",
        )
    try:
        fmt = format_of(spec)
    except UnsupportedFormat as exc:
        raise GraphSpecError(f"{where}: {exc.message}", hint="change the spec of this site") from None
    affine = arithmetic(fmt.kind).torchao_affine_spec(spec, fmt)
    if affine is not None:
        return affine
    return _qrt_spec(spec, where, shape, role)
