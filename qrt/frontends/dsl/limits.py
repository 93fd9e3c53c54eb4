"""How much one DSL rule set may read: include depth, included files, rules (each a bound that
keeps a hostile or runaway rule file from hanging or crashing qrt; the loader enforces them)."""

from __future__ import annotations

__all__ = ["MAX_INCLUDES", "MAX_INCLUDE_DEPTH", "MAX_RULES"]

MAX_INCLUDE_DEPTH = 32
"""Files an ``include`` chain may nest. Each level is a few Python frames deep, so a chain of
1,200 files would crash with ``RecursionError``; real rule sets nest two or three."""

MAX_INCLUDES = 1000
"""Files read through ``include`` for one rule file, repeats counted. 25 files each including
the next twice would read 2^25 files (and hold 2^25 rules); a real rule set reads a few dozen."""

MAX_RULES = 50_000
"""Rules one rule set may hold, includes counted (each ``->`` in the text, so the check runs
before a file is parsed). Parsing costs about 0.4 ms a rule (lark's LALR parser, one core;
``python bench/hostile.py --scale``): 50,000 rules parse in tens of seconds, 200,000 would take
minutes and look hung. Real rule sets hold tens to a few thousand rules (ModelOpt's largest
preset 40 entries, a per-layer list for a 100-layer model a few thousand); a set that large
says with a pattern (``layer 0..99``, a regex) what it says rule by rule."""
