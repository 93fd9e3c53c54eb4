"""One rule file's text → its :mod:`statements <qrt.frontends.dsl.statements>` (the first pass).

Why it is built this way: a lark ``Transformer`` walks the parse tree bottom-up and builds every
part of a statement that needs no other statement: selectors, patches, priorities, include
targets, regexes (checked here, at the regex). Each statement is stamped with its position
from lark's ``Meta`` (``propagate_positions``), so a rule's origin and every error point at the
text. What depends on earlier lines, spec names and spec bodies, is left as written for the
loader (:mod:`qrt.frontends.dsl.parse`), which reads statements in order with includes
expanded. An error raised inside the transformer is unwrapped from lark's ``VisitError`` so the
user sees the located :class:`~qrt.errors.QrtError` itself.
"""

from __future__ import annotations

from typing import Any, Union

from lark import Token, Transformer, v_args
from lark.exceptions import UnexpectedInput, VisitError

from qrt.errors import QrtError, RuleSyntaxError
from qrt.frontends.dsl.grammar import parser
from qrt.frontends.dsl.literals import decode_regex_literal, decode_string
from qrt.frontends.dsl.source import Source, at_token, located
from qrt.frontends.dsl.specs import field_value
from qrt.frontends.dsl.statements import (
    Body,
    Call,
    Field,
    Include,
    Item,
    RuleStmt,
    SetBody,
    SetNamed,
    SpecDef,
    Statement,
)
from qrt.frontends.dsl.syntax_errors import PRIORITY_FORM, syntax_error
from qrt.frontends.dsl.vocabulary import bare_spec_name_problem
from qrt.ir.effect import Off, Patch
from qrt.ir.patterns import PatternError, check_regex
from qrt.ir.selector import ScopeMatch, Selector
from qrt.ops.registry import default_registry

__all__ = ["read_statements", "ToStatements"]

_PREDICATE_NAMES: dict[str, str] = {
    "scope": "in",
    "module_name": "module",
    "module_type": "type",
    "parent_class": "parent",
    "op_type": "op",
    "op_name": "opname",
    "role": "a role (input, output, state, ...)",
    "key": "a key",
    "quantizer_path": "quantizer (or modelopt_name)",
    "tensor": "tensor",
    "experts": "expert",
    "layers": "layer",
}
"""A selector field as the user wrote it, for "given twice" errors."""


def read_statements(src: Source) -> list[Statement]:
    """Parse and transform one file; a syntax error becomes a located RuleSyntaxError."""
    text = src.text if src.text.endswith("\n") else src.text + "\n"
    try:
        tree = parser().parse(text)
    except UnexpectedInput as exc:
        raise syntax_error(src, exc) from None
    try:
        result = ToStatements(src).transform(tree)
    except VisitError as exc:
        if isinstance(exc.orig_exc, QrtError):
            raise exc.orig_exc from None
        raise
    assert isinstance(result, list)
    return result


@v_args(meta=True)
class ToStatements(Transformer[Token, list[Statement]]):
    """One file's tree → statements. Builds everything that needs no other statement."""

    def __init__(self, src: Source) -> None:
        super().__init__()
        self.src = src

    # -- shared pieces --------------------------------------------------------------------

    def name(self, meta: Any, children: list[Token]) -> tuple[str, Token, bool]:
        (tok,) = children
        if tok.type == "STRING":
            return decode_string(self.src, tok), tok, True
        return str(tok), tok, False

    def pattern(self, meta: Any, children: list[Token]) -> tuple[str, Token]:
        (tok,) = children
        value = decode_string(self.src, tok) if tok.type == "STRING" else decode_regex_literal(str(tok))
        problem = check_regex(value)
        if problem:
            raise at_token(PatternError, self.src, tok, problem, offending=str(tok))
        return value, tok

    def key(self, meta: Any, children: list[Token]) -> tuple[Union[int, str], Token]:
        (tok,) = children
        if tok.type == "INT":
            return int(tok), tok
        if tok.type == "STRING":
            return decode_string(self.src, tok), tok
        return str(tok), tok

    def at(self, meta: Any, children: list[Token]) -> tuple[int, Token]:
        (tok,) = children
        depth = int(tok)
        if depth < 0:
            raise at_token(
                PatternError, self.src, tok, f"scope depth must be >= 0, got {depth}",
                hint="`at 0` is the root module, `at 1` its children, ...",
            )
        return depth, tok

    def role(self, meta: Any, children: list[Token]) -> Token:
        (tok,) = children
        return tok

    def call(self, meta: Any, children: list[Any]) -> Call:
        name, *args = children
        return Call(name, tuple(args))

    def positional_arg(self, meta: Any, children: list[Token]) -> tuple[None, Token]:
        return None, children[0]

    def keyword_arg(self, meta: Any, children: list[Token]) -> tuple[Token, Token]:
        return children[0], children[1]

    def value(self, meta: Any, children: list[Any]) -> Union[Token, Call]:
        (value,) = children
        return value  # type: ignore[no-any-return]

    # -- predicates: each returns [(selector field, value, token)] -------------------------

    def scope_name(self, meta: Any, children: list[Any]) -> list[tuple[str, Any, Token]]:
        (regex, tok), *rest = children
        type_ = next((c[0] for c in rest if len(c) == 3), None)
        depth = next((c[0] for c in rest if len(c) == 2), None)
        return [("scope", ScopeMatch(name=regex, type=type_, depth=depth), tok)]

    def scope_type(self, meta: Any, children: list[Any]) -> list[tuple[str, Any, Token]]:
        (type_, tok, _), *rest = children
        depth = rest[0][0] if rest else None
        return [("scope", ScopeMatch(type=type_, depth=depth), tok)]

    def module(self, meta: Any, children: list[Any]) -> list[tuple[str, Any, Token]]:
        (regex, tok) = children[0]
        return [("module_name", regex, tok)]

    def module_type(self, meta: Any, children: list[Any]) -> list[tuple[str, Any, Token]]:
        text, tok, _ = children[0]
        return [("module_type", text, tok)]

    def parent(self, meta: Any, children: list[Any]) -> list[tuple[str, Any, Token]]:
        text, tok, _ = children[0]
        return [("parent_class", text, tok)]

    def op(self, meta: Any, children: list[Any]) -> list[tuple[str, Any, Token]]:
        text, tok, quoted = children[0]
        op_type = default_registry.canonical(text)
        if op_type not in default_registry and not quoted:
            # only registered op types have op-level sites: a bare unknown word is almost
            # always a typo; a quoted name says "I register it myself"
            from qrt.errors import did_you_mean

            raise at_token(
                RuleSyntaxError,
                self.src,
                tok,
                f"unknown op type {text!r}: only registered op types have sites",
                hint=did_you_mean(op_type, default_registry.names())
                or "`qrt inspect` lists a model's op types; for an op type you register yourself "
                "(qrt.register_op_type), quote it: op \"my_op\"",
            )
        return [("op_type", op_type, tok)]

    def opname(self, meta: Any, children: list[Any]) -> list[tuple[str, Any, Token]]:
        relative = len(children) == 2
        regex, tok = children[-1]
        out = [("op_name", regex, tok)]
        if relative:
            out.append(("op_name_relative", True, children[0]))
        return out

    def tensor(self, meta: Any, children: list[Any]) -> list[tuple[str, Any, Token]]:
        role_tok = children[0]
        out: list[tuple[str, Any, Token]] = [("role", str(role_tok), role_tok)]
        if len(children) == 2:
            key, key_tok = children[1]
            out.append(("key", key, key_tok))
        return out

    def state_shorthand(self, meta: Any, children: list[Token]) -> list[tuple[str, Any, Token]]:
        (tok,) = children
        return [("role", "state", tok), ("key", str(tok), tok)]

    def key_predicate(self, meta: Any, children: list[Any]) -> list[tuple[str, Any, Token]]:
        key, tok = children[0]
        return [("key", key, tok)]

    def quantizer(self, meta: Any, children: list[Token]) -> list[tuple[str, Any, Token]]:
        (tok,) = children
        return [("quantizer_path", decode_string(self.src, tok), tok)]

    def modelopt_quantizer(self, meta: Any, children: list[Token]) -> list[tuple[str, Any, Token]]:
        """``modelopt_name "glob"``: the glob over ModelOpt's quantizer names, reaching only the
        sites ModelOpt would put a quantizer on (what a wildcard list's entry selects,
        docs/semantics.md §4); ``quantizer`` and ``modelopt_name`` exclude each other."""
        (tok,) = children
        return [("quantizer_path", decode_string(self.src, tok), tok), ("quantizer_names", "modelopt", tok)]

    def tensor_id(self, meta: Any, children: list[Token]) -> list[tuple[str, Any, Token]]:
        (tok,) = children
        return [("tensor", decode_string(self.src, tok), tok)]

    def index_range(self, meta: Any, children: list[Token]) -> tuple[int, int, Token]:
        numbers = [c for c in children if c.type == "INT"]
        low = int(numbers[0])
        high = int(numbers[-1])
        if low < 0 or high < low or len(str(numbers[-1]).lstrip("-")) > 9:
            raise at_token(
                RuleSyntaxError, self.src, numbers[0],
                f"index range {''.join(str(c) for c in children)} is empty, negative or too large",
                hint="write one index (expert 3) or LOW..HIGH with 0 <= LOW <= HIGH (layer 0..11)",
            )
        return low, high, numbers[0]

    def expert_predicate(self, meta: Any, children: list[Any]) -> list[tuple[str, Any, Token]]:
        """``expert 3`` / ``expert 0..7``: one expert's matrices of fused MoE parameters."""
        low, high, tok = children[0]
        return [("experts", (low, high), tok)]

    def layer_predicate(self, meta: Any, children: list[Any]) -> list[tuple[str, Any, Token]]:
        """``layer 0..3``: sites whose module name's first index is in the range."""
        low, high, tok = children[0]
        return [("layers", (low, high), tok)]

    # -- selector ------------------------------------------------------------------------

    def any_predicate(self, meta: Any, children: list[Any]) -> list[tuple[str, Any, Token]]:
        """``*`` accepts every site: alone it selects everything, beside others it adds nothing."""
        return []

    def predicates(self, meta: Any, children: list[list[tuple[str, Any, Token]]]) -> Selector:
        values: dict[str, Any] = {}
        where: dict[str, Token] = {}
        for group in children:
            for name, value, tok in group:
                if name in values:
                    first = where[name]
                    raise at_token(
                        RuleSyntaxError,
                        self.src,
                        tok,
                        f"{_PREDICATE_NAMES.get(name, name)} is given twice in one rule",
                        hint=(
                            f"first given at {self.src.file}:{first.line}:{first.column}; a "
                            "selector is a conjunction and each predicate appears at most once "
                            "(use another rule for an alternative, or a regex with |)"
                        ),
                    )
                values[name] = value
                where[name] = tok
        try:
            return Selector(**values)
        except PatternError as exc:  # pragma: no cover - every check above runs first
            raise located(PatternError, self.src, meta.line, meta.column, exc.message) from None

    # -- effects -------------------------------------------------------------------------

    def off(self, meta: Any, children: list[Any]) -> Off:
        return Off()

    def enable(self, meta: Any, children: list[Any]) -> Patch:
        return Patch(enable=True)

    def disable(self, meta: Any, children: list[Any]) -> Patch:
        return Patch(enable=False)

    def patch_enable(self, meta: Any, children: list[Any]) -> tuple[str, bool, Any]:
        return "enable", True, meta

    def patch_disable(self, meta: Any, children: list[Any]) -> tuple[str, bool, Any]:
        return "enable", False, meta

    def patch_field(self, meta: Any, children: list[Any]) -> tuple[str, Any, Any]:
        field_tok, value = children
        return str(field_tok), field_value(self.src, field_tok, value), meta

    def patch(self, meta: Any, children: list[tuple[str, Any, Any]]) -> Patch:
        enable: bool | None = None
        fields: dict[str, Any] = {}
        seen: dict[str, Any] = {}
        for name, value, item_meta in children:
            if name in seen:
                first = seen[name]
                what = "enable/disable" if name == "enable" else f"field {name}"
                raise located(
                    RuleSyntaxError, self.src, item_meta.line, item_meta.column,
                    f"patch: {what} given twice",
                    hint=f"first given at {self.src.file}:{first.line}:{first.column}",
                )
            seen[name] = item_meta
            if name == "enable":
                enable = value
            else:
                fields[name] = value
        return Patch(enable=enable, fields=fields)

    def spec_body(self, meta: Any, children: list[Item]) -> Body:
        return Body(tuple(children), meta.line, meta.column)

    def item_word(self, meta: Any, children: list[Token]) -> Token:
        return children[0]

    def item_call(self, meta: Any, children: list[Call]) -> Call:
        return children[0]

    def item_field(self, meta: Any, children: list[Any]) -> Field:
        return Field(children[0], children[1])

    def set_body(self, meta: Any, children: list[Any]) -> SetBody:
        return SetBody(children[0], enable=len(children) == 1)

    def set_named(self, meta: Any, children: list[Token]) -> SetNamed:
        tok = children[0]
        return SetNamed(decode_string(self.src, tok), tok, enable=len(children) == 1)

    # -- priority ------------------------------------------------------------------------

    def prio_item(self, meta: Any, children: list[Token]) -> Token:
        return children[0]

    def priority_one(self, meta: Any, children: list[Token]) -> tuple[int, ...]:
        return self._priority(children[0], children[1:])

    def priority_tuple(self, meta: Any, children: list[Token]) -> tuple[int, ...]:
        return self._priority(children[0], children[1:])

    def _priority(self, keyword: Token, items: list[Token]) -> tuple[int, ...]:
        if not items:
            raise at_token(
                RuleSyntaxError, self.src, keyword, "priority needs at least one integer",
                hint=PRIORITY_FORM,
            )
        for tok in items:
            if tok.type != "INT":
                raise at_token(
                    RuleSyntaxError, self.src, tok,
                    f"priority values must be integers, got {str(tok)!r}",
                    hint=PRIORITY_FORM,
                )
        return tuple(int(t) for t in items)

    # -- statements ----------------------------------------------------------------------

    def include_file(self, meta: Any, children: list[Token]) -> Include:
        tok = children[0]
        return Include(decode_string(self.src, tok), None, tok, meta.line, meta.column)

    def include_preset(self, meta: Any, children: list[Any]) -> Include:
        text, tok, _ = children[0]
        return Include(None, text, tok, meta.line, meta.column)

    def spec_def(self, meta: Any, children: list[Any]) -> SpecDef:
        (text, tok, quoted), body = children
        if not quoted:
            reason = bare_spec_name_problem(text)
            if reason:
                raise at_token(
                    RuleSyntaxError, self.src, tok, f"cannot name a spec {text!r}: {reason}",
                    hint=f'choose another name, or quote it (spec "{text}" = ...) and refer to it as "{text}"',
                )
        return SpecDef(text, tok, body, meta.line, meta.column)

    def rule(self, meta: Any, children: list[Any]) -> RuleStmt:
        selector, effect, *rest = children
        priority = rest[0] if rest else (0,)
        return RuleStmt(selector, effect, priority, meta.line, meta.column)

    def start(self, meta: Any, children: list[Statement]) -> list[Statement]:
        return list(children)
