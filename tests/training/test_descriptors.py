from __future__ import annotations

from pathlib import Path

import numpy as np
from ase.build import bulk

from pyacemaker_fw.core import keys
from pyacemaker_fw.training.descriptors import (
    ace_descriptor,
    farthest_point_order,
    structural_descriptor,
)


def test_structural_descriptor_ignores_translation_and_atom_order() -> None:
    atoms = bulk("Si", "diamond", a=5.43, cubic=True)
    atoms.rattle(0.05, seed=1)
    moved = atoms.copy()
    moved.positions += [0.3, -1.1, 2.0]
    shuffled = atoms[np.random.default_rng(0).permutation(len(atoms))]
    reference = structural_descriptor(atoms)
    np.testing.assert_allclose(structural_descriptor(moved), reference, atol=1e-10)
    np.testing.assert_allclose(structural_descriptor(shuffled), reference, atol=1e-10)


def test_structural_descriptor_tells_strain_and_disorder_apart() -> None:
    perfect = structural_descriptor(bulk("Si", "diamond", a=5.43, cubic=True))
    compressed = structural_descriptor(bulk("Si", "diamond", a=5.2, cubic=True))
    rattled_atoms = bulk("Si", "diamond", a=5.43, cubic=True)
    rattled_atoms.rattle(0.1, seed=2)
    rattled = structural_descriptor(rattled_atoms)
    half = len(perfect) // 2
    assert np.linalg.norm(compressed - perfect) > 0.1
    assert np.allclose(perfect[half:], 0.0), "identical environments have no spread"
    assert rattled[half:].max() > 0.01


def test_structural_descriptor_only_looks_around_taught_atoms() -> None:
    cluster = bulk("Si", "diamond", a=5.43, cubic=True).repeat((4, 4, 4))
    cluster.pbc = False
    distance = np.linalg.norm(cluster.positions - cluster.positions.mean(axis=0), axis=1)
    cluster.arrays[keys.FORCE_WEIGHT] = (distance < 2.5).astype(float)
    outer = cluster.copy()
    far = distance > 2.5 + 6.0
    outer.positions[far] += np.random.default_rng(3).normal(0, 0.3, (int(far.sum()), 3))
    np.testing.assert_allclose(
        structural_descriptor(outer), structural_descriptor(cluster), rtol=0, atol=1e-12
    )
    for atoms in (outer, cluster):
        del atoms.arrays[keys.FORCE_WEIGHT]
    assert not np.allclose(structural_descriptor(outer), structural_descriptor(cluster))


def test_farthest_point_order_picks_the_extremes_first() -> None:
    points = np.array([[0.0, 0.0], [0.1, 0.0], [10.0, 0.0], [0.0, 10.0], [0.05, 0.05]])
    order = farthest_point_order(points, 3)
    assert set(order[:2]) == {2, 3}
    assert order[2] in {0, 1, 4}
    assert sorted(farthest_point_order(points, 10)) == [0, 1, 2, 3, 4]


def test_farthest_point_order_never_repeats_duplicates() -> None:
    points = np.zeros((4, 3))
    assert sorted(farthest_point_order(points, 4)) == [0, 1, 2, 3]


def test_ace_descriptor_averages_projections_of_taught_atoms() -> None:
    potential = Path(__file__).resolve().parents[1] / "assets" / "ace_si" / "potential.yaml"
    describe = ace_descriptor(potential)
    atoms = bulk("Si", "diamond", a=5.43, cubic=True)
    atoms.rattle(0.05, seed=4)
    whole = describe(atoms)
    assert whole.shape == (40,), "one number per B-basis function of the element"
    first_half = atoms.copy()
    first_half.arrays[keys.FORCE_WEIGHT] = np.r_[np.ones(4), np.zeros(4)]
    second_half = atoms.copy()
    second_half.arrays[keys.FORCE_WEIGHT] = np.r_[np.zeros(4), np.ones(4)]
    np.testing.assert_allclose((describe(first_half) + describe(second_half)) / 2, whole)
    assert not np.allclose(describe(first_half), whole)
