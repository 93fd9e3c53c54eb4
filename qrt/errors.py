"""The errors qrt raises at users.

Every error a user can cause is a :class:`QrtError`: it carries a stable ``code``, where it
happened (``location``: a file, ``file:line:col`` or a config path), what the user wrote
(``offending``) and what would have been valid (``hint``). The CLI prints these without a
traceback and exits with status 2; anything else escaping is a bug in qrt. The location is kept
as its parts (:class:`~qrt.diagnostics.Location`), and :meth:`QrtError.diagnostics` gives the
error as lint findings (:mod:`qrt.diagnostics`, the one model of a reported problem); every code
is documented in the one code table, ``qrt/lint/codes.py`` (``docs/lint.md``).

    QrtError
    ├── ModelSourceError              --model SPEC could not give a model and example inputs
    │   └── CalibrationError          a calibration file that cannot be used
    ├── TraceError                    the model's forward failed while qrt traced it
    ├── InventoryFileError            an inventory file is unreadable or of the wrong schema/version
    ├── InputFileError                a file that is no regular file, too large, not UTF-8, too deep
    ├── OutputFileError               a file or directory qrt cannot write (-o, --finalize, export)
    ├── ArgumentTypeError             a Python API argument of the wrong type (also a TypeError)
    ├── RegistryError                 a bad op-type registration
    ├── QueryError                    a name or glob that matches nothing (lists the closest names)
    ├── SpecError                     a quantization spec with unknown fields or bad values
    ├── RuleSyntaxError               a rule file that does not parse (file:line:col, caret, expected)
    ├── IncludeError                  a missing or cyclic ``include``
    ├── ResolveError                  rules that cannot apply to this model (ambiguous bare class name)
    ├── CompressedTensorsConfigError  a compressed-tensors config or recipe that cannot be read exactly
    ├── TorchAoConfigError            a torchao config that cannot be read exactly
    ├── ConvertError, GitRevisionError, PlanFileError, DiffInputError    the tools' inputs
    ├── PrepareError, QuantizerCfgError, CalibrationLoopError, CalibrationRangeError, ExportError,
    │   NumericsError, GraphSpecError  the runtime (eager and graph, the formats' arithmetic)
    └── FinalizeError                 a weight that cannot be packed, saved, loaded or exported

The classes live here, torch-free, so ``except qrt.PrepareError`` imports no torch, and the
modules that raise them import them from here. A few front-end errors carry more than these
fields and live with their front end (``PatternError`` in ``qrt.ir.patterns``, ``ConfigError``
with its issues in ``qrt.frontends.hierarchical.errors``, ``WildcardConfigError`` and
``NoModelOptEquivalent`` in ``qrt.frontends.wildcard``),; every one is public from
``qrt`` and listed with its code in ``qrt/lint/codes.py``.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

from qrt.diagnostics import Diagnostic, Location, Severity

__all__ = [
    "Location",
    "QrtError",
    "shown_line",
    "shown_offset",
    "ModelSourceError",
    "TraceError",
    "InventoryFileError",
    "InputFileError",
    "OutputFileError",
    "ArgumentTypeError",
    "wrong_type",
    "RegistryError",
    "QueryError",
    "SpecError",
    "RuleSyntaxError",
    "IncludeError",
    "ResolveError",
    "did_you_mean",
    "PrepareError",
    "CalibrationRangeError",
    "ExportError",
    "CalibrationLoopError",
    "QuantizerCfgError",
    "CalibrationError",
    "ConvertError",
    "GitRevisionError",
    "PlanFileError",
    "DiffInputError",
    "CompressedTensorsConfigError",
    "TorchAoConfigError",
    "NumericsError",
    "GraphSpecError",
]


class QrtError(Exception):
    """Base of every user-facing qrt error.

    ``str(err)`` is the full message a user sees: location, message and hint.
    """

    code: str = "QRT000"

    def __init__(
        self,
        message: str,
        *,
        location: str | Location | None = None,
        offending: str | None = None,
        hint: str | None = None,
        code: str | None = None,
    ) -> None:
        self.message = message
        self.where: Location | None = Location.parse(location)
        """where the problem is, kept as its parts (``str(where)`` is the ``location`` text)"""
        self.offending = offending
        self.hint = hint
        if code is not None:
            self.code = code
        super().__init__(self.render())

    @property
    def location(self) -> str | None:
        """``file:line:col`` (or a file, or a config path): the text users see; the parts are
        :attr:`where`."""
        return str(self.where) if self.where is not None else None

    @location.setter
    def location(self, value: str | Location | None) -> None:
        self.where = Location.parse(value)

    def diagnostics(self, default_file: str | None = None) -> list[Diagnostic]:
        """This error as findings (``qrt lint`` reports an unreadable input this way): one per
        problem it lists (``issues``, a front end that reports every problem it found), each at
        its own location; ``default_file`` stands in where a location names no file."""
        issues = getattr(self, "issues", ()) or ()
        if issues:
            return [self._finding(issue.render(), issue.where, default_file, self.hint, issue.path or None)
                    for issue in issues]
        where = self.where
        if (where is not None and where.line is None and default_file is not None
                and where.file != default_file):
            where = Location(default_file, config_path=where.file)  # a config path, not a file
        message = _without_context(self.message) or self.message
        return [self._finding(message, where, default_file, _without_context(self.hint), None)]

    def _finding(self, message: str, where: Location | None, default_file: str | None, fix: str | None,
                 config_path: str | None) -> Diagnostic:
        where = where or Location()
        return Diagnostic(
            code=self.code, severity=Severity.ERROR, message=message, file=where.file or default_file,
            line=where.line, column=where.column, config_path=config_path or where.config_path, fix=fix,
        )

    def render(self) -> str:
        head = f"{self.location}: " if self.location else ""
        text = f"{head}{self.message}"
        if self.offending is not None:
            text += f"\n  offending: {self.offending}"
        if self.hint:
            text += "\n  " + self.hint.replace("\n", "\n  ")
        return text


class ModelSourceError(QrtError):
    code = "QRT100"


class TraceError(QrtError):
    code = "QRT101"


class InventoryFileError(QrtError):
    code = "QRT102"


class InputFileError(QrtError):
    """A file qrt cannot read as input (qrt.files): a device, FIFO or directory, over the size
    limit, binary or not UTF-8, nested too deep. Front ends raise their own class instead."""

    code = "QRT105"


class OutputFileError(QrtError):
    """A path qrt was asked to write and cannot: a directory where a file goes, a missing
    parent folder, a full device, no permission (qrt.files.write_output)."""

    code = "QRT106"


class ArgumentTypeError(QrtError, TypeError):
    """A public function called with an argument it cannot take (``qrt.resolve(5, model)``):
    raised at the door, naming the argument and what it accepts, instead of an AttributeError
    from deep inside qrt. A ``TypeError`` too, so ``except TypeError`` still catches it."""

    code = "QRT107"


def wrong_type(function: str, argument: str, value: object, accepts: str) -> ArgumentTypeError:
    """The error for ``function(argument=value)`` where ``argument`` must be ``accepts``."""
    shown = repr(value)
    shown = shown if len(shown) <= 60 else shown[:57] + "..."
    return ArgumentTypeError(
        f"{function}: {argument} must be {accepts}, not {type(value).__name__} ({shown})"
    )


class RegistryError(QrtError):
    code = "QRT103"


class QueryError(QrtError):
    code = "QRT104"


class SpecError(QrtError):
    code = "QRT202"


class RuleSyntaxError(QrtError):
    code = "QRT203"


class IncludeError(QrtError):
    code = "QRT204"


class ResolveError(QrtError):
    """A rule set that cannot be applied to this model (an ambiguous bare class name …)."""

    code = "QRT205"


class FinalizeError(QrtError):
    """A weight that cannot be packed, saved, loaded or exported as asked (the format has no
    form for it, the directory is not a saved model …). Defined here, torch-free, so that
    reading a saved model's manifest (``qrt explain DIR``) needs no torch."""

    code = "QRT501"


class PrepareError(QrtError):
    code = "QRT302"


class CalibrationRangeError(QrtError):
    """Calibration observed NaN: a batch holding NaN (or a model that makes one) leaves NaN
    ranges, and every output after it is NaN."""

    code = "QRT305"


class ExportError(QrtError):
    """``torch.export`` could not capture the model."""

    code = "QRT401"


class CalibrationLoopError(QrtError):
    """A ``forward_loop`` or batch iterable qrt cannot use."""

    code = "QRT304"


class QuantizerCfgError(QrtError):
    code = "QRT303"


class CalibrationError(ModelSourceError):
    """A calibration file that cannot be used: unreadable, empty, the wrong layout."""


class ConvertError(QrtError):
    code = "QRT207"


class GitRevisionError(QrtError):
    """A ``REV:path`` that git cannot show: no git, not a repository, no such revision or path."""

    code = "QRT210"


class PlanFileError(QrtError):
    """A plan or lock file that cannot be read: not JSON, another format version, not the schema."""

    code = "QRT211"


class DiffInputError(QrtError):
    code = "QRT212"


class CompressedTensorsConfigError(QrtError):
    """A compressed-tensors config qrt cannot read exactly: an unknown key, a value
    compressed-tensors 0.20 itself refuses, or a setting with no qrt equivalent. The message
    names the key by its config path (``config_groups['group_0'].weights.num_bits``) and the
    location is ``file:line:col`` where it is known."""

    code = "QRT220"


class TorchAoConfigError(QrtError):
    """A torchao config qrt cannot read exactly: an unknown config class or field, a value
    torchao 0.18 itself refuses, a setting with no exact qrt equivalent, or a key whose effect
    on the model torchao would not carry out (a non-Linear module, a bias, a weight quantized
    twice). The message names the key by its config path (``fqn_to_config['re:.*q_proj']
    .granularity``) and the location is ``file:line:col`` where it is known."""

    code = "QRT221"


class NumericsError(QrtError):
    """A spec the eager runtime cannot run on a tensor (its block, axis or format)."""

    code = "QRT301"


class GraphSpecError(QrtError):
    """A spec graph mode cannot run at a site (``qrt.runtime.graph.annotate`` raises it too)."""

    code = "QRT402"


def _without_context(text: str | None) -> str | None:
    """A front end's message without the source line and caret it appends (indented four
    spaces): a finding's renderer shows the line itself."""
    if text is None:
        return None
    kept = [line for line in text.split("\n") if not line.startswith("    ")]
    return "\n".join(kept).strip() or None


def did_you_mean(word: str, choices: Iterable[str], n: int = 3) -> str:
    """``"did you mean 'x'?"`` for the closest of *choices*, or ``""`` when none is close."""
    close = difflib.get_close_matches(word, list(choices), n=n, cutoff=0.6)
    if not close:
        return ""
    return "did you mean " + " or ".join(repr(c) for c in close) + "?"


def _visible(ch: str) -> str:
    if ch == "\t" or ch.isprintable():
        return ch
    return f"\\x{ord(ch):02x}" if ord(ch) < 0x100 else f"\\u{ord(ch):04x}"


def shown_line(src: str) -> str:
    """A source line as it may be printed under an error: tabs expanded, and every other
    control character (ESC, NUL, a lone surrogate …) written as an escape. A hostile file's
    ESC sequences must not reach the user's terminal through qrt's own messages."""
    return "".join(_visible(ch) for ch in src).expandtabs()


def shown_offset(src: str, column: int) -> int:
    """Where character ``column`` (1-based) of ``src`` stands in :func:`shown_line`'s text:
    the caret's indent."""
    return len(shown_line(src[: max(column - 1, 0)]))
