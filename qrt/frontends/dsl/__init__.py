"""The selector DSL: rule files (``*.qrt``) read into rules, and rules printed back as text.

Why a language of its own: a rule here is exactly one IR rule, ``selector -> effect
[priority]``, so what a user writes is what the resolver folds (SEMANTICS §2), with no
front-end compilation step in between to explain. The printer is the parser's inverse
(``parse_rules(print_rules(rs)) == rs``, SEMANTICS §5 property 6), which makes the DSL the
common text form other front ends convert to. The grammar is ``grammar/qrt.lark``; the
reference is ``docs/dsl.md``.
"""

from qrt.frontends.dsl.parse import available_presets, load_rules, parse_rules
from qrt.frontends.dsl.printer import print_rules

__all__ = ["parse_rules", "load_rules", "print_rules", "available_presets"]
