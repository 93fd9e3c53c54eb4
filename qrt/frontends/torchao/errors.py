"""The one error a torchao ``FqnToConfig`` (or a single torchao config) raises when qrt cannot read it."""

from __future__ import annotations

from qrt.errors import QrtError

__all__ = ["TorchAoConfigError"]


class TorchAoConfigError(QrtError):
    """A torchao config qrt cannot read exactly: an unknown config class or field, a value
    torchao 0.18 itself refuses, a setting with no exact qrt equivalent, or a key whose effect
    on the model torchao would not carry out (a non-Linear module, a bias, a weight quantized
    twice). The message names the key by its config path (``fqn_to_config['re:.*q_proj']
    .granularity``) and the location is ``file:line:col`` where it is known."""

    code = "QRT221"
