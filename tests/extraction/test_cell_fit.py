"""Each cut fits in one cell: the fit rules, and splitting a group that does not fit."""

from __future__ import annotations

import numpy as np
from ase import Atoms

from pyacemaker_fw.extraction.cell_fit import box_fits, spheres_fit, split_group
from pyacemaker_fw.extraction.neighbours import group_centres


def rod_frame(count: int, spacing: float, length: float) -> Atoms:
    positions = [[spacing * k + 0.5, 6.0, 6.0] for k in range(count)]
    return Atoms(f"Si{count}", positions=positions, cell=[length, 12, 12], pbc=True)


def test_spheres_fit_while_they_span_less_than_the_cell_along_each_axis() -> None:
    frame = Atoms(cell=[20.0, 12.0, 12.0], pbc=True)
    fits = spheres_fit(frame, radius=5.0)
    assert fits(np.array([[0.0, 0.0, 0.0], [9.9, 0.0, 0.0]]))
    assert not fits(np.array([[0.0, 0.0, 0.0], [10.1, 0.0, 0.0]]))
    assert not spheres_fit(frame, radius=6.0)(np.zeros((1, 3)))  # 12 Å across a 12 Å cell


def test_non_periodic_axes_never_limit_the_fit() -> None:
    slab = Atoms(cell=[20.0, 12.0, 8.0], pbc=[True, True, False])
    assert spheres_fit(slab, radius=5.0)(np.array([[0.0, 0.0, 0.0], [0.0, 0.0, 50.0]]))
    assert not spheres_fit(Atoms(cell=[20.0, 12.0, 8.0], pbc=True), 5.0)(np.zeros((1, 3)))
    assert spheres_fit(Atoms(), radius=50.0)(np.zeros((1, 3)))


def test_a_box_fits_by_its_edges_in_a_skewed_cell() -> None:
    # Cell vectors (10, 0, 0) and (5, 10, 0). A 5 x 5 Å box fits; a 9 x 11 Å box, narrower
    # than the cell along x and y, meets its own image shifted by (5, 10, 0) - (10, 0, 0).
    frame = Atoms(cell=[[10.0, 0, 0], [5.0, 10.0, 0], [0, 0, 30.0]], pbc=True)
    assert box_fits(frame, padding=2.0)(np.array([[0.0, 0.0, 0.0], [1.0, 1.0, 0.0]]))
    assert not box_fits(frame, padding=2.0)(np.array([[0.0, 0.0, 0.0], [5.0, 7.0, 0.0]]))


def test_a_ring_splits_into_parts_that_fit_and_cover_every_centre_once() -> None:
    frame = rod_frame(count=6, spacing=4.0, length=24.0)
    (ring,) = group_centres(frame, list(range(6)), merge_distance=10.0)
    assert ring.closes_ring
    fits = spheres_fit(frame, radius=5.0)
    parts = split_group(frame, ring, merge_distance=10.0, fits=fits)
    assert len(parts) > 1
    assert sorted(index for part in parts for index in part.indices) == list(range(6))
    for part in parts:
        assert fits(part.positions)
        # Each part is whole: its centres' images, unwrapped next to each other along the rod.
        lattice_shift = (part.positions - frame.positions[part.indices]) / frame.cell.lengths()
        assert np.allclose(lattice_shift, np.round(lattice_shift))
        assert np.allclose(np.diff(np.sort(part.positions[:, 0])), 4.0)
