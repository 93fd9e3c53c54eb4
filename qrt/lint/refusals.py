"""What ``qrt run`` refuses before it quantizes: the lint findings that mean a config does not
reach the model it is run on (QRT029, and QRT020 on the user's own rules that name things).

Apart from :mod:`.coverage_check` because it runs the whole linter (:func:`qrt.lint.run.lint`),
which runs the coverage check: a check that called the linter back would make an import circle.
"""

from __future__ import annotations

from collections.abc import Callable

from qrt.inventory.model import Inventory
from qrt.lint.diagnostics import Diagnostic, Severity
from qrt.lint.locate import shipped_file
from qrt.lint.run import lint

__all__ = ["run_refusals"]


def run_refusals(config: str, inventory: Inventory | Callable[[], Inventory]) -> list[Diagnostic]:
    """Why ``qrt run`` should not go on with ``config`` on this model: QRT029, and QRT020 on an
    enabling rule of the user's own file that names modules, ops or quantizers (a typo, a
    renamed layer). Not QRT020 on a rule that selects only by a class or op type the model lacks
    (``op conv2d weight`` in a preset for CNNs and LLMs alike), nor on a shipped preset's rule
    (ModelOpt's ``NVFP4_MLP_ONLY_CFG`` has Mamba entries that a Llama lacks): those are written
    for other architectures. Empty when nothing is wrong."""
    result = lint([config], inventory, select=["QRT029", "QRT020"])
    return [f for f in result.findings
            if f.code == "QRT029" or (f.severity >= Severity.WARNING and f.data.get("by_name") and not shipped_file(f.file))]
