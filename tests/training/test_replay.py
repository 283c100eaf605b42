from __future__ import annotations

import json
from collections import Counter

import bson
import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk

from pyacemaker_fw.config import LoopStrategyConfig
from pyacemaker_fw.core import keys
from pyacemaker_fw.core.labels import attach_labels
from pyacemaker_fw.training.replay import ReplayBuffer, ReplayState, Strategy, replay_count


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


def test_the_buffer_never_exceeds_its_capacity() -> None:
    buffer = ReplayBuffer(capacity=5)
    assert buffer.add(_cells(3)) == 3
    buffer.add(_cells(10, start=3))
    assert len(buffer) == 5
    assert buffer.offered == 13


def test_the_same_structure_offered_twice_is_kept_once() -> None:
    buffer = ReplayBuffer(capacity=10)
    cells = _cells(4)
    buffer.add(cells)
    assert buffer.add(cells) == 0
    assert len(buffer) == 4


def test_reservoir_keeps_every_offered_structure_with_equal_chance() -> None:
    """Early and late arrivals are equally likely to be kept: capacity / offered each."""
    counts: Counter[int] = Counter()
    trials, offered, capacity = 60, 30, 6
    cells = _cells(offered)
    for seed in range(trials):
        buffer = ReplayBuffer(capacity=capacity, seed=seed)
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
    buffer = ReplayBuffer(capacity=4, strategy="farthest_point")
    bulk_cells = _cells(12)
    squeezed = _cells(1, start=100, strain=-0.05)
    stretched = _cells(1, start=101, strain=0.05)
    buffer.add(bulk_cells[:6] + squeezed)
    buffer.add(bulk_cells[6:] + stretched)
    assert len(buffer) == 4
    assert {100, 101} <= set(_tags(buffer.structures()))


def test_sample_draws_distinct_structures_and_changes_between_draws() -> None:
    buffer = ReplayBuffer(capacity=20, seed=1)
    buffer.add(_cells(20))
    first, second = buffer.sample(8), buffer.sample(8)
    assert len(set(_tags(first))) == 8
    assert _tags(first) != _tags(second)
    assert len(buffer.sample(100)) == 20


def test_training_set_mixes_new_and_old_in_the_configured_ratio() -> None:
    assert replay_count(10, 0.5) == 10
    assert replay_count(10, 0.25) == 30
    assert replay_count(10, 1.0) == 0
    buffer = ReplayBuffer(capacity=50)
    buffer.add(_cells(50))
    new = _cells(6, start=500)
    mixed = buffer.training_set(new, new_fraction=1 / 3)
    assert _tags(mixed[:6]) == list(range(500, 506))
    assert len(mixed) == 18
    assert all(tag < 50 for tag in _tags(mixed[6:]))


def test_a_training_set_of_clusters_only_gets_one_structure_whose_energy_teaches() -> None:
    """Clusters teach no energy; pacemaker cannot fit a set where no energy teaches."""
    clusters = _cells(20, start=100)
    for cluster in clusters:
        cluster.info[keys.ENERGY_WEIGHT] = 0.0
    buffer = ReplayBuffer(capacity=30, seed=2)
    buffer.add(_cells(1))  # one bulk cell among 15 clusters
    buffer.add(clusters[:15])
    new = clusters[15:]
    for seed in range(5):  # whichever clusters the sample draws
        buffer.seed = seed
        mixed = buffer.training_set(new, new_fraction=0.5)
        teaching = [atoms for atoms in mixed if atoms.info.get(keys.ENERGY_WEIGHT, 1.0) > 0]
        assert _tags(teaching) == [0]
        assert _tags(mixed[: len(new)]) == _tags(new)


def _run_phases(buffer: ReplayBuffer, phases: list[list[Atoms]]) -> list[list[int]]:
    """Offer each phase's structures, then draw a replay sample: what a campaign does."""
    samples = []
    for structures in phases:
        buffer.add(structures)
        samples.append(_tags(buffer.sample(4)))
    return samples


@pytest.mark.parametrize("strategy", ["random", "farthest_point"])
def test_a_restored_buffer_continues_exactly_as_an_uninterrupted_one(strategy: Strategy) -> None:
    """Saved after two updates, sent through JSON, restored: the next updates keep the same
    structures and draw the same samples as a buffer that never stopped."""
    phases = [_cells(12), _cells(9, start=12), _cells(9, start=21), _cells(9, start=30)]
    uninterrupted = ReplayBuffer(capacity=6, strategy=strategy, seed=3)
    expected = _run_phases(uninterrupted, phases)

    first = ReplayBuffer(capacity=6, strategy=strategy, seed=3)
    before = _run_phases(first, phases[:2])
    saved = json.dumps(first.state().model_dump(mode="json"))
    restored = ReplayBuffer.from_state(ReplayState.model_validate_json(saved))
    after = _run_phases(restored, phases[2:])

    assert before + after == expected
    assert _tags(restored.structures()) == _tags(uninterrupted.structures())
    assert restored.offered == uninterrupted.offered == 39
    assert restored.state() == uninterrupted.state()
    assert len(set(_tags(uninterrupted.structures())) - set(range(21))) > 0, "late ones got in"


def test_the_state_is_bson_safe_and_keeps_labels_and_metadata() -> None:
    buffer = ReplayBuffer(capacity=4, seed=1)
    cells = _cells(3)
    cells[0].info[keys.STRUCTURE_ID] = "abc123"
    buffer.add(cells)
    document = buffer.state().model_dump(mode="json")
    decoded = bson.decode(bson.encode(document))
    restored = ReplayBuffer.from_state(ReplayState.model_validate(decoded))
    first = restored.structures()[0]
    assert first.get_potential_energy() == pytest.approx(-34.0)
    np.testing.assert_array_equal(first.positions, cells[0].positions)
    assert first.info[keys.STRUCTURE_ID] == "abc123"
    assert first.info[keys.LABEL_SOURCE] == "qe"
    assert restored.add(cells) == 0, "restored entries still count as duplicates"


def test_the_state_is_a_snapshot_that_later_changes_do_not_touch() -> None:
    buffer = ReplayBuffer(capacity=4)
    buffer.add(_cells(2))
    snapshot = buffer.state()
    buffer.add(_cells(2, start=2))
    buffer.structures()[0].positions += 1.0
    assert [entry.slot for entry in snapshot.entries] == [0, 1]
    assert ReplayBuffer.from_state(buffer.state()).structures()[0].positions == pytest.approx(
        _cells(1)[0].positions
    )


def test_inconsistent_states_are_refused_with_the_field_named() -> None:
    buffer = ReplayBuffer(capacity=3)
    buffer.add(_cells(3))
    good = buffer.state().model_dump(mode="json")
    with pytest.raises(ValueError, match="slots must be"):
        ReplayState.model_validate({**good, "entries": good["entries"][1:]})
    with pytest.raises(ValueError, match="exceed capacity"):
        ReplayState.model_validate({**good, "capacity": 2})
    swapped = [dict(entry) for entry in good["entries"]]
    swapped[0]["key"], swapped[1]["key"] = swapped[1]["key"], swapped[0]["key"]
    with pytest.raises(ValueError, match="not the fingerprint"):
        ReplayBuffer.from_state(ReplayState.model_validate({**good, "entries": swapped}))
    with pytest.raises(ValueError, match="capacity must be at least 1"):
        ReplayBuffer(capacity=0)
    with pytest.raises(ValueError, match="strategy"):
        ReplayBuffer(capacity=2, strategy="newest")  # type: ignore[arg-type]


def test_buffer_for_a_loop_uses_the_loop_settings() -> None:
    loop = LoopStrategyConfig(replay_buffer_size=7, replay_strategy="farthest_point")
    buffer = ReplayBuffer.for_loop(loop, seed=5)
    assert (buffer.capacity, buffer.strategy, buffer.seed) == (7, "farthest_point", 5)
    assert len(buffer) == 0 and buffer.offered == 0
    buffer.add(_cells(2))
    assert keys.STRUCTURE_ID not in buffer.structures()[0].info
