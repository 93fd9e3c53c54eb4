"""QRT029: a config meant to quantize weights that reaches too little of the model's weight bytes.

Quantization "succeeds" whether it reaches the layers it was written for or not (executorch
#7718, ModelOpt PR #2203: presets that silently matched no weight on several MoE models).
Counting sites hides it — the embedding and the head can be a third of a small model — so
the check counts bytes (:mod:`qrt.tools.coverage`).

A config is *meant to quantize weights* when a rule of its own (not a front end's synthetic
default, such as ModelOpt's role defaults that lead every list) switches a weight on — a spec
set on, or ``enable: true`` — on this model. It is reported when the weights it finally
quantizes are less than :data:`~qrt.tools.coverage.COVERAGE_THRESHOLD` of all the weight
bytes (a later rule turning the weights off again included: that is 0 %). A config whose
enabling rules select nothing at all is QRT020 (one finding per rule, warning), not this.

An enabling rule that matches no site is QRT020 (``model_checks``); ``qrt run`` refuses both
(:func:`qrt.lint.refusals.run_refusals` says which QRT020s) unless ``--allow-low-coverage``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from qrt.ir.effect import Patch, Set
from qrt.ir.rule import Rule
from qrt.ir.tensor_id import param_name
from qrt.lint.codes import CODES
from qrt.lint.diagnostics import Diagnostic
from qrt.lint.inputs import LintInput
from qrt.lint.locate import origin_file
from qrt.lint.static import is_synthetic, is_users

__all__ = ["coverage_findings", "switches_on"]

_WEIGHT_ROLES = ("state", "module_state")


def switches_on(rule: Rule) -> bool:
    """A spec set on, or a patch with ``enable: true``."""
    effect = rule.effect
    return (isinstance(effect, Set) and effect.enable) or (isinstance(effect, Patch) and effect.enable is True)


def coverage_findings(item: LintInput, plan: Any) -> Iterator[Diagnostic]:
    """QRT029 for ``item`` resolved into ``plan`` (see the module docstring)."""
    from qrt.tools.coverage import COVERAGE_THRESHOLD, coverage_of_plan, human_bytes

    from qrt.errors import QrtError
    from qrt.resolver.plan import check_type_names

    enabling = [r for r in plan.rules if switches_on(r) and not is_synthetic(r)]
    if not enabling:
        return
    try:
        check_type_names(plan.rules, plan.inventory)
    except QrtError:
        return  # resolving refuses these rules (QRT001 says why): there is no plan to count
    meant: Rule | None = None
    for d in plan.decisions:
        site = d.site
        if site.role in _WEIGHT_ROLES and param_name(site.tensor) is not None:
            meant = next((r for r in d.matched if switches_on(r) and not is_synthetic(r)), None)
            if meant is not None:
                break
    if meant is None:
        return
    cov = coverage_of_plan(plan)
    total = cov.total
    if total.fraction >= COVERAGE_THRESHOLD:
        return
    rule = _located(meant, enabling, item)
    if is_users(rule, item):
        file, line, column = origin_file(rule.origin, item.path), rule.origin.line, rule.origin.column
    else:  # a shipped preset's rule: the finding goes to the top of the user's file
        file, line, column = item.path, 1, 1
    largest = ", ".join(f"{w.name} ({human_bytes(w.bits_before / 8)})" for w in cov.float_weights())
    message = (f"this config quantizes {100 * total.fraction:.1f}% of the model's weight bytes "
               f"({human_bytes(total.quantized.bits_before / 8)} of {human_bytes(total.bits_before / 8)}), "
               f"less than {COVERAGE_THRESHOLD:.0%}; the largest weights left in float: {largest}")
    yield Diagnostic(
        code="QRT029", severity=CODES["QRT029"].severity, message=message, file=file, line=line,
        column=column, config_path=rule.origin.config_path,
        fix="widen the rules to the layers meant (`qrt resolve CONFIG --model SPEC --summary` shows the "
        "weight bytes by format; `qrt report` draws them), or, if so little is meant, say so with "
        "`# qrt: noqa QRT029` (and `qrt run --allow-low-coverage`)",
        data={"fraction": round(total.fraction, 6), "quantized_bytes": total.quantized.bits_before // 8,
              "weight_bytes": total.bits_before // 8, "threshold": COVERAGE_THRESHOLD},
    )


def _located(meant: Rule, enabling: list[Rule], item: LintInput) -> Rule:
    """The rule to report at: the user's own rule that meant weights, else their first
    enabling rule, else the preset's rule (the finding then goes to the top of the file)."""
    for rule in [meant, *enabling]:
        if is_users(rule, item):
            return rule
    return meant
