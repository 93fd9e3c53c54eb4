"""Sites grouped by what the resolver decided for them (issue 24).

``qrt lint --model`` resolves the model once (:meth:`~qrt.resolver.fast.FastResolver.
row_outcomes`): one outcome per site, the very tuple every site with the same matching rules
and role shares. A 70B-shaped Llama's 11,727 sites have a dozen distinct ones, so a check that
reads only the outcome runs once per distinct outcome (weighted by its count where it counts)
and gives what it gave site by site; ``tests/lint/test_one_pass.py`` holds each check equal to
the per-site reading of the resolved plan.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator

from qrt.resolver.fast import Outcome

__all__ = ["outcomes_of", "sites_where"]


def outcomes_of(outcomes: list[Outcome]) -> Collection[Outcome]:
    """The distinct outcomes, in order of their first site. A 70B-shaped Llama's 11,727 sites
    have a dozen: a check that reads only the outcome runs once per distinct one (weighted by
    its count where it counts) and gives what it gave per site."""
    return dict(zip(map(id, outcomes), outcomes)).values()


def sites_where(outcomes: list[Outcome], keep: Callable[[Outcome], bool]) -> Iterator[bool]:
    """Per site, whether ``keep`` holds for its outcome: asked once per distinct outcome, and
    the sites sorted out without a Python step each (for :func:`itertools.compress`)."""
    wanted = {id(outcome) for outcome in outcomes_of(outcomes) if keep(outcome)}
    return map(wanted.__contains__, map(id, outcomes))
