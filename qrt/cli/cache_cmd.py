"""``qrt cache``: see and clear the inventory cache (:mod:`qrt.inventory.cache`).

``qrt cache info`` lists where the cache lives, its bound and its entries (the spec each was
traced from, its size, when it was last used); ``qrt cache clear`` removes every entry.
``--format json`` prints the same as one JSON object.
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys

__all__ = ["register", "run"]


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "cache",
        help="see or clear the cache of traced model inventories",
        description="Commands that take --model keep the inventory of each model they trace in a "
        "cache ($QRT_CACHE_DIR, else $XDG_CACHE_HOME/qrt, else ~/.cache/qrt), keyed by the model's "
        "content and the options that decide its trace, so that the next command on it starts at "
        "once. `info` lists the entries, `clear` removes them; --no-cache on a command skips it.",
    )
    p.add_argument("action", choices=("info", "clear"), help="info: list the entries; clear: remove them all")
    p.add_argument("--format", choices=("text", "json"), default="text")
    p.add_argument("--debug", action="store_true", help="show tracebacks for errors")
    p.set_defaults(run=run)


def _size(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024  # type: ignore[assignment]
    return f"{n} B"  # pragma: no cover


def run(args: argparse.Namespace) -> int:
    from qrt.inventory.cache import cache_info, clear_cache

    if args.action == "clear":
        done = clear_cache()
        if args.format == "json":
            sys.stdout.write(json.dumps(done, indent=1) + "\n")
        else:
            print(f"removed {done['removed']} cached inventor{'y' if done['removed'] == 1 else 'ies'} "
                  f"({_size(done['bytes'])}) from {done['directory']}")
        return 0
    info = cache_info()
    if args.format == "json":
        sys.stdout.write(json.dumps(info, indent=1) + "\n")
        return 0
    entries = info["entries"]
    print(f"{info['directory']}: {len(entries)} cached inventor{'y' if len(entries) == 1 else 'ies'}, "
          f"{_size(info['bytes'])} of at most {_size(info['max_bytes'])}")
    for e in entries:
        used = datetime.datetime.fromtimestamp(e["used"]).strftime("%Y-%m-%d %H:%M")
        sites = f"{e['sites']} sites" if e["sites"] is not None else "? sites"
        print(f"  {used}  {_size(e['bytes']):>9}  {sites:>12}  {e['spec'] or '(unknown spec)'}  {e['key'][:12]}")
    templates = info["templates"]
    if templates["entries"]:
        print(f"  and {templates['entries']} inventory template{'' if templates['entries'] == 1 else 's'} "
              f"({_size(templates['bytes'])}): new sizes of a model traced before need no trace")
        for t in templates["families"]:
            family = "/".join(t["architectures"] or []) if isinstance(t["architectures"], list) else t["model_type"]
            state = (f"learned from {t['from']}" if t["learned"] else f"none: {t['why']}") if t["learned"] is not None \
                else "(no record)"
            print(f"    {family or '(unknown)'}: {state}  {t['key'][:12]}")
    return 0
