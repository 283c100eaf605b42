"""Spherical extraction: radii, weights, periodic unwrapping, merging, metadata, boxes."""

from __future__ import annotations

import numpy as np
import pytest
from ase import Atoms
from ase.build import molecule
from ase.data import covalent_radii

from pyacemaker_fw.config import CutoutConfig
from pyacemaker_fw.core import keys
from pyacemaker_fw.extraction import centres_from_gamma, extract_clusters, force_weights
from pyacemaker_fw.extraction.periodic_box import OVERLAP_FRACTION, _overlapping
from tests.extraction.conftest import SI_LATTICE, diamond, minimum_image_distances

BARE = CutoutConfig(core_radius=3.0, buffer_radius=6.0, passivate=False)


def test_weights_and_regions_follow_the_radii(si512: Atoms) -> None:
    (cluster,) = extract_clusters(si512, [77], BARE)
    distance = minimum_image_distances(si512, 77)[cluster.arrays[keys.PARENT_INDEX]]
    core = distance <= BARE.core_radius
    assert np.array_equal(cluster.arrays[keys.FORCE_WEIGHT], core.astype(float))
    assert np.array_equal(cluster.arrays[keys.REGION] == keys.REGION_CORE, core)
    assert np.all(cluster.arrays[keys.REGION][~core] == keys.REGION_BUFFER)
    # Every parent atom within the buffer radius is in the cluster exactly once.
    expected = np.flatnonzero(minimum_image_distances(si512, 77) <= BARE.buffer_radius)
    assert sorted(cluster.arrays[keys.PARENT_INDEX]) == sorted(expected)


def test_cluster_distances_match_the_parent(si512: Atoms) -> None:
    (cluster,) = extract_clusters(si512, [77], BARE)
    parent = cluster.arrays[keys.PARENT_INDEX]
    for a, b in [(0, 5), (3, len(cluster) - 1), (10, 40)]:
        in_cluster = cluster.get_distance(a, b)
        assert in_cluster == pytest.approx(si512.get_distance(parent[a], parent[b], mic=True))


def test_taper_falls_linearly_from_one_to_zero() -> None:
    distance = np.array([0.0, 3.0, 3.5, 4.0, 5.0, 6.0])
    weights = force_weights(distance, core_radius=3.0, taper_width=2.0)
    assert weights.tolist() == pytest.approx([1.0, 1.0, 0.75, 0.5, 0.0, 0.0])


def test_cluster_across_the_periodic_boundary_is_whole(si512: Atoms) -> None:
    corner = int(np.argmin(np.linalg.norm(si512.positions, axis=1)))
    (cluster,) = extract_clusters(si512, [corner], BARE)
    centre = cluster.positions[0]
    assert cluster.arrays[keys.PARENT_INDEX][0] == corner
    assert np.linalg.norm(cluster.positions - centre, axis=1).max() <= BARE.buffer_radius
    # The same sphere cut from a frame shifted so the centre sits mid-cell has the same shape.
    shifted = si512.copy()
    shifted.translate(shifted.cell.array.sum(axis=0) / 2 - shifted.positions[corner])
    shifted.wrap()
    (reference,) = extract_clusters(shifted, [corner], BARE)
    assert np.array_equal(cluster.arrays[keys.PARENT_INDEX], reference.arrays[keys.PARENT_INDEX])
    relative = cluster.positions - cluster.positions[0]
    assert np.allclose(relative, reference.positions - reference.positions[0], atol=1e-9)


def test_sphere_larger_than_the_cell_holds_every_image() -> None:
    small = diamond(1)  # 8 atoms, 5.431 Å: a 6 Å sphere sees many images of each atom
    (cluster,) = extract_clusters(small, [0], BARE)
    density = len(small) / small.get_volume()
    expected = density * 4 / 3 * np.pi * BARE.buffer_radius**3
    assert abs(len(cluster) - expected) < 0.2 * expected
    gaps = cluster.get_all_distances() + np.eye(len(cluster)) * 10
    assert gaps.min() > 2.0  # no image counted twice


def test_overlapping_centres_merge_and_distant_ones_do_not(si512: Atoms) -> None:
    distance = minimum_image_distances(si512, 0)
    near = int(np.flatnonzero((distance > 3.5) & (distance < 4.5))[0])
    far = int(np.argmax(distance))
    clusters = extract_clusters(si512, [0, near, far], BARE)
    assert [cluster.info[keys.CENTRE_ATOMS] for cluster in clusters] == [[0, near], [far]]
    merged = clusters[0]
    core_parents = set(merged.arrays[keys.PARENT_INDEX][merged.arrays[keys.FORCE_WEIGHT] == 1])
    assert {0, near} <= core_parents
    assert len(set(merged.arrays[keys.PARENT_INDEX])) == len(merged)


def test_metadata_names_the_parent_step_and_centres(si512_vacancy: tuple[Atoms, int]) -> None:
    frame, spike = si512_vacancy
    centres = centres_from_gamma(frame, threshold=25.0)
    assert centres == [spike]
    (cluster,) = extract_clusters(frame, centres, CutoutConfig())
    assert cluster.info[keys.PARENT_ID] == "frame-0042"
    assert cluster.info[keys.MD_STEP] == 1234
    assert cluster.info[keys.CENTRE_ATOMS] == [spike]
    assert cluster.info[keys.GAMMA] == [40.0]
    assert cluster.info[keys.PROVENANCE]["generator"] == "cutout"
    passivants = cluster.arrays[keys.REGION] == keys.REGION_PASSIVANT
    assert np.all(cluster.arrays[keys.PARENT_INDEX][passivants] == -1)
    assert np.all(cluster.arrays[keys.FORCE_WEIGHT][passivants] == 0)


def test_cluster_sits_in_a_vacuum_box_with_the_padding(si512: Atoms) -> None:
    config = CutoutConfig(vacuum=3.5)
    (cluster,) = extract_clusters(si512, [10], config)
    assert not cluster.pbc.any()
    lower = cluster.positions.min(axis=0)
    upper = cluster.cell.lengths() - cluster.positions.max(axis=0)
    assert np.allclose(lower, 3.5) and np.allclose(upper, 3.5)


def test_periodic_box_mode_finds_the_commensurate_cube(si512: Atoms) -> None:
    config = CutoutConfig(mode="periodic_box", core_radius=3.0, buffer_radius=5.0)
    (box,) = extract_clusters(si512, [10], config)
    assert box.pbc.all()
    assert not np.any(box.numbers == 1)
    # 10 Å would cut the diamond lattice badly; two lattice constants (10.86 Å) fit exactly.
    assert np.allclose(box.cell.lengths(), 2 * SI_LATTICE, atol=0.05)
    assert len(box) == 64
    gaps = box.get_all_distances(mic=True) + np.eye(len(box)) * 10
    assert gaps.min() > 2.0  # bulk-like across the new faces
    core = box.arrays[keys.FORCE_WEIGHT] == 1
    assert 10 in box.arrays[keys.PARENT_INDEX][core]


def test_periodic_box_of_a_disordered_frame_has_no_overlaps(si512: Atoms) -> None:
    disordered = si512.copy()
    disordered.rattle(0.25, seed=9)  # no edge is commensurate: faces must be repaired
    config = CutoutConfig(mode="periodic_box", core_radius=3.0, buffer_radius=5.0)
    (box,) = extract_clusters(disordered, [10], config)
    gaps = box.get_all_distances(mic=True) + np.eye(len(box)) * 10
    assert gaps.min() >= OVERLAP_FRACTION * 2 * covalent_radii[14]
    core = set(box.arrays[keys.PARENT_INDEX][box.arrays[keys.REGION] == keys.REGION_CORE])
    assert core == set(np.flatnonzero(minimum_image_distances(disordered, 10) <= 3.0))


def test_of_two_overlapping_atoms_the_one_farther_from_the_centres_goes() -> None:
    numbers = np.array([14, 14, 14])
    first, second = np.array([0, 1, 1, 2]), np.array([1, 0, 2, 1])
    gap = np.array([0.5, 0.5, 2.3, 2.3])
    doomed = _overlapping(numbers, first, second, gap, distance=np.array([4.0, 4.5, 1.0]))
    assert doomed.tolist() == [False, True, False]


def test_non_periodic_frame_is_cut_by_plain_distance() -> None:
    ethanol = molecule("CH3CH2OH")
    config = CutoutConfig(core_radius=1.2, buffer_radius=1.6, passivate=False)
    (cluster,) = extract_clusters(ethanol, [0], config)
    inside = np.linalg.norm(ethanol.positions - ethanol.positions[0], axis=1) <= 1.6
    assert sorted(cluster.arrays[keys.PARENT_INDEX]) == np.flatnonzero(inside).tolist()


def test_bad_centres_are_rejected(si512: Atoms) -> None:
    with pytest.raises(ValueError, match="at least one centre"):
        extract_clusters(si512, [], BARE)
    with pytest.raises(IndexError, match="outside a frame of 512 atoms"):
        extract_clusters(si512, [512], BARE)
