"""Errors of a cutout's weighted atoms against the parent frame."""

from __future__ import annotations

import numpy as np
import pytest
from ase.build import bulk

from pyacemaker_fw.config import CutoutConfig, RelaxationConfig
from pyacemaker_fw.core import keys
from pyacemaker_fw.extraction import extract_clusters
from pyacemaker_fw.extraction.accuracy import reweighted, weighted_force_errors

FROZEN = RelaxationConfig(enabled=False)


@pytest.fixture
def frame():
    atoms = bulk("Si", "diamond", a=5.431, cubic=True).repeat(3)
    atoms.rattle(0.05, seed=3)
    return atoms


@pytest.fixture
def parent_forces(frame):
    return np.random.default_rng(0).normal(0.0, 1.0, (len(frame), 3))


def test_a_cluster_carrying_its_parents_forces_has_no_error(frame, parent_forces):
    cluster = extract_clusters(frame, [10], CutoutConfig(mode="cluster", relaxation=FROZEN))[0]
    parents = cluster.arrays[keys.PARENT_INDEX]
    forces = np.where((parents >= 0)[:, None], parent_forces[parents], 9.0)  # caps: anything
    errors = weighted_force_errors(cluster, forces, parent_forces)
    assert errors.component_rms == 0.0 and errors.centre == 0.0
    assert errors.atoms == 5  # the centre and its four bonded neighbours within 3 Å
    assert errors.reference_rms == pytest.approx(np.sqrt(np.mean(parent_forces[parents[:5]] ** 2)))


def test_a_uniform_shift_of_the_core_forces_is_its_own_rms(frame, parent_forces):
    cluster = extract_clusters(frame, [10], CutoutConfig(mode="cluster", relaxation=FROZEN))[0]
    parents = cluster.arrays[keys.PARENT_INDEX]
    forces = parent_forces[np.maximum(parents, 0)] + np.array([0.3, 0.0, 0.0])
    errors = weighted_force_errors(cluster, forces, parent_forces)
    assert errors.component_rms == pytest.approx(0.3 / np.sqrt(3))
    assert errors.centre == pytest.approx(0.3)
    assert errors.largest == pytest.approx(0.3)


def test_reweighting_to_the_centre_scores_one_atom(frame, parent_forces):
    cluster = extract_clusters(frame, [10], CutoutConfig(mode="cluster", relaxation=FROZEN))[0]
    centre_only = reweighted(cluster, 0.5)
    assert centre_only.arrays[keys.FORCE_WEIGHT].sum() == 1.0
    assert centre_only.arrays[keys.FORCE_WEIGHT][0] == 1.0
    assert cluster.arrays[keys.FORCE_WEIGHT].sum() == 5.0  # the original is left alone


def test_forces_of_another_frame_are_refused(frame, parent_forces):
    cluster = extract_clusters(frame, [10], CutoutConfig(mode="cluster", relaxation=FROZEN))[0]
    with pytest.raises(ValueError, match="cutout_forces has shape"):
        weighted_force_errors(cluster, parent_forces, parent_forces)
    with pytest.raises(ValueError, match="beyond the parent"):
        weighted_force_errors(cluster, np.zeros((len(cluster), 3)), parent_forces[:3])
