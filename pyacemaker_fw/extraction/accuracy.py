"""How well a cutout's forces stand for its parent's: errors on the weighted atoms.

A cutout (cluster, periodic box or whole frame) labels only the atoms it weights. Its labels are
judged against the forces of the periodic frame it was cut from, matched through
``arrays['parent_index']``. These helpers are pure: they take forces already computed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from ase import Atoms

from pyacemaker_fw.core import keys

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class ForceErrors:
    """Force errors (eV/Å) of a cutout's weighted atoms against the parent frame.

    ``component_rms`` is the RMS over the Cartesian components of every weighted atom (the
    figure a force RMSE of a potential is quoted in); ``centre`` is the length of the first
    centre's error vector, ``largest`` the longest error vector of any weighted atom.
    ``reference_rms`` is the component RMS of the parent's own forces on those atoms: the scale
    the errors should be read against.
    """

    atoms: int
    centre: float
    component_rms: float
    largest: float
    reference_rms: float


def weighted_force_errors(
    cutout: Atoms,
    cutout_forces: npt.ArrayLike,
    parent_forces: npt.ArrayLike,
    min_weight: float = 1.0,
) -> ForceErrors:
    """Errors of ``cutout_forces`` on the atoms weighted at least ``min_weight``.

    ``cutout`` carries ``arrays['force_weight']`` and ``arrays['parent_index']``, and lists a
    centre first (as every cut does); ``parent_forces`` are the parent frame's, in its order.
    """
    forces = np.asarray(cutout_forces, dtype=float)
    parent = np.asarray(parent_forces, dtype=float)
    if forces.shape != (len(cutout), 3):
        raise ValueError(f"cutout_forces has shape {forces.shape}; expected ({len(cutout)}, 3)")
    weights = np.asarray(cutout.arrays[keys.FORCE_WEIGHT], dtype=float)
    parents = np.asarray(cutout.arrays[keys.PARENT_INDEX], dtype=int)
    chosen = np.flatnonzero((weights >= min_weight) & (parents >= 0))
    if len(chosen) == 0 or chosen[0] != 0:
        raise ValueError(
            f"the cutout's first atom must be a centre weighted at least {min_weight}; "
            f"weighted atoms are {chosen.tolist()}"
        )
    if parents[chosen].max() >= len(parent):
        raise ValueError(
            f"parent_index reaches {parents[chosen].max()}, beyond the parent's {len(parent)} "
            "atoms: the forces belong to another frame"
        )
    reference = parent[parents[chosen]]
    errors = forces[chosen] - reference
    return ForceErrors(
        atoms=len(chosen),
        centre=float(np.linalg.norm(errors[0])),
        component_rms=_rms(errors),
        largest=float(np.linalg.norm(errors, axis=1).max()),
        reference_rms=_rms(reference),
    )


def reweighted(cutout: Atoms, core_radius: float) -> Atoms:
    """A copy of ``cutout`` weighting only atoms within ``core_radius`` of its centres.

    This rescoring needs no new DFT: the same labels, judged on a smaller core.
    """
    if keys.CENTRE_ATOMS not in cutout.info:
        raise ValueError(f"the cutout has no info['{keys.CENTRE_ATOMS}'] to measure from")
    parents = np.asarray(cutout.arrays[keys.PARENT_INDEX], dtype=int)
    centre_rows = np.flatnonzero(np.isin(parents, cutout.info[keys.CENTRE_ATOMS]))
    distances = np.min(
        [cutout.get_distances(row, range(len(cutout)), mic=True) for row in centre_rows], axis=0
    )
    copy: Atoms = cutout.copy()
    heavy = parents >= 0
    copy.arrays[keys.FORCE_WEIGHT] = ((distances <= core_radius) & heavy).astype(float)
    return copy


def _rms(values: FloatArray) -> float:
    return float(np.sqrt(np.mean(np.square(values))))
