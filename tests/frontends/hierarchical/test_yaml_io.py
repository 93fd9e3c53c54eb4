"""YAML configs: every YAML example of docs/semantics.md §3 equals its Python form; anchors, merges, nulls,
duplicate keys, syntax errors, tags, error positions, origins and the YAML round trip."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given

from qrt.errors import QrtError, SpecError
from qrt.frontends.hierarchical import (
    ConfigError,
    ModuleQuantizerConfig,
    OpQuantizerConfig,
    QATSchedule,
    QuantizerConfig,
    config_from_yaml_text,
    is_hierarchical_document,
    load_config,
)
from qrt.frontends.hierarchical.yaml_io import YamlMapping, load_yaml_document
from qrt.ir.spec import PerBlock, PerChannel, PerTensor, QuantizationSpec, default_activation_spec
from tests.frontends.hierarchical.test_config import quantizer_configs


def load(text: str, file: str = "config.yaml") -> QuantizerConfig:
    return config_from_yaml_text(textwrap.dedent(text), file=file)


def error_of(text: str, kind: type[QrtError] = ConfigError) -> QrtError:
    with pytest.raises(kind) as info:
        load(text)
    return info.value


# =============================================================================================
# The worked examples (docs/semantics.md §3): YAML and Python give equal configs

INT8_ACTIVATION = QuantizationSpec(dtype="int8", granularity={"type": "per_tensor"})
INT8_WEIGHT = QuantizationSpec(dtype="int8", granularity={"type": "per_channel"})


def test_example_mxfp4_weights_fp8_activations() -> None:
    yaml_config = load(
        """
        quantization_spec:
          spec1: &fp8_activation
            dtype: float8_e4m3fn

          spec2: &mxfp4_weight
            dtype: float4_e2m1fn_x2
            granularity: { type: per_block, block_size: 32 }
            scale_dtype: float8_e8m0fnu

        quantization_config:
          global_config:
            op_input_spec:
              "*": *fp8_activation # Quantize all op inputs
            op_output_spec:
              "*": *fp8_activation # Quantize all op outputs
            op_state_spec:
              weight: *mxfp4_weight # Quantize weight tensors
        """
    )
    fp8_activation = QuantizationSpec(dtype="float8_e4m3fn")
    mxfp4_weight = QuantizationSpec(
        dtype="float4_e2m1fn_x2", granularity=PerBlock(block_size=32), scale_dtype="float8_e8m0fnu"
    )
    python_config = QuantizerConfig(
        global_config=ModuleQuantizerConfig(
            op_input_spec={"*": fp8_activation},
            op_output_spec={"*": fp8_activation},
            op_state_spec={"weight": mxfp4_weight},
        )
    )
    assert yaml_config == python_config


def test_example_mxfp4_with_real_torch_dtypes() -> None:
    torch = pytest.importorskip("torch")
    fp8 = QuantizationSpec(dtype=torch.float8_e4m3fn)
    mxfp4 = QuantizationSpec(
        dtype=torch.float4_e2m1fn_x2,
        granularity=PerBlock(block_size=32),
        scale_dtype=torch.float8_e8m0fnu,
    )
    config = QuantizerConfig(
        global_config=ModuleQuantizerConfig(
            op_input_spec={"*": fp8}, op_output_spec={"*": fp8}, op_state_spec={"weight": mxfp4}
        )
    )
    assert config == load(
        """
        quantization_config:
          global_config:
            op_input_spec: {"*": {dtype: float8_e4m3fn}}
            op_output_spec: {"*": {dtype: float8_e4m3fn}}
            op_state_spec:
              weight: {dtype: float4_e2m1fn_x2, granularity: {type: per_block, block_size: 32}, scale_dtype: float8_e8m0fnu}
        """
    )


def test_example_skip_linear_as_an_op() -> None:
    yaml_config = load(
        """
        quantization_config:
          global_config:
            op_type_config:
              linear: null
        """
    )
    assert yaml_config == QuantizerConfig(
        global_config=ModuleQuantizerConfig(op_type_config={"linear": None})
    )


def test_example_skip_linear_as_a_module() -> None:
    yaml_config = load(
        """
        quantization_config:
          module_type_configs:
            torch.nn.modules.linear.Linear: null
        """
    )
    assert yaml_config == QuantizerConfig(
        module_type_configs={"torch.nn.modules.linear.Linear": None}
    )
    assert yaml_config.global_config == ModuleQuantizerConfig()  # the rest stays W8A8


def test_example_skip_softmax_in_a_module_type() -> None:
    yaml_config = load(
        """
        quantization_config:
          module_type_configs:
            mymodelSelfAttention:
              op_type_config:
                softmax: null
        """
    )
    assert yaml_config == QuantizerConfig(
        module_type_configs={
            "mymodelSelfAttention": ModuleQuantizerConfig(op_type_config={"softmax": None})
        }
    )


def test_example_skip_softmax_in_a_named_module() -> None:
    yaml_config = load(
        """
        quantization_config:
          module_name_configs:
            model.selfattention.layer.0:
              op_type_config:
                softmax: null
        """
    )
    assert yaml_config == QuantizerConfig(
        module_name_configs={
            "model.selfattention.layer.0": ModuleQuantizerConfig(op_type_config={"softmax": None})
        }
    )


def test_example_skip_only_the_output_of_concat() -> None:
    yaml_config = load(
        """
        quantization_spec:
          activation_spec: &activation_spec
            dtype: int8
            qscheme: symmetric
            granularity: { type: per_tensor }

        quantization_config:
          global_config:
            op_type_config:
              concat:
                op_input_spec:
                  "*": *activation_spec
                op_output_spec: null
        """
    )
    activation_spec = QuantizationSpec(dtype="int8", qscheme="symmetric", granularity=PerTensor())
    python_config = QuantizerConfig(
        global_config=ModuleQuantizerConfig(
            op_type_config={
                "concat": OpQuantizerConfig(
                    op_input_spec={"*": activation_spec}, op_output_spec=None
                )
            }
        )
    )
    assert yaml_config == python_config
    assert list(yaml_config.global_config.op_type_config) == ["cat"]  # type: ignore[union-attr]
    # The worked example's Python form uses default_activation_quantization_spec(); its YAML leaves the
    # calculator to the runtime (None), whose default for activations is that same moving average.
    assert (
        activation_spec.merged({"qparam_calculator": "moving_average"}) == default_activation_spec()
    )


def test_example_quantize_only_linear_layers() -> None:
    yaml_config = load(
        """
        quantization_spec:
          spec1: &int8_activation
            dtype: int8
            granularity:
              type: per_tensor

          spec2: &int8_weight
            dtype: int8
            granularity:
              type: per_channel

        quantization_config:
          global_config: null # Disable global quantization

          # Enable quantization only for all Linear layers
          module_type_configs:
            torch.nn.modules.linear.Linear:
              op_input_spec:
                "*": *int8_activation
              op_output_spec:
                "*": *int8_activation
              op_state_spec:
                weight: *int8_weight
        """
    )
    python_config = QuantizerConfig(
        global_config=None,
        module_type_configs={
            "torch.nn.modules.linear.Linear": ModuleQuantizerConfig(
                op_input_spec={"*": INT8_ACTIVATION},
                op_output_spec={"*": INT8_ACTIVATION},
                op_state_spec={"weight": INT8_WEIGHT},
            )
        },
    )
    assert yaml_config == python_config


def test_example_quantize_only_one_op_by_name_with_empty_values() -> None:
    yaml_config = load(
        """
        quantization_spec:
          spec1: &int8_activation
            dtype: int8
            granularity:
              type: per_tensor

          spec2: &int8_weight
            dtype: int8
            granularity:
              type: per_channel

        quantization_config:
          global_config:
            op_input_spec: null
            op_output_spec: # empty also signifies null
            op_state_spec:
            op_name_config:
              linear_23:
                op_input_spec:
                  "*": *int8_activation
                op_output_spec:
                  "*": *int8_activation
                op_state_spec:
                  weight: *int8_weight
        """
    )
    python_config = QuantizerConfig(
        global_config=ModuleQuantizerConfig(
            op_input_spec=None,
            op_output_spec=None,
            op_state_spec=None,
            op_name_config={
                "linear_23": OpQuantizerConfig(
                    op_input_spec={"*": INT8_ACTIVATION},
                    op_output_spec={"*": INT8_ACTIVATION},
                    op_state_spec={"weight": INT8_WEIGHT},
                )
            },
        )
    )
    assert yaml_config == python_config


def test_example_explicit_linear_and_embedding() -> None:
    yaml_config = load(
        """
        quantization_spec:
          spec1: &int8_weight
            dtype: int8
            granularity:
              type: per_channel

          spec2: &int4_weight
            dtype: int4
            granularity:
              type: per_block
              block_size: 32

        quantization_config:
          global_config: null # Disable global quantization

          module_type_configs:
            torch.nn.modules.linear.Linear:
              op_input_spec:
              op_output_spec:
              op_state_spec:
                weight: *int4_weight

            torch.nn.modules.sparse.Embedding:
              op_input_spec:
              op_output_spec:
              op_state_spec:
                weight: *int8_weight
        """
    )
    config = QuantizerConfig(global_config=None)
    linear_config = ModuleQuantizerConfig(
        op_input_spec=None,
        op_output_spec=None,
        op_state_spec={
            "weight": QuantizationSpec(dtype="int4", granularity=PerBlock(block_size=32))
        },
    )
    embedding_config = ModuleQuantizerConfig(
        op_input_spec=None,
        op_output_spec=None,
        op_state_spec={"weight": QuantizationSpec(dtype="int8", granularity=PerChannel())},
    )
    config.set_module_type("torch.nn.modules.linear.Linear", linear_config)
    config.set_module_type("torch.nn.modules.sparse.Embedding", embedding_config)
    assert yaml_config == config


def test_example_module_boundaries_only() -> None:
    yaml_config = load(
        """
        quantization_spec:
          spec1: &int8_activation
            dtype: int8
            granularity:
              type: per_tensor

        quantization_config:
          global_config:
            op_input_spec:
              "*": *int8_activation
            op_output_spec:
              "*": *int8_activation

          module_type_configs:
            torch.nn.modules.activation.MultiheadAttention:
              # Disable op-level config for all internal operations
              op_input_spec:
              op_output_spec:

              module_input_spec:
                0: *int8_activation # query tensor
                1: *int8_activation # key tensor
                2: *int8_activation # value tensor
              module_output_spec:
                "*": *int8_activation # attention output
        """
    )
    python_config = QuantizerConfig(
        global_config=ModuleQuantizerConfig(
            op_input_spec={"*": INT8_ACTIVATION},
            op_output_spec={"*": INT8_ACTIVATION},
        ),
        module_type_configs={
            "torch.nn.modules.activation.MultiheadAttention": ModuleQuantizerConfig(
                op_input_spec=None,
                op_output_spec=None,
                module_input_spec={0: INT8_ACTIVATION, 1: INT8_ACTIVATION, 2: INT8_ACTIVATION},
                module_output_spec={"*": INT8_ACTIVATION},
            )
        },
    )
    assert yaml_config == python_config
    mha = yaml_config.module_type_configs["torch.nn.modules.activation.MultiheadAttention"]
    assert list(mha.module_input_spec) == [0, 1, 2]  # type: ignore[union-attr,arg-type]  # YAML ints stay ints


def test_example_axis_override() -> None:
    yaml_config = load(
        """
        quantization_config:
          global_config:
            op_state_spec:
              weight:
                dtype: int4
                granularity:
                  type: per_block
                  block_size: 32
                  # axis omitted, resolved per module type during prepare()
          module_name_configs:
            decoder.deconv1:
              op_state_spec:
                weight:
                  dtype: int4
                  granularity:
                    type: per_block
                    # explicit axis=1 overrides the default for this ConvTranspose2d
                    axis: 1
                    block_size: 32
        """
    )
    python_config = QuantizerConfig(
        global_config=ModuleQuantizerConfig(
            op_state_spec={
                "weight": QuantizationSpec(dtype="int4", granularity=PerBlock(block_size=32))
            },
        ),
        module_name_configs={
            "decoder.deconv1": ModuleQuantizerConfig(
                op_state_spec={
                    "weight": QuantizationSpec(
                        dtype="int4", granularity=PerBlock(axis=1, block_size=32)
                    )
                },
            ),
        },
    )
    assert yaml_config == python_config


# =============================================================================================
# Loading rules


def test_empty_values_are_null() -> None:
    config = load(
        """
        quantization_config:
          global_config:
          module_name_configs:
            dec:
        """
    )
    assert config == QuantizerConfig(global_config=None, module_name_configs={"dec": None})
    assert load("quantization_config:\n") == QuantizerConfig()


def test_merge_keys_override_without_being_duplicates() -> None:
    config = load(
        """
        quantization_spec:
          base: &base {dtype: int8, granularity: {type: per_channel}, qparam_calculator: static}
        quantization_config:
          global_config:
            op_state_spec:
              weight: {<<: *base, dtype: int4}
        """
    )
    assert config.global_config.op_state_spec["weight"] == QuantizationSpec(  # type: ignore[union-attr,index]
        dtype="int4", granularity=PerChannel(), qparam_calculator="static"
    )


def test_quoted_keys_stay_strings_and_bare_ints_stay_ints() -> None:
    config = load(
        """
        quantization_config:
          global_config:
            op_input_spec: {"0": {dtype: int8}}
            module_input_spec: {0: {dtype: int8}}
        """
    )
    assert list(config.global_config.op_input_spec) == ["0"]  # type: ignore[union-attr,arg-type]
    assert list(config.global_config.module_input_spec) == [0]  # type: ignore[union-attr,arg-type]


def test_qat_schedule_and_execution_mode_from_yaml() -> None:
    config = load(
        """
        quantization_config:
          execution_mode: eager
          preserved_attributes: [config]
          global_config:
            qat_schedule: {enable_observer: 0, enable_fake_quant: 500, disable_observer: 1500}
        """
    )
    assert config == QuantizerConfig(
        execution_mode="eager",
        preserved_attributes=["config"],
        global_config=ModuleQuantizerConfig(
            qat_schedule=QATSchedule(
                enable_observer=0, enable_fake_quant=500, disable_observer=1500
            )
        ),
    )


def test_pt2e_in_yaml_warns() -> None:
    with pytest.warns(DeprecationWarning):
        config = load("quantization_config:\n  execution_mode: PT2E\n")
    assert config.execution_mode == "graph"


def test_document_helpers(tmp_path: Path) -> None:
    assert is_hierarchical_document({"quantization_config": None})
    assert not is_hierarchical_document({"quant_cfg": []})
    assert not is_hierarchical_document(["quantization_config"])
    doc = load_yaml_document("a:\n  b: 1\n")
    assert isinstance(doc, YamlMapping) and isinstance(doc["a"], YamlMapping)
    assert (doc["a"].key_marks["b"].line, doc["a"].key_marks["b"].column) == (1, 2)
    path = tmp_path / "q.yaml"
    path.write_text("quantization_config:\n  global_config: null\n")
    assert load_config(path) == QuantizerConfig(global_config=None)
    assert QuantizerConfig.from_yaml(str(path)) == QuantizerConfig(global_config=None)
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "missing.yaml")


# =============================================================================================
# YAML errors: position, config path, what would be valid


def test_duplicate_keys_report_both_positions() -> None:
    err = error_of(
        """\
        quantization_config:
          global_config:
            op_type_config:
              linear: null
              softmax: null
              linear: {}
        """
    )
    assert err.location == "config.yaml:6:7"
    assert (
        "duplicate key 'linear': first written at config.yaml:4:7, again at config.yaml:6:7"
        in err.message
    )
    assert err.hint is not None and "^" in err.hint


def test_duplicate_keys_in_flow_mappings_and_at_the_top() -> None:
    err = error_of("quantization_config: {}\nquantization_config: {}\n")
    assert err.location == "config.yaml:2:1"
    err = error_of("quantization_config:\n  global_config: {op_input_spec: {0: null, 0: null}}\n")
    assert "duplicate key 0" in err.message


def test_syntax_error_position() -> None:
    err = error_of(
        """\
        quantization_config:
          global_config:
            op_input_spec: {0: null
          module_name_configs: {}
        """
    )
    assert err.location is not None and err.location.startswith("config.yaml:")
    assert "invalid YAML" in err.message
    err = error_of("quantization_config:\n  global_config: x\n   bad: 1\n")
    assert err.location == "config.yaml:3:7"
    assert "mapping values are not allowed here" in err.message
    assert err.hint is not None and err.hint.splitlines()[-1].strip() == "^"


def test_object_tags_are_refused() -> None:
    err = error_of("quantization_config: !!python/object/apply:os.system [echo hi]\n")
    assert err.location == "config.yaml:1:22"
    assert "not allowed" in err.message and "safe" in err.message


@pytest.mark.parametrize(
    ("text", "location", "start"),
    [
        (
            """\
            quantization_config:
              module_name_configs:
                decoder.deconv1:
                  op_state_spec:
                    weight:
                      dtype: int9
            """,
            "config.yaml:6:11",
            "module_name_configs['decoder.deconv1'].op_state_spec['weight']: field `dtype`: unknown dtype 'int9'",
        ),
        (
            """\
            quantization_config:
              global_config:
                op_name_config:
                  linear_23:
                    op_input_spec:
                      0: {dtype: int8, granularity: {type: per_block}}
            """,
            "config.yaml:6:28",
            "global_config.op_name_config['linear_23'].op_input_spec[0]: field `granularity`",
        ),
    ],
)
def test_spec_errors_are_placed_at_the_offending_key(text: str, location: str, start: str) -> None:
    err = error_of(text, SpecError)
    assert err.location == location
    assert err.message.startswith(start)
    assert err.code == "QRT202"


@pytest.mark.parametrize(
    ("text", "location", "start", "valid"),
    [
        (
            "quantization_config:\n  global_config:\n    op_inptu_spec: {}\n",
            "config.yaml:3:5",
            "global_config.op_inptu_spec: unknown field",
            "did you mean 'op_input_spec'",
        ),
        (
            "quantization_config:\n  glob_config: {}\n",
            "config.yaml:2:3",
            "glob_config: unknown field",
            "did you mean 'global_config'",
        ),
        (
            "quantization_config:\n  module_type_configs:\n    torch.nn.Linear: null\n",
            "config.yaml:3:5",
            "module_type_configs['torch.nn.Linear']: ",
            "'torch.nn.modules.linear.Linear'",
        ),
        (
            "quantization_config:\n  global_config:\n    op_input_spec:\n      0: {dtype: int8}\n      x: {dtype: int8}\n",
            "config.yaml:5:7",
            "global_config.op_input_spec['x']: ",
            "all positions or all names",
        ),
        (
            "quantization_config:\n  global_config:\n    op_type_config:\n      concat: null\n      cat: null\n",
            "config.yaml:5:7",
            "global_config.op_type_config['cat']: ",
            "'concat' and 'cat' are the same op type",
        ),
        (
            "quantization_config:\n  execution_mode: fast\n",
            "config.yaml:2:3",
            "execution_mode: unknown execution mode 'fast'",
            "valid execution modes: graph, eager",
        ),
        (
            "quantization_config:\n  module_name_configs:\n    'dec(': null\n",
            "config.yaml:3:5",
            "module_name_configs['dec(']: ",
            "regular expression",
        ),
        (
            "quantization_config:\n  global_config:\n    qat_schedule:\n      enable_observer: 9\n      enable_fake_quant: 1\n",
            "config.yaml:3:5",
            "global_config.qat_schedule: enable_fake_quant (1) must be >= enable_observer (9)",
            "",
        ),
        (
            "quantization_config:\n  global_config:\n    qat_schedule:\n      enable_observer: -3\n",
            "config.yaml:4:7",
            "global_config.qat_schedule.enable_observer: must be >= 0",
            "",
        ),
        (
            "quantization_config:\n  global_config:\n    op_input_spec:\n      yes: {dtype: int8}\n",
            "config.yaml:4:7",
            "global_config.op_input_spec[True]: ",
            "quote the key",
        ),
        (
            "quantization_config:\n  global_config: [1]\n",
            "config.yaml:2:3",
            "global_config: a ModuleQuantizerConfig must be a mapping",
            "op_input_spec",
        ),
        (
            "quantisation_config: {}\n",
            "config.yaml:1:1",
            "unknown top-level key 'quantisation_config'",
            "did you mean 'quantization_config'",
        ),
        (
            "quantization_spec: {}\n",
            "config.yaml:1:1",
            "no 'quantization_config' key",
            "",
        ),
        (
            "- quantization_config\n",
            "config.yaml:1:1",
            "a config document must be a mapping",
            "",
        ),
    ],
)
def test_config_errors_in_yaml(text: str, location: str, start: str, valid: str) -> None:
    err = error_of(text)
    assert err.location == location, err
    assert err.message.startswith(start), err.message
    assert valid in err.message
    assert err.code == "QRT206"


def test_empty_document() -> None:
    err = error_of("")
    assert err.location == "config.yaml:1:1" and "empty document" in err.message


def test_a_bad_anchored_spec_is_reported_for_each_use_at_its_definition() -> None:
    err = error_of(
        """\
        quantization_spec:
          bad: &bad
            dtype: int9
        quantization_config:
          global_config:
            op_input_spec: {"*": *bad}
            op_output_spec: {"*": *bad}
        """,
        SpecError,
    )
    assert err.location == "config.yaml:3:5"
    paths = [issue.path for issue in err.issues]  # type: ignore[attr-defined]
    assert paths == ["global_config.op_input_spec['*']", "global_config.op_output_spec['*']"]


def test_every_problem_is_listed() -> None:
    err = error_of(
        """\
        quantization_config:
          global_config:
            op_inptu_spec: {}
          module_name_configs:
            dec:
              op_state_spec:
                weight: {dtype: int9}
        """
    )
    assert [(i.location, i.path) for i in err.issues] == [  # type: ignore[attr-defined]
        ("config.yaml:3:5", "global_config.op_inptu_spec"),
        ("config.yaml:7:18", "module_name_configs['dec'].op_state_spec['weight']"),
    ]
    assert "config.yaml:7:18: module_name_configs['dec']" in err.message


# =============================================================================================
# Origins of YAML configs: the key's line and column


ORIGIN_TEXT = """\
quantization_spec:
  int8: &int8 {dtype: int8}
quantization_config:
  global_config:
    op_input_spec:
      "*": *int8
    op_name_config:
      linear_23:
        op_input_spec:
          0: *int8
    op_type_config:
      concat: null
  module_type_configs:
    torch.nn.modules.linear.Linear:
      op_type_config:
        softmax: null
  module_name_configs:
    decoder.deconv1:
      op_state_spec:
        weight: *int8
    dec:
      op_state_spec:
        weight: *int8
"""


@pytest.mark.parametrize(
    ("path", "line", "column"),
    [
        ("global_config", 4, 3),
        ("global_config.op_input_spec", 5, 5),
        ("global_config.op_input_spec['*']", 6, 7),
        ("global_config.op_name_config['linear_23']", 8, 7),
        ("global_config.op_name_config['linear_23'].op_input_spec[0]", 10, 11),
        ("global_config.op_type_config['concat']", 12, 7),
        ("global_config.op_type_config['cat']", 12, 7),
        ("module_type_configs['torch.nn.modules.linear.Linear']", 14, 5),
        ("module_type_configs['torch.nn.modules.linear.Linear'].op_type_config['softmax']", 16, 9),
        ("module_name_configs['decoder.deconv1']", 18, 5),
        ("module_name_configs['dec'].op_state_spec['weight']", 23, 9),
        # no entry of its own: the innermost existing key
        ("module_name_configs['dec'].op_state_spec['bias']", 22, 7),
        ("global_config.op_name_config['linear_23'].op_output_spec['*']", 8, 7),
        ("module_name_configs['missing']", 17, 3),
        ("execution_mode", 3, 1),
    ],
)
def test_yaml_origins(path: str, line: int, column: int) -> None:
    config = config_from_yaml_text(ORIGIN_TEXT, file="model.yaml")
    origin = config.origin_of(path)
    assert origin is not None
    assert (origin.file, origin.line, origin.column, origin.config_path) == (
        "model.yaml",
        line,
        column,
        path,
    )
    assert origin.position == f"model.yaml:{line}:{column}"


def test_default_global_config_of_a_yaml_file_is_placed_at_quantization_config() -> None:
    config = load("# comment\nquantization_config:\n  module_name_configs: {}\n")
    origin = config.origin_of("global_config.op_input_spec['*']")
    assert origin is not None and (origin.line, origin.column) == (2, 1)


def test_origins_survive_setters_that_move_a_yaml_config() -> None:
    config = config_from_yaml_text(ORIGIN_TEXT, file="model.yaml")
    config.set_module_name("enc", config.module_name_configs["dec"])
    origin = config.origin_of("module_name_configs['enc'].op_state_spec['weight']")
    assert origin is not None and (origin.file, origin.line) == ("model.yaml", 23)
    entry = config.origin_of("module_name_configs['enc']")
    assert entry is not None and entry.file == __file__  # the setter call, not the YAML key


# =============================================================================================
# to_yaml


def test_to_yaml_writes_each_spec_once_with_an_anchor() -> None:
    config = QuantizerConfig.presets.mxfp4_a_fp8()
    text = config.to_yaml()
    assert text.startswith("quantization_spec:\n")
    assert text.count("&float8_e4m3fn_per_tensor") == 1
    assert text.count("*float8_e4m3fn_per_tensor") == 2
    assert "&float4_e2m1fn_x2_per_block32_scale_float8_e8m0fnu" in text
    assert config_from_yaml_text(text) == config


def test_to_yaml_keeps_spellings_and_int_keys() -> None:
    config = QuantizerConfig(
        global_config=ModuleQuantizerConfig(
            op_type_config={
                "concat": OpQuantizerConfig(op_input_spec={0: QuantizationSpec(), "*": None})
            },
            module_input_spec={"0": None},
        )
    )
    text = config.to_yaml()
    assert "concat:" in text and "0: " in text and "'0': null" in text
    assert config_from_yaml_text(text) == config


@given(quantizer_configs())
def test_to_yaml_round_trip(config: QuantizerConfig) -> None:
    again = config_from_yaml_text(config.to_yaml())
    assert again == config
    assert config_from_yaml_text(config.to_yaml(full=True)) == config


def _walk_specs(value: Any) -> list[QuantizationSpec]:
    out: list[QuantizationSpec] = []
    if isinstance(value, QuantizationSpec):
        return [value]
    if isinstance(value, dict):
        for item in value.values():
            out += _walk_specs(item)
    elif hasattr(type(value), "model_fields"):
        for name in type(value).model_fields:
            out += _walk_specs(getattr(value, name))
    return out


@given(quantizer_configs())
def test_to_yaml_keeps_which_spec_fields_were_written(config: QuantizerConfig) -> None:
    again = config_from_yaml_text(config.to_yaml())
    assert [s.explicit_fields() for s in _walk_specs(again)] == [
        s.explicit_fields() for s in _walk_specs(config)
    ]
