"""A periodic box around the centres, for metals, where capping bonds makes no sense.

A box cut from a crystal continues itself across its new faces only when each edge is a period
of the parent along that axis. Each edge is chosen on its own, from the bonds that cross its two
faces. Every parent atom within one bond reach of either face is carried one edge length across
the box, to where the box's periodic image puts it, and the distance from that image to the
nearest parent atom of its element (capped at :func:`overlap_margin`) is how far each bond
through the face is from the parent's. The edge's mismatch is the RMS of these distances.

Edges from ``2 * buffer_radius`` (plus the centres' spread) up to one bond reach longer are
scanned in :data:`BOX_EDGE_STEP` steps; the best is then refined, moving by the mean axial
offset between the images and their matched parent atoms until it settles. That puts the edge of
a perfect crystal on its period to rounding, and that of a hot frame on the thermal average.

The mismatch is measured on the parent alone, so the duplicates that the box's filling makes on
purpose never count: atoms within :func:`overlap_margin` of a face are taken at both faces, and
of each pair closer than :data:`OVERLAP_FRACTION` of their covalent-radius sum across a face the
one farther from the centres is removed.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from ase import Atoms
from ase.data import covalent_radii
from ase.neighborlist import primitive_neighbor_list
from scipy.spatial import cKDTree

from pyacemaker_fw.config import CutoutConfig
from pyacemaker_fw.core import keys
from pyacemaker_fw.extraction.neighbours import CentreGroup, LocalAtoms, atoms_near
from pyacemaker_fw.extraction.passivation import max_bond_cutoff
from pyacemaker_fw.extraction.regions import distance_to_centres, weighted_atoms

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

BOX_EDGE_STEP = 0.05
"""Resolution (Å) of the scan for each edge length, before the refinement."""
OVERLAP_FRACTION = 0.75
"""Atoms closer than this fraction of their covalent-radius sum overlap."""
REFINEMENT_STEPS = 50
"""Most refinement steps per edge; a crystal settles in two."""
ELEMENT_SEPARATION = 1.0e4
"""Å between elements along the extra coordinate that keeps matches within one element."""


def overlap_margin(numbers: npt.ArrayLike) -> float:
    """Distance (Å) below which two atoms of the smallest element among ``numbers`` overlap."""
    return OVERLAP_FRACTION * float(np.asarray(covalent_radii)[np.unique(numbers)].min())


def box_padding(numbers: npt.ArrayLike, config: CutoutConfig) -> float:
    """Farthest an atom of a periodic box may lie beyond the centres' bounding box (Å)."""
    reach = max_bond_cutoff(numbers, config.bond_cutoff_scale)
    return config.buffer_radius + reach / 2.0 + overlap_margin(numbers)


def cut_periodic_box(frame: Atoms, group: CentreGroup, config: CutoutConfig) -> Atoms:
    """The periodic box around ``group`` that best continues the parent across its faces.

    ``info['provenance']['box_face_mismatch']`` holds each edge's mismatch (Å): 0 for a
    crystal cut at its period, about the atoms' thermal displacement for a hot one.
    """
    spread = np.ptp(group.positions, axis=0)
    midpoint = group.positions.min(axis=0) + spread / 2.0
    smallest = spread + 2.0 * config.buffer_radius
    reach = max_bond_cutoff(frame.numbers, config.bond_cutoff_scale)
    margin = overlap_margin(frame.numbers)
    radius = float(np.linalg.norm(smallest + reach)) / 2.0 + reach + margin
    local = atoms_near(frame, midpoint[None, :], radius)
    faces = _FaceRegistration(
        frame.numbers[local.index], local.positions, midpoint, smallest, reach, margin
    )
    chosen = [faces.best_edge(axis) for axis in range(3)]
    edges = np.array([edge for edge, _ in chosen])
    box = _fill(frame, local, group, midpoint, edges, config, reach, margin)
    box.info[keys.CUTOUT_MODE] = "periodic_box"
    box.info[keys.PROVENANCE] = {"box_face_mismatch": [round(score, 6) for _, score in chosen]}
    return box


class _FaceRegistration:
    """How well the parent repeats itself across a pair of faces a given distance apart."""

    def __init__(
        self,
        numbers: IntArray,
        positions: FloatArray,
        midpoint: FloatArray,
        smallest: FloatArray,
        reach: float,
        cap: float,
    ) -> None:
        self.positions = positions
        self.tagged = np.column_stack([positions, numbers * ELEMENT_SEPARATION])
        self.tree = cKDTree(self.tagged)
        self.midpoint = midpoint
        self.smallest = smallest
        self.reach = reach
        self.cap = cap
        # The same atoms face each face at every edge tried: those facing the largest box's.
        self.section = np.abs(positions - midpoint) < (smallest + reach) / 2.0

    def best_edge(self, axis: int) -> tuple[float, float]:
        """The edge along ``axis`` with the least mismatch, and that mismatch (Å)."""
        lowest = float(self.smallest[axis])
        grid = lowest + np.arange(0.0, self.reach, BOX_EDGE_STEP)
        scores = [self.mismatch(axis, edge)[0] for edge in grid]
        start = float(grid[int(np.argmin(scores))])
        edge = self._refine(axis, start, lowest, lowest + self.reach)
        return edge, self.mismatch(axis, edge)[0]

    def mismatch(self, axis: int, edge: float) -> tuple[float, float | None]:
        """RMS capped distance (Å) from each image to the parent, and the edge's correction.

        The correction is the mean axial offset from the matched images to their parent atoms
        (None when nothing matched): adding it to ``edge`` lines the images up best.
        """
        lower = self.midpoint[axis] - edge / 2.0
        upper = lower + edge
        others = np.delete(np.arange(3), axis)
        facing = self.section[:, others].all(axis=1)
        coordinate = self.positions[:, axis]
        near_lower = facing & (np.abs(coordinate - lower) < self.reach)
        near_upper = facing & (np.abs(coordinate - upper) < self.reach)
        direction = np.concatenate([np.ones(near_lower.sum()), -np.ones(near_upper.sum())])
        if len(direction) == 0:
            return 0.0, None
        band = np.concatenate([np.flatnonzero(near_lower), np.flatnonzero(near_upper)])
        images = self.tagged[band]
        images[:, axis] += direction * edge
        distance, match = self.tree.query(images, distance_upper_bound=self.cap)
        matched = np.isfinite(distance)
        score = float(np.sqrt(np.mean(np.where(matched, distance, self.cap) ** 2)))
        if not matched.any():
            return score, None
        offset = self.tagged[match[matched], axis] - images[matched, axis]
        return score, float(np.mean(direction[matched] * offset))

    def _refine(self, axis: int, edge: float, lowest: float, highest: float) -> float:
        for _ in range(REFINEMENT_STEPS):
            correction = self.mismatch(axis, edge)[1]
            if correction is None:
                break
            moved = float(np.clip(edge + correction, lowest, highest))
            if abs(moved - edge) < 1e-12:
                return moved
            edge = moved
        return edge


def _fill(
    frame: Atoms,
    local: LocalAtoms,
    group: CentreGroup,
    midpoint: FloatArray,
    edges: FloatArray,
    config: CutoutConfig,
    reach: float,
    margin: float,
) -> Atoms:
    """The periodic box of ``edges`` around ``midpoint``, one copy of each atom at the faces."""
    lower = midpoint - edges / 2.0
    positions = local.positions
    # Atoms within the margin of a face are taken at both faces; the overlap rule then keeps
    # one copy, so a face through a lattice plane loses no atom to rounding.
    upper = lower + edges + margin
    inside = np.asarray(((positions >= lower - margin) & (positions < upper)).all(axis=1))
    distance = distance_to_centres(positions, group.positions)
    box, order = weighted_atoms(frame, local, distance, inside, config)
    box.positions -= lower
    box.set_cell(edges)
    box.pbc = True
    first, second, gap = primitive_neighbor_list(
        "ijd", box.pbc, box.cell.array, box.positions, reach
    )
    keep = ~_overlapping(box.numbers, first, second, gap, distance[order])
    kept: Atoms = box[keep]
    return kept


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
