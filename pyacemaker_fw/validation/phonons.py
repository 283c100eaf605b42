"""Harmonic phonons with phonopy: finite displacements labelled by the model in one batch,
frequencies along ASE's standard band path of the primitive cell."""

from __future__ import annotations

from typing import Any

import numpy as np
from ase import Atoms
from ase.cell import Cell

from pyacemaker_fw.oracles.ase_adapter import Model
from pyacemaker_fw.validation.models import label_all
from pyacemaker_fw.validation.report import PhononResult

BAND_POINTS = 150


def _phonopy(structure: Atoms, supercell: tuple[int, int, int]) -> Any:
    from phonopy import Phonopy
    from phonopy.structure.atoms import PhonopyAtoms

    unitcell = PhonopyAtoms(
        symbols=structure.get_chemical_symbols(),
        cell=structure.cell.array,
        scaled_positions=structure.get_scaled_positions(),
    )
    return Phonopy(unitcell, supercell_matrix=np.diag(supercell), primitive_matrix="auto")


def _as_atoms(cell: Any) -> Atoms:
    return Atoms(cell.symbols, cell=cell.cell, scaled_positions=cell.scaled_positions, pbc=True)


def phonon_bands(
    structure: Atoms,
    model: Model,
    *,
    supercell: tuple[int, int, int] = (3, 3, 3),
    displacement: float = 0.01,
) -> PhononResult:
    """Force constants from the model, then frequencies on the band path and special points."""
    phonon = _phonopy(structure, supercell)
    phonon.generate_displacements(distance=displacement)
    displaced = [_as_atoms(cell) for cell in phonon.supercells_with_displacements]
    phonon.forces = [atoms.get_forces() for atoms in label_all(model, displaced)]
    phonon.produce_force_constants()
    path = Cell(phonon.primitive.cell).bandpath(npoints=BAND_POINTS)
    distances, label_positions, labels = path.get_linear_kpoint_axis()
    special = {name: _frequencies(phonon, [q])[0] for name, q in path.special_points.items()}
    return PhononResult(
        path=path.path,
        distances=np.asarray(distances).tolist(),
        frequencies=_frequencies(phonon, path.kpts),
        label_positions=np.asarray(label_positions).tolist(),
        labels=list(labels),
        special_points={name: sorted(values) for name, values in special.items()},
    )


def _frequencies(phonon: Any, qpoints: Any) -> list[list[float]]:
    phonon.run_qpoints(np.asarray(qpoints, dtype=float))
    return np.asarray(phonon.qpoints.frequencies, dtype=float).tolist()  # type: ignore[no-any-return]


def frequency_error(model: PhononResult, reference: PhononResult) -> tuple[float, str]:
    """Largest |Δf| at the shared high-symmetry points over the highest reference frequency,
    and the point where it occurs."""
    scale = max(max(band) for band in reference.frequencies)
    worst, where = 0.0, ""
    for name, ref_values in reference.special_points.items():
        values = model.special_points.get(name)
        if values is None:
            continue
        error = float(np.max(np.abs(np.array(values) - np.array(ref_values)))) / scale
        if error > worst:
            worst, where = error, name
    return worst, where
