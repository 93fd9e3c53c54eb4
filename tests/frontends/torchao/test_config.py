"""Reading torchao configs: the defaults table against torchao 0.18 itself, located errors,
transformers' ``TorchAoConfig`` form and its ``modules_to_not_convert`` (against transformers'
own ``should_convert_module`` and ``get_keys_to_not_convert``), and a checkpoint folder
(``qrt explain DIR`` / ``qrt resolve DIR --summary``) built on meta from its ``config.json``."""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import pytest

from qrt.frontends.torchao import TorchAoConfigError, torchao_from_data, torchao_from_text
from qrt.frontends.torchao.configs import CONFIG_DEFAULTS
from qrt.frontends.compressed_tensors.transformers_skips import should_convert
from tests.conftest import run_qrt

torch = pytest.importorskip("torch")
pytest.importorskip("torchao")
transformers = pytest.importorskip("transformers")

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore:Config Deprecation")


def _int8(**data: Any) -> dict[str, Any]:
    return {"_type": "Int8WeightOnlyConfig", "_version": 2, "_data": data}


def test_the_defaults_are_torchao_s_own() -> None:
    """Every supported config's version and field defaults, as ``config_to_dict`` writes a
    default instance: a field that differs from them is refused, so they must be torchao's."""
    import torchao.quantization as tq
    from torchao.core.config import config_to_dict

    for name, (version, defaults) in CONFIG_DEFAULTS.items():
        written = config_to_dict(getattr(tq, name)())
        assert written["_version"] == version, name
        assert written["_data"] == defaults, name


def test_errors_name_the_key_and_its_line(tmp_path: Path) -> None:
    text = json.dumps({"_type": "FqnToConfig", "_version": 1, "_data": {"fqn_to_config": {
        "re:.*q_proj": _int8(granularty={"_type": "PerRow", "_version": 1, "_data": {"dim": -1}})}}}, indent=1)
    with pytest.raises(TorchAoConfigError, match=r"c\.json:\d+:\d+: .*'re:\.\*q_proj'.*no field 'granularty'") as err:
        torchao_from_text(text, file=str(tmp_path / "c.json"))
    assert "did you mean 'granularity'" in str(err.value)
    unknown = {"_type": "Int8DynamicActivationIntxWeightConfig", "_version": 2, "_data": {}}
    with pytest.raises(TorchAoConfigError, match="no qrt mapping") as err:
        torchao_from_data({"_type": "FqnToConfig", "_version": 1, "_data": {"fqn_to_config": {"lm_head": unknown}}})
    assert "Int8WeightOnlyConfig" in str(err.value)  # what is supported
    kernel = {"_type": "Float8DynamicActivationFloat8WeightConfig", "_version": 2,
              "_data": {"kernel_preference": {"_type": "KernelPreference", "_data": "TORCH"}}}
    with pytest.raises(TorchAoConfigError, match="kernel_preference.*no exact qrt equivalent"):
        torchao_from_data(kernel)
    with pytest.raises(TorchAoConfigError, match="_version 1"):
        torchao_from_data({**_int8(), "_version": 1})


def test_an_object_and_its_json_read_alike() -> None:
    from collections import OrderedDict

    from torchao.core.config import config_to_dict
    from torchao.quantization import FqnToConfig, Int4WeightOnlyConfig, Int8DynamicActivationInt8WeightConfig

    from qrt.frontends.torchao import torchao_from_object

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cfg = FqnToConfig(OrderedDict([("re:.*mlp.*", Int4WeightOnlyConfig(group_size=32)), ("lm_head", None),
                                       ("_default", Int8DynamicActivationInt8WeightConfig())]))
    a = torchao_from_object(cfg)
    b = torchao_from_data(json.loads(json.dumps(config_to_dict(cfg))))
    assert [(e.key, e.config) for e in a.entries] == [(e.key, e.config) for e in b.entries]
    int4 = a.entries[0].config
    assert int4 is not None and int4.weight.dtype == "int4" and dict(int4.weight.extras) == {"zero_point_domain": '"float"'}
    act = a.entries[2].config.input  # type: ignore[union-attr]
    assert act is not None and act.dtype == "int8" and dict(act.extras) == {"strategy": '"token"'}


_NAME = st.lists(st.sampled_from(["model", "layers", "0", "1", "11", "mlp", "gate", "gate_proj", "lm_head", "fc1"]),
                 min_size=1, max_size=5).map(".".join)
_KEY = st.one_of(_NAME, _NAME.map(lambda n: n.replace(".", r"\.")), st.sampled_from(
    ["layers.1", "layers.*", "mlp.gate", "model.layers.1", r"model\.layers\.\d+\.mlp", "lm_head", "fc1",
     "gate_proj.weight", ".*proj", "1"]))


@settings(max_examples=30, deadline=None)
@given(_NAME, st.lists(_KEY, min_size=1, max_size=3))
def test_modules_to_not_convert_matches_transformers(name: str, keys: list[str]) -> None:
    from transformers.quantizers.quantizers_utils import should_convert_module

    param = f"{name}.weight"
    assert (should_convert(param, tuple(keys)) is None) == should_convert_module(param, keys)


def _checkpoint(folder: Path, quantization_config: dict[str, Any]) -> Path:
    config = transformers.LlamaConfig(hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2,
                                      num_key_value_heads=1, vocab_size=64, max_position_embeddings=32,
                                      architectures=["LlamaForCausalLM"]).to_dict()
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({**config, "quantization_config": quantization_config}))
    return folder


def test_a_torchao_checkpoint_folder_answers(tmp_path: Path) -> None:
    """transformers' ``TorchAoConfig.to_dict()`` in a config.json: every Linear weight but
    transformers' default ``modules_to_not_convert`` (computed on the model: here ``lm_head``,
    as transformers' own ``get_keys_to_not_convert`` finds on the same model)."""
    from torchao.quantization import Int8WeightOnlyConfig
    from transformers import TorchAoConfig
    from transformers.quantizers.base import get_keys_to_not_convert

    from qrt.api import resolve
    from qrt.model_inventory import checkpoint_inventory
    from qrt.frontends.source import load_rule_source
    from qrt.frontends.compressed_tensors.transformers_skips import default_not_convert

    folder = _checkpoint(tmp_path / "ckpt", TorchAoConfig(Int8WeightOnlyConfig()).to_dict())
    source = load_rule_source(folder)
    inv = checkpoint_inventory(folder)
    model = transformers.AutoModelForCausalLM.from_config(transformers.AutoConfig.from_pretrained(folder))
    assert set(default_not_convert(inv)) == set(get_keys_to_not_convert(model))
    plan = resolve(source, inv)
    specs = {s.module: plan.spec(plan.decision(s.quantizer_path)) for s in inv.sites
             if s.op_type == "linear" and s.role == "state" and s.key == "weight"}
    assert specs.pop("lm_head") is None and specs and all(s is not None and s.dtype == "int8" for s in specs.values())
    r = run_qrt("explain", str(folder), "lm_head.weight_quantizer", "model.layers.0.mlp.down_proj.weight_quantizer")
    assert r.returncode == 0, r.stderr
    assert "modules_to_not_convert entry 'lm_head'" in r.stdout and "get_keys_to_not_convert" in r.stdout
    assert "_default → Int8WeightOnlyConfig()" in r.stdout
    r = run_qrt("resolve", str(folder), "--summary")
    assert r.returncode == 0 and "int8" in r.stdout, r.stderr
    fqn = {**TorchAoConfig(Int8WeightOnlyConfig()).to_dict()}
    fqn["quant_type"] = {"default": {"_type": "FqnToConfig", "_version": 1, "_data": {"fqn_to_config": {}}}}
    r = run_qrt("resolve", str(_checkpoint(tmp_path / "fqn", fqn)), "--summary")
    assert r.returncode == 2 and "QRT221" in r.stderr and "TorchAoQuantize.convert" in r.stderr



def test_convert_to_torchao_refuses_what_torchao_cannot_hold() -> None:
    """ModelOpt's FP8 calibrates its activations (minmax); torchao's are dynamic: refused by
    site, naming the spec, and nothing is written."""
    r = run_qrt("convert", "modelopt:FP8_DEFAULT_CFG", "--to", "torchao", "--model", "tiny_llama")
    assert r.returncode == 2 and r.stdout == ""
    assert "no torchao equivalent" in r.stderr and "'qparam_calculator': 'minmax'" in r.stderr
