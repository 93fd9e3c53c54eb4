"""docs/semantics.md §4's role defaults on a traced model, without ModelOpt installed.

``test_against_modelopt.py`` checks the same facts against ModelOpt 0.47 itself where it is
installed; these pin them in every environment, so a change of qrt's defaults fails here too.
"""

from __future__ import annotations

from functools import cache

import pytest

from qrt.api import resolve
from qrt.frontends.wildcard import wildcard_from_data
from qrt.frontends.wildcard.spec_map import attributes_from_spec
from qrt.inventory.model import Inventory


@cache
def _tiny_llama() -> Inventory:
    from qrt.model_inventory import load_model_inventory

    return load_model_inventory("tiny_llama")


@pytest.mark.parametrize("letter", ["q", "k", "v", "p"])
def test_every_bmm_quantizer_starts_on_8_bit_per_tensor(letter: str) -> None:
    """0.47's ``_QuantAttention`` creates ``q/k/v/p_bmm_quantizer`` as default
    ``TensorQuantizer``s, all enabled (``p_bmm`` too: qrt used to start it off)."""
    plan = resolve(wildcard_from_data([]), _tiny_llama())
    found = [d for d in plan.decisions if any(a.endswith(f"self_attn.{letter}_bmm_quantizer") for a in d.site.aliases)]
    assert len(found) == 2  # one per layer
    for decision in found:
        assert decision.state.enabled and decision.state.spec is not None
        attributes = attributes_from_spec(decision.state.spec)
        assert (attributes["num_bits"], attributes["axis"], attributes["block_sizes"]) == (8, None, None)


def test_an_entry_switches_p_bmm_off_like_any_other() -> None:
    plan = resolve(wildcard_from_data([{"quantizer_name": "*p_bmm_quantizer", "enable": False}]), _tiny_llama())
    states = {a: d.state.enabled for d in plan.decisions for a in d.site.aliases}
    assert states["model.layers.0.self_attn.p_bmm_quantizer"] is False
    assert states["model.layers.0.self_attn.k_bmm_quantizer"] is True
