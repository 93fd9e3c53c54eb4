"""torchao 0.18's ``quantize_(model, FqnToConfig(...))``, reproduced per module on an inventory
(no torch), and transformers' ``modules_to_not_convert``.

What this mirrors, in ``torchao/quantization/quant_api.py``:

* ``quantize_`` visits every module of ``model.named_modules()`` for which
  ``fqn_matches_fqn_config`` (the module's fqn is a key, or ``re.fullmatch``-es a ``re:`` key),
  ``_module_param_matches_fqn_config`` (the same for one of its *top-level* parameters,
  ``f"{fqn}.{name}"``) or ``"_default" in fqn_to_config and _is_linear(module)`` holds
  (``_is_linear``: an ``nn.Linear``, not ``NonDynamicallyQuantizableLinear``), and runs
  ``_fqn_to_config_handler`` on it.
* ``_fqn_to_config_handler``, in this order:

  1. every top-level parameter whose fqn is a key: its config is applied to that parameter
     (``handler(module, c, parameter_name=…)``); a ``None`` removes it from the list step 3
     walks — by ``top_level_params.pop(i)`` with ``i`` its index among *all* the module's
     parameters, so a second ``None`` after the first pops the wrong entry or fails
     (``IndexError``, refused here);
  2. if no parameter key matched: the module's exact fqn — its config on the module (its
     ``weight``), or ``None``: nothing; done;
  3. every remaining parameter against every ``re:`` key **in the map's order, without
     stopping**: each match counts as found, and each non-``None`` config is applied in turn
     (a ``None`` does not shield the parameter from a later regex; torchao PR #4902, open);
  4. if nothing was found: the **first** ``re:`` key that fully matches the module's fqn, its
     config or ``None``: done (``None`` skips the module — the fix of torchao #3867, merged
     before 0.18: a regex to ``None`` is no longer overridden by ``_default``);
  5. if nothing was found: ``_default``'s config, if any.

  So: exact parameter > exact module > parameter regexes > first module regex > ``_default``.

What qrt refuses, where torchao does something qrt has no reading for (:class:`Refusal`): a
config applied to a module that is not an ``nn.Linear`` (torchao quantizes any module's
``weight`` — an ``Embedding``, a norm — or fails on one without), to a parameter other than a
Linear's ``weight`` (a regex such as ``re:.*q_proj.*`` matches ``q_proj.bias`` too, and
torchao quantizes the bias), a weight two configs are applied to, and a ``PerGroup`` that does
not divide the weight's input features (``get_block_size`` fails). ``Int4WeightOnlyConfig``
leaves such a weight float instead, and so does qrt.

transformers' ``modules_to_not_convert`` (``quantizers/quantizers_utils.py``,
``should_convert_module``) is applied to the parameter's name ``MODULE.weight``: a key skips it
when ``re.match(f"(?:{key})(?:(?<=\\.)|(?=\\.|$))", name)`` — the key matches from the start up
to a module boundary — or the name ends with the key. With ``None`` transformers computes the
list on the model (``quantizers/base.py``, ``get_keys_to_not_convert``): both ends of every
tied weight, the module of the model's last parameter, and the output embeddings (here: a
module named ``lm_head``, what ``*ForCausalLM.get_output_embeddings`` returns). Either way the
model class's ``_keep_in_fp32_modules`` are added (``get_modules_to_not_convert``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from qrt.frontends.compressed_tensors.match import ModuleView, module_views
from qrt.frontends.compressed_tensors.transformers_skips import default_not_convert, keep_in_fp32, param_fqn, should_convert
from qrt.frontends.torchao.config import DEFAULT_KEY, Entry, TorchAoFqnConfig
from qrt.inventory.model import Inventory

__all__ = ["ModuleReading", "Refusal", "module_params", "read_module", "read_model"]

NON_DYNAMIC = "torch.nn.modules.linear.NonDynamicallyQuantizableLinear"


@dataclass(frozen=True)
class Refusal:
    """Why qrt does not read what torchao does to a module, and the key that does it."""

    message: str
    entry: Entry | None


@dataclass(frozen=True)
class ModuleReading:
    """torchao's reading of one module: the keys that reach it (map order), whether
    ``quantize_`` visits it and why, what is applied to which parameter, and the entry that
    decided its weight (``None`` config: left float)."""

    module: str
    candidates: tuple[Entry, ...] = ()
    visited: str | None = None
    applied: tuple[tuple[str, Entry], ...] = ()
    decided_by: Entry | None = None
    steps: tuple[str, ...] = ()
    refusal: Refusal | None = None
    skipped_by: str | None = None
    """transformers' ``modules_to_not_convert`` entry that keeps the weight float."""

    @property
    def weight_entry(self) -> Entry | None:
        for name, entry in self.applied:
            if name == "weight":
                return entry
        return None


class Matcher:
    """The map's keys, indexed: exact keys by name, ``re:`` keys as one RE2 set (a map of
    thousands of regexes matches each name in one pass)."""

    def __init__(self, config: TorchAoFqnConfig) -> None:
        from qrt.ir.regex_set import RegexSet

        self.exact = {e.key: e for e in config.entries if not e.regex}
        self.regexes = [e for e in config.entries if e.regex]
        self._set = RegexSet([e.key[3:] for e in self.regexes])
        self._hits: dict[str, tuple[Entry, ...]] = {}

    def regex_hits(self, name: str) -> tuple[Entry, ...]:
        """The ``re:`` entries that fully match ``name``, in map order."""
        if name not in self._hits:
            self._hits[name] = tuple(self.regexes[i] for i in sorted(self._set.match(name))) if self._set else ()
        return self._hits[name]

    def any_hit(self, name: str) -> bool:
        return name in self.exact or bool(self.regex_hits(name))


def module_params(inv: Inventory) -> dict[str, list[tuple[str, tuple[int, ...] | None]]]:
    """Each module's top-level parameters (name, shape), in registration order, from its
    ``module_state`` sites."""
    out: dict[str, list[tuple[str, tuple[int, ...] | None]]] = {}
    for site in inv.sites:
        if site.role == "module_state" and isinstance(site.key, str) and "." not in site.key:
            out.setdefault(site.module, []).append((site.key, site.shape))
    return out


def _is_linear(view: ModuleView) -> bool:
    return view.kind == "linear" and NON_DYNAMIC not in view.classes


def read_module(view: ModuleView, params: list[tuple[str, tuple[int, ...] | None]],
                config: TorchAoFqnConfig, matcher: Matcher | None = None) -> ModuleReading:
    """``quantize_``'s visit and ``_fqn_to_config_handler`` on one module (module docstring)."""
    m = matcher or Matcher(config)
    fqn = view.name
    names = [p for p, _ in params]
    reaching = {e.index for e in m.regex_hits(fqn)}
    for name in (fqn, *(param_fqn(fqn, p) for p in names)):
        if name != DEFAULT_KEY and name in m.exact:
            reaching.add(m.exact[name].index)
        reaching.update(e.index for e in m.regex_hits(name))
    candidates = tuple(config.entries[i] for i in sorted(reaching))
    default = m.exact.get(DEFAULT_KEY)
    exact = m.exact.get(fqn) if fqn != DEFAULT_KEY else None
    if exact is not None or m.regex_hits(fqn):
        visited = "its name is a key or matches one"
    elif candidates:
        visited = "one of its parameters' names is a key or matches one"
    elif default is not None and _is_linear(view):
        visited = "it is an nn.Linear and the map has _default"
    else:
        return ModuleReading(fqn, candidates)
    if default is not None and (candidates or _is_linear(view)):
        candidates = (*candidates, default)
    steps: list[str] = [f"quantize_ visits it: {visited}"]
    applied: list[tuple[str, Entry]] = []
    found = False
    remaining = list(names)
    decided: Entry | None = None
    # 1. exact parameter keys
    for i, name in enumerate(names):
        entry = m.exact.get(param_fqn(fqn, name))
        if entry is None:
            continue
        found = True
        decided = decided or entry
        if entry.config is None:
            steps.append(f"1. parameter key {entry.key!r} → None: {name} is left out of the regex step "
                         f"(top_level_params.pop({i}))")
            if i >= len(remaining):
                return ModuleReading(fqn, candidates, visited, steps=tuple(steps), refusal=Refusal(
                    f"torchao fails on {fqn}: a second parameter key to None pops index {i} of a list of "
                    f"{len(remaining)} (IndexError in _fqn_to_config_handler)", entry))
            remaining.pop(i)
        else:
            steps.append(f"1. parameter key {entry.key!r} → {entry.config.text} on {name}")
            applied.append((name, entry))
    # 2. exact module key
    if not found and exact is not None:
        steps.append(f"2. module key {exact.key!r} → {exact.config.text if exact.config else 'None'}")
        if exact.config is not None:
            applied.append(("weight", exact))
        return _done(fqn, candidates, visited, applied, exact, steps)
    # 3. parameter regexes: every match, in map order, no stop
    for name in remaining:
        for entry in m.regex_hits(param_fqn(fqn, name)):
            found = True
            decided = decided or entry
            steps.append(f"3. {entry.key!r} matches parameter {param_fqn(fqn, name)} → "
                         f"{entry.config.text if entry.config else 'None'}")
            if entry.config is not None:
                applied.append((name, entry))
    # 4. first module regex
    first = m.regex_hits(fqn)[:1]
    if not found and first:
        entry = first[0]
        steps.append(f"4. first regex matching the module: {entry.key!r} → "
                     f"{entry.config.text if entry.config else 'None'}")
        if entry.config is not None:
            applied.append(("weight", entry))
        return _done(fqn, candidates, visited, applied, entry, steps)
    # 5. _default
    if not found and default is not None:
        steps.append(f"5. no key decided it: _default → {default.config.text if default.config else 'None'}")
        if default.config is not None:
            applied.append(("weight", default))
        return _done(fqn, candidates, visited, applied, default, steps)
    if found and default is not None and not applied:
        steps.append("a parameter key matched (to None), so _default is not applied")
    return _done(fqn, candidates, visited, applied, decided, steps)


def _done(fqn: str, candidates: tuple[Entry, ...], visited: str, applied: list[tuple[str, Entry]],
          decided: Entry | None, steps: list[str]) -> ModuleReading:
    return ModuleReading(fqn, candidates, visited, tuple(applied), decided, tuple(steps))


def _refusal(view: ModuleView, reading: ModuleReading,
             params: list[tuple[str, tuple[int, ...] | None]]) -> Refusal | None:
    if not reading.applied:
        return None
    name, entry = reading.applied[0]
    kind = view.classes[0].rpartition(".")[2] if view.classes else "?"
    if view.kind != "linear":
        return Refusal(f"torchao applies {entry.config.text} to {view.name} ({kind}), which is not an nn.Linear: "  # type: ignore[union-attr]
                       "it quantizes such a module's weight, or fails on one without; qrt reads torchao configs "
                       "on Linear weights only", entry)
    for name, entry in reading.applied:
        if name != "weight":
            return Refusal(f"torchao applies {entry.config.text} to {view.name}.{name} (the {name}, not the "  # type: ignore[union-attr]
                           f"weight): {entry.key!r} matches that parameter's name; qrt reads torchao configs on "
                           "Linear weights only", entry)
    if len(reading.applied) > 1:
        keys = ", ".join(repr(e.key) for _, e in reading.applied)
        return Refusal(f"torchao applies {len(reading.applied)} configs in turn to {view.name}.weight ({keys}: "
                       "every parameter regex that matches is applied, torchao PR #4902), quantizing a quantized "
                       "weight; qrt refuses it", reading.applied[1][1])
    shape = dict(params).get("weight")
    mapped = entry.config
    assert mapped is not None
    if mapped.group_size and not mapped.skips_indivisible and shape and shape[-1] % mapped.group_size:
        return Refusal(f"torchao fails on {view.name}: {mapped.text} groups of {mapped.group_size} do not divide its "
                       f"weight's {shape[-1]} input features (get_block_size asserts it)", entry)
    return None


@dataclass
class ModelReading:
    """Every module's reading, with the model's facts it needed."""

    modules: dict[str, ModuleReading] = field(default_factory=dict)
    views: dict[str, ModuleView] = field(default_factory=dict)
    params: dict[str, list[tuple[str, tuple[int, ...] | None]]] = field(default_factory=dict)
    not_convert: tuple[str, ...] = ()


def read_model(config: TorchAoFqnConfig, inv: Inventory) -> ModelReading:
    """The reading of every module; refusals are recorded, not raised (the compiler raises)."""
    views = {v.name: v for v in module_views(inv)}
    params = module_params(inv)
    out = ModelReading(views=views, params=params)
    if config.transformers:
        given = config.modules_to_not_convert
        out.not_convert = (*(given if given is not None else default_not_convert(inv)), *keep_in_fp32(inv))
    matcher = Matcher(config)
    for name, view in views.items():
        reading = read_module(view, params.get(name, []), config, matcher)
        skipped = should_convert(f"{name}.weight", out.not_convert) if config.transformers and reading.applied else None
        refusal = None if skipped else reading.refusal or _refusal(view, reading, params.get(name, []))
        if refusal is not None or skipped is not None:
            reading = ModuleReading(reading.module, reading.candidates, reading.visited, reading.applied,
                                    reading.decided_by, reading.steps, refusal, skipped)
        out.modules[name] = reading
    return out
