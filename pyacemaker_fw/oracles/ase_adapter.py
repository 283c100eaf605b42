"""An oracle seen as an ASE calculator, for code that needs forces again and again
(relaxations, MD, finite differences) and should not care whether a model is a calculator or
a :class:`BaseOracle`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ase import Atoms
from ase.calculators.calculator import Calculator, all_changes

from pyacemaker_fw.core.base import BaseOracle

Model = Calculator | BaseOracle
"""A potential or reference: an ASE calculator, or an oracle that labels structures."""


class OracleCalculator(Calculator):
    """An ASE calculator that asks an oracle for each new configuration."""

    def __init__(self, oracle: BaseOracle) -> None:
        Calculator.__init__(self)
        self.implemented_properties = ["energy", "free_energy", "forces", "stress"]
        self.oracle = oracle

    def calculate(
        self,
        atoms: Atoms | None = None,
        properties: Sequence[str] = ("energy",),
        system_changes: Sequence[str] = tuple(all_changes),
    ) -> None:
        Calculator.calculate(self, atoms, properties, system_changes)
        assert self.atoms is not None
        bare = self.atoms.copy()
        bare.calc = None
        labelled = self.oracle.label([bare])[0]
        results: dict[str, Any] = dict(labelled.calc.results)
        results.setdefault("free_energy", results["energy"])
        self.results = results


def as_calculator(model: Model) -> Calculator:
    return OracleCalculator(model) if isinstance(model, BaseOracle) else model
