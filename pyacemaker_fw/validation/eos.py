"""The equation of state: energies over a volume scan, fitted with ASE's Birch–Murnaghan."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from ase import Atoms
from ase.eos import EquationOfState
from ase.units import GPa

from pyacemaker_fw.oracles.ase_adapter import Model
from pyacemaker_fw.validation.relax import labelled_relaxed
from pyacemaker_fw.validation.report import EOSResult
from pyacemaker_fw.validation.symmetry import conventional_atom_count, is_cubic

MAX_RECENTRING = 3
"""Scans re-centred on the fitted V0 when it falls outside the middle half of the scan."""


def _scan(
    structure: Atoms, model: Model, points: int, volume_range: float, relax: bool
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    cells = []
    for factor in np.linspace(1.0 - volume_range, 1.0 + volume_range, points):
        cell = structure.copy()
        cell.calc = None
        cell.set_cell(structure.cell.array * factor ** (1.0 / 3.0), scale_atoms=True)
        cells.append(cell)
    labelled = labelled_relaxed(model, cells, relax)
    n_atoms = len(structure)
    volumes = np.array([atoms.get_volume() / n_atoms for atoms in labelled])
    energies = np.array([atoms.get_potential_energy() / n_atoms for atoms in labelled])
    return volumes, energies


def equation_of_state(
    structure: Atoms,
    model: Model,
    *,
    points: int = 7,
    volume_range: float = 0.06,
    relax_internal: bool = True,
) -> EOSResult:
    """E(V) over V × (1 ± ``volume_range``), positions relaxed where forces remain.

    The scan starts at ``structure``'s volume and moves to the fitted V0 until V0 lies in its
    middle half, so a model with a very different lattice constant is fitted, not extrapolated.
    """
    centre = structure.copy()
    for _ in range(MAX_RECENTRING):
        volumes, energies = _scan(centre, model, points, volume_range, relax_internal)
        volume, energy, modulus = EquationOfState(volumes, energies, eos="birchmurnaghan").fit()
        centred_volume = centre.get_volume() / len(centre)
        if abs(volume / centred_volume - 1.0) <= volume_range / 2.0:
            break
        centre.set_cell(centre.cell.array * (volume / centred_volume) ** (1 / 3), scale_atoms=True)
    lattice = None
    if is_cubic(structure):
        lattice = float((volume * conventional_atom_count(structure)) ** (1.0 / 3.0))
    return EOSResult(
        volume=float(volume),
        energy=float(energy),
        bulk_modulus=float(modulus / GPa),
        lattice_constant=lattice,
        volumes=volumes.tolist(),
        energies=energies.tolist(),
    )
