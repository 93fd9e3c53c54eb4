"""The public API is exactly ``qrt.__all__``; everything else is private."""

from __future__ import annotations

import qrt


def test_all_names_exist_and_are_unique() -> None:
    assert len(qrt.__all__) == len(set(qrt.__all__))
    for name in qrt.__all__:
        assert hasattr(qrt, name), name


def test_no_public_name_is_missing_from_all() -> None:
    public = {
        n for n, v in vars(qrt).items()
        if not n.startswith("_") and not getattr(v, "__name__", "").startswith("qrt.")  # subpackages
        and n not in {"annotations", "TYPE_CHECKING", "Any"}
    }
    assert public <= set(qrt.__all__) | {"__version__"}, sorted(public - set(qrt.__all__))


def test_every_qrt_error_class_is_public() -> None:
    """``except qrt.<Error>`` works for every error qrt raises: each QrtError subclass defined
    anywhere in the package is in ``__all__`` (imported lazily, so ``import qrt`` stays light)."""
    import importlib
    import inspect
    import pkgutil

    defined = set()
    for info in pkgutil.walk_packages(qrt.__path__, "qrt."):
        if info.name == "qrt.__main__":
            continue
        module = importlib.import_module(info.name)
        defined |= {n for n, c in vars(module).items()
                    if inspect.isclass(c) and issubclass(c, qrt.QrtError) and c.__module__ == info.name}
    assert defined and not defined - set(qrt.__all__), sorted(defined - set(qrt.__all__))
    assert all(issubclass(getattr(qrt, n), qrt.QrtError) for n in defined)
