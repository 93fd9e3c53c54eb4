"""Presets (``rules/presets/*.yaml``, ``register_preset``) and the setters of docs/semantics.md §3, with
``only_for`` / ``without`` checked against the setter code docs/semantics.md §3 says they equal."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from qrt.frontends.hierarchical import (
    ConfigError,
    ExecutionMode,
    ModuleQuantizerConfig,
    OpQuantizerConfig,
    QuantizerConfig,
    available_presets,
    register_preset,
)
from qrt.frontends.hierarchical.presets import BUILTIN_PRESETS, unregister_preset
from qrt.ir.spec import (
    PerBlock,
    PerChannel,
    PerTensor,
    QuantizationSpec,
    default_activation_spec,
    default_weight_spec,
)
from tests.conftest import ROOT

torch = pytest.importorskip("torch")
nn = torch.nn

HERE = __file__


def here() -> int:
    return sys._getframe(1).f_lineno


# =============================================================================================
# Presets

INT8_ACT = QuantizationSpec(
    dtype="int8", qscheme="symmetric", granularity=PerTensor(), qparam_calculator="moving_average"
)
INT8_W = QuantizationSpec(
    dtype="int8", qscheme="symmetric", granularity=PerChannel(), qparam_calculator="static"
)
INT4_W = QuantizationSpec(
    dtype="int4",
    qscheme="symmetric",
    granularity=PerBlock(block_size=32),
    qparam_calculator="static",
)
FP8_ACT = QuantizationSpec(
    dtype="float8_e4m3fn", granularity=PerTensor(), qparam_calculator="moving_average"
)
FP8_W = QuantizationSpec(
    dtype="float8_e4m3fn", granularity=PerChannel(), qparam_calculator="static"
)
MXFP4_W = QuantizationSpec(
    dtype="float4_e2m1fn_x2",
    granularity=PerBlock(block_size=32),
    scale_dtype="float8_e8m0fnu",
    qparam_calculator="static",
)

EXPECTED = {
    "w8": ModuleQuantizerConfig(
        op_input_spec=None, op_output_spec=None, op_state_spec={"weight": INT8_W}
    ),
    "w4": ModuleQuantizerConfig(
        op_input_spec=None, op_output_spec=None, op_state_spec={"weight": INT4_W}
    ),
    "w8a8": ModuleQuantizerConfig(
        op_input_spec={"*": INT8_ACT},
        op_output_spec={"*": INT8_ACT},
        op_state_spec={"weight": INT8_W},
    ),
    "w4a8": ModuleQuantizerConfig(
        op_input_spec={"*": INT8_ACT},
        op_output_spec={"*": INT8_ACT},
        op_state_spec={"weight": INT4_W},
    ),
    "fp8": ModuleQuantizerConfig(
        op_input_spec={"*": FP8_ACT}, op_output_spec={"*": FP8_ACT}, op_state_spec={"weight": FP8_W}
    ),
    "mxfp4": ModuleQuantizerConfig(
        op_input_spec=None, op_output_spec=None, op_state_spec={"weight": MXFP4_W}
    ),
    "mxfp4_a_fp8": ModuleQuantizerConfig(
        op_input_spec={"*": FP8_ACT},
        op_output_spec={"*": FP8_ACT},
        op_state_spec={"weight": MXFP4_W},
    ),
}


def test_every_builtin_preset_ships_as_yaml() -> None:
    assert set(BUILTIN_PRESETS) == set(EXPECTED)
    shipped = {p.stem for p in (ROOT / "rules" / "presets").glob("*.yaml")}
    assert set(BUILTIN_PRESETS) <= shipped
    assert set(BUILTIN_PRESETS) <= set(available_presets())


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_preset_values(name: str) -> None:
    module = getattr(ModuleQuantizerConfig.presets, name)()
    assert module == EXPECTED[name]
    config = getattr(QuantizerConfig.presets, name)()
    assert config == QuantizerConfig(global_config=EXPECTED[name])
    assert config.execution_mode is ExecutionMode.GRAPH


def test_w8a8_preset_is_the_default_config() -> None:
    assert QuantizerConfig.presets.w8a8() == QuantizerConfig()
    module = ModuleQuantizerConfig.presets.w8a8()
    assert module.op_input_spec["*"] == default_activation_spec()  # type: ignore[index]
    assert module.op_state_spec["weight"] == default_weight_spec()  # type: ignore[index]
    assert (
        module.op_state_spec["weight"].explicit_fields() == default_weight_spec().explicit_fields()
    )  # type: ignore[index,union-attr]


def test_presets_are_fresh_each_call() -> None:
    a, b = QuantizerConfig.presets.w4(), QuantizerConfig.presets.w4()
    assert a == b and a is not b and a.global_config is not b.global_config
    a.global_config.op_state_spec = None  # type: ignore[union-attr]
    assert QuantizerConfig.presets.w4() == b
    m1, m2 = ModuleQuantizerConfig.presets.w8(), ModuleQuantizerConfig.presets.w8()
    m1.op_type_config["linear"] = None
    assert m2.op_type_config == {}


def test_preset_origins_point_into_the_shipped_file() -> None:
    config = QuantizerConfig.presets.w4()
    origin = config.origin_of("global_config.op_state_spec['weight']")
    assert origin is not None and origin.file is not None
    assert Path(origin.file).name == "w4.yaml"
    line = (ROOT / "rules" / "presets" / "w4.yaml").read_text().splitlines()[origin.line - 1]  # type: ignore[operator]
    assert line.strip().startswith("weight:")


def test_unknown_preset_names_suggest() -> None:
    with pytest.raises(AttributeError, match="did you mean 'w4a8'"):
        QuantizerConfig.presets.w4a9()
    with pytest.raises(ConfigError, match="no preset named 'int8'"):
        QuantizerConfig.presets.get("int8")
    assert "w4" in dir(QuantizerConfig.presets)
    assert QuantizerConfig.presets.names() == available_presets()


def test_register_preset_from_a_file(tmp_path: Path) -> None:
    path = tmp_path / "kv8.yaml"
    path.write_text(
        "quantization_config:\n"
        "  global_config:\n"
        "    op_input_spec:\n"
        "    op_output_spec:\n"
        "    op_state_spec:\n"
        "    op_type_config:\n"
        "      matmul: {op_input_spec: {'*': {dtype: float8_e4m3fn}}, op_output_spec: null, op_state_spec: null}\n"
    )
    register_preset("kv8", path)
    try:
        config = QuantizerConfig.presets.kv8()
        assert config.global_config.op_type_config["matmul"] == OpQuantizerConfig(  # type: ignore[union-attr]
            op_input_spec={"*": QuantizationSpec(dtype="float8_e4m3fn")},
            op_output_spec=None,
            op_state_spec=None,
        )
        assert ModuleQuantizerConfig.presets.kv8() == config.global_config
        assert "kv8" in available_presets()
        with pytest.raises(ConfigError, match="already exists"):
            register_preset("kv8", path)
        register_preset("kv8", path, replace=True)
    finally:
        unregister_preset("kv8")
    assert "kv8" not in available_presets()


def test_register_preset_from_a_factory() -> None:
    shared = ModuleQuantizerConfig(op_input_spec=None)
    register_preset("noact", lambda: shared)
    try:
        config = QuantizerConfig.presets.noact()
        assert config == QuantizerConfig(global_config=shared)
        assert config.global_config is not shared  # a copy each time
        assert ModuleQuantizerConfig.presets.noact() == shared
        assert ModuleQuantizerConfig.presets.noact() is not shared
    finally:
        unregister_preset("noact")

    register_preset("linear_only", lambda: QuantizerConfig.presets.w8().only_for(nn.Linear))
    try:
        assert QuantizerConfig.presets.linear_only().global_config is None
        with pytest.raises(ConfigError, match="also sets module_type_configs"):
            ModuleQuantizerConfig.presets.linear_only()
    finally:
        unregister_preset("linear_only")

    register_preset("broken", lambda: 3)  # type: ignore[arg-type,return-value]
    try:
        with pytest.raises(ConfigError, match="returned int"):
            QuantizerConfig.presets.broken()
    finally:
        unregister_preset("broken")


def test_register_preset_checks(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="already exists"):
        register_preset("w4", lambda: QuantizerConfig())
    with pytest.raises(ConfigError, match="identifier"):
        register_preset("my-preset", lambda: QuantizerConfig())
    with pytest.raises(ConfigError, match="reserved"):
        register_preset("names", lambda: QuantizerConfig())
    with pytest.raises(ConfigError, match="not found"):
        register_preset("ghost", tmp_path / "ghost.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("quantization_config:\n  global_config:\n    op_inptu_spec: {}\n")
    with pytest.raises(ConfigError, match="did you mean 'op_input_spec'") as info:
        register_preset("bad", bad)
    assert info.value.location == f"{bad}:3:5"
    with pytest.raises(ConfigError, match="YAML file path or a callable"):
        register_preset("num", 3)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="no registered preset"):
        unregister_preset("w4")
    register_preset("off", lambda: QuantizerConfig(global_config=None))
    try:
        with pytest.raises(ConfigError, match="global_config: null"):
            ModuleQuantizerConfig.presets.off()
    finally:
        unregister_preset("off")


# =============================================================================================
# Setters


def test_setters_return_self_and_chain() -> None:
    config = QuantizerConfig()
    assert config.set_global(None) is config
    assert config.set_module_type(nn.Linear, ModuleQuantizerConfig()) is config
    assert config.set_module_name("lm_head", None) is config
    assert config.set_execution_mode("eager") is config
    assert config == QuantizerConfig(
        global_config=None,
        module_type_configs={"torch.nn.modules.linear.Linear": ModuleQuantizerConfig()},
        module_name_configs={"lm_head": None},
        execution_mode=ExecutionMode.EAGER,
    )


def test_seed_example_w4_with_w8_embeddings() -> None:
    config = QuantizerConfig.presets.w4()
    config.set_module_type(nn.Embedding, ModuleQuantizerConfig.presets.w8())
    chained = QuantizerConfig.presets.w4().set_module_type(
        nn.Embedding, ModuleQuantizerConfig.presets.w8()
    )
    assert config == chained
    assert config.module_type_configs == {"torch.nn.modules.sparse.Embedding": EXPECTED["w8"]}
    assert config.global_config == EXPECTED["w4"]


def test_set_module_type_keys() -> None:
    config = QuantizerConfig()
    config.set_module_type(nn.ConvTranspose2d, None)
    config.set_module_type("torch.nn.modules.linear.Linear", None)
    assert list(config.module_type_configs) == [
        "torch.nn.modules.conv.ConvTranspose2d",
        "torch.nn.modules.linear.Linear",
    ]
    with pytest.raises(ConfigError, match="'torch.nn.modules.sparse.Embedding'") as info:
        config.set_module_type("torch.nn.Embedding", None)
    assert info.value.message.startswith("module_type_configs['torch.nn.Embedding']: ")
    with pytest.raises(ConfigError, match="module class or its fully-qualified name"):
        config.set_module_type(3, None)  # type: ignore[arg-type]


def test_setters_validate_their_configs() -> None:
    config = QuantizerConfig()
    config.set_module_name("dec", {"op_input_spec": None})
    assert config.module_name_configs["dec"] == ModuleQuantizerConfig(op_input_spec=None)
    with pytest.raises(ConfigError, match=r"module_name_configs\['dec\('\]"):
        config.set_module_name("dec(", None)
    with pytest.raises(
        ConfigError, match=r"module_name_configs\['x'\]: a ModuleQuantizerConfig must be"
    ):
        config.set_module_name("x", 5)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="global_config.op_typo: unknown field"):
        config.set_global({"op_typo": 1})
    with pytest.raises(ConfigError, match="valid execution modes: graph, eager"):
        config.set_execution_mode("fast")
    with pytest.warns(DeprecationWarning):
        assert config.set_execution_mode("PT2E").execution_mode is ExecutionMode.GRAPH
    assert "x" not in config.module_name_configs  # a failed setter changes nothing


def test_setting_an_existing_key_keeps_its_place() -> None:
    config = QuantizerConfig(module_name_configs={"a.*": None, "a.b": None})
    config.set_module_name("a.*", ModuleQuantizerConfig())
    assert list(config.module_name_configs) == ["a.*", "a.b"]


def test_setter_origins_are_the_setter_calls() -> None:
    line = here() + 1
    config = QuantizerConfig.presets.w4()
    config.set_module_type(nn.Embedding, ModuleQuantizerConfig.presets.w8())  # line + 1
    config.set_module_name("lm_head", None)  # line + 2
    config.set_global(ModuleQuantizerConfig())  # line + 3
    config.set_execution_mode("eager")  # line + 4
    key = "module_type_configs['torch.nn.modules.sparse.Embedding']"
    assert (config.origin_of(key).file, config.origin_of(key).line) == (HERE, line + 1)  # type: ignore[union-attr]
    assert config.origin_of("module_name_configs['lm_head']").line == line + 2  # type: ignore[union-attr]
    assert config.origin_of("global_config").line == line + 3  # type: ignore[union-attr]
    assert config.origin_of("global_config.op_input_spec['*']").line == line + 3  # type: ignore[union-attr]
    assert config.origin_of("execution_mode").line == line + 4  # type: ignore[union-attr]
    # inside the preset that was set: the preset file's own line for that key
    inner = config.origin_of(f"{key}.op_state_spec['weight']")
    assert inner is not None and Path(inner.file).name == "w8.yaml"  # type: ignore[arg-type]
    assert (
        config.origin_of(f"{key}.op_state_spec['weight']").config_path
        == f"{key}.op_state_spec['weight']"
    )  # type: ignore[union-attr]


# =============================================================================================
# only_for and without: exactly the setter code of docs/semantics.md §3


def test_only_for_equals_the_setter_code() -> None:
    config = QuantizerConfig.presets.w4().only_for(nn.Linear, nn.Conv2d)

    expected = QuantizerConfig(global_config=None)
    expected.set_module_type(nn.Linear, ModuleQuantizerConfig.presets.w4())
    expected.set_module_type(nn.Conv2d, ModuleQuantizerConfig.presets.w4())
    assert config == expected
    assert list(config.module_type_configs) == [
        "torch.nn.modules.linear.Linear",
        "torch.nn.modules.conv.Conv2d",
    ]


def test_only_for_gives_each_target_its_own_copy_and_names_go_to_name_configs() -> None:
    config = QuantizerConfig.presets.w8a8().only_for(nn.Linear, "model.layers.0.mlp")
    linear = config.module_type_configs["torch.nn.modules.linear.Linear"]
    named = config.module_name_configs["model.layers.0.mlp"]
    assert linear == named == ModuleQuantizerConfig()
    assert linear is not named
    linear.op_input_spec = None  # type: ignore[union-attr]
    assert named.op_input_spec == {"*": default_activation_spec()}  # type: ignore[union-attr]


def test_only_for_keeps_other_entries_and_settings() -> None:
    config = (
        QuantizerConfig.presets.w4()
        .set_module_name("lm_head", ModuleQuantizerConfig.presets.w8())
        .set_execution_mode("eager")
        .only_for(nn.Linear)
    )
    expected = QuantizerConfig(global_config=None, execution_mode="eager")
    expected.set_module_name("lm_head", ModuleQuantizerConfig.presets.w8())
    expected.set_module_type(nn.Linear, ModuleQuantizerConfig.presets.w4())
    assert config == expected


def test_only_for_errors() -> None:
    with pytest.raises(ConfigError, match="at least one target"):
        QuantizerConfig().only_for()
    with pytest.raises(ConfigError, match="global_config is None"):
        QuantizerConfig(global_config=None).only_for(nn.Linear)
    config = QuantizerConfig()
    with pytest.raises(ConfigError, match="module classes"):
        config.only_for(nn.Linear, 3)  # type: ignore[arg-type]
    assert config == QuantizerConfig()  # checked before anything changed


def test_without_equals_the_setter_code() -> None:
    config = QuantizerConfig.presets.w4().without(nn.LayerNorm, nn.Embedding, "model.lm_head")

    expected = QuantizerConfig.presets.w4()
    expected.set_module_type(nn.LayerNorm, None)
    expected.set_module_type(nn.Embedding, None)
    expected.set_module_name("model.lm_head", None)
    assert config == expected
    assert config.module_type_configs == {
        "torch.nn.modules.normalization.LayerNorm": None,
        "torch.nn.modules.sparse.Embedding": None,
    }
    assert config.module_name_configs == {"model.lm_head": None}


def test_without_errors() -> None:
    with pytest.raises(ConfigError, match="at least one target"):
        QuantizerConfig().without()
    with pytest.raises(ConfigError, match="module name regexes"):
        QuantizerConfig().without(nn.Linear(2, 2))  # an instance, not a class


def test_only_for_and_without_origins() -> None:
    line = here() + 1
    config = QuantizerConfig.presets.w4().only_for(nn.Linear).without("lm_head")
    assert config.origin_of("global_config").line == line  # type: ignore[union-attr]
    assert config.origin_of("module_type_configs['torch.nn.modules.linear.Linear']").line == line  # type: ignore[union-attr]
    assert config.origin_of("module_name_configs['lm_head']").line == line  # type: ignore[union-attr]


def test_presets_round_trip_through_yaml() -> None:
    from qrt.frontends.hierarchical import config_from_yaml_text

    for name in BUILTIN_PRESETS:
        config = QuantizerConfig.presets.get(name)().without(nn.Embedding)
        assert config_from_yaml_text(config.to_yaml()) == config
        assert QuantizerConfig.from_dict(config.to_dict()) == config
