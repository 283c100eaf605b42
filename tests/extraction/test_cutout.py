"""Spherical extraction: radii, weights, periodic unwrapping, merging, metadata, boxes."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest
from ase import Atoms
from ase.build import bulk, molecule
from ase.data import covalent_radii
from ase.neighborlist import neighbor_list

from pyacemaker_fw.config import CutoutConfig
from pyacemaker_fw.core import keys
from pyacemaker_fw.extraction import centres_from_gamma, extract_clusters, force_weights
from pyacemaker_fw.extraction.cutout import _require_unique_parents
from pyacemaker_fw.extraction.periodic_box import OVERLAP_FRACTION, _overlapping
from tests.extraction.conftest import SI_LATTICE, diamond, minimum_image_distances

BARE = CutoutConfig(mode="cluster", core_radius=3.0, buffer_radius=6.0, passivate=False)
BOX = CutoutConfig(mode="periodic_box", core_radius=3.0, buffer_radius=5.0)
SI_BOND = np.sqrt(3.0) / 4.0 * SI_LATTICE  # 2.352 Å
SI_BOND_CUTOFF = 2.66  # Å: the cutout's own Si–Si bond rule, 1.2 x the covalent-radius sum


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


def test_a_cell_smaller_than_one_cut_is_labelled_whole() -> None:
    small = diamond(1)  # 8 atoms, 5.431 Å: a 6 Å sphere would hold each atom several times
    (whole,) = extract_clusters(small, [3], BARE)
    assert whole.info[keys.CUTOUT_MODE] == "whole_frame"
    assert whole.pbc.all()
    assert np.allclose(whole.cell.array, small.cell.array)
    parents = whole.arrays[keys.PARENT_INDEX]
    assert sorted(parents) == list(range(len(small)))
    assert parents[0] == 3
    assert np.allclose(whole.positions, small.positions[parents])
    assert np.all(whole.arrays[keys.FORCE_WEIGHT] == 1)  # nothing was cut: every force is clean


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
    (cluster,) = extract_clusters(frame, centres, CutoutConfig(mode="cluster"))
    assert cluster.info[keys.PARENT_ID] == "frame-0042"
    assert cluster.info[keys.MD_STEP] == 1234
    assert cluster.info[keys.CENTRE_ATOMS] == [spike]
    assert cluster.info[keys.GAMMA] == [40.0]
    assert cluster.info[keys.PROVENANCE]["generator"] == "cutout"
    assert cluster.info[keys.CUTOUT_MODE] == cluster.info[keys.PROVENANCE]["mode"] == "cluster"
    assert cluster.info[keys.CUTOUT_SPLIT] == "none"
    passivants = cluster.arrays[keys.REGION] == keys.REGION_PASSIVANT
    assert np.all(cluster.arrays[keys.PARENT_INDEX][passivants] == -1)
    assert np.all(cluster.arrays[keys.FORCE_WEIGHT][passivants] == 0)


def test_cluster_sits_in_a_vacuum_box_with_the_padding(si512: Atoms) -> None:
    config = CutoutConfig(mode="cluster", vacuum=3.5)
    (cluster,) = extract_clusters(si512, [10], config)
    assert not cluster.pbc.any()
    lower = cluster.positions.min(axis=0)
    upper = cluster.cell.lengths() - cluster.positions.max(axis=0)
    assert np.allclose(lower, 3.5) and np.allclose(upper, 3.5)


def test_periodic_box_mode_finds_the_commensurate_cube(si512: Atoms) -> None:
    (box,) = extract_clusters(si512, [10], BOX)
    assert box.pbc.all()
    assert not np.any(box.numbers == 1)
    # 10 Å would cut the diamond lattice badly; two lattice constants (10.86 Å) fit exactly.
    assert np.allclose(box.cell.lengths(), 2 * SI_LATTICE, atol=0.05)
    assert len(box) == 64
    gaps = box.get_all_distances(mic=True) + np.eye(len(box)) * 10
    assert gaps.min() > 2.0  # bulk-like across the new faces
    core = box.arrays[keys.FORCE_WEIGHT] == 1
    assert 10 in box.arrays[keys.PARENT_INDEX][core]


@pytest.mark.parametrize("centre", [0, 10, 100])
def test_periodic_box_of_a_perfect_crystal_is_cut_at_two_lattice_constants(centre: int) -> None:
    (box,) = extract_clusters(diamond(4), [centre], BOX)
    assert box.info[keys.CUTOUT_MODE] == "periodic_box"
    assert np.allclose(box.cell.lengths(), 2 * SI_LATTICE, atol=0.01)
    assert len(box) == 64
    first, shift, gap = neighbor_list("iSd", box, SI_BOND_CUTOFF)
    across = np.any(shift != 0, axis=1)
    assert across.sum() >= 64  # many bonds cross the faces ...
    assert np.abs(gap[across] - SI_BOND).max() < 0.02  # ... and none is stretched or squeezed
    assert np.all(np.bincount(first, minlength=len(box)) == 4)
    assert np.allclose(box.info[keys.PROVENANCE]["box_face_mismatch"], 0.0, atol=1e-6)


@pytest.mark.engine
@pytest.mark.parametrize("centre", [0, 10, 100])
def test_periodic_box_of_a_hot_frame_keeps_the_bonds_across_its_faces(
    si216_hot: Atoms, centre: int
) -> None:
    (box,) = extract_clusters(si216_hot, [centre], BOX)
    assert np.abs(box.cell.lengths() - 2 * SI_LATTICE).max() < 0.12
    parent_bonds = neighbor_list("d", si216_hot, SI_BOND_CUTOFF)
    _, shift, gap = neighbor_list("iSd", box, SI_BOND_CUTOFF)
    across = gap[np.any(shift != 0, axis=1)]
    # Thermal motion spreads the bonds through the faces, but does not shift them: a box off
    # the lattice's period by 0.1 Å squeezes them all by about 0.1 Å.
    assert abs(across.mean() - parent_bonds.mean()) < 0.05
    assert across.min() > 1.8


def test_periodic_box_of_a_disordered_frame_has_no_overlaps(si512: Atoms) -> None:
    disordered = si512.copy()
    disordered.rattle(0.25, seed=9)  # no edge is commensurate: faces must be repaired
    (box,) = extract_clusters(disordered, [10], BOX)
    gaps = box.get_all_distances(mic=True) + np.eye(len(box)) * 10
    assert gaps.min() >= OVERLAP_FRACTION * 2 * covalent_radii[14]
    core = set(box.arrays[keys.PARENT_INDEX][box.arrays[keys.REGION] == keys.REGION_CORE])
    assert core == set(np.flatnonzero(minimum_image_distances(disordered, 10) <= 3.0))


def ring_frame(width: int = 2) -> tuple[Atoms, list[int]]:
    """Diamond Si 5 x width x width cells (27.16 Å along x), and five centres a lattice constant
    apart along x: each within two buffer radii of the next, the last of the first through the
    face."""
    frame: Atoms = bulk("Si", "diamond", a=SI_LATTICE, cubic=True).repeat((5, width, width))
    steps = np.arange(5)[:, None] * [SI_LATTICE, 0.0, 0.0]
    centres = [int(np.argmin(np.linalg.norm(frame.positions - step, axis=1))) for step in steps]
    return frame, centres


def sphere_union(frame: Atoms, centres: list[int], radius: float) -> set[int]:
    near = [minimum_image_distances(frame, centre) <= radius for centre in centres]
    return set(np.flatnonzero(np.any(near, axis=0)).tolist())


def heavy_parents(cluster: Atoms) -> npt.NDArray[np.int64]:
    parents = np.asarray(cluster.arrays[keys.PARENT_INDEX], dtype=np.int64)
    return parents[parents >= 0]


def test_a_ring_of_centres_round_the_cell_is_split_and_holds_no_atom_twice() -> None:
    frame, centres = ring_frame()
    config = CutoutConfig(mode="cluster")  # 5 Å buffer: centres 5.43 Å apart chain into one group
    clusters = extract_clusters(frame, centres, config)
    assert len(clusters) > 1
    assert sorted(index for c in clusters for index in c.info[keys.CENTRE_ATOMS]) == sorted(centres)
    for cluster in clusters:
        assert cluster.info[keys.CUTOUT_SPLIT] == "ring"
        parents = heavy_parents(cluster)
        assert len(parents) == len(set(parents.tolist()))
        own = cluster.info[keys.CENTRE_ATOMS]
        assert set(parents.tolist()) == sphere_union(frame, own, config.buffer_radius)
        heavy = cluster.positions[cluster.numbers != 1]
        assert np.ptp(heavy[:, 0]) < frame.cell.lengths()[0]
    covered = set().union(*(set(heavy_parents(c).tolist()) for c in clusters))
    assert covered == sphere_union(frame, centres, config.buffer_radius)


def test_an_open_chain_that_fits_in_the_cell_stays_one_cluster() -> None:
    frame, centres = ring_frame()
    # Four of the five: the ends are 10.9 Å apart through the face, beyond two buffer radii.
    (cluster,) = extract_clusters(frame, centres[:4], CutoutConfig(mode="cluster"))
    assert cluster.info[keys.CUTOUT_SPLIT] == "none"
    parents = heavy_parents(cluster)
    assert len(parents) == len(set(parents.tolist()))
    assert set(parents.tolist()) == sphere_union(frame, centres[:4], 5.0)


def test_a_ring_in_periodic_box_mode_gives_boxes_within_the_cell() -> None:
    frame, centres = ring_frame(width=3)  # a box needs more room across than a sphere
    boxes = extract_clusters(frame, centres, BOX)
    assert len(boxes) > 1
    for box in boxes:
        assert box.info[keys.CUTOUT_SPLIT] == "ring"
        parents = heavy_parents(box)
        assert len(parents) == len(set(parents.tolist()))
        assert box.cell.lengths()[0] < frame.cell.lengths()[0]


def test_a_cut_holding_a_parent_atom_twice_is_refused() -> None:
    twice = Atoms("Si3", positions=np.eye(3) * 2.0)
    twice.arrays[keys.PARENT_INDEX] = np.array([4, 7, 4])
    with pytest.raises(RuntimeError, match=r"holds parent atoms \[4\] more than once"):
        _require_unique_parents(twice, [4])


def test_of_two_overlapping_atoms_the_one_farther_from_the_centres_goes() -> None:
    numbers = np.array([14, 14, 14])
    first, second = np.array([0, 1, 1, 2]), np.array([1, 0, 2, 1])
    gap = np.array([0.5, 0.5, 2.3, 2.3])
    doomed = _overlapping(numbers, first, second, gap, distance=np.array([4.0, 4.5, 1.0]))
    assert doomed.tolist() == [False, True, False]


def test_non_periodic_frame_is_cut_by_plain_distance() -> None:
    ethanol = molecule("CH3CH2OH")
    config = CutoutConfig(mode="cluster", core_radius=1.2, buffer_radius=1.6, passivate=False)
    (cluster,) = extract_clusters(ethanol, [0], config)
    inside = np.linalg.norm(ethanol.positions - ethanol.positions[0], axis=1) <= 1.6
    assert sorted(cluster.arrays[keys.PARENT_INDEX]) == np.flatnonzero(inside).tolist()


def test_bad_centres_are_rejected(si512: Atoms) -> None:
    with pytest.raises(ValueError, match="at least one centre"):
        extract_clusters(si512, [], BARE)
    with pytest.raises(IndexError, match="outside a frame of 512 atoms"):
        extract_clusters(si512, [512], BARE)
