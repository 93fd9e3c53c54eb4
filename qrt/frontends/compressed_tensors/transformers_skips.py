"""Which modules transformers keeps float when it loads a quantized checkpoint: its
``modules_to_not_convert`` matching, its default list, and the model class's fp32 modules.

transformers applies the same three to every quantization method it loads (AWQ, GPTQ,
bitsandbytes, torchao's ``TorchAoConfig``), so the checkpoint readers of this package and the
torchao front end all ask this one module (sources: ``quantizers/quantizers_utils.py``
``should_convert_module``; ``quantizers/base.py`` ``get_keys_to_not_convert`` and
``get_modules_to_not_convert``). It lives in the compressed-tensors package, where the other
checkpoint-folder readers are, because the torchao front end already builds on this package's
module views; the reverse import would make a circle.
"""

from __future__ import annotations

from qrt.frontends.compressed_tensors.match import mro_classes
from qrt.inventory.model import Inventory
from qrt.ir.patterns import regex_fullmatch
from qrt.ir.tensor_id import param_name

__all__ = ["default_not_convert", "keep_in_fp32", "param_fqn", "should_convert"]


def param_fqn(module: str, name: str) -> str:
    """The fully-qualified name of parameter ``name`` of ``module`` (the root's: ``name``)."""
    return f"{module}.{name}" if module else name


def should_convert(name: str, keys: tuple[str, ...]) -> str | None:
    """``should_convert_module(name, keys)`` negated: the key that skips ``name``, or ``None``.
    The boundary lookbehind is evaluated by trying every prefix that ends at a module boundary."""
    ends = {len(name)} | {i for i, c in enumerate(name) if c == "."} | {i + 1 for i, c in enumerate(name) if c == "."}
    for key in keys:
        if name.endswith(key) or any(regex_fullmatch(f"(?:{key})", name[:e]) for e in sorted(ends)):
            return key
    return None


def default_not_convert(inv: Inventory) -> tuple[str, ...]:
    """transformers' ``get_keys_to_not_convert`` on the inventory's model (module docstring)."""
    out: set[str] = set()
    seen: set[str] = set()
    last: str | None = None
    for site in inv.sites:
        if site.role != "module_state" or not isinstance(site.key, str) or "." in site.key:
            continue
        own = param_fqn(site.module, site.key)
        tensor = param_name(site.tensor)
        if tensor is not None and tensor != own:
            out.update({own.removesuffix(".weight"), tensor.removesuffix(".weight")})
    order = {m.name: i for i, m in enumerate(inv.modules)}
    for site in sorted((s for s in inv.sites if s.role == "module_state" and "." not in str(s.key)), key=lambda s: order.get(s.module, -1)):
        if site.tensor not in seen:
            seen.add(site.tensor)
            last = param_fqn(site.module, str(site.key))
    if last is not None:
        out.add(last.removesuffix(".weight"))
    if "lm_head" in order:
        out.add("lm_head")
    return tuple(sorted(out))


def keep_in_fp32(inv: Inventory) -> tuple[str, ...]:
    """The model class's ``_keep_in_fp32_modules`` (transformers adds them to every quantizer's
    ``modules_to_not_convert``), where the root class is transformers' own."""
    root = next((m.type for m in inv.modules if m.name == ""), None)
    if root is None or not root.startswith("transformers.") or mro_classes(root) is None:
        return ()
    import sys

    module_name, _, qualname = root.rpartition(".")
    cls = getattr(sys.modules.get(module_name), qualname, None)
    value = getattr(cls, "_keep_in_fp32_modules", None)
    return tuple(value) if isinstance(value, (list, tuple, set)) else ()
