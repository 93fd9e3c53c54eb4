"""Hypothesis strategies shared by the property tests: synthetic sites and rule sets.

Names come from a small vocabulary so that generated patterns often match generated sites;
the patterns use the constructs users write (literals, ``.*``, alternation, classes, globs
with ``*``, ``?`` and ``[kv]``).
"""

from __future__ import annotations

from hypothesis import strategies as st

from qrt.ir.effect import Off, Patch, Set
from qrt.ir.rule import Rule, RuleSet
from qrt.ir.selector import ScopeMatch, Selector
from qrt.ir.site import Site
from qrt.ir.spec import QuantizationSpec

TYPES = ("pkg.Model", "pkg.Block", "pkg.Attn", "torch.nn.modules.linear.Linear")
OP_TYPES = ("linear", "add", "softmax", "matmul")
TENSORS = ("op:m0.add:0", "param:m0.k.weight", "input:0")
ROLES = ("input", "output", "state", "module_input", "module_output", "module_state")
SPECS = (
    QuantizationSpec(dtype="int8"),
    QuantizationSpec(dtype="int4", granularity={"type": "per_block", "block_size": 32}),
    QuantizationSpec(dtype="float8_e4m3fn"),
    QuantizationSpec(dtype="uint8", qscheme="asymmetric", granularity="per_channel"),
)


@st.composite
def sites(draw: st.DrawFn) -> Site:
    depth = draw(st.integers(1, 3))
    names = [""]
    for _ in range(depth - 1):
        names.append((names[-1] + "." if names[-1] else "") + draw(st.sampled_from(("m0", "m1", "k", "v", "0", "1"))))
    scope = tuple((n, draw(st.sampled_from(TYPES))) for n in names)
    role = draw(st.sampled_from(ROLES))
    module = names[-1]
    prefix = module + "." if module else ""
    if role in ("input", "output", "state"):
        op_type = draw(st.sampled_from(OP_TYPES))
        op_name = prefix + op_type + draw(st.sampled_from(("", "_1")))
        key = draw(st.sampled_from(("weight", "bias"))) if role == "state" else draw(st.integers(0, 1))
        path = f"{op_name}.{role}_quantizer_{key}"
        # one expert's matrix of a fused MoE parameter, one state site in three
        expert = draw(st.none() | st.integers(0, 2)) if role == "state" else None
        if expert is not None:
            path += f".{expert}"
    else:
        expert = None
        op_type = op_name = None
        key = draw(st.sampled_from((0, 1, "x", "weight")))
        path = f"{prefix}{role}_quantizer_{key}"
    arg_name = draw(st.sampled_from((None, "x"))) if role == "module_input" and isinstance(key, int) else None
    tensor = draw(st.sampled_from(TENSORS))
    return Site(quantizer_path=path, scope=scope, role=role, key=key, op_type=op_type,
                op_name=op_name, arg_name=arg_name, tensor=tensor,
                fused=str(key) if expert is not None else None, expert=expert)


def site_lists() -> st.SearchStrategy[list[Site]]:
    return st.lists(sites(), min_size=1, max_size=25, unique_by=lambda s: s.quantizer_path)


REGEXES = ("m0", "m1", r"m0\.k", ".*k", "(m0|m1).*", "m[01]", ".*", "")
OP_REGEXES = ("linear", "add(_1)?", r".*\.softmax", "k\\.matmul_1", ".*")
GLOBS = ("*", "*weight*", "m0.*", "*[kv].*", "*_quantizer_?", "*.add.*")


@st.composite
def selectors(draw: st.DrawFn) -> Selector:
    def maybe(strategy):  # type: ignore[no-untyped-def]
        # each predicate is present one time in four, so that conjunctions still match
        return draw(strategy) if draw(st.integers(0, 3)) == 0 else None

    scope = maybe(
        st.builds(
            ScopeMatch,
            name=st.sampled_from(REGEXES),
            type=st.none() | st.sampled_from(TYPES),
            depth=st.none() | st.integers(0, 2),
        )
    )
    op_name = maybe(st.sampled_from(OP_REGEXES))
    return Selector(
        module_name=maybe(st.sampled_from(REGEXES)),
        module_type=maybe(st.sampled_from(TYPES + ("Linear", "Block"))),
        scope=scope,
        op_type=maybe(st.sampled_from(OP_TYPES)),
        op_name=op_name,
        op_name_relative=draw(st.booleans()) if op_name is not None else False,
        role=maybe(st.sampled_from(ROLES)),
        key=maybe(st.sampled_from((0, 1, "weight", "x", "*"))),
        quantizer_path=maybe(st.sampled_from(GLOBS)),
        parent_class=maybe(st.sampled_from(("nn.Linear", "pkg.Attn"))),
        tensor=maybe(st.sampled_from(TENSORS)),
        experts=maybe(st.sampled_from(((0, 0), (1, 2), (0, 5)))),
        layers=maybe(st.sampled_from(((0, 0), (1, 1), (0, 3)))),
    )


effects = st.one_of(
    st.builds(Set, spec=st.sampled_from(SPECS), enable=st.booleans()),
    st.just(Off()),
    st.builds(Patch, enable=st.booleans()),
    st.builds(Patch, enable=st.none() | st.booleans(), fields=st.just({"dtype": "int4"})),
)

priorities = st.lists(st.integers(0, 2), min_size=1, max_size=2).map(tuple)


@st.composite
def rule_sets(draw: st.DrawFn, max_size: int = 12) -> RuleSet:
    rules = draw(st.lists(st.builds(Rule, selector=selectors(), effect=effects, priority=priorities),
                          max_size=max_size))
    return RuleSet.of(rules)
