from __future__ import annotations

from collections import Counter
from typing import Any

import mongomock
import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk

from pyacemaker_fw.config import LoopStrategyConfig
from pyacemaker_fw.core import keys
from pyacemaker_fw.core.labels import attach_labels
from pyacemaker_fw.core.store import CampaignStore
from pyacemaker_fw.training.replay import ReplayBuffer, replay_count


def _cells(count: int, start: int = 0, strain: float = 0.0) -> list[Atoms]:
    """Distinct labelled Si cells; ``info['tag']`` numbers them."""
    cells = []
    for index in range(start, start + count):
        atoms = bulk("Si", "diamond", a=5.43 * (1 + strain), cubic=True)
        atoms.rattle(0.02, seed=index)
        labelled = attach_labels(atoms, -34.0 - 0.01 * index, np.zeros((8, 3)), "qe")
        labelled.info["tag"] = index
        cells.append(labelled)
    return cells


def _tags(structures: list[Atoms]) -> list[int]:
    return [int(atoms.info["tag"]) for atoms in structures]


def _database() -> Any:
    return mongomock.MongoClient().db


def test_the_buffer_never_exceeds_its_capacity() -> None:
    buffer = ReplayBuffer(_database(), "si", capacity=5)
    assert buffer.add(_cells(3)) == 3
    buffer.add(_cells(10, start=3))
    assert len(buffer) == 5
    assert buffer.offered == 13


def test_the_same_structure_offered_twice_is_kept_once() -> None:
    buffer = ReplayBuffer(_database(), "si", capacity=10)
    cells = _cells(4)
    buffer.add(cells)
    assert buffer.add(cells) == 0
    assert len(buffer) == 4


def test_the_buffer_and_its_random_sequence_survive_a_restart() -> None:
    database = _database()
    first = ReplayBuffer(database, "si", capacity=6, seed=3)
    first.add(_cells(20))
    kept = _tags(first.structures())
    restarted = ReplayBuffer(database, "si", capacity=6, seed=3)
    assert _tags(restarted.structures()) == kept
    restarted.add(_cells(20, start=20))
    uninterrupted = ReplayBuffer(_database(), "si", capacity=6, seed=3)
    uninterrupted.add(_cells(40))
    assert _tags(restarted.structures()) == _tags(uninterrupted.structures())
    loaded = restarted.structures()[0]
    assert loaded.get_potential_energy() == pytest.approx(-34.0 - 0.01 * loaded.info["tag"])


def test_buffers_of_other_campaigns_and_names_are_separate() -> None:
    database = _database()
    ReplayBuffer(database, "si", capacity=5).add(_cells(3))
    assert len(ReplayBuffer(database, "ge", capacity=5)) == 0
    assert len(ReplayBuffer(database, "si", capacity=5, name="mace")) == 0


def test_reservoir_keeps_every_offered_structure_with_equal_chance() -> None:
    """Early and late arrivals are equally likely to be kept: capacity / offered each."""
    counts: Counter[int] = Counter()
    trials, offered, capacity = 60, 30, 6
    database = _database()
    cells = _cells(offered)
    for seed in range(trials):
        buffer = ReplayBuffer(database, "si", capacity=capacity, seed=seed, name=f"trial{seed}")
        buffer.add(cells[:10])
        buffer.add(cells[10:])
        counts.update(_tags(buffer.structures()))
    early = sum(counts[tag] for tag in range(15)) / (15 * trials)
    late = sum(counts[tag] for tag in range(15, 30)) / (15 * trials)
    expected = capacity / offered
    assert early == pytest.approx(expected, abs=0.06)
    assert late == pytest.approx(expected, abs=0.06)


def test_farthest_point_buffer_keeps_rare_environments() -> None:
    """Many near-identical bulk cells and two strained ones: the strained ones survive."""
    buffer = ReplayBuffer(_database(), "si", capacity=4, strategy="farthest_point")
    bulk_cells = _cells(12)
    squeezed = _cells(1, start=100, strain=-0.05)
    stretched = _cells(1, start=101, strain=0.05)
    buffer.add(bulk_cells[:6] + squeezed)
    buffer.add(bulk_cells[6:] + stretched)
    assert len(buffer) == 4
    assert {100, 101} <= set(_tags(buffer.structures()))


def test_sample_draws_distinct_structures_and_changes_between_draws() -> None:
    buffer = ReplayBuffer(_database(), "si", capacity=20, seed=1)
    buffer.add(_cells(20))
    first, second = buffer.sample(8), buffer.sample(8)
    assert len(set(_tags(first))) == 8
    assert _tags(first) != _tags(second)
    assert len(buffer.sample(100)) == 20


def test_training_set_mixes_new_and_old_in_the_configured_ratio() -> None:
    assert replay_count(10, 0.5) == 10
    assert replay_count(10, 0.25) == 30
    assert replay_count(10, 1.0) == 0
    buffer = ReplayBuffer(_database(), "si", capacity=50)
    buffer.add(_cells(50))
    new = _cells(6, start=500)
    mixed = buffer.training_set(new, new_fraction=1 / 3)
    assert _tags(mixed[:6]) == list(range(500, 506))
    assert len(mixed) == 18
    assert all(tag < 50 for tag in _tags(mixed[6:]))


def test_buffer_for_a_store_uses_its_database_and_the_loop_settings() -> None:
    store = CampaignStore(_database(), "si")
    loop = LoopStrategyConfig(replay_buffer_size=7, replay_strategy="farthest_point")
    buffer = ReplayBuffer.for_store(store, loop)
    assert (buffer.capacity, buffer.strategy) == (7, "farthest_point")
    buffer.add(_cells(2))
    stored = store.db["replay_buffer"].find_one({"campaign": "si"})
    assert stored["atoms"]["natoms"] == 8
    assert keys.STRUCTURE_ID not in buffer.structures()[0].info
