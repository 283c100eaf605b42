"""Cheap per-structure descriptors for diversity selection in the replay buffer.

:func:`structural_descriptor` needs no potential: it is the Gaussian-smeared radial distribution
around the atoms that teach the fit (force weight > 0), averaged over them, with its spread
across them. The mean follows strain and temperature; the spread picks out defects and surfaces.
It stays valid across refits, which is why the buffer uses it by default.

:func:`ace_descriptor` uses the B-basis projections of an ACE potential (what ``pace_select``
and the active set work with), averaged per element over the taught atoms. It is more
expressive, but tied to one potential: the radial coefficients change when the potential is
refitted.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import numpy.typing as npt
from ase import Atoms
from ase.neighborlist import neighbor_list

from pyacemaker_fw.training.dataset import force_weights

StructureDescriptor = Callable[[Atoms], npt.NDArray[np.float64]]

RDF_RANGE = (1.5, 5.0)
"""Distances covered by the radial histogram (Å): from below any bond to the ACE cutoff."""
RDF_BINS = 14
RDF_WIDTH = 0.25
"""Gaussian smearing of each distance (Å)."""


def _taught_centres(atoms: Atoms) -> npt.NDArray[np.intp]:
    taught = np.flatnonzero(force_weights(atoms) > 0)
    return taught if taught.size else np.arange(len(atoms))


def structural_descriptor(atoms: Atoms) -> npt.NDArray[np.float64]:
    """Mean and spread over taught atoms of their smeared radial distribution (2 x 14 numbers)."""
    centres_of_pairs, distances = neighbor_list("id", atoms, RDF_RANGE[1] + 2 * RDF_WIDTH)
    grid = np.linspace(*RDF_RANGE, RDF_BINS)
    per_atom = np.zeros((len(atoms), RDF_BINS))
    smeared = np.exp(-0.5 * ((distances[:, None] - grid[None, :]) / RDF_WIDTH) ** 2)
    np.add.at(per_atom, centres_of_pairs, smeared)
    taught = per_atom[_taught_centres(atoms)]
    return np.concatenate([taught.mean(axis=0), taught.std(axis=0)])


def ace_descriptor(potential_yaml: Path) -> StructureDescriptor:
    """B-basis projections of ``potential_yaml``, averaged per element over the taught atoms."""
    from pyace import ACEBBasisSet, BBasisConfiguration
    from pyace.activelearning import compute_B_projections

    basis = ACEBBasisSet(BBasisConfiguration(str(potential_yaml)))
    index = dict(basis.elements_to_index_map)

    def describe(atoms: Atoms) -> npt.NDArray[np.float64]:
        bare = atoms.copy()
        bare.calc = None
        projections = compute_B_projections(basis, [bare])
        taught = force_weights(atoms) > 0
        symbols = np.asarray(atoms.get_chemical_symbols())
        parts = []
        for symbol, species in sorted(index.items(), key=lambda item: item[1]):
            rows = projections[species][taught[symbols == symbol]]
            width = projections[species].shape[1]
            parts.append(rows.mean(axis=0) if len(rows) else np.zeros(width))
        return np.concatenate(parts)

    return describe


def farthest_point_order(
    points: npt.NDArray[np.float64], count: int, first: int | None = None
) -> list[int]:
    """Indices of ``count`` points chosen greedily, each farthest from those chosen before.

    Features are standardised first so that no descriptor component dominates by its units.
    The first point is ``first``, or the one farthest from the mean.
    """
    count = min(count, len(points))
    if count == 0:
        return []
    scale = points.std(axis=0)
    scaled = (points - points.mean(axis=0)) / np.where(scale > 0, scale, 1.0)
    start = int(np.argmax(np.linalg.norm(scaled, axis=1))) if first is None else first
    chosen = [start]
    nearest = np.linalg.norm(scaled - scaled[start], axis=1)
    nearest[start] = -np.inf
    while len(chosen) < count:
        candidate = int(np.argmax(nearest))
        chosen.append(candidate)
        nearest = np.minimum(nearest, np.linalg.norm(scaled - scaled[candidate], axis=1))
        nearest[candidate] = -np.inf
    return chosen
