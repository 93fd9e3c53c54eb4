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


def test_moved_plumbing_still_works_from_the_top_with_a_warning() -> None:
    """IR and inventory plumbing moved to ``qrt.ir`` and ``qrt.inventory``; the old names keep
    working (a ``DeprecationWarning`` says where they live now), and the package faces show
    them with an ``__all__`` of their own."""
    import warnings

    import qrt.inventory
    import qrt.ir

    for name, home in (("Selector", qrt.ir), ("TensorUse", qrt.inventory), ("inventory_to_json", qrt.inventory)):
        assert name not in qrt.__all__ and name in home.__all__
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            assert getattr(qrt, name) is getattr(home, name)
        assert any(issubclass(w.category, DeprecationWarning) and f"qrt.{home.__name__.split('.')[-1]}.{name}"
                   in str(w.message) for w in caught), caught
    for face in (qrt.ir, qrt.inventory):
        assert all(hasattr(face, name) for name in face.__all__)
