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
