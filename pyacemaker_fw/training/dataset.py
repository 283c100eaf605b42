"""Labelled ``Atoms`` to and from pacemaker's dataset: a pandas DataFrame pickle.

pacemaker reads the columns ``ase_atoms``, ``energy`` (total, eV) and ``forces`` (N x 3, eV/Å).
When both ``w_energy`` (one number per structure) and ``w_forces`` (one number per atom) are
present it applies no weighting policy of its own and only normalises them (``pyace/
preparedata.py``: ``apply_weights`` then ``normalize_energy_forces_weights``), so an atom with
``w_forces = 0`` adds nothing to the loss. That is how buffer atoms and passivants of a cutout
teach nothing.

Weights come from the ``Atoms``:

- ``arrays['force_weight']`` per atom (default 1);
- ``info['energy_weight']`` per structure. Its default is 1, except for a structure with some
  zero-weight atom: its total energy includes atoms that must teach nothing, so it is 0.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pandas as pd
from ase import Atoms

from pyacemaker_fw.core import keys
from pyacemaker_fw.core.labels import attach_labels, has_labels

ATOMS_COLUMN = "ase_atoms"
ENERGY_COLUMN = "energy"
CORRECTED_ENERGY_COLUMN = "energy_corrected"
FORCES_COLUMN = "forces"
ENERGY_WEIGHT_COLUMN = "w_energy"
FORCE_WEIGHT_COLUMN = "w_forces"
NAME_COLUMN = "name"


class DatasetError(ValueError):
    """The structures cannot make a pacemaker dataset."""


def force_weights(atoms: Atoms) -> npt.NDArray[np.float64]:
    """Per-atom force weights: ``arrays['force_weight']``, or 1 for every atom."""
    if keys.FORCE_WEIGHT in atoms.arrays:
        weights = np.asarray(atoms.arrays[keys.FORCE_WEIGHT], dtype=float).reshape(-1)
    else:
        weights = np.ones(len(atoms))
    if weights.shape != (len(atoms),) or np.any(weights < 0) or not np.all(np.isfinite(weights)):
        raise DatasetError(f"{keys.FORCE_WEIGHT} must be {len(atoms)} finite numbers >= 0")
    return weights


def energy_weight(atoms: Atoms) -> float:
    """``info['energy_weight']``, else 1, or 0 when some atom carries no force weight."""
    if keys.ENERGY_WEIGHT in atoms.info:
        weight = float(atoms.info[keys.ENERGY_WEIGHT])
        if weight < 0 or not np.isfinite(weight):
            raise DatasetError(f"{keys.ENERGY_WEIGHT} must be a finite number >= 0, got {weight}")
        return weight
    return 1.0 if np.all(force_weights(atoms) > 0) else 0.0


def _check(structures: Sequence[Atoms], elements: Sequence[str] | None) -> None:
    if not structures:
        raise DatasetError("no structures to fit")
    for index, atoms in enumerate(structures):
        if not has_labels(atoms):
            raise DatasetError(f"structure {index} ({atoms.get_chemical_formula()}) has no labels")
        if elements is not None:
            foreign = sorted(set(atoms.get_chemical_symbols()) - set(elements))
            if foreign:
                raise DatasetError(
                    f"structure {index} contains {foreign}, which the potential's elements "
                    f"{list(elements)} do not include"
                )


def _name(atoms: Atoms, index: int) -> str:
    return str(atoms.info.get(keys.STRUCTURE_ID, f"structure_{index}"))


def structures_to_dataframe(
    structures: Sequence[Atoms], elements: Sequence[str] | None = None
) -> pd.DataFrame:
    """The pacemaker DataFrame of labelled structures, with their weights."""
    _check(structures, elements)
    frame = pd.DataFrame(
        {
            ATOMS_COLUMN: [_bare(atoms) for atoms in structures],
            ENERGY_COLUMN: [float(atoms.get_potential_energy()) for atoms in structures],
            # What pacemaker fits when no reference energy is known: a scratch fit replaces it
            # (reference_energy: auto), an update of a potential with stored reference energies
            # recomputes it, and an update of one fitted to raw energies uses it as is.
            CORRECTED_ENERGY_COLUMN: [float(atoms.get_potential_energy()) for atoms in structures],
            FORCES_COLUMN: [np.asarray(atoms.get_forces(), dtype=float) for atoms in structures],
            ENERGY_WEIGHT_COLUMN: [energy_weight(atoms) for atoms in structures],
            FORCE_WEIGHT_COLUMN: [force_weights(atoms) for atoms in structures],
            NAME_COLUMN: [_name(atoms, i) for i, atoms in enumerate(structures)],
        }
    )
    if frame[ENERGY_WEIGHT_COLUMN].sum() <= 0 or frame[FORCE_WEIGHT_COLUMN].map(np.sum).sum() <= 0:
        raise DatasetError("every energy weight or every force weight is zero: nothing to fit")
    return frame


def _bare(atoms: Atoms) -> Atoms:
    """A copy that keeps the metadata but drops the calculator (the labels are columns)."""
    copy: Atoms = atoms.copy()
    copy.calc = None
    return copy


def write_dataset(
    structures: Sequence[Atoms], path: Path, elements: Sequence[str] | None = None
) -> Path:
    """Write the ``.pkl.gz`` dataset pacemaker and pace_activeset read."""
    structures_to_dataframe(structures, elements).to_pickle(path, compression="gzip", protocol=4)
    return path


def read_dataset(path: Path) -> list[Atoms]:
    """Labelled structures back from a dataset written by :func:`write_dataset`."""
    frame = pd.read_pickle(path, compression="gzip")
    structures = []
    for row in frame.itertuples(index=False):
        atoms: Atoms = getattr(row, ATOMS_COLUMN).copy()
        atoms.arrays[keys.FORCE_WEIGHT] = np.asarray(getattr(row, FORCE_WEIGHT_COLUMN), dtype=float)
        atoms.info[keys.ENERGY_WEIGHT] = float(getattr(row, ENERGY_WEIGHT_COLUMN))
        source = atoms.info.pop(keys.LABEL_SOURCE, "unknown")
        structures.append(
            attach_labels(atoms, getattr(row, ENERGY_COLUMN), getattr(row, FORCES_COLUMN), source)
        )
    return structures
