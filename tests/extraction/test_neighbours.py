"""Local queries around points and grouping of centres, checked against brute force."""

from __future__ import annotations

import itertools

import numpy as np
import numpy.typing as npt
import pytest
from ase import Atoms

from pyacemaker_fw.extraction.neighbours import atoms_near, group_centres


def triclinic(count: int, seed: int) -> Atoms:
    cell = np.array([[7.0, 0.0, 0.0], [2.0, 6.5, 0.0], [1.0, 1.5, 8.0]])
    rng = np.random.default_rng(seed)
    return Atoms(f"Si{count}", scaled_positions=rng.random((count, 3)), cell=cell, pbc=True)


def brute_force(
    frame: Atoms, point: npt.NDArray[np.float64], radius: float
) -> set[tuple[int, ...]]:
    found = set()
    for shift in itertools.product(range(-3, 4), repeat=3):
        images = frame.positions + np.array(shift) @ frame.cell.array
        for index in np.flatnonzero(np.linalg.norm(images - point, axis=1) <= radius):
            found.add((int(index), *shift))
    return found


@pytest.mark.parametrize("radius", [2.5, 6.0, 9.0])  # below and above half the cell widths
def test_atoms_near_finds_every_image_within_the_radius(radius: float) -> None:
    frame = triclinic(30, seed=1)
    point = np.array([0.3, 6.0, 7.5])  # near a corner, outside the cell
    local = atoms_near(frame, point, radius)
    found = {(int(i), *map(int, s)) for i, s in zip(local.index, local.shift, strict=True)}
    assert found == brute_force(frame, point, radius)
    expected = frame.positions[local.index] + local.shift @ frame.cell.array
    assert np.allclose(local.positions, expected)


def test_atoms_near_several_points_returns_each_image_once() -> None:
    frame = triclinic(30, seed=2)
    points = np.array([[1.0, 1.0, 1.0], [2.0, 1.5, 1.0]])
    local = atoms_near(frame, points, 4.0)
    union = brute_force(frame, points[0], 4.0) | brute_force(frame, points[1], 4.0)
    assert len(local) == len(union)


def test_partly_periodic_frame_without_a_full_cell_is_rejected() -> None:
    slab = Atoms("Si2", positions=[[0, 0, 0], [1, 1, 1]], cell=[5, 5, 0], pbc=[True, True, False])
    with pytest.raises(ValueError, match="full 3D cell"):
        atoms_near(slab, np.zeros(3), 2.0)


def test_centres_across_the_boundary_group_and_unwrap_next_to_each_other() -> None:
    frame = Atoms(
        "Si3", positions=[[0.5, 5, 5], [19.5, 5, 5], [10, 5, 5]], cell=[20, 10, 10], pbc=True
    )
    groups = group_centres(frame, [0, 1, 2], merge_distance=3.0)
    assert [group.indices for group in groups] == [[0, 1], [2]]
    pair = groups[0].positions
    assert np.linalg.norm(pair[0] - pair[1]) == pytest.approx(1.0)
    assert not groups[0].closes_ring


def test_a_chain_of_centres_round_the_cell_is_flagged_as_a_ring() -> None:
    # Five centres 4 Å apart in a 20 Å cell: the last is 4 Å from the first through the face.
    chain = [[4.0 * k + 0.5, 5, 5] for k in range(5)]
    frame = Atoms("Si5", positions=chain, cell=[20, 10, 10], pbc=True)
    (ring,) = group_centres(frame, [0, 1, 2, 3, 4], merge_distance=5.0)
    assert ring.closes_ring
    (open_chain,) = group_centres(frame, [0, 1, 2, 3], merge_distance=5.0)
    assert not open_chain.closes_ring  # the ends are 8 Å apart through the face: no link
    (lone,) = group_centres(frame, [2], merge_distance=21.0)  # close to its own image
    assert lone.closes_ring
