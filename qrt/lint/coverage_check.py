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

from collections.abc import Iterator, Sequence
from itertools import compress
from operator import itemgetter
from typing import TYPE_CHECKING, Any

from qrt.ir.effect import Patch, Set
from qrt.ir.rule import Rule, RuleSet
from qrt.ir.site import Site
from qrt.ir.tensor_id import param_name
from qrt.lint.codes import CODES
from qrt.lint.diagnostics import Diagnostic
from qrt.lint.inputs import LintInput
from qrt.lint.locate import origin_file
from qrt.lint.outcomes import outcomes_of, sites_where
from qrt.lint.static import is_synthetic, is_users

from qrt.resolver.fast import row_index

if TYPE_CHECKING:
    from qrt.inventory.model import Inventory
    from qrt.resolver.axes import AxisFiller
    from qrt.resolver.fast import Outcome, SiteRow
    from qrt.tools.coverage import Coverage

__all__ = ["coverage_findings", "switches_on"]

_WEIGHT_ROLES = ("state", "module_state")
_ROLE, _TENSOR = row_index("role"), row_index("tensor")
_role = itemgetter(_ROLE)


def switches_on(rule: Rule) -> bool:
    """A spec set on, or a patch with ``enable: true``."""
    effect = rule.effect
    return (isinstance(effect, Set) and effect.enable) or (isinstance(effect, Patch) and effect.enable is True)


def coverage_findings(item: LintInput, rules: RuleSet, inv: Inventory, rows: Sequence[SiteRow],
                      outcomes: list[Outcome], fill_axes: AxisFiller) -> Iterator[Diagnostic]:
    """QRT029 for ``item``'s ``rules`` resolved on ``inv`` (see the module docstring): ``rows``
    are its sites (:meth:`~qrt.inventory.model.Inventory.site_rows`), ``outcomes`` what the resolver
    decided for each, ``fill_axes`` fills the decided specs' default axes."""
    from qrt.errors import QrtError
    from qrt.resolver.plan import check_type_names
    from qrt.tools.coverage import COVERAGE_THRESHOLD, human_bytes

    enabling = [r for r in rules if switches_on(r) and not is_synthetic(r)]
    if not enabling:
        return
    try:
        check_type_names(rules, inv)
    except QrtError:
        return  # resolving refuses these rules (QRT001 says why): there is no plan to count
    meant = _meant(rows, outcomes)
    if meant is None:
        return
    cov = _coverage(inv, rows, outcomes, fill_axes)
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


def _meant(rows: Sequence[SiteRow], outcomes: list[Outcome]) -> Rule | None:
    """The first rule of the config's own that switches on the first weight (a parameter read as
    state) it matches, in site order: a config that has one means to quantize weights."""
    def meaning(outcome: Outcome) -> Rule | None:
        return next((r for r in outcome[0] if switches_on(r) and not is_synthetic(r)), None)

    for row, outcome in compress(zip(rows, outcomes), sites_where(outcomes, lambda o: meaning(o) is not None)):
        if row[_ROLE] in _WEIGHT_ROLES and param_name(row[_TENSOR]) is not None:
            return meaning(outcome)
    return None


def _coverage(inv: Inventory, rows: Sequence[SiteRow], outcomes: list[Outcome], fill_axes: AxisFiller) -> Coverage:
    """:func:`~qrt.tools.coverage.coverage_of_plan` of the plan these outcomes make, from an
    inventory of the sites it reads: a parameter's ``state`` sites and its decided
    ``module_state`` ones (a ``module_state`` site without a decision changes no weight's
    answer, :func:`~qrt.tools.coverage._weight_decision`) — 724 of a 70B-shaped Llama's 11,727
    sites under W8A8. Each decided spec's plan JSON is made once per distinct spec with its
    axes filled, not once per site. ``tests/lint/test_model_findings.py`` holds it equal to
    ``coverage_of_plan`` of the resolved plan."""
    from qrt.inventory.model import Inventory as _Inventory
    from qrt.resolver.plan import owner_type, plan_spec_json
    from qrt.tools.coverage import coverage_of_rows

    weights: list[Site] = []
    decisions: dict[str, Any] = {}
    as_json: dict[int, tuple[Any, dict[str, Any]]] = {}
    # a parameter's state sites, and its module_state sites that have a decision (coverage passes
    # over the others: 3,454 here), sorted out without a Python step per site
    distinct = outcomes_of(outcomes)
    read = {("state", id(o)) for o in distinct}
    read |= {("module_state", id(o)) for o in distinct if o[1].decision is not None}
    wanted = map(read.__contains__, zip(map(_role, rows), map(id, outcomes)))
    for row, (_matched, state) in compress(zip(rows, outcomes), wanted):
        if param_name(row[_TENSOR]) is None:
            continue
        site = Site(*row)
        weights.append(site)
        if state.decision is None:
            continue
        spec = fill_axes(state.decision, site, owner_type(site, inv))
        found = as_json.get(id(spec))
        if found is None:
            found = as_json[id(spec)] = (spec, plan_spec_json(spec))
        decisions[site.quantizer_path] = found[1]
    view = _Inventory(modules=inv.modules, ops=(), tensors=(), sites=tuple(weights), model=inv.model)
    return coverage_of_rows(view, decisions, tensors=inv.tensor_rows())


def _located(meant: Rule, enabling: list[Rule], item: LintInput) -> Rule:
    """The rule to report at: the user's own rule that meant weights, else their first
    enabling rule, else the preset's rule (the finding then goes to the top of the file)."""
    for rule in [meant, *enabling]:
        if is_users(rule, item):
            return rule
    return meant
