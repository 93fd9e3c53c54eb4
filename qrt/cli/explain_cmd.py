"""``qrt explain``: why did this tensor get this spec, and which rules lost."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from qrt.cli.common import add_debug_option, add_model_options, inventory_for_rules
from qrt.tools.style import Style, want_color

__all__ = ["register", "run"]


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "explain",
        help="show the full rule cascade behind sites' decisions",
        description="For each site a QUERY names (a quantizer path, an op name with optional "
        ":role[key], or a glob over either): every matching rule in fold order, which one "
        "decided, why each other lost, and which spec fields came from defaults.",
    )
    p.add_argument("rules", metavar="RULES", help="a rule file: the qrt DSL, or a hierarchical YAML config; or the "
                   "directory of a saved quantized model (its manifest has the rules and the model: no --model); or a "
                   "compressed-tensors checkpoint folder (its config.json has the rules and the model: no --model)")
    p.add_argument("queries", metavar="QUERY", nargs="+")
    add_model_options(p, required=False)
    p.add_argument("--format", choices=("text", "json"), default="text")
    p.add_argument(
        "--mode", choices=("plan", "graph"), default="plan",
        help="graph: also prepare the model in graph mode (torch.export + PT2E) and say what the "
        "graph did with each site (placed, fused away, shared, de-duplicated)",
    )
    p.add_argument("--as", dest="consumer", choices=("vllm",), default=None,
                   help="explain a compressed-tensors config as this consumer's loader reads it (vllm)")
    p.add_argument("--color", choices=("auto", "always", "never"), default="auto")
    add_debug_option(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from qrt.api import explain
    from qrt.tools.explain_text import render_explanations

    if Path(args.rules).is_dir() and not _is_checkpoint_dir(args.rules):
        plan = _saved_plan(Path(args.rules))
        if args.consumer:
            print(f"qrt explain: error: --as {args.consumer} reads a compressed-tensors config, not a saved model",
                  file=sys.stderr)
            return 2
        if args.mode == "graph":
            print("qrt explain: error: --mode graph needs a rule file and --model, not a saved model", file=sys.stderr)
            return 2
    else:
        from qrt.cli.common import read_config

        from qrt.tools.explain_query import resolve_for_queries

        source = read_config(args.rules, cache=not args.no_cache)  # a bad rule file fails before the model is built
        if args.consumer:
            from qrt.frontends.compressed_tensors.source import consumer_view

            source = consumer_view(source, args.consumer)
        # resolve(source, inv, check_tensors=False) (a tensor problem is shown as a note), each
        # site decided when asked for
        plan = resolve_for_queries(source, inventory_for_rules(args, source))
    queries, modules = _module_queries(plan, args.queries)
    explanations = explain(plan, queries=queries)
    fates = _graph_fates(args, explanations) if args.mode == "graph" else {}
    if args.format == "json":
        sites = []
        for e in explanations:
            data = e.to_json()
            if fates:
                data["graph"] = fates.get(e.site.quantizer_path)
            sites.append(data)
        sys.stdout.write(json.dumps({"qrt_explain": 1, "sites": sites}, indent=1) + "\n")
    else:
        text = "".join(modules) + render_explanations(explanations, Style(want_color(args.color, sys.stdout)))
        if fates:
            text += "".join(f"graph mode, {path}: {fate}\n" for path, fate in fates.items())
        sys.stdout.write(text)
    return 0


def _is_checkpoint_dir(path: str) -> bool:
    """Imported only for a folder: the checkpoint reader brings pydantic and YAML along."""
    from qrt.frontends.checkpoint import is_checkpoint_dir

    return bool(is_checkpoint_dir(path))


def _module_queries(plan: Any, queries: list[str]) -> tuple[list[str], list[str]]:
    """Queries with each module name replaced by the quantizer paths of its sites
    (:func:`~qrt.resolver.explain.module_query_sites`), and a line per such module saying so
    and how many of its sites are quantized."""
    from qrt.resolver.explain import module_query_sites

    out: list[str] = []
    notes: list[str] = []
    for query in queries:
        sites = module_query_sites(plan.inventory, query)
        if sites is None:
            out.append(query)
            continue
        quantized = sum(1 for s in sites if plan.spec(plan.decision(s.quantizer_path)) is not None)
        kind = plan.inventory.module_types.get(query, "").rsplit(".", 1)[-1]
        children = any(m.name.startswith(query + ".") for m in plan.inventory.modules)
        notes.append(f"{query} is a module{f' ({kind})' if kind else ''}: {len(sites)} site(s) of its own ops "
                     f"and boundary, {quantized} quantized\n"
                     + (f"  (its submodules' sites: query '{query}.*')\n" if children else "") + "\n")
        out.extend(s.quantizer_path for s in sites)
    return out, notes


def _saved_plan(directory: Path) -> Any:
    """The plan a saved model was quantized with, from its manifest (checked to resolve the
    same way in this qrt, unless this qrt wrote and sealed it; another qrt version is said on
    stderr)."""
    from qrt.runtime.finalize.manifest import plan_from_manifest, read_manifest_sealed

    manifest, sealed = read_manifest_sealed(directory, allow_version_mismatch=True)
    from qrt._version import __version__

    if manifest["qrt_version"] != __version__:
        print(f"qrt explain: note: {directory} was saved by qrt {manifest['qrt_version']}; this is {__version__}",
              file=sys.stderr)
    return plan_from_manifest(manifest, source=str(directory),
                              trusted=sealed and manifest["qrt_version"] == __version__)


def _graph_fates(args: argparse.Namespace, explanations: list) -> dict[str, str]:  # type: ignore[type-arg]
    """What graph mode does with each explained site: placed, or its fates' lines
    (``Quantizer.graph_fates``, read by the site they are about)."""
    from qrt.cli.common import model_from_args
    from qrt.frontends.source import load_rule_source
    from qrt.runtime.graph.fates import Fate, site_id
    from qrt.runtime.quant.quantizer import Quantizer

    built = model_from_args(args)
    quantizer = Quantizer(built.model, load_rule_source(args.rules), execution_mode="graph")
    quantizer.prepare(built.args, example_kwargs=built.kwargs)
    by_site: dict[str, list[Any]] = {}
    for fate in quantizer.graph_fates:
        if fate.site is not None:
            by_site.setdefault(fate.site, []).append(fate)
    fates = {}
    for e in explanations:
        ident = site_id(e.site)
        records = by_site.get(ident, [])
        lines = [line for line in (f.render() for f in records) if line is not None]
        if e.final is None:
            fates[e.site.quantizer_path] = "not quantized"
        elif any(f.fate is Fate.PLACED for f in records):
            fates[e.site.quantizer_path] = f"placed ({ident})"
        else:
            fates[e.site.quantizer_path] = "; ".join(lines) if lines else "no quantizer in the graph (unsupported)"
    return fates
