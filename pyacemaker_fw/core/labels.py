"""Attach and read labels (energy, forces, stress) on ASE ``Atoms``."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
from ase import Atoms
from ase.calculators.singlepoint import SinglePointCalculator

from pyacemaker_fw.core import keys


def attach_labels(
    atoms: Atoms,
    energy: float,
    forces: npt.ArrayLike,
    source: str,
    stress: npt.ArrayLike | None = None,
    **info: Any,
) -> Atoms:
    """Return a copy of ``atoms`` carrying the labels and their source in ``info``."""
    labelled: Atoms = atoms.copy()
    results: dict[str, Any] = {"energy": float(energy), "forces": np.asarray(forces, dtype=float)}
    if stress is not None:
        results["stress"] = np.asarray(stress, dtype=float)
    labelled.calc = SinglePointCalculator(labelled, **results)
    labelled.info[keys.LABEL_SOURCE] = source
    labelled.info.update(info)
    return labelled


def has_labels(atoms: Atoms) -> bool:
    calc = atoms.calc
    return calc is not None and "energy" in calc.results and "forces" in calc.results
