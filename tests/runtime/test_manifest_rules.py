"""A saved model's rules keep what DSL text cannot say: the baseline flag of ModelOpt's
"every quantizer starts off" rule, which decides where a runtime places disabled quantizers."""

from __future__ import annotations

from qrt.frontends.wildcard.instrumented import leading_rules
from qrt.ir.rule import RuleSet
from qrt.runtime.finalize.manifest import rules_from_json, rules_to_json


def test_the_baseline_flag_survives_a_manifest_and_older_manifests_migrate() -> None:
    rules = RuleSet.of(leading_rules())
    assert [r.baseline for r in rules] == [True] + [False] * (len(rules) - 1)
    data = rules_to_json(rules)
    assert data["origins"][0]["baseline"] is True and all("baseline" not in o for o in data["origins"][1:])
    back = rules_from_json(data, source="m")
    assert [r.baseline for r in back] == [r.baseline for r in rules]
    assert [r.origin for r in back] == [r.origin for r in rules]
    older = {"dsl": data["dsl"], "origins": [{k: v for k, v in o.items() if k != "baseline"} for o in data["origins"]]}
    assert [r.baseline for r in rules_from_json(older, source="m")] == [r.baseline for r in rules]
