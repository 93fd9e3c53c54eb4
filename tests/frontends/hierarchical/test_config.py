"""The hierarchical config classes: defaults, every validation rule, origins, QAT, round trips.

docs/semantics.md §3 is the reference. YAML has its
own file (``test_yaml_io.py``), presets and setters theirs (``test_presets_setters.py``).
"""

from __future__ import annotations

import subprocess
import sys
import warnings
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from qrt.errors import QrtError, SpecError
from qrt.frontends.hierarchical import (
    ConfigError,
    ExecutionMode,
    ModuleQuantizerConfig,
    OpQuantizerConfig,
    QATSchedule,
    QATState,
    QuantizerConfig,
)
from qrt.frontends.hierarchical.paths import format_key, parse_config_path
from qrt.ir.spec import PerBlock, QuantizationSpec, default_activation_spec, default_weight_spec
from tests.conftest import ROOT

HERE = __file__


def here() -> int:
    """The line number of the caller (for origins of configs built in Python)."""
    return sys._getframe(1).f_lineno


def error_of(build: Any, kind: type[QrtError] = ConfigError) -> QrtError:
    with pytest.raises(kind) as info:
        build()
    return info.value


# =============================================================================================
# Defaults: no-argument configs are W8A8


def test_op_config_defaults_are_w8a8() -> None:
    op = OpQuantizerConfig()
    assert op.op_input_spec == {"*": default_activation_spec()}
    assert op.op_output_spec == {"*": default_activation_spec()}
    assert op.op_state_spec == {"weight": default_weight_spec()}
    assert op == OpQuantizerConfig(
        op_input_spec={"*": default_activation_spec()},
        op_output_spec={"*": default_activation_spec()},
        op_state_spec={"weight": default_weight_spec()},
    )


def test_module_config_defaults() -> None:
    module = ModuleQuantizerConfig()
    assert module.op_input_spec == {"*": default_activation_spec()}
    assert module.op_output_spec == {"*": default_activation_spec()}
    assert module.op_state_spec == {"weight": default_weight_spec()}
    assert module.op_type_config == {}
    assert module.op_name_config == {}
    assert module.module_input_spec == {}
    assert module.module_output_spec == {}
    assert module.module_state_spec == {}
    assert module.qat_schedule is None


def test_quantizer_config_creates_its_global_config() -> None:
    config = QuantizerConfig()
    assert config.global_config == ModuleQuantizerConfig()
    assert config == QuantizerConfig(global_config=ModuleQuantizerConfig())
    assert config == QuantizerConfig(
        global_config=ModuleQuantizerConfig(
            op_input_spec={"*": default_activation_spec()},
            op_output_spec={"*": default_activation_spec()},
            op_state_spec={"weight": default_weight_spec()},
        )
    )
    assert config.module_type_configs == {}
    assert config.module_name_configs == {}
    assert config.execution_mode is ExecutionMode.GRAPH
    assert config.preserved_attributes == []


def test_defaults_are_fresh_objects() -> None:
    a, b = QuantizerConfig(), QuantizerConfig()
    assert a.global_config is not b.global_config
    a.global_config.op_input_spec["*"] = None  # type: ignore[union-attr,index]
    assert b.global_config.op_input_spec == {"*": default_activation_spec()}  # type: ignore[union-attr]


def test_explicit_none_disables() -> None:
    assert QuantizerConfig(global_config=None).global_config is None
    module = ModuleQuantizerConfig(op_input_spec=None, op_output_spec=None, op_state_spec=None)
    assert (module.op_input_spec, module.op_output_spec, module.op_state_spec) == (None, None, None)
    assert QuantizerConfig(global_config=None) != QuantizerConfig()


def test_none_for_mappings_of_configs_means_empty() -> None:
    module = ModuleQuantizerConfig(op_type_config=None, op_name_config=None)
    assert module.op_type_config == {} and module.op_name_config == {}
    config = QuantizerConfig(
        module_type_configs=None, module_name_configs=None, preserved_attributes=None
    )
    assert config == QuantizerConfig()


def test_configs_are_mutable_and_validated_on_assignment() -> None:
    module = ModuleQuantizerConfig()
    module.op_state_spec = {
        "weight": {"dtype": "int4", "granularity": {"type": "per_block", "block_size": 32}}
    }
    assert module.op_state_spec == {
        "weight": QuantizationSpec(dtype="int4", granularity=PerBlock(block_size=32))
    }
    with pytest.raises(SpecError):
        module.op_state_spec = {"weight": {"dtype": "int9"}}
    with pytest.raises(ConfigError, match="op_input_spec"):
        module.op_input_spec = 5  # type: ignore[assignment]


def test_torch_dtypes_are_duck_typed() -> None:
    class FakeDtype:  # what str(torch.float8_e4m3fn) prints, without torch
        def __str__(self) -> str:
            return "torch.float8_e4m3fn"

    module = ModuleQuantizerConfig(op_input_spec={"*": {"dtype": FakeDtype()}})
    assert module.op_input_spec["*"].dtype == "float8_e4m3fn"  # type: ignore[index,union-attr]


def test_import_does_not_import_torch() -> None:
    code = "import qrt, sys; import qrt.frontends.hierarchical; assert 'torch' not in sys.modules"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stderr


# =============================================================================================
# Keys


def test_io_keys_positions_names_and_star() -> None:
    spec = QuantizationSpec()
    assert ModuleQuantizerConfig(op_input_spec={0: spec, 1: None, "*": spec}).op_input_spec == {
        0: spec,
        1: None,
        "*": spec,
    }
    assert OpQuantizerConfig(op_output_spec={"y": spec, "*": None}).op_output_spec == {
        "y": spec,
        "*": None,
    }
    # a quoted "0" is a name, not a position; it never turns into 0
    assert list(OpQuantizerConfig(op_input_spec={"0": spec}).op_input_spec) == ["0"]  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "field", ["op_input_spec", "op_output_spec", "module_input_spec", "module_output_spec"]
)
def test_mixed_position_and_name_keys_are_refused(field: str) -> None:
    err = error_of(lambda: ModuleQuantizerConfig(**{field: {0: None, "*": None, "x": None}}))
    assert f"{field}['x']" in err.message
    assert "all positions or all names" in err.message


@pytest.mark.parametrize(
    ("key", "words"),
    [(True, "bool"), (1.5, "float"), (-1, "negative"), ("", "empty name"), ((0, 1), "tuple")],
)
def test_bad_io_keys(key: Any, words: str) -> None:
    err = error_of(lambda: OpQuantizerConfig(op_input_spec={key: None}))
    assert words in err.message
    assert "op_input_spec[" in err.message
    assert "'*'" in err.message or "use '*'" in err.message


@pytest.mark.parametrize("field", ["op_state_spec", "module_state_spec"])
def test_state_keys_are_names(field: str) -> None:
    spec = QuantizationSpec()
    ok = ModuleQuantizerConfig(**{field: {"weight": spec, "out_proj.weight": None, "*": spec}})
    assert list(getattr(ok, field)) == ["weight", "out_proj.weight", "*"]
    err = error_of(lambda: ModuleQuantizerConfig(**{field: {0: spec}}))
    assert f"{field}[0]" in err.message and "'weight'" in err.message


@pytest.mark.parametrize(
    "field",
    ["op_input_spec", "op_state_spec", "module_input_spec", "op_type_config", "op_name_config"],
)
def test_non_mapping_fields_are_refused(field: str) -> None:
    err = error_of(lambda: ModuleQuantizerConfig(**{field: ["weight"]}))
    assert err.message.startswith(f"{field}: ")
    assert "mapping" in err.message


def test_op_type_keys_are_canonical_and_remember_their_spelling() -> None:
    module = ModuleQuantizerConfig(
        op_type_config={
            "concat": OpQuantizerConfig(op_output_spec=None),
            "multiply": None,
            "linear": None,
        }
    )
    assert list(module.op_type_config) == ["cat", "mul", "linear"]
    assert module.written_op_type("cat") == "concat"
    assert module.written_op_type("linear") == "linear"
    assert module.op_type_config["cat"] == OpQuantizerConfig(op_output_spec=None)
    assert module == ModuleQuantizerConfig(
        op_type_config={"cat": OpQuantizerConfig(op_output_spec=None), "mul": None, "linear": None}
    )
    # the spelling is what to_dict writes back
    body = QuantizerConfig(global_config=module).to_dict()["quantization_config"]
    assert list(body["global_config"]["op_type_config"]) == ["concat", "multiply", "linear"]


def test_two_spellings_of_one_op_type_are_refused() -> None:
    err = error_of(lambda: ModuleQuantizerConfig(op_type_config={"cat": None, "concatenate": None}))
    assert "'cat' and 'concatenate' are the same op type 'cat'" in err.message
    assert err.message.startswith("op_type_config[")


@pytest.mark.parametrize(
    ("key", "tip"), [("torch.nn.functional.max_pool2d", "'max_pool2d'"), ("soft max", "op type")]
)
def test_op_type_keys_must_be_names(key: str, tip: str) -> None:
    err = error_of(lambda: ModuleQuantizerConfig(op_type_config={key: None}))
    assert tip in err.message and format_key(key) in err.message


def test_op_entries_are_op_configs_not_module_configs() -> None:
    err = error_of(lambda: ModuleQuantizerConfig(op_name_config={"fc": ModuleQuantizerConfig()}))
    assert "op_name_config['fc']" in err.message and "OpQuantizerConfig" in err.message
    err = error_of(
        lambda: ModuleQuantizerConfig(op_type_config={"linear": ModuleQuantizerConfig()})
    )
    assert "op_type_config['linear']" in err.message


@pytest.mark.parametrize(
    ("build", "path"),
    [
        (
            lambda: ModuleQuantizerConfig(op_name_config={"linear_(": None}),
            "op_name_config['linear_(']",
        ),
        (
            lambda: QuantizerConfig(module_name_configs={"dec[": None}),
            "module_name_configs['dec[']",
        ),
        (lambda: QuantizerConfig(module_name_configs={r"(a)\1": None}), "module_name_configs["),
        (lambda: QuantizerConfig(module_name_configs={3: None}), "module_name_configs[3]"),
    ],
)
def test_name_keys_must_compile_as_regexes(build: Any, path: str) -> None:
    err = error_of(build)
    assert path in err.message
    assert (
        "regular expression" in err.message
        or "backreference" in err.message
        or "string" in err.message
    )


def test_module_type_keys() -> None:
    class Local:
        pass

    config = QuantizerConfig(module_type_configs={Local: None, "mymodelSelfAttention": None})
    assert list(config.module_type_configs) == [
        f"{__name__}.{Local.__qualname__}",
        "mymodelSelfAttention",
    ]


@pytest.mark.parametrize(
    ("key", "right"),
    [
        ("torch.nn.Linear", "torch.nn.modules.linear.Linear"),
        ("nn.Embedding", "torch.nn.modules.sparse.Embedding"),
        ("torch.nn.ConvTranspose2d", "torch.nn.modules.conv.ConvTranspose2d"),
        ("torch.nn.modules.LayerNorm", "torch.nn.modules.normalization.LayerNorm"),
        ("torch.nn.MultiheadAttention", "torch.nn.modules.activation.MultiheadAttention"),
    ],
)
def test_short_torch_names_are_refused_with_the_right_key(key: str, right: str) -> None:
    err = error_of(lambda: QuantizerConfig(module_type_configs={key: None}))
    assert f"module_type_configs[{format_key(key)}]" in err.message
    assert repr(right) in err.message


def test_a_class_and_its_name_are_one_key() -> None:
    class Block:
        pass

    name = f"{__name__}.{Block.__qualname__}"
    err = error_of(lambda: QuantizerConfig(module_type_configs={Block: None, name: None}))
    assert "given twice" in err.message


# =============================================================================================
# Fields and messages


@pytest.mark.parametrize(
    ("build", "start", "suggestion"),
    [
        (
            lambda: OpQuantizerConfig(op_inptu_spec={}),
            "op_inptu_spec: unknown field",
            "'op_input_spec'",
        ),
        (
            lambda: ModuleQuantizerConfig(op_type_configs={}),
            "op_type_configs: unknown field",
            "'op_type_config'",
        ),
        (
            lambda: QuantizerConfig(global_confg=None),
            "global_confg: unknown field",
            "'global_config'",
        ),
        (
            lambda: QATSchedule(enable_observers=1),
            "enable_observers: unknown field",
            "'enable_observer'",
        ),
        (
            lambda: QuantizerConfig(global_config={"qat_schedule": {"disable_observr": 5}}),
            "global_config.qat_schedule.disable_observr: unknown field",
            "'disable_observer'",
        ),
    ],
)
def test_unknown_fields_name_the_closest_and_the_valid_ones(
    build: Any, start: str, suggestion: str
) -> None:
    err = error_of(build)
    assert err.message.startswith(start)
    assert f"did you mean {suggestion}" in err.message
    assert "valid fields of" in err.message


def test_op_configs_have_no_module_fields() -> None:
    err = error_of(lambda: OpQuantizerConfig(module_input_spec={}))
    assert (
        "valid fields of OpQuantizerConfig: op_input_spec, op_output_spec, op_state_spec"
        in err.message
    )


def test_spec_errors_are_spec_errors_with_the_config_path() -> None:
    err = error_of(
        lambda: QuantizerConfig(
            module_name_configs={
                "decoder.deconv1": {"op_state_spec": {"weight": {"dtype": "int9"}}}
            }
        ),
        SpecError,
    )
    assert err.message.startswith(
        "module_name_configs['decoder.deconv1'].op_state_spec['weight']: "
    )
    assert "unknown dtype 'int9'" in err.message and "int8" in err.message
    assert err.location is not None and err.location.startswith(f"{HERE}:")


def test_spec_field_typos_are_reported_by_the_spec() -> None:
    err = error_of(lambda: OpQuantizerConfig(op_input_spec={0: {"dtyp": "int8"}}), SpecError)
    assert err.message.startswith("op_input_spec[0]: field `dtyp`: unknown field")
    assert "did you mean 'dtype'" in err.message


def test_a_spec_must_be_a_mapping() -> None:
    err = error_of(lambda: OpQuantizerConfig(op_state_spec={"weight": "int8"}), SpecError)
    assert err.message.startswith("op_state_spec['weight']: ")
    assert "mapping of fields" in err.message


def test_config_values_must_be_mappings() -> None:
    err = error_of(lambda: QuantizerConfig(global_config=3))  # type: ignore[arg-type]
    assert err.message.startswith("global_config: a ModuleQuantizerConfig must be a mapping")
    err = error_of(lambda: QuantizerConfig(module_name_configs={"dec": "w8"}))  # type: ignore[dict-item]
    assert err.message.startswith("module_name_configs['dec']: ")


def test_errors_in_python_point_at_the_callers_line() -> None:
    line = here() + 1
    err = error_of(lambda: ModuleQuantizerConfig(op_input_spec={0: None, "x": None}))
    assert err.location == f"{HERE}:{line}"
    assert err.code == "QRT206"


def test_nested_errors_surface_once_with_the_full_path() -> None:
    err = error_of(
        lambda: QuantizerConfig.from_dict(
            {
                "quantization_config": {
                    "global_config": {
                        "op_type_config": {"softmax": {"op_input_spec": {0: None, "x": None}}}
                    },
                    "module_type_configs": {
                        "torch.nn.modules.linear.Linear": {"qat_schedule": {"enable_observer": -1}}
                    },
                }
            }
        )
    )
    paths = [issue.path for issue in err.issues]  # type: ignore[attr-defined]
    assert paths == [
        "global_config.op_type_config['softmax'].op_input_spec['x']",
        "module_type_configs['torch.nn.modules.linear.Linear'].qat_schedule.enable_observer",
    ]
    assert "must be >= 0, got -1" in err.message


def test_preserved_attributes() -> None:
    assert QuantizerConfig(preserved_attributes=("config", "generate")).preserved_attributes == [
        "config",
        "generate",
    ]
    err = error_of(lambda: QuantizerConfig(preserved_attributes="config"))  # type: ignore[arg-type]
    assert err.message.startswith("preserved_attributes: ")
    err = error_of(lambda: QuantizerConfig(preserved_attributes=["ok", 3]))  # type: ignore[list-item]
    assert "attribute names" in err.message


# =============================================================================================
# ExecutionMode


def test_execution_modes() -> None:
    assert QuantizerConfig(execution_mode="eager").execution_mode is ExecutionMode.EAGER
    assert QuantizerConfig(execution_mode=ExecutionMode.GRAPH).execution_mode is ExecutionMode.GRAPH
    assert QuantizerConfig(execution_mode="EAGER").execution_mode is ExecutionMode.EAGER
    assert ExecutionMode("graph") is ExecutionMode.GRAPH
    assert ExecutionMode.EAGER == "eager" and str(ExecutionMode.EAGER) == "eager"


def test_pt2e_is_graph_with_a_deprecation_warning() -> None:
    with pytest.warns(DeprecationWarning, match="'PT2E' is deprecated; use 'graph'") as record:
        config = QuantizerConfig(execution_mode="PT2E")
    assert config.execution_mode is ExecutionMode.GRAPH
    assert record[0].filename == HERE  # the warning points at the user's line
    with pytest.warns(DeprecationWarning):
        assert ExecutionMode.PT2E is ExecutionMode.GRAPH  # type: ignore[attr-defined]
    with pytest.warns(DeprecationWarning):
        assert ExecutionMode["PT2E"] is ExecutionMode.GRAPH
    with pytest.warns(DeprecationWarning):
        assert ExecutionMode("pt2e") is ExecutionMode.GRAPH


def test_unknown_execution_mode() -> None:
    err = error_of(lambda: QuantizerConfig(execution_mode="grpah"))
    assert err.message == (
        "execution_mode: unknown execution mode 'grpah'; valid execution modes: graph, eager "
        "(did you mean 'graph'?)"
    )
    with pytest.raises(ValueError, match="valid execution modes: graph, eager"):
        ExecutionMode("fast")
    err = error_of(lambda: QuantizerConfig(execution_mode=1))  # type: ignore[arg-type]
    assert "graph, eager" in err.message


def test_no_warning_for_current_modes() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        QuantizerConfig(execution_mode="graph").set_execution_mode("eager")


# =============================================================================================
# QATSchedule: the state machine and every invalid schedule


def test_qat_defaults_everything_on_from_step_zero() -> None:
    schedule = QATSchedule()
    assert (schedule.enable_observer, schedule.enable_fake_quant, schedule.disable_observer) == (
        0,
        0,
        None,
    )
    assert schedule.state_at(0) == QATState(observer=True, fake_quant=True)
    assert schedule.state_at(10**9) == QATState(True, True)
    assert schedule.transitions() == ((0, QATState(True, True)),)


def test_qat_seed_example_transitions() -> None:
    schedule = QATSchedule(enable_observer=0, enable_fake_quant=500, disable_observer=1500)
    assert schedule.state_at(0) == QATState(True, False)
    assert schedule.state_at(499) == QATState(True, False)
    assert schedule.state_at(500) == QATState(True, True)
    assert schedule.state_at(1499) == QATState(True, True)
    assert schedule.state_at(1500) == QATState(False, True)
    assert schedule.state_at(10**6) == QATState(False, True)
    assert [(step, state.phase) for step, state in schedule.transitions()] == [
        (0, "observe"),
        (500, "observe+fake_quant"),
        (1500, "fake_quant"),
    ]


def test_qat_late_start_is_off_first() -> None:
    schedule = QATSchedule(enable_observer=10, enable_fake_quant=20)
    assert schedule.state_at(9) == QATState(False, False)
    assert schedule.state_at(9).phase == "off"
    assert [(s, st.phase) for s, st in schedule.transitions()] == [
        (0, "off"),
        (10, "observe"),
        (20, "observe+fake_quant"),
    ]


def test_qat_fake_quant_with_observer_stop_at_the_same_step() -> None:
    schedule = QATSchedule(enable_observer=0, enable_fake_quant=5, disable_observer=5)
    assert schedule.state_at(4) == QATState(True, False)
    assert schedule.state_at(5) == QATState(False, True)
    assert [s for s, _ in schedule.transitions()] == [0, 5]


@given(
    st.integers(0, 50).flatmap(
        lambda obs: st.integers(obs, obs + 50).flatmap(
            lambda fq: st.tuples(
                st.just(obs), st.just(fq), st.none() | st.integers(max(obs + 1, fq), fq + 50)
            )
        )
    ),
    st.integers(0, 200),
)
def test_qat_state_is_the_literal_rule(values: tuple[int, int, int | None], step: int) -> None:
    obs, fq, stop = values
    schedule = QATSchedule(enable_observer=obs, enable_fake_quant=fq, disable_observer=stop)
    expected = QATState(obs <= step and (stop is None or step < stop), step >= fq)
    assert schedule.state_at(step) == expected
    # the transitions list is exactly the steps where the state differs from the step before
    changes = [s for s in range(1, 260) if schedule.state_at(s) != schedule.state_at(s - 1)]
    assert [s for s, _ in schedule.transitions()][1:] == changes


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"enable_observer": -1}, "enable_observer: must be >= 0, got -1"),
        ({"enable_fake_quant": -2}, "enable_fake_quant: must be >= 0, got -2"),
        ({"disable_observer": 0}, "disable_observer: must be >= 1, got 0"),
        ({"enable_observer": 1.5}, "enable_observer: must be an integer step count"),
        ({"enable_observer": True}, "enable_observer: must be an integer step count"),
        ({"enable_fake_quant": "5"}, "enable_fake_quant: must be an integer step count"),
        (
            {"enable_observer": 10, "enable_fake_quant": 5},
            "enable_fake_quant (5) must be >= enable_observer (10)",
        ),
        (
            {"enable_observer": 5, "enable_fake_quant": 5, "disable_observer": 5},
            "disable_observer (5) must be > enable_observer (5)",
        ),
        (
            {"enable_observer": 0, "enable_fake_quant": 10, "disable_observer": 5},
            "disable_observer (5) must be >= enable_fake_quant (10)",
        ),
    ],
)
def test_invalid_qat_schedules(kwargs: dict[str, Any], message: str) -> None:
    err = error_of(lambda: QATSchedule(**kwargs))
    assert message in err.message
    nested = error_of(lambda: ModuleQuantizerConfig(qat_schedule=kwargs))
    assert nested.message.startswith("qat_schedule")
    assert message.split(": ", 1)[-1] in nested.message


def test_qat_schedule_is_frozen_and_steps_are_checked() -> None:
    schedule = QATSchedule(enable_fake_quant=3)
    with pytest.raises(ValidationError):
        schedule.enable_fake_quant = 4  # type: ignore[misc]
    with pytest.raises(ConfigError):
        schedule.state_at(-1)
    assert ModuleQuantizerConfig(qat_schedule={"enable_fake_quant": 3}).qat_schedule == schedule
    with pytest.raises(ConfigError, match="qat_schedule: a QATSchedule must be a mapping"):
        ModuleQuantizerConfig(qat_schedule=7)  # type: ignore[arg-type]


# =============================================================================================
# Equality and order


def test_order_of_name_and_type_keys_is_part_of_equality() -> None:
    a = QuantizerConfig(module_name_configs={"a.*": None, "a.b": ModuleQuantizerConfig()})
    b = QuantizerConfig(module_name_configs={"a.b": ModuleQuantizerConfig(), "a.*": None})
    assert a != b
    assert list(a.module_name_configs) == ["a.*", "a.b"]
    m1 = ModuleQuantizerConfig(op_name_config={"x": None, "y": None})
    m2 = ModuleQuantizerConfig(op_name_config={"y": None, "x": None})
    assert m1 != m2
    # where order decides nothing (one explicit key beats '*' whatever the order) it is not compared
    spec = QuantizationSpec()
    assert OpQuantizerConfig(op_input_spec={"*": spec, 0: None}) == OpQuantizerConfig(
        op_input_spec={0: None, "*": spec}
    )


def test_equality_ignores_origins_and_explicitness() -> None:
    a = ModuleQuantizerConfig(op_input_spec={"*": QuantizationSpec(dtype="int8")})
    b = ModuleQuantizerConfig(op_input_spec={"*": QuantizationSpec()})
    assert a == b
    assert a != OpQuantizerConfig()  # different classes are never equal


# =============================================================================================
# Origins of configs built in Python


def test_python_origins_are_the_constructing_lines() -> None:
    line = here()
    config = QuantizerConfig(
        global_config=ModuleQuantizerConfig(
            op_type_config={"softmax": None},
        ),
        module_name_configs={
            "decoder.deconv1": ModuleQuantizerConfig(
                op_state_spec={
                    "weight": QuantizationSpec(dtype="int4", granularity=PerBlock(block_size=32))
                }
            ),
        },
    )
    origin = config.origin_of("global_config")
    assert origin is not None
    assert (origin.file, origin.line, origin.config_path) == (HERE, line + 2, "global_config")
    assert config.origin_of("global_config.op_type_config['softmax']").line == line + 2  # type: ignore[union-attr]
    assert config.origin_of("global_config.op_input_spec['*']").line == line + 2  # type: ignore[union-attr]
    assert config.origin_of("module_name_configs['decoder.deconv1']").line == line + 6  # type: ignore[union-attr]
    deep = config.origin_of("module_name_configs['decoder.deconv1'].op_state_spec['weight']")
    assert deep is not None and deep.line == line + 6
    assert deep.config_path == "module_name_configs['decoder.deconv1'].op_state_spec['weight']"
    # no such entry: the innermost existing ancestor answers
    assert (
        config.origin_of("module_name_configs['nothing'].op_state_spec['weight']").line == line + 1
    )  # type: ignore[union-attr]
    assert config.origin_of("execution_mode").line == line + 1  # type: ignore[union-attr]


def test_default_global_config_is_placed_at_the_quantizer_config() -> None:
    line = here() + 1
    config = QuantizerConfig()
    assert config.origin_of("global_config.op_state_spec['weight']").line == line  # type: ignore[union-attr]


def test_assignment_records_its_line_and_forgets_stale_entries() -> None:
    config = QuantizerConfig(module_name_configs={"a": None})
    line = here() + 1
    config.module_name_configs = {"b": None}
    assert config.origin_of("module_name_configs['b']").line == line  # type: ignore[union-attr]
    assert config.origin_of("module_name_configs").line == line  # type: ignore[union-attr]


def test_origin_paths_are_checked() -> None:
    config = QuantizerConfig()
    with pytest.raises(ConfigError, match="did you mean 'global_config'"):
        config.origin_of("global_confg")
    with pytest.raises(ConfigError, match="cannot read config path"):
        config.origin_of("global_config[")
    with pytest.raises(ConfigError):
        config.origin_of("['x']")


def test_config_path_syntax() -> None:
    path = "global_config.op_name_config['linear_23'].op_input_spec[0]"
    assert parse_config_path(path) == [
        ("field", "global_config"),
        ("field", "op_name_config"),
        ("key", "linear_23"),
        ("field", "op_input_spec"),
        ("key", 0),
    ]
    assert format_key("it's") == "'it\\'s'" and parse_config_path("a['it\\'s']") == [
        ("field", "a"),
        ("key", "it's"),
    ]
    assert format_key(0) == "0" and format_key("*") == "'*'"


# =============================================================================================
# to_dict / from_dict


def test_to_dict_of_defaults_and_full() -> None:
    assert QuantizerConfig().to_dict() == {"quantization_config": {}}
    assert QuantizerConfig(global_config=None).to_dict() == {
        "quantization_config": {"global_config": None}
    }
    full = QuantizerConfig().to_dict(full=True)["quantization_config"]
    assert list(full) == [
        "global_config",
        "module_type_configs",
        "module_name_configs",
        "execution_mode",
        "preserved_attributes",
    ]
    assert full["global_config"]["op_state_spec"] == {
        "weight": default_weight_spec().to_json(explicit_only=True)
    }
    assert full["execution_mode"] == "graph"
    assert QuantizerConfig.from_dict({"quantization_config": full}) == QuantizerConfig()


def test_from_dict_reads_the_document_form() -> None:
    config = QuantizerConfig.from_dict(
        {
            "quantization_spec": {"unused": {"dtype": "int4"}},
            "quantization_config": {"global_config": {"op_type_config": {"linear": None}}},
        }
    )
    assert config == QuantizerConfig(
        global_config=ModuleQuantizerConfig(op_type_config={"linear": None})
    )
    assert QuantizerConfig.from_dict({"quantization_config": None}) == QuantizerConfig()


@pytest.mark.parametrize(
    ("doc", "words"),
    [
        ({"global_config": {}}, "these are QuantizerConfig fields, and they go under it"),
        ({"quantisation_config": {}}, "did you mean 'quantization_config'"),
        ({}, "no 'quantization_config' key"),
        ({"quantization_config": [1]}, "quantization_config must be a mapping"),
        (
            {"quantization_config": {}, "quantization_spec": [1]},
            "quantization_spec must be a mapping",
        ),
        ([1], "must be a mapping"),
    ],
)
def test_from_dict_document_errors(doc: Any, words: str) -> None:
    err = error_of(lambda: QuantizerConfig.from_dict(doc))
    assert words in err.message


# -- hypothesis: generated configs survive to_dict → from_dict ----------------------------------

SPECS = [
    default_activation_spec(),
    default_weight_spec(),
    QuantizationSpec(),
    QuantizationSpec(dtype="int4", granularity=PerBlock(block_size=32), qparam_calculator="static"),
    QuantizationSpec(dtype="uint8", qscheme="asymmetric", range_calculator="percentile"),
    QuantizationSpec(dtype="float8_e4m3fn"),
    QuantizationSpec(
        dtype="float4_e2m1fn_x2",
        granularity={"type": "per_block", "block_size": 32, "axis": 1},
        scale_dtype="float8_e8m0fnu",
    ),
    QuantizationSpec(
        dtype="int8", granularity={"type": "per_channel", "axis": 0}, fake_quantize="lsq"
    ),
]
names = st.text(alphabet="abcdefxyz_0123456789.", min_size=1, max_size=8).filter(
    lambda s: s[0].isalpha()
)
spec_values = st.sampled_from(SPECS) | st.none()


@st.composite
def io_specs(draw: Any) -> Any:
    if draw(st.booleans()) and draw(st.booleans()):
        return None
    keys = st.integers(0, 4) if draw(st.booleans()) else names.filter(lambda s: s != "*")
    out = draw(st.dictionaries(keys | st.just("*"), spec_values, max_size=3))
    return out


state_specs = st.none() | st.dictionaries(
    st.sampled_from(["weight", "bias", "*", "out_proj.weight"]), spec_values, max_size=3
)
op_types = st.sampled_from(["linear", "conv2d", "softmax", "concat", "matmul", "layer_norm", "add"])
schedules = st.none() | st.builds(
    lambda a, b, c: QATSchedule(
        enable_observer=a,
        enable_fake_quant=a + b,
        disable_observer=None if c is None else a + b + c + 1,
    ),
    st.integers(0, 9),
    st.integers(0, 9),
    st.none() | st.integers(0, 9),
)


@st.composite
def op_configs(draw: Any) -> OpQuantizerConfig:
    kwargs = {}
    for field, strategy in (
        ("op_input_spec", io_specs()),
        ("op_output_spec", io_specs()),
        ("op_state_spec", state_specs),
    ):
        if draw(st.booleans()):
            kwargs[field] = draw(strategy)
    return OpQuantizerConfig(**kwargs)


@st.composite
def module_configs(draw: Any) -> ModuleQuantizerConfig:
    op = draw(op_configs())
    kwargs = {f: getattr(op, f) for f in op.model_fields_set}
    optional = {
        "op_type_config": st.dictionaries(op_types, st.none() | op_configs(), max_size=2).filter(
            lambda d: not ({"concat"} <= set(d) and "cat" in d)
        ),
        "op_name_config": st.dictionaries(names, st.none() | op_configs(), max_size=2),
        "module_input_spec": io_specs(),
        "module_output_spec": io_specs(),
        "module_state_spec": state_specs,
        "qat_schedule": schedules,
    }
    for field, strategy in optional.items():
        if draw(st.booleans()):
            kwargs[field] = draw(strategy)
    return ModuleQuantizerConfig(**kwargs)


type_keys = st.sampled_from(
    [
        "torch.nn.modules.linear.Linear",
        "torch.nn.modules.sparse.Embedding",
        "mymodelSelfAttention",
        "transformers.models.llama.modeling_llama.LlamaAttention",
    ]
)


@st.composite
def quantizer_configs(draw: Any) -> QuantizerConfig:
    kwargs: dict[str, Any] = {}
    if draw(st.booleans()):
        kwargs["global_config"] = draw(st.none() | module_configs())
    if draw(st.booleans()):
        kwargs["module_type_configs"] = draw(
            st.dictionaries(type_keys, st.none() | module_configs(), max_size=2)
        )
    if draw(st.booleans()):
        kwargs["module_name_configs"] = draw(
            st.dictionaries(names, st.none() | module_configs(), max_size=3)
        )
    if draw(st.booleans()):
        kwargs["execution_mode"] = draw(st.sampled_from(["graph", "eager"]))
    if draw(st.booleans()):
        kwargs["preserved_attributes"] = draw(st.lists(names, max_size=2))
    return QuantizerConfig(**kwargs)


@given(quantizer_configs())
def test_to_dict_from_dict_round_trip(config: QuantizerConfig) -> None:
    again = QuantizerConfig.from_dict(config.to_dict())
    assert again == config
    assert again.to_dict() == config.to_dict()
    assert QuantizerConfig.from_dict(config.to_dict(full=True)) == config

    # the dict is plain data: only dicts, lists, strings, ints and None
    def plain(value: Any) -> bool:
        if isinstance(value, dict):
            return all(isinstance(k, (str, int)) and plain(v) for k, v in value.items())
        if isinstance(value, list):
            return all(plain(v) for v in value)
        return value is None or type(value) in (str, int)

    assert plain(config.to_dict(full=True))
