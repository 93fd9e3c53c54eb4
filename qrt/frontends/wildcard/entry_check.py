"""One wildcard entry's fields checked into an :class:`~.model.Entry`, as ModelOpt 0.47 reads
them, refusing what it would silently misread.

The readers (:mod:`.document`: the list form, a single entry, the legacy dict) find an entry's
fields and where each was written, and hand them over as one :class:`EntryFields`; the checks
here are the same whichever form the entry came from. :class:`ReadContext` is the file being
read and how its errors are made.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from yaml.error import Mark

from qrt.errors import did_you_mean
from qrt.frontends.wildcard.attributes import ATTRIBUTE_FIELDS, validate_attributes
from qrt.frontends.wildcard.errors import WildcardConfigError
from qrt.frontends.wildcard.model import Entry, KeyName, entry_label, freeze
from qrt.frontends.wildcard.positions import locator, mark_of, origin_at, own_mark, position
from qrt.ops.torch_nn import TORCH_NN_CLASSES

__all__ = ["EntryFields", "ReadContext", "check_entry", "qualified_parent_class"]


@dataclass(frozen=True)
class ReadContext:
    """The document being read: ``file`` labels positions and origins, ``root`` is the mark
    of the document's root (for a document that is a bare scalar)."""

    file: str
    root: Mark | None = None

    def error(self, message: str, mark: Mark | None, *, hint: str | None = None,
              offending: Any = None) -> WildcardConfigError:
        return WildcardConfigError(
            message,
            location=position(self.file, mark),
            hint=hint,
            offending=None if offending is None else repr(offending),
        )


@dataclass(frozen=True)
class EntryFields:
    """An entry's fields as written, each with where it was written.

    ``index`` and ``path`` name the entry (``quant_cfg[3]``, or a legacy dict's key path);
    ``mark`` is the entry itself. ``has_cfg``/``has_enable`` tell a key written as null from
    a key not written at all (``cfg: null`` is refused, no ``cfg`` is a toggle).
    """

    index: int
    path: str
    mark: Mark | None
    key_name: KeyName
    pattern: Any
    pattern_mark: Mark | None
    has_cfg: bool
    cfg: Any
    cfg_mark: Mark | None
    has_enable: bool
    enable: Any
    enable_mark: Mark | None
    parent_class: Any
    parent_mark: Mark | None


def qualified_parent_class(name: str) -> str:
    """The fully-qualified class a ``parent_class`` names.

    ModelOpt names classes by its registry keys: ``nn.Linear`` is ``torch.nn.Linear``
    (``torch.nn.modules.linear.Linear``). Any other name is taken as fully-qualified already
    (other ModelOpt keys such as ``hf.FP8Linear`` stay as they are). Raises ``ValueError`` for
    an ``nn.`` name that is no ``torch.nn`` module, a short ``torch.nn.X`` spelling, or a bare
    name (``Linear``: ModelOpt 0.47 refuses it, and it would name any class of that name).
    """
    if "." not in name:
        fqn = TORCH_NN_CLASSES.get(name)
        raise ValueError(
            f"{name!r} is a bare class name, which names no class for ModelOpt (its registry "
            f"keys are 'nn.Linear'-style) and would be ambiguous for qrt; write "
            + (f"'nn.{name}' (or {fqn!r})" if fqn else "the fully-qualified class name (module.Class)")
        )
    for prefix in ("nn.", "torch.nn."):
        if name.startswith(prefix) and "." not in name[len(prefix):]:
            short = name[len(prefix):]
            if short in TORCH_NN_CLASSES:
                if prefix == "nn.":
                    return TORCH_NN_CLASSES[short]
                raise ValueError(
                    f"{name!r} is not how ModelOpt names a class; write 'nn.{short}' (its registry "
                    f"name) or {TORCH_NN_CLASSES[short]!r} (fully-qualified)"
                )
            close = did_you_mean(f"nn.{short}", [f"nn.{c}" for c in TORCH_NN_CLASSES])
            raise ValueError(
                f"{name!r} names no torch.nn module class" + (f" ({close})" if close else "")
                + "; write 'nn.<Class>' for a torch.nn module, or a fully-qualified class name"
            )
    return name


def check_entry(ctx: ReadContext, fields: EntryFields) -> Entry:
    """The checked :class:`Entry` of ``fields``; the first problem is a located
    :class:`WildcardConfigError` naming the entry and what would be valid."""
    index, path, mark, key_name = fields.index, fields.path, fields.mark, fields.key_name
    pattern, pattern_mark = fields.pattern, fields.pattern_mark
    has_cfg, cfg, cfg_mark = fields.has_cfg, fields.cfg, fields.cfg_mark
    has_enable, enable, enable_mark = fields.has_enable, fields.enable, fields.enable_mark
    parent_class, parent_mark = fields.parent_class, fields.parent_mark
    label = entry_label(index, path)
    if not isinstance(pattern, str) or not pattern:
        raise ctx.error(
            f"{label}: {key_name} must be a non-empty glob over quantizer names such as "
            f"'*weight_quantizer' or 'model.layers.*.mlp.*'; got {pattern!r}",
            pattern_mark or mark,
        )
    if parent_class is not None:
        if not isinstance(parent_class, str) or not parent_class:
            raise ctx.error(
                f"{label}: parent_class must be a class name such as 'nn.Linear' (or a "
                f"fully-qualified name); got {parent_class!r}",
                parent_mark or mark,
            )
        try:
            qualified_parent_class(parent_class)
        except ValueError as exc:
            raise ctx.error(f"{label}: parent_class: {exc}", parent_mark or mark) from None
    if has_enable and not isinstance(enable, bool):
        raise ctx.error(
            f"{label}: enable must be true or false, got {enable!r}", enable_mark or mark,
            hint="YAML reads unquoted true/false (and yes/no) as booleans; null is not one",
        )
    if not has_enable:
        enable = None
    stages: list[Any] = []
    if has_cfg and cfg is None:
        if enable is None:
            raise ctx.error(
                f"{label}: cfg is null and there is no enable, so the entry says nothing",
                cfg_mark or mark,
                hint="write the attributes under cfg, or drop cfg and write enable: true to "
                "switch quantizers on (ModelOpt 0.47 reads cfg: null as that switch)",
            )
    elif has_cfg:
        if isinstance(cfg, Mapping):
            stages = [cfg]
        elif isinstance(cfg, (list, tuple)) and all(isinstance(s, Mapping) for s in cfg):
            stages = list(cfg)
        else:
            raise ctx.error(
                f"{label}: cfg must be a dict of quantizer attributes, or a list of such dicts "
                f"for a sequential quantizer; got {cfg!r}",
                cfg_mark or mark,
                hint=f"valid attributes: {', '.join(ATTRIBUTE_FIELDS)}",
            )
        if not any(stages):  # {}, [], or [{}, {}]
            if enable is not False:
                raise ctx.error(
                    f"{label}: cfg is empty; an empty cfg is valid only with enable: false "
                    "(a switch off), as in ModelOpt 0.47",
                    cfg_mark or mark,
                    hint="write attributes under cfg, or drop cfg and write enable: true to "
                    "switch quantizers on keeping their attributes",
                )
            stages = []
    if not has_cfg and enable is None:
        raise ctx.error(
            f"{label}: the entry needs cfg (set attributes) or enable (switch on or off), "
            "or both",
            mark,
            hint="{quantizer_name: '*', enable: false} switches quantizers off; "
            "{quantizer_name: '*weight_quantizer', cfg: {num_bits: 8, axis: 0}} configures "
            "them",
        )
    effective = True if enable is None else enable
    sequential = not isinstance(cfg, Mapping)
    for i, stage in enumerate(stages):
        where = f"{label}.cfg" + (f"[{i}]" if sequential else "")
        stage_mark = own_mark(stage) or (mark_of(cfg, i) if sequential else None) or cfg_mark
        attrs = validate_attributes(
            stage, where=where, locate=locator(ctx.file, stage, stage_mark or mark)
        )
        if "enable" in attrs and attrs["enable"] != effective:
            raise ctx.error(
                f"{where}: enable: {str(attrs['enable']).lower()} inside cfg contradicts the "
                f"entry, which leaves the quantizer {'enabled' if effective else 'disabled'}: "
                "ModelOpt 0.47 ignores enable inside cfg (the entry's enable, default true, "
                "wins)",
                mark_of(stage, "enable") or stage_mark or mark,
                hint="write enable beside cfg, on the entry itself",
            )
    frozen_cfg = None
    if has_cfg and cfg is not None:
        frozen_cfg = freeze(cfg)
    return Entry(
        pattern=pattern,
        key_name=key_name,
        cfg=frozen_cfg,
        enable=enable,
        parent_class=parent_class,
        origin=origin_at(ctx.file, mark, path),
        index=index,
    )
