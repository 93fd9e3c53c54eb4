"""Point every citation of the documents qrt was started from at the pages that ship with it.

    python scripts/rewrite_citations.py              # rewrite every file in scope, print each change
    python scripts/rewrite_citations.py FILE...      # only these files
    python scripts/rewrite_citations.py --check      # change nothing; exit 1 if a citation remains

Why: docstrings, docs, presets and error hints cited "SEMANTICS §N" and "seed 00N", two
documents that never shipped in the repository, so a reader could not follow them. The
contract now lives in ``docs/semantics.md`` under the same section numbers (so "SEMANTICS §3"
becomes "docs/semantics.md §3" mechanically), the facts the seeds were cited for (default-axis
tables, the config vocabulary, the naming and worked examples, the QAT schedule) are written
there too, and the layers are ``docs/architecture.md``.

Two pairs of files must change together or a test fails: ``qrt/lint/codes.py`` and the
``docs/lint.md`` generated from it (``tests/lint/test_codes.py``), and
``scripts/write_modelopt_presets.py`` and the ``rules/modelopt/*.yaml`` it writes. When only
some files are named, a pair is rewritten only if all of it is named.

Idempotent: a rewritten file has no citation left to match, so a second run changes nothing.
``tests/test_citations.py`` runs the check.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

SCOPE = ("qrt", "docs", "README.md", "rules", "grammar", "schemas", "tests", "scripts", "bench")
"""Where citations are looked for: the package, its docs and data, the tests and tools."""

SUFFIXES = frozenset({".py", ".md", ".yaml", ".yml", ".json", ".lark", ".qrt", ".txt", ".toml"})

SELF = frozenset({"scripts/rewrite_citations.py", "tests/test_citations.py"})
"""This script and its test spell the citations out, to find them."""

DATA = ("tests/hostile/corpus/",)
"""Generated test data (damaged bytes, hostile inputs), not prose: never read or changed."""

CITATION = re.compile(
    r"SEMANTICS"                      # the contract, any form: "SEMANTICS §2", "SEMANTICS.md"
    r"|\b[Ss]eeds? 0\d\d"             # "seed 001", "Seed 002's", "seeds 000–002"
    r"|\b[Tt]he seed's\b"             # "the seed's class name"
    r"|\bseed examples?\b"            # "the seed examples" (not test_seed_examples.py)
)
"""A citation of a document that does not ship. ``--seed``, ``seed 5`` and ``random_seed``
are options and values, not citations, and do not match."""

GROUPS: tuple[tuple[str, ...], ...] = (
    ("qrt/lint/codes.py", "docs/lint.md"),
    ("scripts/write_modelopt_presets.py", "rules/modelopt/"),
)
"""Files that must be rewritten together (a generator and what it generated)."""

S1, S2, S3, S4, S5 = (f"docs/semantics.md §{n}" for n in range(1, 6))

# (path, old, new): path is a file, a folder ending in "/", or "*" (anywhere). Applied in order,
# each wherever ``old`` occurs, before the generic SEMANTICS rule below.
PHRASES: tuple[tuple[str, str, str], ...] = (
    # --- the runtime ---------------------------------------------------------------------------
    ("qrt/runtime/graph/annotate.py", "Seed 003's fusion patterns:", "Graph mode's fusion patterns (docs/graph.md):"),
    ("qrt/runtime/graph/annotate.py", "(seed 003):", "(docs/graph.md):"),
    ("qrt/runtime/graph/annotate.py", "# seed 002: the de-duplicated quantizer follows the consumer's QAT schedule",
     f"# the de-duplicated quantizer follows the consumer's QAT schedule ({S3})"),
    ("qrt/runtime/examples.py", "the seed's two-add model", f"the two-add model of {S1}"),
    ("qrt/runtime/examples.py", "Seed 001's naming example:", f"The naming example of {S1}:"),
    ("qrt/runtime/examples.py", "seed 001's TwoAddModule model:", f"the naming example of {S1}:"),
    ("qrt/runtime/quant/quantizer.py", "The workflow and its exact semantics are seed 003's (and seed 002's QAT schedule):",
     f"The workflow (docs/architecture.md, \"The runtime workflow\"; QAT schedules: {S3}):"),
    ("qrt/runtime/quant/quantizer.py", "(seed 003's note)", "(docs/graph.md)"),
    # --- the hierarchical front end --------------------------------------------------------------
    ("qrt/frontends/hierarchical/config.py", "config vocabulary (seeds 000–002)", f"config vocabulary ({S3})"),
    ("qrt/frontends/hierarchical/config.py", "(seed 001); ``quantization_spec``", f"({S3}); ``quantization_spec``"),
    ("qrt/frontends/hierarchical/config.py", "Exactly seed 001's equivalence:", f"Exactly the equivalence of {S3}:"),
    ("qrt/frontends/hierarchical/", "(seeds 000–002)", f"({S3})"),
    ("qrt/frontends/hierarchical/", "(SEMANTICS §3, seeds 000–002)", f"({S3})"),
    ("qrt/frontends/hierarchical/", "(seeds 000, 002)", f"({S3})"),
    ("qrt/frontends/hierarchical/", "(seed 001:", f"({S3}:"),
    ("qrt/frontends/hierarchical/", "seed 001's equivalence", f"the equivalence of {S3}"),
    ("qrt/frontends/hierarchical/", "is seed 001's:", f"is that of {S3}:"),
    ("qrt/frontends/hierarchical/", "(seed 001's layout)", f"({S3})"),
    ("qrt/frontends/hierarchical/", "as in seed 001's examples", f"as in the examples of {S3}"),
    ("qrt/frontends/hierarchical/", "from seed 001's tables", f"from the default-axis tables of {S3}"),
    ("qrt/frontends/hierarchical/", "(seed 001)", f"({S3})"),
    ("qrt/frontends/hierarchical/", "(seed 002)", f"({S3})"),
    ("qrt/frontends/hierarchical/", "(``quantizer.step()``,\nseed 003)", "(``quantizer.step()``,\ndocs/architecture.md)"),
    ("qrt/frontends/hierarchical/", "Seed 002 renamed", f"The reference library ({S3}) renamed"),
    ("qrt/frontends/hierarchical/", "\"\"\"Seed 002: ``PT2E``", f"\"\"\"{S3}: ``PT2E``"),
    # --- the wildcard front end ------------------------------------------------------------------
    ("qrt/frontends/wildcard/", "(SEMANTICS §4, seed 004)", f"({S4})"),
    ("qrt/frontends/wildcard/", "as seed 004 spells it", f"as ModelOpt's API documentation spells it, {S4}"),
    ("qrt/frontends/wildcard/", "seed 004 documents 'quantizer_path'", "its documentation writes 'quantizer_path'"),
    # --- IR, resolver, lint ----------------------------------------------------------------------
    ("qrt/ir/spec.py", "The reference library (seed 001) writes", f"The reference library ({S3}) writes"),
    ("qrt/ir/spec.py", "its source (seed 002) names", "its source names"),
    ("qrt/ir/spec.py", "seed 001's default-axis tables", f"the default-axis tables of {S3}"),
    ("qrt/ir/spec.py", "Seed 002 names the algorithm fields", "The reference library names the algorithm fields"),
    ("qrt/ir/spec.py", "Seed 002 writes", "The reference library writes"),
    ("qrt/ir/spec.py", "(seed 001: the output-channel", f"({S3}: the output-channel"),
    ("qrt/ir/spec.py", "which is why seed 001's\n    default axis", f"which is why the\n    default axis ({S3})"),
    ("qrt/ir/spec.py", "as seed 001's YAML writes it", f"as the YAML of {S3} writes it"),
    ("qrt/ir/spec.py", "The role defaults of seed 001 are", f"The role defaults ({S2}) are"),
    ("qrt/ir/spec.py", "(the resolver fills seed 001's defaults)", f"(the resolver fills the defaults of {S3})"),
    ("qrt/ir/spec.py", "Seed 001's default for", "The reference library's default for"),
    ("qrt/resolver/axes.py", "(seed 001's tables, SEMANTICS §3)", f"({S3})"),
    ("qrt/lint/", "as seed 001 writes module names", f"as the examples of {S3} write module names"),
    ("qrt/lint/", "accepted as seed 001 writes it.", f"accepted, as the worked examples of {S3} write it."),
    ("qrt/lint/", "the way seed 001 writes module names", f"the way the examples of {S3} write module names"),
    ("qrt/lint/", "(seed 001's `linear_23` example)", f"(the `linear_23` example of {S1})"),
    ("docs/lint.md", "accepted as seed 001 writes it.", f"accepted, as the worked examples of {S3} write it."),
    ("docs/lint.md", "the way seed 001 writes module names", f"the way the examples of {S3} write module names"),
    ("docs/lint.md", "(seed 001's `linear_23` example)", f"(the `linear_23` example of {S1})"),
    # --- README, presets -------------------------------------------------------------------------
    ("README.md", "Seed 001's example gives", f"The naming example of {S1} gives"),
    ("rules/presets/", "(seed 001's W_MXFP4_A_FP8 example)", f"(the W_MXFP4_A_FP8 worked example, {S3})"),
    ("rules/presets/", "(seed 001's per-block default axis)", f"(the per-block default axis, {S3})"),
    ("rules/presets/", "(the axis comes from seed 001's\n# default-axis table", "(the axis comes from the\n# default-axis table of docs/semantics.md §3,"),
    # --- tests -----------------------------------------------------------------------------------
    ("tests/resolver/test_plan_explain.py", "# seed 001 tables:", f"# default-axis tables ({S3}):"),
    ("tests/frontends/hierarchical/test_presets_setters.py", "and the setters of seed 001, with",
     f"and the setters of {S3}, with"),
    ("tests/frontends/hierarchical/test_presets_setters.py", "the setter code seed 001 says they equal",
     f"the setter code {S3} says they equal"),
    ("tests/frontends/hierarchical/test_presets_setters.py", "exactly the setter code of seed 001",
     f"exactly the setter code of {S3}"),
    ("tests/frontends/hierarchical/test_seed_examples.py", "Seed 001's worked examples as acceptance tests",
     f"The worked examples of {S3} as acceptance tests"),
    ("tests/", "the seed's class name", "the worked examples' class name"),
    ("tests/", "seed 001's class name", "the worked examples' class name"),
    ("tests/frontends/hierarchical/test_config.py", "Seeds 000–002 are the reference; SEMANTICS §3 decides where they are silent.",
     f"{S3} is the reference."),
    ("tests/frontends/hierarchical/test_yaml_io.py", "every YAML example of seed 001 equals", f"every YAML example of {S3} equals"),
    ("tests/frontends/hierarchical/test_yaml_io.py", "# Seed 001's examples:", f"# The worked examples ({S3}):"),
    ("tests/frontends/hierarchical/test_yaml_io.py", "# The seed's Python form", "# The worked example's Python form"),
    ("tests/frontends/wildcard/test_entries.py", "seed 004's name", "its documentation's name"),
    ("tests/README.md", "`test_seed_examples.py`: seed 001's worked examples", f"`test_seed_examples.py`: the worked examples of {S3}"),
    ("tests/README.md", "shipped presets and seed examples", f"shipped presets and the worked examples ({S3})"),
    ("tests/README.md", "(seed examples against each other", "(the worked examples against each other"),
    ("tests/lint/test_lint_cli.py", "of seed 001's worked examples", f"of the worked examples ({S3})"),
    ("tests/lint/models.py", "— seed 001's ``mymodelSelfAttention``", f"— the worked examples' ``mymodelSelfAttention`` ({S3})"),
    ("tests/ir/test_spec.py", "# Seed 002 writes", "# The reference library writes"),
    ("tests/tools/test_diff_lock.py", "The seed examples are diffed against each other on the model seed 001 describes",
     f"The worked examples ({S3}) are diffed against each other on the model they describe"),
    # --- the contract by section number (schemas spell it out) -----------------------------------
    ("schemas/", "SEMANTICS.md section 1", S1),
)

GENERIC = re.compile(r"SEMANTICS(?:\.md)?(?=\s*§)")
"""Every remaining "SEMANTICS §N" / "SEMANTICS.md §N" (the § may follow a line break)."""


def _applies(scope: str, rel: str) -> bool:
    return scope == "*" or rel == scope or (scope.endswith("/") and rel.startswith(scope))


def files_in_scope(root: Path = ROOT) -> list[Path]:
    """Every text file the check reads, sorted."""
    out: list[Path] = []
    for name in SCOPE:
        path = root / name
        if path.is_file():
            out.append(path)
        elif path.is_dir():
            out.extend(
                p for p in path.rglob("*")
                if p.is_file() and p.suffix in SUFFIXES and "__pycache__" not in p.parts
            )
    rels = ((p, p.relative_to(root).as_posix()) for p in out)
    return sorted(p for p, rel in rels if rel not in SELF and not rel.startswith(DATA))


def rewrite_text(rel: str, text: str) -> str:
    """``text`` of the file ``rel`` with every known citation pointed at a shipped page."""
    for scope, old, new in PHRASES:
        if _applies(scope, rel) and old in text:
            text = text.replace(old, new)
    return GENERIC.sub("docs/semantics.md", text)


def remaining(text: str) -> list[tuple[int, str]]:
    """``(line number, line)`` of every citation of a document that does not ship."""
    if "SEMANTICS" not in text and "eed" not in text:
        return []  # the common case; substring tests are far faster than the regex
    return [
        (i, line) for i, line in enumerate(text.splitlines(), 1)
        if ("SEMANTICS" in line or "eed" in line) and CITATION.search(line)
    ]


def _group_complete(rel: str, chosen: set[str], all_rels: Sequence[str]) -> bool:
    """A file of a group may change only if every file of its group is being rewritten."""
    for group in GROUPS:
        members = [r for r in all_rels if any(_applies(g, r) for g in group)]
        if rel in members:
            return all(m in chosen for m in members)
    return True


def _diff_lines(before: str, after: str) -> Iterable[str]:
    for old, new in zip(before.splitlines(), after.splitlines()):
        if old != new:
            yield f"  - {old.strip()}\n  + {new.strip()}"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("files", nargs="*", type=Path, help="only these files (default: every file in scope)")
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 if a citation remains")
    args = parser.parse_args(argv)

    everything = files_in_scope()
    all_rels = [p.relative_to(ROOT).as_posix() for p in everything]
    if args.files:
        targets = [p.resolve() for p in args.files]
        targets = [p for p in targets if p.relative_to(ROOT).as_posix() not in SELF]
    else:
        targets = everything
    chosen = {p.relative_to(ROOT).as_posix() for p in targets}

    if args.check:
        found = 0
        for path in targets:
            rel = path.relative_to(ROOT).as_posix()
            for number, line in remaining(path.read_text(encoding="utf-8", errors="surrogateescape")):
                print(f"{rel}:{number}: {line.strip()}")
                found += 1
        if found:
            print(f"{found} citation(s) of documents that do not ship; run python scripts/rewrite_citations.py")
        return 1 if found else 0

    changed = 0
    for path in targets:
        rel = path.relative_to(ROOT).as_posix()
        before = path.read_text(encoding="utf-8", errors="surrogateescape")
        after = rewrite_text(rel, before)
        if after == before:
            continue
        if not _group_complete(rel, chosen, all_rels):
            group = next(g for g in GROUPS if any(_applies(m, rel) for m in g))
            print(f"{rel}: skipped, it changes together with {' and '.join(group)}, not all named here")
            continue
        path.write_text(after, encoding="utf-8", errors="surrogateescape")
        changed += 1
        print(f"{rel}:")
        for line in _diff_lines(before, after):
            print(line)
    left = sum(len(remaining(p.read_text(encoding="utf-8", errors="surrogateescape"))) for p in targets)
    print(f"{changed} file(s) changed; {left} citation(s) left")
    return 0


if __name__ == "__main__":
    sys.exit(main())
