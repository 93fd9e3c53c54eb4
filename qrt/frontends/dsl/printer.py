"""Rules → canonical DSL text, the inverse of :func:`qrt.frontends.dsl.parse_rules`.

Why canonical: docs/semantics.md §5 property 6 asks that rules → text → rules is the identity, and
converters (and ``qrt convert``) need one stable text per rule set so diffs show meaning, not
spelling. So the printer makes every choice the parser leaves open in one fixed way:

* named specs first, one ``spec NAME = ...`` line each, in the order the rules first use them;
  a spec prints only its *explicit* fields (``to_json(explicit_only=True)``), so the fields a
  user left to defaults stay defaults after the round trip (explain tells them apart);
* then one line per rule: predicates in the order module, type, parent, in, op, opname,
  tensor, key, quantizer (``type`` before ``in``, because ``in name /R/ type T`` reads ``type``
  as part of the scope); ``priority (...)`` whenever it is not ``(0,)``;
* a name is written bare where the grammar reads it as a word, quoted otherwise; a regex as
  ``/.../`` with ``\\/`` for a slash, or as a ``"string"`` when it holds the pair ``\\/``
  itself or a line break, which ``/.../`` cannot say.

What cannot be printed raises :class:`~qrt.errors.SpecError` with the reason: two different
specs under one ``spec_name``, or a patch value outside the spec vocabulary.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from qrt.errors import SpecError
from qrt.frontends.dsl.vocabulary import (
    FIELD_CHOICES,
    IDENT_RE,
    NULLABLE_FIELDS,
    WORD_RE,
    bare_spec_name_ok,
)
from qrt.ir.effect import Effect, Off, Patch, Set
from qrt.ir.rule import Rule, RuleSet
from qrt.ir.selector import ScopeMatch, Selector
from qrt.ir.spec import SPEC_FIELDS, PerBlock, PerChannel, PerTensor, QuantizationSpec

__all__ = ["print_rules", "spec_text", "selector_text", "effect_text", "rule_text"]

_SHORTHAND_KEYS = ("weight", "bias")


def print_rules(rules: RuleSet) -> str:
    """Canonical DSL text for *rules*: named spec definitions, then one line per rule."""
    named: dict[str, tuple[QuantizationSpec, int]] = {}
    for index, rule in enumerate(rules):
        effect = rule.effect
        if isinstance(effect, Set) and effect.spec_name is not None:
            seen = named.get(effect.spec_name)
            if seen is None:
                named[effect.spec_name] = (effect.spec, index)
            elif seen[0] != effect.spec:
                raise SpecError(
                    f"spec name {effect.spec_name!r} names two different specs: "
                    f"`{spec_text(seen[0])}` (rule {seen[1]}) and `{spec_text(effect.spec)}` "
                    f"(rule {index})",
                    location=str(rule.origin) if rule.origin.position else None,
                    hint="a spec name stands for one spec; give one of them another spec_name",
                )
    stage_names = _stage_names(rules, named)
    lines = [
        f"spec {_spec_name(name)} = {spec_text(spec, stage_names)}"
        for name, spec in _stage_definitions(stage_names)
    ]
    lines += [
        f"spec {_spec_name(name)} = {spec_text(spec, stage_names)}"
        for name, (spec, _) in named.items()
    ]
    if lines and len(rules):
        lines.append("")
    lines += [rule_text(rule, stage_names) for rule in rules]
    return "\n".join(lines) + "\n" if lines else ""


StageNames = Mapping[tuple[QuantizationSpec, ...], str]
"""The spec name under which ``print_rules`` defines each run of trailing stages."""


def _stage_names(rules: RuleSet, named: Mapping[str, tuple[QuantizationSpec, int]]) -> dict[tuple[QuantizationSpec, ...], str]:
    """Names for the stage chains of sequential specs: ``then_1`` … (avoiding user names).

    The stages ``(s1, s2)`` after a first stage print as ``then=then_1`` with ``spec then_1 =
    s1 then=then_2`` and ``spec then_2 = s2``: a chain the parser reads back flat.
    """
    chains: dict[tuple[QuantizationSpec, ...], str] = {}
    taken = set(named)
    counter = 0
    specs = [r.effect.spec for r in rules if isinstance(r.effect, Set)]
    for spec in specs:
        for start in range(len(spec.then)):
            chain = tuple(spec.then[start:])
            if chain in chains:
                continue
            counter += 1
            while f"then_{counter}" in taken:
                counter += 1
            chains[chain] = f"then_{counter}"
    return chains


def _stage_definitions(stage_names: StageNames) -> list[tuple[str, QuantizationSpec]]:
    """The stage specs to define, each after the chain it refers to."""
    out = []
    for chain, name in sorted(stage_names.items(), key=lambda item: len(item[0])):
        head = chain[0]
        out.append((name, head.model_copy(update={"then": chain[1:]})))
    return out


def rule_text(rule: Rule, stage_names: StageNames | None = None) -> str:
    text = f"{selector_text(rule.selector)} -> {effect_text(rule.effect, stage_names)}"
    if rule.priority != (0,):
        text += " priority (" + ", ".join(str(p) for p in rule.priority) + ")"
    return text


# ---------------------------------------------------------------------------------------------
# Selectors


def selector_text(selector: Selector) -> str:
    parts: list[str] = []
    if selector.module_name is not None:
        parts.append(f"module {_regex(selector.module_name)}")
    if selector.module_type is not None:
        parts.append(f"type {_name(selector.module_type)}")
    if selector.parent_class is not None:
        parts.append(f"parent {_name(selector.parent_class)}")
    if selector.scope is not None:
        parts.append(_scope(selector.scope))
    if selector.op_type is not None:
        parts.append(f"op {_op_name(selector.op_type)}")
    if selector.op_name is not None:
        relative = "relative " if selector.op_name_relative else ""
        parts.append(f"opname {relative}{_regex(selector.op_name)}")
    if selector.role is not None:
        if selector.role == "state" and selector.key in _SHORTHAND_KEYS:
            parts.append(str(selector.key))
        elif selector.key is not None:
            parts.append(f"{selector.role}[{_key(selector.key)}]")
        else:
            parts.append(selector.role)
    elif selector.key is not None:
        parts.append(f"key {_key(selector.key)}")
    if selector.quantizer_path is not None:
        keyword = "modelopt_name" if selector.quantizer_names == "modelopt" else "quantizer"
        parts.append(f"{keyword} {_string(selector.quantizer_path)}")
    if selector.tensor is not None:
        parts.append(f"tensor {_string(selector.tensor)}")
    for keyword, span in (("expert", selector.experts), ("layer", selector.layers)):
        if span is not None:
            parts.append(f"{keyword} {span[0]}" if span[0] == span[1] else f"{keyword} {span[0]}..{span[1]}")
    return " ".join(parts) if parts else "*"


def _scope(scope: ScopeMatch) -> str:
    if scope.name is not None:
        text = f"in name {_regex(scope.name)}"
        if scope.type is not None:
            text += f" type {_name(scope.type)}"
    else:
        text = f"in type {_name(scope.type or '')}"
    if scope.depth is not None:
        text += f" at {scope.depth}"
    return text


def _string(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


def _name(text: str) -> str:
    """A type or other dotted name: bare where the grammar's WORD reads it, else quoted."""
    return text if WORD_RE.fullmatch(text) else _string(text)


def _op_name(text: str) -> str:
    # A dotted op name would be cut to its packet (``add.Tensor`` → ``add``) when read back,
    # and a bare op type the registry does not know is refused as a likely typo: quote both.
    from qrt.ops.registry import default_registry

    return text if IDENT_RE.fullmatch(text) and text in default_registry else _string(text)


def _key(key: int | str) -> str:
    if isinstance(key, int) and not isinstance(key, bool):
        return str(key)
    if key == "*":
        return "*"
    return key if WORD_RE.fullmatch(key) else _string(key)


def _regex(pattern: str) -> str:
    """``/.../`` (a slash written ``\\/``), or a ``"string"`` where ``/.../`` cannot say it."""
    out: list[str] = []
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if c == "\\":
            if i + 1 >= len(pattern) or pattern[i + 1] == "/" or _unprintable(pattern[i + 1]):
                return _string(pattern)
            out.append(pattern[i : i + 2])
            i += 2
            continue
        if _unprintable(c):
            return _string(pattern)
        out.append("\\/" if c == "/" else c)
        i += 1
    return "/" + "".join(out) + "/"


def _unprintable(c: str) -> bool:
    return c in "\n\r" or (ord(c) < 0x20 and c != "\t") or c == "\x7f"


# ---------------------------------------------------------------------------------------------
# Effects and specs


def effect_text(effect: Effect, stage_names: StageNames | None = None) -> str:
    if isinstance(effect, Off):
        return "off"
    if isinstance(effect, Set):
        text = (
            _spec_name(effect.spec_name)
            if effect.spec_name is not None
            else spec_text(effect.spec, stage_names)
        )
        return text if effect.enable else text + " disabled"
    if isinstance(effect, Patch):
        if not effect.fields:
            return "enable" if effect.enable else "disable"
        parts = ["patch"]
        if effect.enable is not None:
            parts.append("enable" if effect.enable else "disable")
        unknown = sorted(set(effect.fields) - set(SPEC_FIELDS))
        if unknown:
            raise SpecError(
                f"cannot print a patch of {', '.join(map(repr, unknown))}: not a spec field",
                hint="valid fields: " + ", ".join(SPEC_FIELDS),
            )
        for name in SPEC_FIELDS:
            if name in effect.fields:
                parts.append(f"{name}={_value(name, effect.fields[name])}")
        return " ".join(parts)
    raise TypeError(f"not an effect: {effect!r}")  # pragma: no cover


def spec_text(spec: QuantizationSpec, stage_names: StageNames | None = None) -> str:
    """A spec body: the explicit fields only, dtype first (the dtype alone if none is explicit),
    then ``extra.NAME=VALUE`` items and ``then=NAME`` (the name ``print_rules`` defined for the
    following stages)."""
    data = spec.to_json(explicit_only=True)
    data.pop("extras", None)
    data.pop("then", None)
    parts: list[str] = []
    if "dtype" in data:
        parts.append(data["dtype"])
    if "qscheme" in data:
        parts.append(data["qscheme"])
    if "granularity" in data:
        parts.append(_granularity(data["granularity"]))
    for name in SPEC_FIELDS:
        if name in ("dtype", "qscheme", "granularity", "extras", "then") or name not in data:
            continue
        parts.append(f"{name}={_value(name, data[name])}")
    if not parts:
        parts.append(spec.dtype)
    for name, value in spec.extra_values().items():
        parts.append(f"extra.{name}={_extra(value)}")
    if spec.then:
        chain = tuple(spec.then)
        if stage_names is None or chain not in stage_names:
            raise SpecError(
                "a sequential spec prints only inside print_rules, which defines its stages",
                hint="print the whole rule set with print_rules()",
            )
        parts.append(f"then={_spec_name(stage_names[chain])}")
    return " ".join(parts)


def _extra(value: Any) -> str:
    """An extra's JSON value as the parser reads it back (``extra_value``)."""
    if value is None or isinstance(value, bool):
        return json.dumps(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str) and IDENT_RE.fullmatch(value) and value not in ("true", "false", "null"):
        return value
    return _string(json.dumps(value, sort_keys=True))


def _spec_name(name: str) -> str:
    return name if bare_spec_name_ok(name) else _string(name)


def _value(name: str, value: Any) -> str:
    if name == "granularity":
        return _granularity(value)
    if value is None and name in NULLABLE_FIELDS:
        return "default"
    if isinstance(value, str) and value in FIELD_CHOICES[name]:
        return value
    raise SpecError(
        f"cannot print {name}={value!r}: not a value the DSL can write",
        hint=f"valid values of {name}: "
        + ", ".join([*FIELD_CHOICES[name], *(["default"] if name in NULLABLE_FIELDS else [])]),
    )


def _granularity(value: Any) -> str:
    models = {"per_tensor": PerTensor, "per_channel": PerChannel, "per_block": PerBlock}
    try:
        if isinstance(value, (PerTensor, PerChannel, PerBlock)):
            data = value.to_json()
        elif isinstance(value, str) and value in ("per_tensor", "per_channel"):
            data = {"type": value}
        elif isinstance(value, Mapping) and value.get("type") in models:
            data = models[value["type"]].model_validate(dict(value)).to_json()
        else:
            raise ValueError
    except ValueError:  # pydantic's ValidationError is one
        raise SpecError(
            f"cannot print granularity {value!r}",
            hint="valid: per_tensor, per_channel(axis=N), per_block(B, axis=N)",
        ) from None
    kind = data["type"]
    args: list[str] = []
    if kind == "per_block":
        args.append(str(data["block_size"]))
    if data.get("axis") is not None:
        args.append(f"axis={data['axis']}")
    return f"{kind}({', '.join(args)})" if args else kind
