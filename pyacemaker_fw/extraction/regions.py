"""Core/buffer regions and force weights of the atoms selected around the centres."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from ase import Atoms

from pyacemaker_fw.config import CutoutConfig
from pyacemaker_fw.core import keys
from pyacemaker_fw.extraction.neighbours import LocalAtoms

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]


def force_weights(distance: FloatArray, core_radius: float, taper_width: float) -> FloatArray:
    """1 inside the core, falling linearly to 0 over ``taper_width`` beyond it (a step if 0)."""
    if taper_width == 0:
        return (distance <= core_radius).astype(float)
    return np.asarray(np.clip(1.0 - (distance - core_radius) / taper_width, 0.0, 1.0))


def distance_to_centres(positions: FloatArray, centres: FloatArray) -> FloatArray:
    """Distance (Å) from each position to the nearest centre."""
    gaps = np.linalg.norm(positions[:, None, :] - centres[None, :, :], axis=2)
    return np.asarray(gaps.min(axis=1))


def weighted_atoms(
    frame: Atoms, local: LocalAtoms, distance: FloatArray, inside: BoolArray, config: CutoutConfig
) -> tuple[Atoms, IntArray]:
    """The selected atoms, nearest to the centres first, with parent index, region and weight.

    Also returns, for each new atom, its position in ``local``.
    """
    order = np.flatnonzero(inside)[np.argsort(distance[inside], kind="stable")].astype(np.int64)
    atoms = Atoms(numbers=frame.numbers[local.index[order]], positions=local.positions[order])
    atoms.arrays[keys.PARENT_INDEX] = local.index[order].astype(int)
    core = distance[order] <= config.core_radius
    atoms.arrays[keys.REGION] = np.where(core, keys.REGION_CORE, keys.REGION_BUFFER).astype(int)
    atoms.arrays[keys.FORCE_WEIGHT] = force_weights(
        distance[order], config.core_radius, config.taper_width
    )
    return atoms, order
