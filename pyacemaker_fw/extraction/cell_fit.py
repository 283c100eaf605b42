"""Keeping every cut within one periodic cell, so that no parent atom enters a cut twice.

A region of a periodic frame holds two images of one atom only if two of its points differ by
a lattice vector. That cannot happen when, along every periodic cell vector, the region spans
less than one cell: two points a lattice vector apart differ by a whole number, at least 1, in
some fractional coordinate. So a cut fits when its fractional extent along each periodic axis
is below 1.

Centres that chain all the way round the cell (a ring: every centre close to the next, the last
close to the first through the boundary), or a chain longer than the cell, do not fit. Their
group is split: from its first centre, close centres are added one by one while the part still
fits; what is left starts the next part. Each part is cut on its own, so neighbouring parts
overlap at their seams, as separate DFT jobs.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

import numpy as np
import numpy.typing as npt
from ase import Atoms

from pyacemaker_fw.extraction.neighbours import CentreGroup, Links, centre_links

FloatArray = npt.NDArray[np.float64]

Fits = Callable[[FloatArray], bool]
"""Whether the cut around centres at these (unwrapped) positions lies within one cell."""


def spheres_fit(frame: Atoms, radius: float) -> Fits:
    """The rule for spheres of ``radius`` around each centre (the cluster cut)."""
    reciprocal = _periodic_reciprocal(frame)
    widths = 2.0 * radius * np.linalg.norm(reciprocal, axis=1)

    def fits(positions: FloatArray) -> bool:
        fractional = positions @ reciprocal.T
        return bool(np.all(np.ptp(fractional, axis=0) + widths < 1.0))

    return fits


def box_fits(frame: Atoms, padding: float) -> Fits:
    """The rule for an axis-aligned box ``padding`` beyond the centres' bounding box."""
    reciprocal = _periodic_reciprocal(frame)

    def fits(positions: FloatArray) -> bool:
        edges = np.ptp(positions, axis=0) + 2.0 * padding
        return bool(np.all(np.abs(reciprocal) @ edges < 1.0))

    return fits


def split_group(
    frame: Atoms, group: CentreGroup, merge_distance: float, fits: Fits
) -> list[CentreGroup]:
    """Parts of ``group`` that each fit, each whole along its own chain of close centres.

    Every centre of the group lands in exactly one part, provided a single centre fits.
    """
    positions = frame.positions[group.indices]
    links, _ = centre_links(frame, positions, merge_distance)
    left = list(range(len(group.indices)))
    parts = []
    while left:
        placed = _grow(left[0], positions, links, set(left), fits)
        parts.append(
            CentreGroup([group.indices[k] for k in placed], np.array([placed[k] for k in placed]))
        )
        left = [k for k in left if k not in placed]
    return parts


def _grow(
    seed: int,
    positions: FloatArray,
    links: Links,
    free: set[int],
    fits: Fits,
) -> dict[int, FloatArray]:
    """Breadth-first from ``seed`` over free centres, adding each one that keeps the part fit."""
    placed = {seed: positions[seed]}
    queue = deque([seed])
    while queue:
        current = queue.popleft()
        for neighbour, vector in links[current]:
            if neighbour in placed or neighbour not in free:
                continue
            candidate = placed[current] + vector
            if fits(np.vstack([*placed.values(), candidate])):
                placed[neighbour] = candidate
                queue.append(neighbour)
    return placed


def _periodic_reciprocal(frame: Atoms) -> FloatArray:
    """Rows b_i with a_j · b_i = δ_ij, for the periodic cell vectors only."""
    pbc = np.asarray(frame.pbc, dtype=bool)
    if not pbc.any():
        return np.zeros((0, 3))
    if frame.cell.rank < 3:
        raise ValueError("a periodic frame needs a full 3D cell to be cut")
    reciprocal: FloatArray = np.asarray(frame.cell.reciprocal(), dtype=float)
    return np.asarray(reciprocal[pbc], dtype=np.float64)
