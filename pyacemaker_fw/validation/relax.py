"""Relaxation of atoms inside a fixed cell, for the relaxed-ion properties."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from ase import Atoms
from ase.optimize import BFGS

from pyacemaker_fw.oracles.ase_adapter import Model, as_calculator
from pyacemaker_fw.validation.models import label_all

RELAX_FMAX = 1e-3
"""Force criterion of the internal relaxations (eV/Å): tight enough for stresses to 0.1 GPa."""
RELAX_STEPS = 300


def max_force(atoms: Atoms) -> float:
    return float(np.linalg.norm(atoms.get_forces(), axis=1).max()) if len(atoms) else 0.0


def labelled_relaxed(model: Model, cells: Sequence[Atoms], relax: bool) -> list[Atoms]:
    """Label ``cells`` in one batch; relax (fixed cell) and relabel those with forces left.

    Cells whose symmetry already zeroes the forces (diamond under volumetric strain) cost a
    single evaluation.
    """
    labelled = label_all(model, cells)
    if not relax:
        return labelled
    calculator = None
    for index, atoms in enumerate(labelled):
        if max_force(atoms) <= RELAX_FMAX:
            continue
        calculator = calculator or as_calculator(model)
        work = cells[index].copy()
        work.calc = calculator
        BFGS(work, logfile=None).run(fmax=RELAX_FMAX, steps=RELAX_STEPS)
        labelled[index] = label_all(model, [work])[0]
    return labelled
