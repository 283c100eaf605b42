"""Structures and potential variants shared by the MD engine tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from ase import Atoms
from ase.build import bulk

from pyacemaker_fw.core.models import PotentialFiles


def scaled_potential(source: PotentialFiles, target: Path, factor: float) -> PotentialFiles:
    """The same basis with every B-function coefficient times ``factor``: a changed potential."""
    from pyace.basis import BBasisConfiguration

    configuration = BBasisConfiguration(str(source.yaml))
    coefficients = np.asarray(configuration.get_func_coeffs(), dtype=float)
    configuration.set_func_coeffs(list(coefficients * factor))
    configuration.save(str(target))
    return PotentialFiles(yaml=target, asi=source.asi)


def si_cell(repeat: int = 2, rattle: float = 0.05, seed: int = 3) -> Atoms:
    """Diamond Si (a = 5.431 Å), 8 * repeat**3 atoms, slightly rattled."""
    atoms = bulk("Si", "diamond", a=5.431, cubic=True).repeat((repeat, repeat, repeat))
    atoms.rattle(rattle, seed=seed)
    return atoms


def nan_active_set(source: PotentialFiles, target: Path) -> PotentialFiles:
    """The same potential with a NaN row in its active set: forces stay finite, gamma does not."""
    assert source.asi is not None
    with np.load(source.asi) as stored:
        matrices = {element: np.array(stored[element]) for element in stored.files}
    for matrix in matrices.values():
        matrix[0, :] = np.nan
    with target.open("wb") as handle:
        np.savez(handle, **matrices)  # a file handle keeps the .asi name (no .npz appended)
    return PotentialFiles(yaml=source.yaml, asi=target)


def vacancy_cell(repeat: int = 3) -> Atoms:
    """Perfect diamond Si with atom 0 removed: the test ACE extrapolates there (gamma > 100)."""
    atoms = bulk("Si", "diamond", a=5.431, cubic=True).repeat((repeat, repeat, repeat))
    del atoms[0]
    return atoms
