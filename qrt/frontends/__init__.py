"""Front ends: the ways of writing rules, each compiled to the one rule IR (docs/semantics.md §2-§4).

Every front end ends in a :class:`~qrt.ir.rule.RuleSet`, so the resolver, explain and lint
never know which one a rule came from; only the rule's ``origin`` says so. The selector DSL
lives in :mod:`qrt.frontends.dsl`.
"""
