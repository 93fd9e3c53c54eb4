"""The fenced blocks of README.md and docs/*.md, as `tests/test_docs_examples.py` runs them.

Which fences run (decided here, explicitly, for every language the docs use):

* ```` ```sh ````, ```` ```bash ````, ```` ```shell ```` — shell: each command runs in order;
  a ``qrt …`` command runs in-process through ``qrt.cli.main.main(argv)``.
* ```` ```python ```` — run with ``exec``; the blocks of one document share one namespace.
* ```` ```yaml ```` holding GitHub Actions steps (``- run: …`` items) — shell: the ``run:``
  commands. Every other ```` ```yaml ````, ```` ```json ```` and an unnamed fence is data (rule
  files, configs, output) and does not run.
* Any other language is an error here, so that a new one is decided, not ignored.

A block may carry markers, HTML comments on the lines right above its fence (invisible on
GitHub), read by the test::

    <!-- docs-test: skip — needs network (pip install) -->     never run; the reason is required
    <!-- docs-test: xfail — qrt explain … prints X, not Y -->   must fail (a known qrt bug)
    <!-- docs-test: exit 1 — lint finds the QRT006 above -->    every command exits 1
    <!-- docs-test: exit 1 1 0 — … -->                          one status per command, in order
    <!-- docs-test: file my_models.py -->                       not run: written to that path,
                                                                 for the blocks after it
    <!-- docs-test: installed — CI installed qrt already -->    its ``pip install`` commands are
                                                                 not run (the test runs in the
                                                                 installed environment); the rest runs

``—`` (an em dash) separates a marker's arguments from its reason.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

__all__ = [
    "Block",
    "Command",
    "DocsTestError",
    "Marker",
    "doc_blocks",
    "shell_commands",
]

SHELL_LANGS = frozenset({"sh", "bash", "shell"})
PYTHON_LANGS = frozenset({"python", "py"})
DATA_LANGS = frozenset({"", "yaml", "yml", "json", "text", "toml"})

MarkerKind = Literal["skip", "xfail", "exit", "file", "installed"]
BlockKind = Literal["shell", "python", "data"]

_MARKER = re.compile(r"^<!--\s*docs-test:\s*(?P<body>.*?)\s*-->\s*$")
_FENCE = re.compile(r"^```(?P<lang>[A-Za-z0-9_+-]*)\s*$")
_ACTIONS_RUN = re.compile(r"^\s*-?\s*run:\s*(?P<command>.*)$")


class DocsTestError(ValueError):
    """A document or marker the test cannot read; the message names ``file:line``."""


@dataclass(frozen=True)
class Marker:
    kind: MarkerKind
    args: tuple[str, ...]
    reason: str
    line: int


@dataclass(frozen=True)
class Command:
    """One simple command of a shell block: its words, and the line it starts on."""

    argv: tuple[str, ...]
    line: int

    def __str__(self) -> str:
        return shlex.join(self.argv)


@dataclass(frozen=True)
class Block:
    doc: str
    line: int  # the opening fence's line, 1-based
    lang: str
    text: str
    markers: tuple[Marker, ...] = ()

    @property
    def where(self) -> str:
        return f"{self.doc}:{self.line}"

    @property
    def id(self) -> str:
        return f"{self.doc}:{self.line}-{self.kind}"

    def marker(self, kind: MarkerKind) -> Marker | None:
        return next((m for m in self.markers if m.kind == kind), None)

    @property
    def is_actions_snippet(self) -> bool:
        return self.lang in ("yaml", "yml") and any(_ACTIONS_RUN.match(line) for line in self.text.splitlines())

    @property
    def kind(self) -> BlockKind:
        if self.marker("file") is not None:
            return "data"
        if self.lang in SHELL_LANGS or self.is_actions_snippet:
            return "shell"
        if self.lang in PYTHON_LANGS:
            return "python"
        return "data"

    def expected_statuses(self, commands: list[Command]) -> list[int]:
        """The exit status each command must have: 0, or what an ``exit`` marker says."""
        marker = self.marker("exit")
        if marker is None:
            return [0] * len(commands)
        statuses = [int(a) for a in marker.args]
        if len(statuses) == 1:
            return statuses * len(commands)
        if len(statuses) != len(commands):
            raise DocsTestError(
                f"{self.doc}:{marker.line}: 'exit' lists {len(statuses)} statuses for "
                f"{len(commands)} commands; write one status for all, or one per command"
            )
        return statuses


def _parse_marker(body: str, doc: str, line: int) -> Marker:
    head, _, reason = body.partition("—")
    words = head.split()
    reason = reason.strip()
    if not words:
        raise DocsTestError(f"{doc}:{line}: empty docs-test marker; expected skip, xfail, exit or file")
    kind, args = words[0], tuple(words[1:])
    if kind in ("skip", "xfail", "installed"):
        if args or not reason:
            raise DocsTestError(
                f"{doc}:{line}: '{kind}' needs a reason after an em dash: "
                f"<!-- docs-test: {kind} — why this block cannot run as written -->"
            )
    elif kind == "exit":
        if not args or not all(a.isdigit() for a in args):
            raise DocsTestError(f"{doc}:{line}: 'exit' takes exit statuses: <!-- docs-test: exit 1 -->")
    elif kind == "file":
        if len(args) != 1 or Path(args[0]).is_absolute() or ".." in Path(args[0]).parts:
            raise DocsTestError(f"{doc}:{line}: 'file' takes one relative path: <!-- docs-test: file my_models.py -->")
    else:
        raise DocsTestError(f"{doc}:{line}: unknown docs-test marker {kind!r}; expected skip, xfail, installed, exit or file")
    return Marker(kind, args, reason, line)  # type: ignore[arg-type]


def _check(block: Block) -> None:
    """Markers that fit the block: ``exit`` and ``installed`` on shell blocks, ``skip`` and
    ``xfail`` on blocks that run; a shell block splits and its statuses count right."""
    for marker in block.markers:
        if marker.kind in ("exit", "installed") and block.kind != "shell":
            raise DocsTestError(f"{block.doc}:{marker.line}: '{marker.kind}' is for shell blocks")
        if marker.kind in ("skip", "xfail") and block.kind == "data":
            raise DocsTestError(f"{block.doc}:{marker.line}: '{marker.kind}' on a block that does not run")
    if block.marker("skip") and len(block.markers) > 1:
        raise DocsTestError(f"{block.doc}:{block.line}: a skipped block takes no other marker")
    if block.kind == "shell" and not block.marker("skip"):
        block.expected_statuses(shell_commands(block))


def doc_blocks(path: Path, root: Path) -> list[Block]:
    """Every fenced block of one Markdown file, with the markers above it."""
    doc = path.relative_to(root).as_posix()
    lines = path.read_text().splitlines()
    blocks: list[Block] = []
    pending: list[Marker] = []
    i = 0
    while i < len(lines):
        text = lines[i]
        marker = _MARKER.match(text)
        fence = _FENCE.match(text)
        if marker:
            pending.append(_parse_marker(marker.group("body"), doc, i + 1))
        elif fence:
            lang = fence.group("lang").lower()
            if lang not in SHELL_LANGS | PYTHON_LANGS | DATA_LANGS:
                raise DocsTestError(
                    f"{doc}:{i + 1}: fence language {lang!r} is neither run nor data; decide in "
                    "tests/docs_blocks.py"
                )
            end = next((j for j in range(i + 1, len(lines)) if lines[j].startswith("```")), None)
            if end is None:
                raise DocsTestError(f"{doc}:{i + 1}: unclosed fence")
            kinds = [m.kind for m in pending]
            if len(set(kinds)) != len(kinds):
                raise DocsTestError(f"{doc}:{i + 1}: two markers of one kind above one block")
            block = Block(doc, i + 1, lang, "\n".join(lines[i + 1 : end]) + "\n", tuple(pending))
            _check(block)
            blocks.append(block)
            pending = []
            i = end
        elif text.strip() and pending:
            raise DocsTestError(f"{doc}:{pending[0].line}: a docs-test marker must stand right above a fence")
        i += 1
    if pending:
        raise DocsTestError(f"{doc}:{pending[0].line}: a docs-test marker must stand right above a fence")
    return blocks


_UNSUPPORTED = {"|", "||", "&", ">", ">>", "<", "(", ")", "<<", ">&", "&>"}


def shell_commands(block: Block) -> list[Command]:
    """The simple commands of a shell block in order: ``\\`` continuations joined, ``&&`` and
    ``;`` chains split, ``#`` comments dropped. Pipes and redirections are refused (the runner
    would have to be a shell); an Actions snippet gives its ``run:`` commands."""
    raw = block.text.splitlines()
    logical: list[tuple[int, str]] = []
    if block.lang in SHELL_LANGS:
        carry, start = "", 0
        for n, text in enumerate(raw, start=block.line + 1):
            if not carry:
                start = n
            if text.rstrip().endswith("\\"):
                carry += text.rstrip()[:-1] + " "
                continue
            logical.append((start, carry + text))
            carry = ""
        if carry:
            logical.append((start, carry))
    else:  # a GitHub Actions snippet
        for n, text in enumerate(raw, start=block.line + 1):
            match = _ACTIONS_RUN.match(text)
            if match:
                logical.append((n, match.group("command")))
    commands: list[Command] = []
    for n, text in logical:
        lexer = shlex.shlex(text, posix=True, punctuation_chars=True)
        lexer.whitespace_split = True
        lexer.commenters = "#"
        try:
            tokens = list(lexer)
        except ValueError as err:
            raise DocsTestError(f"{block.doc}:{n}: {err}: {text}") from None
        words: list[str] = []
        for token in [*tokens, ";"]:
            if token in ("&&", ";"):
                if words:
                    commands.append(Command(tuple(words), n))
                words = []
            elif token in _UNSUPPORTED:
                raise DocsTestError(
                    f"{block.doc}:{n}: {token!r} needs a real shell; keep doc commands simple "
                    "(&&, ;, \\ continuations) or mark the block"
                )
            else:
                words.append(token)
    return commands
