"""The selector DSL: rule files (``*.qrt``) read into rules, and rules printed back as text.

Why a language of its own: a rule here is exactly one IR rule, ``selector -> effect
[priority]``, so what a user writes is what the resolver folds (docs/semantics.md §2), with no
front-end compilation step in between to explain. The printer is the parser's inverse
(``parse_rules(print_rules(rs)) == rs``, docs/semantics.md §5 property 6), which makes the DSL the
common text form other front ends convert to. The grammar is ``grammar/qrt.lark``; the
reference is ``docs/dsl.md``.

The modules, in the order text flows through them:

* ``parse``: the public entry points and the loader (includes, spec names, rule order);
* ``grammar``: the grammar file loaded into one cached lark parser;
* ``syntax_errors``: lark's parse errors as located errors with an expected list;
* ``transform``: one file's parse tree → ``statements`` (the records the loader walks);
* ``literals``: ``"string"`` and ``/regex/`` escapes;
* ``specs``: spec bodies and ``FIELD=VALUE`` → ``QuantizationSpec`` and field values;
* ``vocabulary``: the word lists the parser and the printer share;
* ``source``: where text came from, and the located-error helpers every stage uses;
* ``printer``: rules → canonical text.
"""

from qrt.frontends.dsl.parse import available_presets, load_rules, parse_rules
from qrt.frontends.dsl.printer import print_rules

__all__ = ["parse_rules", "load_rules", "print_rules", "available_presets"]
