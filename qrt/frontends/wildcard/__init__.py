"""Front end 2: ordered wildcard lists, ModelOpt's ``quant_cfg`` (docs/semantics.md §4).

A list of entries, each a glob over quantizer names with ``cfg`` (full replacement) and/or
``enable`` (a switch), applied in order so later entries win::

    from qrt.frontends.wildcard import load_wildcard, reference_states

    config = load_wildcard("fp8.yaml")          # a list, quant_cfg, a full config, or legacy
    config[3].origin                             # fp8.yaml:12:5 (quant_cfg[3])
    config.to_list()                             # the list form, legacy dicts converted
    reference_states(config, {"fc.weight_quantizer": "torch.nn.modules.linear.Linear"})

Modules, in import order (none imports one below it in this list):

* ``errors`` — :class:`WildcardConfigError`;
* ``attributes`` — ModelOpt 0.47's quantizer attribute vocabulary, its defaults and checks;
* ``model`` — the immutable values :class:`Entry`, :class:`WildcardConfig`, :class:`FrozenDict`;
* ``positions`` — where each part was written, entry origins;
* ``entry_check`` — one entry's fields checked (an :class:`~.entry_check.EntryFields` in, an
  :class:`Entry` out);
* ``document`` — the document forms (list, entry, ``quant_cfg``, full config, legacy dict);
* ``parse`` — YAML/JSON text parsed with positions by the one loader (``qrt.frontends.yaml_load``);
* ``recipe`` — ModelOpt recipes' ``imports``/``$import`` composed as ModelOpt 0.47 does;
* ``reading`` — text and files; ``entries`` — the reading face that gathers these;
* ``spec_map``, ``compile``, ``reference`` (the literal loop over entries × quantizers, the
  compiler's oracle), ``instrumented``, ``presets``, ``writer``.
"""

from __future__ import annotations

from qrt._faces import lazy_names

# Each public name is imported on first use: a command that needs one module of the package
# (explain's notes need only ``instrumented``) does not load the readers, YAML and pydantic.
_NAMES: dict[str, str] = {
    "ATTRIBUTE_FIELDS": "qrt.frontends.wildcard.attributes",
    "AttributeField": "qrt.frontends.wildcard.attributes",
    "attribute_defaults": "qrt.frontends.wildcard.attributes",
    "validate_attributes": "qrt.frontends.wildcard.attributes",
    "Entry": "qrt.frontends.wildcard.entries",
    "FrozenDict": "qrt.frontends.wildcard.entries",
    "WildcardConfig": "qrt.frontends.wildcard.entries",
    "WildcardConfigError": "qrt.frontends.wildcard.entries",
    "is_wildcard_document": "qrt.frontends.wildcard.entries",
    "load_wildcard": "qrt.frontends.wildcard.entries",
    "qualified_parent_class": "qrt.frontends.wildcard.entries",
    "wildcard_from_data": "qrt.frontends.wildcard.entries",
    "wildcard_from_text": "qrt.frontends.wildcard.entries",
    "disabled_state": "qrt.frontends.wildcard.reference",
    "full_attributes": "qrt.frontends.wildcard.reference",
    "name_matches": "qrt.frontends.wildcard.reference",
    "owner_matches": "qrt.frontends.wildcard.reference",
    "reference_site_states": "qrt.frontends.wildcard.reference",
    "reference_states": "qrt.frontends.wildcard.reference",
    "stage_base": "qrt.frontends.wildcard.reference",
}

__all__ = [
    "ATTRIBUTE_FIELDS",
    "AttributeField",
    "Entry",
    "FrozenDict",
    "WildcardConfig",
    "WildcardConfigError",
    "attribute_defaults",
    "disabled_state",
    "full_attributes",
    "is_wildcard_document",
    "load_wildcard",
    "name_matches",
    "owner_matches",
    "qualified_parent_class",
    "reference_site_states",
    "reference_states",
    "stage_base",
    "validate_attributes",
    "wildcard_from_data",
    "wildcard_from_text",
]

__getattr__, __dir__ = lazy_names(globals(), _NAMES)
