"""What the validator scores: any ASE calculator or any :class:`BaseOracle`, behind one face.

Oracles label whole batches at once (QE runs them as separate jobs, MACE batches them), so
batch work such as EOS volumes and phonon displacements goes through :func:`label_all`; work
that needs forces again and again (relaxations, MD) goes through :func:`as_calculator`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from ase import Atoms
from ase.calculators.calculator import Calculator, all_changes

from pyacemaker_fw.core.base import BaseOracle
from pyacemaker_fw.core.models import PotentialFiles
from pyacemaker_fw.oracles.ase_adapter import Model
from pyacemaker_fw.training.pacemaker import reference_energies


def label_all(model: Model, structures: Sequence[Atoms]) -> list[Atoms]:
    """Structures carrying the model's energy, forces and stress (a batch for oracles)."""
    if isinstance(model, BaseOracle):
        return model.label([_bare(atoms) for atoms in structures])
    labelled = []
    for atoms in structures:
        copy = _bare(atoms)
        copy.calc = model
        copy.get_potential_energy()
        copy.get_forces()
        if copy.pbc.all():
            copy.get_stress()
        labelled.append(_frozen(copy))
    return labelled


def _bare(atoms: Atoms) -> Atoms:
    copy: Atoms = atoms.copy()
    copy.calc = None
    return copy


def _frozen(atoms: Atoms) -> Atoms:
    """A copy holding the calculator's results, so the next structure cannot overwrite them."""
    from ase.calculators.calculator import all_properties
    from ase.calculators.singlepoint import SinglePointCalculator

    frozen = _bare(atoms)
    results = {k: v for k, v in atoms.calc.results.items() if k in all_properties}
    frozen.calc = SinglePointCalculator(frozen, **results)
    return frozen


class ShiftedCalculator(Calculator):
    """Another calculator's results with pacemaker's reference energies added back."""

    def __init__(self, inner: Calculator, per_element: dict[str, float], shift: float) -> None:
        Calculator.__init__(self)
        self.inner = inner
        self.implemented_properties = list(inner.implemented_properties)
        self.per_element = per_element
        self.shift = shift

    def calculate(
        self,
        atoms: Atoms | None = None,
        properties: Sequence[str] = ("energy",),
        system_changes: Sequence[str] = tuple(all_changes),
    ) -> None:
        Calculator.calculate(self, atoms, properties, system_changes)
        assert self.atoms is not None
        self.inner.calculate(self.atoms, properties, system_changes)
        results: dict[str, Any] = dict(self.inner.results)
        offsets = np.array(
            [self.per_element.get(s, 0.0) - self.shift for s in self.atoms.get_chemical_symbols()]
        )
        for key in ("energy", "free_energy"):
            if key in results:
                results[key] = float(results[key] + offsets.sum())
        if "energies" in results:
            results["energies"] = np.asarray(results["energies"]) + offsets
        self.results = results


def ace_calculator(potential: PotentialFiles) -> Calculator:
    """pyace's calculator on the B-basis, with the active set when there is one (gamma),
    on the oracle's energy scale."""
    from pyace import PyACECalculator

    calculator = PyACECalculator(str(Path(potential.yaml)))
    if potential.asi is not None:
        calculator.set_active_set(str(Path(potential.asi)))
    per_element, shift = reference_energies(Path(potential.yaml))
    if not per_element and not shift:
        ace: Calculator = calculator
        return ace
    return ShiftedCalculator(calculator, per_element, shift)
