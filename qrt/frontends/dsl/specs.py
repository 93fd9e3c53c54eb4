"""Spec bodies and ``FIELD=VALUE`` items → :class:`~qrt.ir.spec.QuantizationSpec` and its
canonical field values.

Why here and not in the grammar: the grammar knows only that a spec body is a list of items.
Whether ``int4`` is a dtype or a spec name, or ``scale_dtyp`` a field, is decided here, where
the error can name the valid choices and the closest one. The same field values are read in
three places (``spec NAME = ...``, a rule that sets a spec, and ``patch FIELD=VALUE``), so
they are read by one function, :func:`field_value`. Words are case-sensitive and literal (see
:mod:`qrt.frontends.dsl.vocabulary`); pydantic validates the assembled spec, and its first
complaint is reported at the item that caused it, never raw.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Union

from lark import Token
from pydantic import ValidationError

from qrt.errors import SpecError, did_you_mean
from qrt.frontends.dsl.literals import decode_string
from qrt.frontends.dsl.source import Source, at_token, join_hints, located
from qrt.frontends.dsl.statements import Body, Call, token_of
from qrt.frontends.dsl.vocabulary import (
    EFFECT_KEYWORDS,
    FIELD_CHOICES,
    GRANULARITY_WORDS,
    NULLABLE_FIELDS,
    bare_spec_name_problem,
)
from qrt.ir.spec import (
    QSCHEMES,
    QUANT_DTYPES,
    SPEC_FIELDS,
    PerBlock,
    PerChannel,
    PerTensor,
    QuantizationSpec,
    spec_error_message,
)

__all__ = [
    "EXTRA_PREFIX",
    "SPEC_FORM",
    "DefinedSpec",
    "extra_value",
    "field_value",
    "granularity_from_call",
    "spec_from_body",
]

EXTRA_PREFIX = "extra."
"""``extra.NAME=VALUE`` in a spec body sets the extra ``NAME`` (a setting qrt has no field for)."""

SPEC_FORM = (
    "a spec is a dtype, optionally symmetric|asymmetric and a granularity "
    "(per_tensor, per_channel, per_channel(axis=0), per_block(32), per_block(32, axis=1)), "
    "then FIELD=VALUE items, e.g. `int4 per_block(32) scale_dtype=float8_e4m3fn`"
)


@dataclass
class DefinedSpec:
    """A spec defined with ``spec NAME = ...``, and where, for the redefinition error."""

    spec: QuantizationSpec
    where: str
    """``file:line:col`` of the name in its definition"""
    context: str
    """that line with a caret, for the redefinition error"""


def spec_from_body(
    src: Source, body: Body, defined: Mapping[str, DefinedSpec], *, effect: bool
) -> tuple[QuantizationSpec, str | None]:
    """A body → its spec, and the spec name when the body is just a defined name.

    ``defined`` holds the specs defined so far (above this line, includes expanded);
    ``effect`` says the body is a rule's effect rather than a ``spec`` definition, which
    changes only the wording of an unknown first word (it may be a misspelled effect keyword).
    """
    items = body.items
    if len(items) == 1 and isinstance(items[0], Token):
        name = str(items[0])
        # only a name that may be written bare is looked up bare: `int8` is always the
        # dtype, even where a spec was defined as `spec "int8" = ...`
        if name in defined and bare_spec_name_problem(name) is None:
            return defined[name].spec, name
    data: dict[str, Any] = {}
    first_at: dict[str, Token] = {}
    for index, item in enumerate(items):
        tok = token_of(item)
        if isinstance(item, Token):
            fname, value = _word(
                src, item, defined, effect=effect, alone=len(items) == 1, first=index == 0
            )
        elif isinstance(item, Call):
            fname, value = "granularity", granularity_from_call(src, item)
        elif str(item.name).startswith(EXTRA_PREFIX):
            name = str(item.name)[len(EXTRA_PREFIX):]
            extras = data.setdefault("extras", {})
            first_at.setdefault("extras", tok)
            if name in extras:
                raise at_token(SpecError, src, tok, f"extra {name!r} is given twice in one spec")
            extras[name] = extra_value(src, item.name, item.value)
            continue
        elif str(item.name) == "then":
            fname, value = "then", _stages(src, item.value, defined)
        else:
            fname, value = str(item.name), field_value(src, item.name, item.value)
        if fname in data:
            first = first_at[fname]
            raise at_token(
                SpecError, src, tok, f"{fname} is given twice in one spec",
                hint=f"first given at {src.file}:{first.line}:{first.column}",
            )
        data[fname] = value
        first_at[fname] = tok
    try:
        return QuantizationSpec.model_validate(data), None
    except ValidationError as exc:
        problem = exc.errors()[0]
        loc = problem["loc"][0] if problem["loc"] else None
        tok = first_at.get(str(loc)) if loc is not None else None
        line, column = (tok.line or 0, tok.column or 0) if tok else (body.line, body.column)
        raise located(
            SpecError, src, line, column, "invalid spec: " + spec_error_message(exc),
            hint=SPEC_FORM,
        ) from None


def _word(
    src: Source,
    tok: Token,
    defined: Mapping[str, DefinedSpec],
    *,
    effect: bool,
    alone: bool,
    first: bool,
) -> tuple[str, Any]:
    """A bare word in a spec body → ``(field, value)``, or an error naming what it could be."""
    word = str(tok)
    if word in QUANT_DTYPES:
        return "dtype", word
    if word in QSCHEMES:
        return "qscheme", word
    if word in ("per_tensor", "per_channel"):
        return "granularity", {"type": word}
    if word == "per_block":
        raise at_token(SpecError, src, tok, "per_block needs a block size", hint="write per_block(32) or per_block(32, axis=1)")
    if word in defined and bare_spec_name_problem(word) is None:
        raise at_token(
            SpecError, src, tok,
            f"spec name {word!r} cannot be combined with other spec items",
            hint="use the name alone, define a new spec, or change fields with `patch FIELD=VALUE`",
        )
    names = sorted(defined)
    candidates = [*names, *QUANT_DTYPES, *QSCHEMES, *GRANULARITY_WORDS]
    if effect and first:
        candidates += list(EFFECT_KEYWORDS)
        message = f"{word!r} is neither a spec defined above nor a dtype"
    else:
        message = f"unknown word {word!r} in a spec"
    return_hint = join_hints(
        did_you_mean(word, candidates),
        ("defined specs: " + ", ".join(names)) if names else "no spec is defined above this line",
        "dtypes: " + ", ".join(QUANT_DTYPES),
        None if (effect and alone) else SPEC_FORM,
    )
    raise at_token(SpecError, src, tok, message, hint=return_hint, offending=word)


def granularity_from_call(src: Source, call: Call) -> dict[str, Any]:
    """``per_block(32, axis=1)`` → ``{"type": "per_block", "axis": 1, "block_size": 32}``."""
    kind = str(call.name)
    if kind not in GRANULARITY_WORDS:
        raise at_token(
            SpecError,
            src,
            call.name,
            f"unknown granularity {kind!r}",
            hint=join_hints(
                did_you_mean(kind, GRANULARITY_WORDS),
                "valid: per_tensor, per_channel, per_channel(axis=N), per_block(B), per_block(B, axis=N)",
            ),
        )
    allowed = {"per_tensor": (), "per_channel": ("axis",), "per_block": ("block_size", "axis")}[kind]
    data: dict[str, Any] = {"type": kind}
    seen: dict[str, Token] = {}
    for index, (keyword, value) in enumerate(call.args):
        tok = keyword or value
        if keyword is None:
            if kind != "per_block" or index != 0:
                form = "per_block(B, axis=N)" if kind == "per_block" else f"{kind}(axis=N)"
                raise at_token(
                    SpecError,
                    src,
                    tok,
                    f"{kind} takes no positional argument here",
                    hint=f"write {form}" if kind != "per_tensor" else "write per_tensor",
                )
            name = "block_size"
        else:
            name = str(keyword)
            if name not in allowed:
                raise at_token(
                    SpecError,
                    src,
                    tok,
                    f"{kind} has no argument {name!r}",
                    hint=join_hints(
                        did_you_mean(name, allowed),
                        f"valid arguments of {kind}: {', '.join(allowed) or 'none'}",
                    ),
                )
        if name in seen:
            raise at_token(SpecError, src, tok, f"{kind}: {name} given twice")
        seen[name] = tok
        data[name] = int(value)
    model = {"per_tensor": PerTensor, "per_channel": PerChannel, "per_block": PerBlock}[kind]
    try:
        built = model.model_validate(data)
    except ValidationError as exc:
        raise at_token(
            SpecError,
            src,
            call.name,
            f"invalid granularity: {_granularity_message(exc)}",
            hint="e.g. per_block(32), per_block(32, axis=1), per_channel(axis=0)",
        ) from None
    return built.to_json()


def _granularity_message(exc: ValidationError) -> str:
    parts = []
    for item in exc.errors():
        where = ".".join(str(p) for p in item["loc"])
        parts.append(f"{where}: {item['msg']}" if where else str(item["msg"]))
    return "; ".join(parts)


def field_value(src: Source, field_tok: Token, value: Union[Token, Call]) -> Any:
    """The canonical value of ``FIELD=VALUE`` (names as strings, ``None``, granularity JSON)."""
    name = str(field_tok)
    if name not in FIELD_CHOICES:
        raise at_token(
            SpecError,
            src,
            field_tok,
            f"unknown spec field {name!r}",
            hint=join_hints(did_you_mean(name, SPEC_FIELDS), "valid fields: " + ", ".join(SPEC_FIELDS)),
            offending=name,
        )
    if isinstance(value, Call):
        if name == "granularity":
            return granularity_from_call(src, value)
        raise at_token(SpecError, src, value.name, f"{name} takes a name, not {value.name}(...)")
    if value.type != "WORD":
        raise at_token(
            SpecError, src, value, f"{name} takes a name, got {str(value)}",
            hint=f"valid values of {name}: " + ", ".join(
                [*FIELD_CHOICES[name], *(["default"] if name in NULLABLE_FIELDS else [])]
            ),
        )
    word = str(value)
    if name == "granularity":
        if word in ("per_tensor", "per_channel"):
            return {"type": word}
        if word == "per_block":
            raise at_token(SpecError, src, value, "per_block needs a block size", hint="write per_block(32)")
    nullable = name in NULLABLE_FIELDS
    if nullable and word == "default":
        return None
    choices = FIELD_CHOICES[name]
    if word not in choices:
        shown = list(choices) + (["default"] if nullable else [])
        raise at_token(
            SpecError,
            src,
            value,
            f"unknown {name} {word!r}",
            hint=join_hints(did_you_mean(word, shown), f"valid values of {name}: " + ", ".join(shown)),
            offending=word,
        )
    return word


_JSON_WORDS = {"true": True, "false": False, "null": None}


def extra_value(src: Source, field_tok: Token, value: Union[Token, Call]) -> Any:
    """The JSON value of ``extra.NAME=VALUE``: an integer, ``true``/``false``/``null``, a bare
    word (a string), or a ``"string"`` holding JSON text (``"[4, 3]"``, ``"\\"max\\""``)."""
    if isinstance(value, Call):
        raise at_token(
            SpecError, src, value.name, f"{field_tok} takes a JSON value, not {value.name}(...)",
            hint='write the value as JSON text in a string, e.g. extra.block_sizes="{\\"-1\\": 16}"',
        )
    if value.type == "INT":
        return int(str(value))
    if value.type == "WORD":
        word = str(value)
        return _JSON_WORDS[word] if word in _JSON_WORDS else word
    text = decode_string(src, value)
    try:
        return json.loads(text)
    except ValueError as exc:
        raise at_token(
            SpecError, src, value, f"{field_tok}: {text!r} is not JSON text ({exc.msg})",
            hint='a quoted extra value is JSON: a string is written "\\"text\\"", or bare as a '
            "word (extra.backend=my_backend)",
            offending=str(value),
        ) from None


def _stages(src: Source, value: Union[Token, Call], defined: Mapping[str, DefinedSpec]) -> list[QuantizationSpec]:
    """``then=NAME`` → the stages that follow: the named spec, then its own ``then``."""
    if isinstance(value, Call) or value.type not in ("WORD", "STRING"):
        tok = value.name if isinstance(value, Call) else value
        raise at_token(
            SpecError, src, tok, "then takes the name of a spec defined above",
            hint="define the next stage with `spec NAME = ...` and write then=NAME",
        )
    name = str(value) if value.type == "WORD" else decode_string(src, value)
    if name not in defined:
        names = sorted(defined)
        raise at_token(
            SpecError, src, value, f"then={name}: no spec {name!r} is defined above this line",
            hint=join_hints(
                did_you_mean(name, names),
                ("defined specs: " + ", ".join(names)) if names else None,
            ),
            offending=name,
        )
    stage = defined[name].spec
    return [stage.model_copy(update={"then": ()}), *stage.then]
