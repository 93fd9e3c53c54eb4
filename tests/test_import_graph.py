"""qrt's imports follow the layer order of docs/architecture.md, with no circle.

The graph is computed from the code (``scripts/import_graph.py``), imports made inside
functions included: a lazy import hides a circle from Python, not from whoever reads or moves
the code. ``KNOWN`` lists what still breaks the rule and is being taken apart; the test fails on
anything new, and on an entry that no longer happens (so the list only shrinks).
"""

from __future__ import annotations

from scripts.import_graph import Import, circles, imports, layer, upward

# (importer, imported) arrows against the order, and circles (their sorted members joined by
# ", "), still in the code: none. A new exception needs a reason here, and a plan to remove it.
KNOWN_UPWARD: set[tuple[str, str]] = set()
KNOWN_CIRCLES: set[str] = set()


def test_no_import_against_the_layer_order() -> None:
    found = {(e.importer, e.imported) for e in upward(imports())}
    new = sorted(found - KNOWN_UPWARD)
    assert not new, "imports against the layer order (docs/architecture.md):\n" + "\n".join(
        f"  {a} (layer {layer(a)}) -> {b} (layer {layer(b)})" for a, b in new
    )
    gone = sorted(KNOWN_UPWARD - found)
    assert not gone, f"no longer in the code, take them out of KNOWN_UPWARD: {gone}"


def test_no_import_circle() -> None:
    found = {", ".join(group) for group in circles(imports())}
    new = sorted(found - KNOWN_CIRCLES)
    assert not new, "import circles (python scripts/import_graph.py shows the arrows):\n" + "\n".join(new)
    gone = sorted(KNOWN_CIRCLES - found)
    assert not gone, f"no longer in the code, take them out of KNOWN_CIRCLES: {gone}"


def test_the_graph_sees_lazy_and_relative_imports() -> None:
    """The computation itself: an import inside a function counts, and a circle made only of
    such imports is found."""
    edges = imports()
    assert any(e.lazy for e in edges), "qrt has imports inside functions; the graph must see them"
    assert ("qrt.inventory.io", "qrt.inventory.canonical") in {(e.importer, e.imported) for e in edges}
    made = [Import("qrt.a", "qrt.b", 1, False), Import("qrt.b", "qrt.c", 1, True), Import("qrt.c", "qrt.a", 1, True),
            Import("qrt.c", "qrt.d", 1, False)]
    assert circles(made) == [["qrt.a", "qrt.b", "qrt.c"]]
    assert [(e.importer, e.imported) for e in upward([Import("qrt.ir.x", "qrt.runtime.y", 1, True)])] == [
        ("qrt.ir.x", "qrt.runtime.y")]
