"""Elastic constants from central finite strains: C_ij = dσ_i/dε_j (Voigt, GPa)."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from ase import Atoms
from ase.units import GPa

from pyacemaker_fw.oracles.ase_adapter import Model
from pyacemaker_fw.validation.relax import labelled_relaxed
from pyacemaker_fw.validation.report import ElasticResult
from pyacemaker_fw.validation.symmetry import is_cubic

VOIGT_PAIRS = ((0, 0), (1, 1), (2, 2), (1, 2), (0, 2), (0, 1))
"""ASE's Voigt order: xx, yy, zz, yz, xz, xy."""


def strain_tensor(component: int, amount: float) -> npt.NDArray[np.float64]:
    """The symmetric strain of one Voigt component; shears use engineering strain γ = 2ε."""
    p, q = VOIGT_PAIRS[component]
    strain = np.zeros((3, 3))
    if p == q:
        strain[p, q] = amount
    else:
        strain[p, q] = strain[q, p] = amount / 2.0
    return strain


def _deformed(structure: Atoms, strain: npt.NDArray[np.float64]) -> Atoms:
    cell: Atoms = structure.copy()
    cell.calc = None
    cell.set_cell(structure.cell.array @ (np.eye(3) + strain), scale_atoms=True)
    return cell


def elastic_constants(
    structure: Atoms, model: Model, *, strain: float = 0.005, relax_internal: bool = True
) -> ElasticResult:
    """The 6×6 stiffness of ``structure`` (which should sit at the model's zero pressure).

    Each of the six strains is applied as ±``strain``; with ``relax_internal`` the atoms relax
    inside every strained cell, which matters wherever the atoms are not all inversion
    centres (C44 of diamond silicon halves).
    """
    cells = [
        _deformed(structure, strain_tensor(component, sign * strain))
        for component in range(6)
        for sign in (1.0, -1.0)
    ]
    labelled = labelled_relaxed(model, cells, relax_internal)
    stresses = np.array([atoms.get_stress(voigt=True) for atoms in labelled])
    stiffness = np.zeros((6, 6))
    for component in range(6):
        plus, minus = stresses[2 * component], stresses[2 * component + 1]
        stiffness[:, component] = (plus - minus) / (2.0 * strain) / GPa
    symmetric = (stiffness + stiffness.T) / 2.0
    return ElasticResult(
        voigt=symmetric.tolist(), cubic=is_cubic(structure), relaxed_ions=relax_internal
    )
