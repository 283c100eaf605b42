"""Passivation: one cap per broken bond, on the bond, at the X–H length; merge and drop rules."""

from __future__ import annotations

import numpy as np
import pytest
from ase import Atoms
from ase.neighborlist import neighbor_list

from pyacemaker_fw.config import CutoutConfig
from pyacemaker_fw.core import keys
from pyacemaker_fw.extraction import extract_clusters, passivate
from pyacemaker_fw.extraction.passivation import bond_cutoff, broken_bonds

TETRAHEDRON = np.array([[1, 1, 1], [1, -1, -1], [-1, 1, -1], [-1, -1, 1]]) / np.sqrt(3)
SI_SI = 2.35  # Å


def cap(cluster: Atoms, outside: Atoms, **overrides: float) -> Atoms:
    config = CutoutConfig(mode="cluster")
    return passivate(
        cluster,
        outside,
        config.passivation_element,
        config.bond_lengths,
        overrides.get("scale", config.bond_cutoff_scale),
        overrides.get("min_distance", config.min_passivant_distance),
    )


def with_regions(atoms: Atoms) -> Atoms:
    atoms.arrays[keys.REGION] = np.full(len(atoms), keys.REGION_BUFFER)
    atoms.arrays[keys.FORCE_WEIGHT] = np.zeros(len(atoms))
    atoms.arrays[keys.PARENT_INDEX] = np.arange(len(atoms))
    return atoms


def test_each_broken_bond_gets_one_hydrogen_on_the_bond_at_the_si_h_length() -> None:
    cluster = with_regions(Atoms("Si", positions=[[0.0, 0.0, 0.0]]))
    outside = Atoms("Si4", positions=SI_SI * TETRAHEDRON)
    capped = cap(cluster, outside)
    hydrogens = capped.positions[capped.numbers == 1]
    assert len(hydrogens) == 4
    assert np.allclose(np.linalg.norm(hydrogens, axis=1), 1.48)
    directions = hydrogens / np.linalg.norm(hydrogens, axis=1, keepdims=True)
    assert np.allclose(np.sort(directions @ TETRAHEDRON.T, axis=1)[:, -1], 1.0)
    passivants = capped.arrays[keys.REGION] == keys.REGION_PASSIVANT
    assert passivants.sum() == 4
    assert np.all(capped.arrays[keys.FORCE_WEIGHT][passivants] == 0)
    assert np.all(capped.arrays[keys.PARENT_INDEX][passivants] == -1)
    assert capped.arrays[keys.PASSIVANT_HOST].tolist() == [-1, 0, 0, 0, 0]


def test_an_outside_atom_beyond_the_bond_cutoff_is_not_capped() -> None:
    cluster = with_regions(Atoms("Si", positions=[[0.0, 0.0, 0.0]]))
    cutoff = float(bond_cutoff([14], [14], 1.2)[0])
    outside = Atoms("Si2", positions=[[cutoff - 0.01, 0, 0], [0, cutoff + 0.01, 0]])
    capped = cap(cluster, outside)
    assert capped.get_chemical_formula() == "HSi"
    assert capped.positions[1] == pytest.approx([1.48, 0.0, 0.0])


def test_bond_length_follows_the_host_element() -> None:
    cluster = with_regions(Atoms("CO", positions=[[0.0, 0.0, 0.0], [0.0, 0.0, 5.0]]))
    outside = Atoms("C2", positions=[[1.54, 0.0, 0.0], [0.0, 0.0, 6.43]])
    capped = cap(cluster, outside)
    hydrogens = capped.positions[capped.numbers == 1]
    assert sorted(np.linalg.norm(hydrogens - [[0, 0, 0], [0, 0, 5]], axis=1)) == pytest.approx(
        [0.97, 1.09]
    )


def test_passivants_closer_than_the_minimum_merge_at_their_midpoint() -> None:
    # Two cluster atoms bonded to one outside atom at a sharp angle: their caps nearly meet.
    half_angle = np.radians(15)
    hosts = SI_SI * np.array([[np.sin(half_angle), 0, 0], [-np.sin(half_angle), 0, 0]])
    cluster = with_regions(Atoms("Si2", positions=hosts))
    outside = Atoms("Si", positions=[[0.0, 0.0, SI_SI * np.cos(half_angle)]])
    caps = 1.48 / SI_SI * (outside.positions - hosts) + hosts
    assert np.linalg.norm(caps[0] - caps[1]) < 1.0
    capped = cap(cluster, outside)
    hydrogens = capped.positions[capped.numbers == 1]
    assert len(hydrogens) == 1
    assert hydrogens[0] == pytest.approx(caps.mean(axis=0))
    assert capped.arrays[keys.PASSIVANT_HOST][-1] in (0, 1)  # kept on one of the two hosts


def test_a_passivant_nearer_another_cluster_atom_than_its_bond_length_is_dropped() -> None:
    # The cap of atom 0 would land 0.9 Å from cluster atom 1: it is dropped, atom 1's stays.
    cluster = with_regions(Atoms("Si2", positions=[[0.0, 0.0, 0.0], [1.48, 0.9, 0.0]]))
    outside = Atoms("Si", positions=[[SI_SI, 0.0, 0.0]])
    capped = cap(cluster, outside, scale=1.5)
    hydrogens = capped.positions[capped.numbers == 1]
    gaps = np.linalg.norm(hydrogens[:, None] - cluster.positions[None], axis=2)
    assert len(hydrogens) == 1
    assert gaps[0, 1] == pytest.approx(1.48)
    assert capped.arrays[keys.PASSIVANT_HOST].tolist() == [-1, -1, 1]


def test_cut_si_cluster_has_one_hydrogen_per_broken_bond_and_no_clash(
    si512_vacancy: tuple[Atoms, int],
) -> None:
    frame, spike = si512_vacancy
    config = CutoutConfig(mode="cluster", core_radius=3.0, buffer_radius=5.0)
    (cluster,) = extract_clusters(frame, [spike], config)
    # Count the broken bonds straight from the parent's neighbour list.
    inside = set(cluster.arrays[keys.PARENT_INDEX][cluster.numbers == 14].tolist())
    first, second = neighbor_list("ij", frame, float(bond_cutoff([14], [14], 1.2)[0]))
    crossing = [a in inside and b not in inside for a, b in zip(first, second, strict=True)]
    hydrogens = cluster.numbers == 1
    assert hydrogens.sum() == sum(crossing)  # diamond Si: no caps merge or drop
    gaps = cluster.get_all_distances() + np.eye(len(cluster)) * 10
    assert gaps[np.ix_(hydrogens, hydrogens)].min() >= config.min_passivant_distance
    nearest_heavy = np.sort(gaps[np.ix_(hydrogens, ~hydrogens)], axis=1)
    assert np.allclose(nearest_heavy[:, 0], 1.48)  # bonded to the host at the Si–H length
    assert nearest_heavy[:, 1].min() > 1.48  # and nearer to it than to any other atom


def test_each_cap_records_its_host(si512_vacancy: tuple[Atoms, int]) -> None:
    frame, spike = si512_vacancy
    config = CutoutConfig(mode="cluster", core_radius=3.0, buffer_radius=5.0)
    (cluster,) = extract_clusters(frame, [spike], config)
    hosts = cluster.arrays[keys.PASSIVANT_HOST]
    hydrogens = np.flatnonzero(cluster.numbers == 1)
    heavy = np.flatnonzero(cluster.numbers != 1)
    assert np.all(hosts[heavy] == -1)
    gaps = np.linalg.norm(
        cluster.positions[hydrogens][:, None, :] - cluster.positions[heavy][None, :, :], axis=2
    )
    assert np.array_equal(hosts[hydrogens], heavy[np.argmin(gaps, axis=1)])
    bonds = np.linalg.norm(
        cluster.positions[hydrogens] - cluster.positions[hosts[hydrogens]], axis=1
    )
    assert np.allclose(bonds, config.bond_lengths["Si"])


def test_a_cut_without_caps_marks_no_host(si512: Atoms) -> None:
    (cluster,) = extract_clusters(si512, [0], CutoutConfig(mode="cluster", passivate=False))
    assert np.all(cluster.arrays[keys.PASSIVANT_HOST] == -1)


def test_broken_bonds_is_empty_without_outside_atoms() -> None:
    hosts, partners = broken_bonds(Atoms("Si", positions=[[0, 0, 0]]), Atoms(), 1.2)
    assert len(hosts) == len(partners) == 0
