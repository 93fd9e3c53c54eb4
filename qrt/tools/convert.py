"""``qrt convert``: move a config between front ends, proving the decisions unchanged.

* **→ DSL** is exact from any front end: the DSL holds every rule of the IR. A hierarchical
  config without a model compiles to rules over every possible depth; the one thing that
  needs a model — module-level quantizers overriding the op-level sites on their tensor — is
  refused with the reason. A wildcard list becomes its role-default rules and one rule per
  entry.
* **→ quant-cfg** (:mod:`qrt.tools.to_quant_cfg`): a wildcard list is written in list form;
  another front end with a model is written as its plan, compacted into globs; without a
  model rule by rule, refusing each rule that has no entry.
* **→ hierarchical** (:mod:`qrt.tools.to_hierarchical`): a hierarchical config is written
  back as it is; another front end needs a model (order and scope depth meet only there).
* **→ compressed-tensors** (:mod:`qrt.frontends.compressed_tensors.writer`): a model's
  decisions per Linear/Embedding module, refused naming every decision the format cannot hold.
* **→ torchao** (:mod:`qrt.frontends.torchao.writer`): a model's decisions as an
  ``FqnToConfig`` keyed by exact Linear names, refused naming every decision it cannot hold.
* **→ llm-compressor** (:mod:`qrt.tools.to_llm_compressor`): a model's decisions as a recipe
  with one ``QuantizationModifier`` (``config_groups``, or a ``scheme`` preset where exact),
  refused like compressed-tensors; llm-compressor's default observers are the one difference
  the verification allows, and the recipe's header says so.

With a model, the written text is read back and resolved beside the source, and nothing is
written unless every site gets the same decision; the refusal names the sites that differ.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from qrt.errors import ConvertError, QrtError
from qrt.frontends.source import DslSource, HierarchicalSource, RuleSource, WildcardSource
from qrt.inventory.model import Inventory

__all__ = ["TARGETS", "ConvertError", "Target", "convert", "convert_to_dsl"]

Target = Literal["dsl", "quant-cfg", "hierarchical", "compressed-tensors", "torchao", "llm-compressor"]
TARGETS: tuple[Target, ...] = ("dsl", "quant-cfg", "hierarchical", "compressed-tensors", "torchao", "llm-compressor")


@dataclass(frozen=True)
class _Written:
    text: str
    source: RuleSource
    """the written text read back, for verification"""
    same: Callable[[Any, Any], bool] | None = None
    """how a site's spec before and after compare (``None``: equal); a format that adds its
    own defaults says which, and its header names them"""


def _header(source: RuleSource, inv: Inventory | None) -> str:
    model = f" on model {inv.model.get('spec') or inv.model.get('class')}" if inv is not None else ""
    return f"converted by qrt convert from {source.label}{model}"


def _comment(text: str) -> str:
    return "".join(f"# {line}\n" for line in text.splitlines())


# ---------------------------------------------------------------------------------------------
# → DSL


def _dsl(source: RuleSource, inv: Inventory | None) -> _Written:
    from qrt.frontends.dsl import parse_rules, print_rules

    if isinstance(source, DslSource):
        rules = source.rules
    elif isinstance(source, WildcardSource):
        rules = source.rules_for(inv)  # type: ignore[arg-type]  # model-independent
    elif isinstance(source, HierarchicalSource):
        from qrt.frontends.hierarchical.compile import compile_config

        result = compile_config(source.config, inv)
        if result.unexpressed:
            raise ConvertError(
                "this config cannot be written as model-independent rules: " + "; ".join(result.unexpressed),
                location=source.label,
                hint="pass --model SPEC to convert it exactly for that model",
            )
        rules = result.rules
    elif inv is not None:  # a compressed-tensors config or recipe: rules per model
        rules = source.rules_for(inv)
    else:
        raise ConvertError(
            "a compressed-tensors config or recipe becomes rules only for a given model: it matches class "
            "targets against each module's classes and decides per module",
            location=source.label,
            hint="pass --model SPEC (a checkpoint folder is its own model)",
        )
    text = _comment(_header(source, inv)) + print_rules(rules)
    return _Written(text, DslSource(parse_rules(text, file="<converted>"), label="converted rules"))


def convert_to_dsl(source: RuleSource, inv: Inventory | None = None) -> str:
    """DSL text for ``source``; with ``inv``, verified to decide every site the same."""
    return convert(source, "dsl", inv)


# ---------------------------------------------------------------------------------------------
# → quant_cfg


def _quant_cfg(source: RuleSource, inv: Inventory | None, fmt: str) -> _Written:
    from qrt.frontends.wildcard import wildcard_from_text
    from qrt.frontends.wildcard.writer import dump_wildcard
    from qrt.tools import to_quant_cfg

    algorithm = None
    if isinstance(source, WildcardSource):
        body = source.config.to_config(normalised=True)  # (4, 3) and -1 keys, as ModelOpt reads
        algorithm = body.pop("algorithm", None) if source.config.has_algorithm else None
        entries = body["quant_cfg"]
    else:
        try:
            if inv is not None:
                from qrt.resolver.plan import resolve_source

                entries = to_quant_cfg.entries_from_plan(resolve_source(source, inv))
            elif isinstance(source, DslSource):
                entries = to_quant_cfg.entries_from_rules(source.rules)
            else:
                raise ConvertError(
                    "a hierarchical config has a quant_cfg form only on a given model:\n"
                    "  it selects tensors by module, op and role (op_input_spec, op_state_spec …),\n"
                    "  a quant_cfg entry only by ModelOpt quantizer name and parent_class",
                    location=source.label,
                    hint="pass --model SPEC to write its decisions on that model, or --to dsl "
                    "(exact for every model)",
                )
        except ConvertError:
            raise
        except QrtError as exc:
            raise ConvertError(exc.message, location=source.label, hint=exc.hint) from None
    data: dict[str, object] = {}
    if algorithm is not None or (isinstance(source, WildcardSource) and source.config.has_algorithm):
        data["algorithm"] = algorithm
    data["quant_cfg"] = entries
    text = dump_wildcard(data, header=_header(source, inv), fmt=fmt)
    return _Written(text, WildcardSource(wildcard_from_text(text, file="<converted>"), label="converted list"))


# ---------------------------------------------------------------------------------------------
# → hierarchical


def _hierarchical(source: RuleSource, inv: Inventory | None) -> _Written:
    from qrt.frontends.hierarchical import config_from_yaml_text

    if isinstance(source, HierarchicalSource):
        config = source.config
    elif inv is None:
        raise ConvertError(
            "a rule list becomes a hierarchical config only for a given model — "
            "a hierarchical config decides by scope depth and op level, a rule list by order, "
            "and the two agree only on the sites of one model",
            location=source.label,
            hint="pass --model SPEC (the result is checked on that model's every site)",
        )
    else:
        from qrt.resolver.plan import resolve_source
        from qrt.tools.to_hierarchical import config_from_plan

        try:
            config = config_from_plan(resolve_source(source, inv))
        except QrtError as exc:
            raise ConvertError(
                f"the decisions cannot be written as a hierarchical config: {exc.message}",
                location=source.label,
                hint=exc.hint,
            ) from None
    text = _comment(_header(source, inv)) + config.to_yaml()
    return _Written(text, HierarchicalSource(config_from_yaml_text(text, file="<converted>"), label="converted config"))


# ---------------------------------------------------------------------------------------------
# → compressed-tensors


def _compressed_tensors(source: RuleSource, inv: Inventory | None) -> _Written:
    """A plan's decisions as a compressed-tensors ``quantization_config``
    (:mod:`qrt.frontends.compressed_tensors.writer`): per Linear/Embedding module, so a model."""
    import json

    from qrt.frontends.compressed_tensors import compressed_tensors_from_data
    from qrt.frontends.compressed_tensors.source import CompressedTensorsSource
    from qrt.frontends.compressed_tensors.writer import config_from_plan

    if inv is None:
        raise ConvertError(
            "a compressed-tensors config names modules of a given model (its targets are module "
            "names and classes, its schemes cover Linear and Embedding modules only)",
            location=source.label,
            hint="pass --model SPEC: the decisions on that model are written and checked",
        )
    from qrt.resolver.plan import resolve_source

    config, reasons = config_from_plan(resolve_source(source, inv))
    _refuse_inexpressible(reasons, "compressed-tensors", source.label,
                          "compressed-tensors holds the weight, input and output specs of Linear and Embedding "
                          "modules; convert --to dsl holds every decision")
    text = json.dumps(config, indent=2) + "\n"
    return _Written(text, CompressedTensorsSource(compressed_tensors_from_data(config, file="<converted>"),
                                                  label="converted config"))


def _refuse_inexpressible(reasons: list[tuple[str, str]], target: str, label: str, hint: str) -> None:
    """Every decision a target format cannot hold, grouped by reason, in one refusal: nothing
    is written rather than a config that decides otherwise."""
    if not reasons:
        return
    by_reason: dict[str, list[str]] = {}
    for path, why in reasons:
        by_reason.setdefault(why, []).append(path)
    shown = "\n  ".join(
        f"- {why} — {len(paths)} site(s): {', '.join(paths[:3])}{' …' if len(paths) > 3 else ''}"
        for why, paths in by_reason.items())
    raise ConvertError(
        f"{len(reasons)} decision(s) have no {target} equivalent, so nothing was written:\n  {shown}",
        location=label, hint=hint,
    )


# ---------------------------------------------------------------------------------------------
# → torchao


def _torchao(source: RuleSource, inv: Inventory | None) -> _Written:
    """A plan's decisions as a torchao ``FqnToConfig`` (:mod:`qrt.frontends.torchao.writer`)."""
    import json

    from qrt.frontends.torchao import torchao_from_data
    from qrt.frontends.torchao.source import TorchAoSource
    from qrt.frontends.torchao.writer import config_from_plan

    if inv is None:
        raise ConvertError(
            "a torchao FqnToConfig is written per model: its keys are the model's Linear modules",
            location=source.label,
            hint="pass --model SPEC: the decisions on that model are written and checked",
        )
    from qrt.resolver.plan import resolve_source

    config, reasons = config_from_plan(resolve_source(source, inv))
    _refuse_inexpressible(reasons, "torchao", source.label,
                          "torchao quantizes Linear weights (and, with the dynamic-activation configs, their "
                          "inputs); convert --to dsl holds every decision")
    text = json.dumps(config, indent=2) + "\n"
    return _Written(text, TorchAoSource(torchao_from_data(config, file="<converted>"), label="converted config"))


# ---------------------------------------------------------------------------------------------
# → llm-compressor


def _llm_compressor(source: RuleSource, inv: Inventory | None) -> _Written:
    """A plan's decisions as an llm-compressor recipe (:mod:`qrt.tools.to_llm_compressor`)."""
    import yaml

    from qrt.frontends.compressed_tensors.recipe import recipe_from_text
    from qrt.frontends.compressed_tensors.source import RecipeSource
    from qrt.tools.to_llm_compressor import recipe_from_plan, same_but_default_observer

    if inv is None:
        raise ConvertError(
            "an llm-compressor recipe is written per model: its targets are the model's modules",
            location=source.label,
            hint="pass --model SPEC: the decisions on that model are written and checked",
        )
    from qrt.resolver.plan import resolve_source

    recipe, reasons, notes = recipe_from_plan(resolve_source(source, inv))
    _refuse_inexpressible(reasons, "llm-compressor", source.label,
                          "an llm-compressor QuantizationModifier holds the weight, input and output specs of "
                          "Linear and Embedding modules; convert --to dsl holds every decision")
    text = _comment("\n".join([_header(source, inv), *notes])) + yaml.safe_dump(recipe, sort_keys=False)
    return _Written(text, RecipeSource(recipe_from_text(text, file="<converted>"), label="converted recipe"),
                    same=same_but_default_observer)


# ---------------------------------------------------------------------------------------------


def _verify(source: RuleSource, written: _Written, inv: Inventory, target: Target) -> None:
    from qrt.resolver.plan import resolve_source

    before = resolve_source(source, inv)
    after = resolve_source(written.source, inv)
    same = written.same or (lambda x, y: x == y)
    diff = [
        (a.site.quantizer_path, before.spec(a), after.spec(b))
        for a, b in zip(before.decisions, after.decisions)
        if not same(before.spec(a), after.spec(b))
    ]
    if diff:
        shown = "\n  ".join(f"{path}: {was} → {now}" for path, was, now in diff[:5])
        more = f"\n  … and {len(diff) - 5} more" if len(diff) > 5 else ""
        raise ConvertError(
            f"the converted {target} config decides {len(diff)} site(s) differently, so it was "
            f"not written:\n  {shown}{more}",
            location=source.label,
            hint="a hierarchical config cannot quantize an op-level site on a tensor whose "
            "module-level site is quantized, nor key one op's inputs by position and name at "
            "once; the DSL holds every decision"
            if target == "hierarchical"
            else "please report this config: the conversion should be exact",
        )


def convert(source: RuleSource, to: Target, inv: Inventory | None = None, *, fmt: str = "yaml") -> str:
    """``source`` written as a ``to`` config; with ``inv``, verified on every site of that model.

    ``fmt`` (``yaml`` or ``json``) applies to ``quant-cfg``. Raises :class:`ConvertError` with
    every rule or site that cannot be converted and why.
    """
    if to == "dsl":
        written = _dsl(source, inv)
    elif to == "quant-cfg":
        written = _quant_cfg(source, inv, fmt)
    elif to == "hierarchical":
        written = _hierarchical(source, inv)
    elif to == "compressed-tensors":
        written = _compressed_tensors(source, inv)
    elif to == "torchao":
        written = _torchao(source, inv)
    elif to == "llm-compressor":
        written = _llm_compressor(source, inv)
    else:
        raise ConvertError(f"unknown target {to!r}", hint="valid targets: " + ", ".join(TARGETS))
    if inv is not None:
        _verify(source, written, inv, to)
    return written.text
