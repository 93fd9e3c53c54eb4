"""Reading the files a user names: bounded, regular files only, UTF-8, JSON with limits.

Every file qrt reads on a user's behalf (rule files and their includes, hierarchical YAML
configs, ModelOpt lists, inventories, plans, lock files, ``--model`` config.json files) comes
through :func:`read_text`, and every JSON document through :func:`parse_json`. Why one door:

* **Bounded.** A path can name ``/dev/zero``, a FIFO or a directory, or a symlink to one of
  them; ``Path.read_text`` on ``/dev/zero`` reads until the kernel kills the process. Only
  regular files are read, and at most a documented number of bytes: :data:`CONFIG_LIMIT`
  (64 MiB) for configs and rule files, a hundred times what a 20,000-rule file takes, and
  :data:`DATA_LIMIT` (1 GiB) for the files qrt writes itself (an inventory of a 70B model is
  about 60 MiB).
* **Text, or a located refusal.** A binary or non-UTF-8 file is refused with the byte offset
  (and line) of its first bad byte, not a ``UnicodeDecodeError``. A NUL byte marks a binary
  file: no format qrt reads allows one. A UTF-8 BOM is allowed (editors on Windows write one).
* **JSON without crashes.** Python's ``json`` raises ``RecursionError`` past ~1,000 nested
  brackets and ``ValueError`` for an integer of more than 4,300 digits; every code path that
  walks the data afterwards would crash further on. :func:`parse_json` turns both into a
  located error and refuses nesting deeper than :data:`MAX_DEPTH`, which no qrt file needs.

* **Written atomically, or a clean refusal.** :func:`write_output` writes what ``-o`` names
  to a temporary file beside it and renames it into place, so a failure (a full disk, a
  directory where the file goes, a missing parent folder) leaves no half-written file and is
  an :class:`OutputFileError` naming the path, never a traceback. A device or FIFO
  (``-o /dev/stdout``) is written directly.

The error class is the caller's (``ConfigError``, ``IncludeError``, ``InventoryFileError`` …),
so a refusal carries the code of the door it came through; :class:`InputFileError` otherwise.
"""

from __future__ import annotations

import json
import os
import re
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

from qrt.errors import InputFileError, OutputFileError, QrtError

__all__ = [
    "file_digest",
    "CONFIG_LIMIT",
    "DATA_LIMIT",
    "MAX_DEPTH",
    "read_text",
    "decode_text",
    "read_json",
    "parse_json",
    "check_depth",
    "position_of",
    "write_output",
    "check_json_constants",
    "output_directory",
]

CONFIG_LIMIT = 64 * 1024 * 1024
"""Bytes read at most from a config or rule file (and each included file)."""

DATA_LIMIT = 1024 * 1024 * 1024
"""Bytes read at most from an inventory, plan or lock file (files qrt writes: one row per site)."""

MAX_DEPTH = 100
"""Nesting depth allowed in a JSON or YAML document. qrt's own files nest 5 deep, a
hierarchical config about 8; 100 leaves room and stays far below Python's recursion limit."""

INT_DIGITS = 4300
"""Python parses integers of at most this many digits (``sys.get_int_max_str_digits``)."""

ErrorType = type[QrtError]

_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISFIFO, "a named pipe (FIFO)"),
    (stat.S_ISSOCK, "a socket"),
)


def _kind(mode: int) -> str:
    for test, name in _KINDS:
        if test(mode):
            return name
    return "not a regular file"


def _mib(n: int) -> str:
    return f"{n / (1024 * 1024):g} MiB"


def read_text(
    path: str | os.PathLike[str],
    *,
    what: str = "file",
    limit: int = CONFIG_LIMIT,
    error: ErrorType = InputFileError,
) -> str:
    """The text of a regular file of at most ``limit`` bytes, decoded as UTF-8 (BOM dropped).

    ``what`` names the file in messages (``"rule file"``, ``"inventory"``). A missing file,
    a directory, a device, a FIFO (also behind a symlink), a file over the limit, and bytes
    that are not UTF-8 text raise ``error`` located at the file (and the bad byte's line).
    """
    file = os.fspath(path)
    try:
        info = os.stat(file)  # follows symlinks: a link to /dev/zero is /dev/zero
    except FileNotFoundError:
        raise error(f"{what} {file!r} not found", location=file, offending=file) from None
    except OSError as exc:
        raise error(f"cannot read {what}: {exc.strerror or exc}", location=file) from None
    if not stat.S_ISREG(info.st_mode):
        raise error(
            f"cannot read {what} {file!r}: it is {_kind(info.st_mode)}",
            location=file,
            hint="qrt reads only regular files; pass the path of the file itself",
        )
    if info.st_size > limit:
        raise error(_too_large(what, info.st_size, limit), location=file)
    try:
        # O_NONBLOCK: should the path have become a FIFO since the stat, opening does not hang
        fd = os.open(file, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    except OSError as exc:
        raise error(f"cannot read {what}: {exc.strerror or exc}", location=file) from None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise error(f"cannot read {what} {file!r}: not a regular file", location=file)
        with os.fdopen(fd, "rb", closefd=False) as handle:
            # in pieces: read(limit + 1) reserves the whole limit (1 GiB) for every file, which
            # a process under an address-space cap (prlimit --as) cannot have for a 76-byte one
            pieces: list[bytes] = []
            held = 0
            while held <= limit:
                piece = handle.read(min(1 << 20, limit + 1 - held))
                if not piece:
                    break
                pieces.append(piece)
                held += len(piece)
            data = b"".join(pieces)
    except OSError as exc:
        raise error(f"cannot read {what}: {exc.strerror or exc}", location=file) from None
    finally:
        os.close(fd)
    if len(data) > limit:
        raise error(_too_large(what, len(data), limit), location=file)
    return decode_text(data, file=file, what=what, error=error)


def _too_large(what: str, size: int, limit: int) -> str:
    return (
        f"{what} is too large: {size} bytes or more, and qrt reads at most {limit} bytes "
        f"({_mib(limit)}) from one {what}"
    )


def decode_text(data: bytes, *, file: str, what: str = "file", error: ErrorType = InputFileError) -> str:
    """``data`` as UTF-8 text (a BOM dropped); a NUL byte or invalid UTF-8 raises ``error``
    with the byte offset and line of the first bad byte."""
    nul = data.find(b"\0")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        bad = exc.start + (3 if data.startswith(b"\xef\xbb\xbf") else 0)
        if 0 <= nul < bad:
            bad = nul
        else:
            raise _bad_byte(data, bad, file, what, error, f"not UTF-8 text: byte 0x{data[bad]:02x}") from None
    else:
        if nul < 0:
            return text
        bad = nul
    raise _bad_byte(data, bad, file, what, error, "a binary file: a NUL byte")


def _bad_byte(data: bytes, offset: int, file: str, what: str, error: ErrorType, problem: str) -> QrtError:
    line = data.count(b"\n", 0, offset) + 1
    column = offset - (data.rfind(b"\n", 0, offset) + 1) + 1
    return error(
        f"{what} is not text qrt can read: {problem} at byte offset {offset} (line {line})",
        location=f"{file}:{line}:{column}",
        hint=f"qrt reads {what}s as UTF-8 text; save it as UTF-8, or pass the right file",
    )


def position_of(text: str, index: int) -> tuple[int, int]:
    """1-based ``(line, column)`` of character ``index`` of ``text``."""
    line = text.count("\n", 0, index) + 1
    return line, index - (text.rfind("\n", 0, index) + 1) + 1


_LONG_INT = re.compile(r"\d{%d,}" % (INT_DIGITS + 1))


def parse_json(
    text: str,
    *,
    file: str,
    error: ErrorType = InputFileError,
    object_pairs_hook: Callable[[list[tuple[str, Any]]], Any] | None = None,
    max_depth: int = MAX_DEPTH,
    walk: bool = True,
) -> Any:
    """``json.loads(text)`` whose every failure is ``error`` at ``file:line:col``: invalid JSON,
    nesting deeper than ``max_depth`` (``RecursionError`` in ``json``, or later in whoever walks
    the data) and integers over Python's 4,300-digit limit (``ValueError``).

    ``walk=False`` skips the depth and surrogate walk, for a file whose seal is intact
    (:mod:`qrt.sealed_json`: qrt wrote it as it is); ``json`` still stops at ~1,000 levels."""
    try:
        data = json.loads(text, object_pairs_hook=object_pairs_hook, parse_constant=_no_constant)
    except json.JSONDecodeError as exc:
        raise error(f"not valid JSON: {exc.msg}", location=f"{file}:{exc.lineno}:{exc.colno}") from None
    except _Constant as exc:
        raise _constant_error(text, file, error, exc.args[0]) from None
    except RecursionError:
        raise error(_too_deep(max_depth), location=_deep_position(text, file, max_depth)) from None
    except ValueError as exc:  # int('9' * 5000): Python's integer-parsing limit
        raise _long_int(text, file, error, exc) from None
    if not walk:
        return data
    try:
        check_depth(data, file=file, error=error, max_depth=max_depth)
    except QrtError as exc:
        exc.location = _deep_position(text, file, max_depth)
        raise type(exc)(exc.message, location=exc.location, hint=exc.hint) from None
    found = _SURROGATE_ESCAPE.search(text)
    if found is not None:
        _check_surrogates(data, text, found.start(), file, error)
    return data


_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


class _Constant(Exception):
    """``NaN``, ``Infinity`` or ``-Infinity`` in a JSON text: Python's ``json`` reads them, the
    JSON standard (RFC 8259) does not, and no qrt setting takes one (``num_bits: NaN``)."""


def _no_constant(name: str) -> Any:
    raise _Constant(name)


_CONSTANT = re.compile(r'"(?:[^"\\]|\\.)*"|(-?Infinity|NaN)')


def _constant_error(text: str, file: str, error: ErrorType, name: str) -> QrtError:
    where = file
    for found in _CONSTANT.finditer(text):
        if found.group(1) is not None:
            line, column = position_of(text, found.start(1))
            where = f"{file}:{line}:{column}"
            break
    return error(
        f"{name} is not a JSON value (JSON numbers are finite), and no qrt setting takes one",
        location=where,
        offending=name,
        hint="write a finite number, or null where the setting may be left unset",
    )


def check_json_constants(text: str, *, file: str, error: ErrorType = InputFileError) -> None:
    """Refuse ``NaN``/``Infinity`` outside strings in a ``.json`` file that is read as YAML (for
    its positions): YAML reads a bare ``NaN`` as the string ``"NaN"``, which a setting may then
    take as a name (``num_bits: NaN`` as a custom format). A text scan, no second parse."""
    if "NaN" not in text and "Infinity" not in text:
        return
    for found in _CONSTANT.finditer(text):
        if found.group(1) is not None:
            raise _constant_error(text, file, error, found.group(1))


_BRACKETS = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]')


def _deep_position(text: str, file: str, max_depth: int) -> str:
    """``file:line:col`` of the first bracket that opens level ``max_depth + 1`` (strings
    skipped), so that a too-deep document's error points at the place; ``file`` when none."""
    depth = 0
    for found in _BRACKETS.finditer(text):
        token = found.group()
        if token in "[{":
            depth += 1
            if depth > max_depth:
                line, column = position_of(text, found.start())
                return f"{file}:{line}:{column}"
        elif token in "]}":
            depth -= 1
    return file


def _check_surrogates(data: Any, text: str, index: int, file: str, error: ErrorType) -> None:
    """Refuse a string holding a lone surrogate (``"\\ud800"``: JSON decodes it, and every later
    step that writes or encodes the text fails). Only run when the text has such an escape."""
    stack = [data]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                line, column = position_of(text, index)
                raise error(
                    "invalid escape in string: a \\uD800-\\uDFFF escape that is half of a "
                    "UTF-16 surrogate pair, not a character; write the character itself, or both halves",
                    location=f"{file}:{line}:{column}",
                ) from None


def _too_deep(max_depth: int) -> str:
    return (
        f"nested more than {max_depth} levels deep: qrt reads documents nested at most "
        f"{max_depth} deep (its own files nest fewer than 10)"
    )


def _long_int(text: str, file: str, error: ErrorType, exc: ValueError) -> QrtError:
    found = _LONG_INT.search(text)
    if found is None:
        return error(f"cannot read JSON: {exc}", location=file)
    line, column = position_of(text, found.start())
    return error(
        f"an integer of {len(found.group())} digits: numbers of more than {INT_DIGITS} digits "
        "are not read (Python's integer-parsing limit); no qrt setting needs one",
        location=f"{file}:{line}:{column}",
        offending=found.group()[:20] + "…",
    )


def check_depth(data: Any, *, file: str, error: ErrorType = InputFileError, max_depth: int = MAX_DEPTH) -> None:
    """Refuse ``data`` nested deeper than ``max_depth`` lists/dicts: walked level by level,
    without recursion (0.6 s on a 26 MB, 200,000-row file, against json.loads' 1.1 s)."""
    level: list[Any] = [data] if type(data) is dict or type(data) is list else []
    depth = 1
    while level:
        if depth > max_depth:
            raise error(_too_deep(max_depth), location=file)
        deeper: list[Any] = []
        for item in level:
            values = item.values() if type(item) is dict else item
            deeper += [v for v in values if type(v) is dict or type(v) is list]
        level, depth = deeper, depth + 1


def read_json(
    path: str | Path,
    *,
    what: str,
    limit: int = DATA_LIMIT,
    error: ErrorType = InputFileError,
) -> tuple[str, Any]:
    """The text of a JSON file and its data, through :func:`read_text` and :func:`parse_json`."""
    from qrt.sealed_json import is_sealed

    text = read_text(path, what=what, limit=limit, error=error)
    return text, parse_json(text, file=os.fspath(path), error=error, walk=not is_sealed(text))


def file_digest(path: Path) -> str:
    """sha256 of a whole file, read in 16 MiB pieces: what a saved model's manifest records of
    each shard, and what the inventory cache keys a config or factory file by."""
    import hashlib

    h = hashlib.sha256()
    with Path(path).open("rb") as fh:
        while chunk := fh.read(1 << 24):
            h.update(chunk)
    return h.hexdigest()


def _os_reason(exc: OSError) -> str:
    return exc.strerror or str(exc)


def _parent_check(target: Path, what: str) -> None:
    parent = target.parent
    if not parent.exists():
        raise OutputFileError(
            f"cannot write {what} {str(target)!r}: its folder {str(parent)!r} does not exist",
            location=str(target),
            hint="create the folder first, or pass a path in an existing folder",
        )
    if not parent.is_dir():
        raise OutputFileError(
            f"cannot write {what} {str(target)!r}: {str(parent)!r} is not a folder", location=str(target)
        )


def write_output(path: str | os.PathLike[str], text: str, *, what: str = "output file") -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically: a temporary file in the same folder,
    renamed over ``path`` once complete. Every failure is an :class:`OutputFileError` naming
    ``path`` and what would be valid; nothing half-written is left behind."""
    target = Path(os.fspath(path))
    data = text.encode("utf-8")
    try:
        info = os.stat(target)
    except FileNotFoundError:
        info = None
    except OSError as exc:
        raise OutputFileError(f"cannot write {what}: {_os_reason(exc)}", location=str(target)) from None
    if info is not None and stat.S_ISDIR(info.st_mode):
        raise OutputFileError(
            f"cannot write {what} {str(target)!r}: it is a directory",
            location=str(target),
            hint="pass a file path (e.g. a name inside that directory)",
        )
    if info is not None and not stat.S_ISREG(info.st_mode):  # /dev/stdout, a FIFO: write through
        try:
            with open(target, "wb") as handle:
                handle.write(data)
        except OSError as exc:
            raise OutputFileError(f"cannot write {what}: {_os_reason(exc)}", location=str(target)) from None
        return
    _parent_check(target, what)
    import tempfile

    fd, scratch = -1, ""
    try:
        fd, scratch = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
        with os.fdopen(fd, "wb") as handle:
            fd = -1
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        if info is not None:
            os.chmod(scratch, stat.S_IMODE(info.st_mode))
        else:
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(scratch, 0o666 & ~umask)
        os.replace(scratch, target)
        scratch = ""
    except OSError as exc:
        raise OutputFileError(f"cannot write {what}: {_os_reason(exc)}", location=str(target)) from None
    finally:
        if fd >= 0:
            os.close(fd)
        if scratch:
            try:
                os.unlink(scratch)
            except OSError:
                pass


def output_directory(path: str | os.PathLike[str], *, what: str = "output directory") -> Path:
    """``path`` checked as a directory qrt may create or fill: not a file or device (an
    :class:`OutputFileError` otherwise). Missing parent folders are created, as
    ``save_pretrained`` does: ``qrt run … --finalize out/model`` in a fresh clone is the
    README's first command, and a folder path names where the user wants the result. An
    ancestor that is a file is an error. Whether a non-empty directory may be replaced is the
    caller's rule (``--overwrite``)."""
    target = Path(os.fspath(path))
    if target.exists() and not target.is_dir():
        raise OutputFileError(
            f"cannot write {what} {str(target)!r}: it exists and is not a directory",
            location=str(target),
            hint="pass the path of a new or existing directory",
        )
    if not target.exists():
        ancestor = target.parent
        while not ancestor.exists() and ancestor != ancestor.parent:
            ancestor = ancestor.parent
        if ancestor.exists() and not ancestor.is_dir():
            raise OutputFileError(
                f"cannot write {what} {str(target)!r}: {str(ancestor)!r} is not a folder", location=str(target)
            )
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OutputFileError(
                f"cannot write {what} {str(target)!r}: cannot create its folder: {_os_reason(exc)}",
                location=str(target),
            ) from None
    return target
