"""The starter-pack corpus: real failures, each built in an empty directory and run for real.

A :class:`Case` builds its scenario in a fresh directory and returns the argv to
run there; ``expect`` says what tether must do with it. The tests of each family
and ``benchmarks/bench_starter.py`` both read the cases, so a figure in the
benchmark is the same scenario a test asserts.

Each family group keeps its cases in ``tests/starter/corpus_<group>.py`` as a
module-level ``CASES: list[Case]``; :func:`ALL_CASES` gathers every such module.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

Expect = Literal["recovered", "not-fired", "recognised"]


@dataclass(frozen=True)
class Case:
    """One scenario of the corpus.

    Attributes:
        family: the family it belongs to (a row of the benchmark table), e.g. ``"missing-output-dir"``.
        name: short and unique within the family, e.g. ``"python-open-w"``.
        setup: builds the scenario in the given empty directory (absolute) and returns the argv to run there.
        expect: ``"recovered"`` (a rule fires and the re-run passes), ``"not-fired"`` (no rule may fire:
            a passing command, a read-side twin, an unrelated failure) or ``"recognised"`` (a rule
            fires, changes nothing, and the command's own exit code passes through).
        packs: opt-in packs the engine must enable for this case.
        needs: tools that must be on PATH; the case is skipped when one is missing.
    """

    family: str
    name: str
    setup: Callable[[Path], list[str]]
    expect: Expect
    packs: tuple[str, ...] = ()
    needs: tuple[str, ...] = ()

    @property
    def id(self) -> str:
        """``family/name``, the case's id in test ids and the benchmark."""
        return f"{self.family}/{self.name}"


def ALL_CASES() -> list[Case]:
    """Every case of every ``tests/starter/corpus_*.py`` module present, modules in name order."""
    here = Path(__file__).parent
    cases: list[Case] = []
    for info in sorted(pkgutil.iter_modules([str(here)]), key=lambda m: m.name):
        if info.name.startswith("corpus_"):
            module = importlib.import_module(f"{__package__}.{info.name}")
            cases.extend(module.CASES)
    return cases
