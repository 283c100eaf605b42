"""Neighbour queries around a few points of a large, possibly periodic frame.

A neighbour list of a whole 100,000-atom frame costs seconds (ASE and matscipy find every
pair of the frame), yet a cutout needs only the atoms near a handful of centres. So the sphere
around each centre is found directly: a vectorised minimum-image offset from the centre to
every atom (linear in the number of atoms, milliseconds in numpy), plus the few extra lattice
shifts a cell smaller than the sphere needs, so every periodic image inside it is returned.
ASE's neighbour list serves the small problems: grouping the centres, and the bonds of the
cut-out atoms (:mod:`.passivation`).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from ase import Atoms
from ase.neighborlist import primitive_neighbor_list

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True)
class LocalAtoms:
    """Atoms near a set of points, unwrapped so that together they form one whole piece.

    ``positions[k] == frame.positions[index[k]] + shift[k] @ frame.cell``: the same parent atom
    may appear more than once, as different periodic images, when the radius exceeds the cell.
    """

    index: IntArray
    shift: IntArray
    positions: FloatArray

    def __len__(self) -> int:
        return len(self.index)


@dataclass(frozen=True)
class CentreGroup:
    """Centres whose spheres overlap, with their positions unwrapped next to each other.

    ``closes_ring`` is True when the chain of close pairs runs all the way round a periodic
    axis: some pair is close only through the boundary, so no unwrapping keeps every pair
    together, and a single cut around the group would hold some atoms twice.
    """

    indices: list[int]
    positions: FloatArray
    closes_ring: bool = False


Links = dict[int, list[tuple[int, FloatArray]]]
"""For each centre (by position in the list given), its close centres and the vectors to them."""


def atoms_near(frame: Atoms, points: FloatArray, radius: float) -> LocalAtoms:
    """Every atom (every periodic image) within ``radius`` of any of ``points``, unwrapped."""
    points = np.atleast_2d(np.asarray(points, dtype=float))
    images = _image_shifts(frame, radius)
    found = [_query(frame, point, radius, images) for point in points]
    rows = np.vstack([np.column_stack([index, shift]) for index, shift in found])
    unique_rows = np.unique(rows, axis=0).astype(np.int64)
    local_index = unique_rows[:, 0]
    local_shift = unique_rows[:, 1:]
    cell = frame.get_cell(complete=True).array
    unwrapped = frame.positions[local_index] + local_shift @ cell
    return LocalAtoms(local_index, local_shift, unwrapped)


def group_centres(frame: Atoms, centres: list[int], merge_distance: float) -> list[CentreGroup]:
    """Split centres into groups whose members lie within ``merge_distance`` of one another.

    Each group's positions are unwrapped along the chain of close pairs, so a group that
    straddles a periodic boundary comes out whole; a group that closes a ring round the
    cell is flagged (:attr:`CentreGroup.closes_ring`).
    """
    positions = frame.positions[centres]
    links, own_image = centre_links(frame, positions, merge_distance)
    unwrapped: dict[int, FloatArray] = {}
    groups = []
    for root in range(len(centres)):
        if root in unwrapped:
            continue
        members = _walk(root, positions[root], links, unwrapped)
        groups.append(
            CentreGroup(
                [centres[k] for k in members],
                np.array([unwrapped[k] for k in members]),
                closes_ring=_closes_ring(members, links, unwrapped, own_image),
            )
        )
    return groups


def centre_links(
    frame: Atoms, positions: FloatArray, merge_distance: float
) -> tuple[Links, set[int]]:
    """Close pairs among ``positions`` (minimum-image vectors), and the centres close to one
    of their own periodic images."""
    first, second, vectors = primitive_neighbor_list(
        "ijD", frame.pbc, frame.get_cell(complete=True), positions, merge_distance
    )
    links: Links = {k: [] for k in range(len(positions))}
    own_image: set[int] = set()
    for a, b, vector in zip(first, second, vectors, strict=True):
        if a != b:
            links[int(a)].append((int(b), vector))
        else:
            own_image.add(int(a))
    return links, own_image


def _closes_ring(
    members: list[int], links: Links, unwrapped: dict[int, FloatArray], own_image: set[int]
) -> bool:
    """Whether some close pair of the group is not together once the group is unwrapped."""
    if own_image.intersection(members):
        return True
    return any(
        not np.allclose(unwrapped[neighbour] - unwrapped[member], vector, atol=1e-6)
        for member in members
        for neighbour, vector in links[member]
    )


def _walk(
    root: int, root_position: FloatArray, links: Links, unwrapped: dict[int, FloatArray]
) -> list[int]:
    """Breadth-first walk from ``root``, placing each centre at its neighbour plus the bond."""
    unwrapped[root] = root_position
    members = [root]
    queue = deque([root])
    while queue:
        current = queue.popleft()
        for neighbour, vector in links[current]:
            if neighbour not in unwrapped:
                unwrapped[neighbour] = unwrapped[current] + vector
                members.append(neighbour)
                queue.append(neighbour)
    return members


def _image_shifts(frame: Atoms, radius: float) -> IntArray:
    """Lattice shifts, relative to the minimum image, that a sphere of ``radius`` can reach.

    Only the minimum image itself where the sphere is narrower than half the cell along every
    periodic axis; more where the cell is small.
    """
    pbc = np.asarray(frame.pbc, dtype=bool)
    if not pbc.any():
        return np.zeros((1, 3), dtype=np.int64)
    if frame.cell.rank < 3:
        raise ValueError("a periodic frame needs a full 3D cell to be cut")
    half_widths = radius * np.linalg.norm(frame.cell.reciprocal(), axis=1)
    reach = np.where(pbc, np.ceil(half_widths - 0.5), 0).astype(int)
    axes = [np.arange(-extent, extent + 1) for extent in reach]
    return np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, 3).astype(np.int64)


def _query(
    frame: Atoms, point: FloatArray, radius: float, images: IntArray
) -> tuple[IntArray, IntArray]:
    """(atom index, lattice shift) of every image within ``radius`` of ``point``.

    Linear in the number of atoms: a vectorised minimum-image offset from the point, plus the
    few extra shifts a small cell needs.
    """
    pbc = np.asarray(frame.pbc, dtype=bool)
    if not pbc.any():
        distance = np.linalg.norm(frame.positions - point, axis=1)
        inside = np.flatnonzero(distance <= radius).astype(np.int64)
        return inside, np.zeros((len(inside), 3), dtype=np.int64)
    cell = frame.cell.array
    offsets = np.linalg.solve(cell.T, (frame.positions - point).T).T
    nearest = np.zeros_like(offsets)
    nearest[:, pbc] = np.round(offsets[:, pbc])
    indices, shifts = [], []
    for image in images:
        vectors = (offsets - nearest + image) @ cell
        inside = np.flatnonzero(np.einsum("ij,ij->i", vectors, vectors) <= radius**2)
        indices.append(inside)
        shifts.append(image - nearest[inside])
    return np.concatenate(indices).astype(np.int64), np.vstack(shifts).astype(np.int64)
