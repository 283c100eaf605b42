"""A periodic box around the centres, for metals, where capping bonds makes no sense.

A box cut from a crystal matches itself across its new faces only when its edges are
commensurate with the lattice. Edges from ``2 * buffer_radius`` (plus the centres' spread) up
to one bond cutoff longer are tried in :data:`BOX_EDGE_STEP` steps, and the box kept is the one
whose atoms best keep their parent bonding: the least sum over atoms of
``|coordination(box) - coordination(parent)|`` (bonds as in :mod:`.passivation`), where an
atom removed for overlapping counts its whole parent coordination; the summed change of the
nearest-neighbour distance (in units of the bond cutoff) breaks ties. Atoms closer than
:data:`OVERLAP_FRACTION` of their covalent-radius sum to another across a face overlap; of each
such pair the one farther from the centres is removed.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from ase import Atoms
from ase.data import covalent_radii
from ase.neighborlist import primitive_neighbor_list

from pyacemaker_fw.config import CutoutConfig
from pyacemaker_fw.extraction.neighbours import CentreGroup, LocalAtoms, atoms_near
from pyacemaker_fw.extraction.passivation import NO_CELL, NO_PBC, bond_cutoff, max_bond_cutoff
from pyacemaker_fw.extraction.regions import distance_to_centres, weighted_atoms

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

BOX_EDGE_STEP = 0.05
"""Resolution (Å) of the search for the box's edge length."""
OVERLAP_FRACTION = 0.75
"""Atoms closer than this fraction of their covalent-radius sum overlap."""


def cut_periodic_box(frame: Atoms, group: CentreGroup, config: CutoutConfig) -> Atoms:
    """The periodic box around ``group`` that best continues the parent across its faces."""
    spread = group.positions.max(axis=0) - group.positions.min(axis=0)
    midpoint = group.positions.min(axis=0) + spread / 2.0
    smallest = spread + 2.0 * config.buffer_radius
    reach = max_bond_cutoff(frame.numbers, config.bond_cutoff_scale)
    radius = float(np.linalg.norm(smallest + reach)) / 2.0 + reach
    local = atoms_near(frame, midpoint[None, :], radius)
    context = _Context(frame, local, group, midpoint, config, reach)
    trials = [context.trial(smallest + pad) for pad in np.arange(0.0, reach, BOX_EDGE_STEP)]
    return min(trials, key=lambda trial: trial[1])[0]


class _Context:
    """What every trial box shares: the local atoms, their distances and parent neighbours."""

    def __init__(
        self,
        frame: Atoms,
        local: LocalAtoms,
        group: CentreGroup,
        midpoint: FloatArray,
        config: CutoutConfig,
        reach: float,
    ) -> None:
        self.frame = frame
        self.local = local
        self.centres = group.positions
        self.midpoint = midpoint
        self.config = config
        self.reach = reach
        self.distance = distance_to_centres(local.positions, group.positions)
        numbers = frame.numbers[local.index]
        first, second, gap = primitive_neighbor_list("ijd", NO_PBC, NO_CELL, local.positions, reach)
        self.parent_bonding = self._bonding(numbers, first, second, gap)
        smallest_radius = float(np.asarray(covalent_radii)[np.unique(numbers)].min())
        self.margin = OVERLAP_FRACTION * smallest_radius

    def trial(self, edges: FloatArray) -> tuple[Atoms, float]:
        """A box of ``edges`` around the midpoint, and its mismatch with the parent (Å)."""
        lower = self.midpoint - edges / 2.0
        positions = self.local.positions
        # Atoms within the margin of a face are taken at both faces; the overlap rule then keeps
        # one copy, so a face through a lattice plane loses no atom to rounding.
        margin = self.margin
        upper = lower + edges + margin
        inside = np.asarray(((positions >= lower - margin) & (positions < upper)).all(axis=1))
        box, order = weighted_atoms(self.frame, self.local, self.distance, inside, self.config)
        box.positions -= lower
        box.set_cell(edges)
        box.pbc = True
        first, second, gap = primitive_neighbor_list(
            "ijd", box.pbc, box.cell.array, box.positions, self.reach
        )
        keep = ~_overlapping(box.numbers, first, second, gap, self.distance[order])
        valid = keep[first] & keep[second]
        bonding = self._bonding(box.numbers, first[valid], second[valid], gap[valid])
        parent = self.parent_bonding[order]
        mismatch = np.abs(bonding - parent)[keep].sum() + parent[~keep].sum()
        return box[keep], float(mismatch)

    def _bonding(
        self, numbers: IntArray, first: IntArray, second: IntArray, gap: FloatArray
    ) -> FloatArray:
        """Coordination plus nearest-neighbour distance in units of the bond reach, per atom."""
        bonded = gap < bond_cutoff(numbers[first], numbers[second], self.config.bond_cutoff_scale)
        coordination = np.bincount(first[bonded], minlength=len(numbers))
        nearest = np.full(len(numbers), self.reach)
        np.minimum.at(nearest, first, gap)
        return coordination + nearest / self.reach


def _overlapping(
    numbers: IntArray, first: IntArray, second: IntArray, gap: FloatArray, distance: FloatArray
) -> BoolArray:
    """Atoms to remove: the one farther from the centres in each overlapping pair."""
    radii = np.asarray(covalent_radii)
    limit = OVERLAP_FRACTION * (radii[numbers[first]] + radii[numbers[second]])
    farther = (distance[first] > distance[second]) | (
        (distance[first] == distance[second]) & (first > second)
    )
    doomed = np.zeros(len(numbers), dtype=bool)
    doomed[first[(gap < limit) & farther]] = True
    return doomed
