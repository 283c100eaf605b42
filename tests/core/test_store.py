from __future__ import annotations

from pathlib import Path

import mongomock
import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk

from pyacemaker_fw.core import keys
from pyacemaker_fw.core.labels import attach_labels
from pyacemaker_fw.core.models import PotentialFiles, PotentialRecord, TrainingMetrics
from pyacemaker_fw.core.store import FAILED, LABELLED, PENDING, CampaignStore


def _store() -> CampaignStore:
    return CampaignStore(mongomock.MongoClient().db, campaign="si-test")


def _si(seed: int = 1) -> Atoms:
    atoms = bulk("Si", "diamond", a=5.43, cubic=True)
    atoms.rattle(0.05, seed=seed)
    return atoms


def _labelled_si(seed: int = 1, energy: float = -43.21) -> Atoms:
    rng = np.random.default_rng(seed)
    atoms = _si(seed)
    labelled = attach_labels(
        atoms,
        energy=energy,
        forces=rng.normal(size=(len(atoms), 3)),
        source="qe",
        stress=rng.normal(size=6),
        gamma_max=7.5,
    )
    labelled.set_array(keys.FORCE_WEIGHT, np.linspace(0.0, 1.0, len(atoms)))
    labelled.info[keys.PROVENANCE] = {"md_step": 1200, "centre_atoms": [3, 4]}
    return labelled


def _record(version: int, tmp_path: Path) -> PotentialRecord:
    return PotentialRecord(
        version=version,
        parent_version=None if version == 1 else version - 1,
        mode="scratch" if version == 1 else "incremental",
        files=PotentialFiles(yaml=tmp_path / f"v{version}.yaml"),
        metrics=TrainingMetrics(force_rmse_test=10.0 / version),
    )


def test_structure_round_trip_keeps_labels_and_metadata() -> None:
    store = _store()
    original = _labelled_si()
    store.put_structures([original], "dft", ["w0/it1/c0"], walker=0, iteration=1)
    [loaded] = store.get_structures(["w0/it1/c0"])
    assert loaded.get_chemical_symbols() == original.get_chemical_symbols()
    np.testing.assert_array_equal(loaded.positions, original.positions)
    np.testing.assert_array_equal(loaded.cell.array, original.cell.array)
    assert loaded.get_potential_energy() == original.get_potential_energy()
    np.testing.assert_array_equal(loaded.get_forces(), original.get_forces())
    np.testing.assert_array_equal(loaded.get_stress(), original.get_stress())
    np.testing.assert_array_equal(
        loaded.arrays[keys.FORCE_WEIGHT], original.arrays[keys.FORCE_WEIGHT]
    )
    assert loaded.info[keys.LABEL_SOURCE] == "qe"
    assert loaded.info[keys.GAMMA_MAX] == 7.5
    assert loaded.info[keys.PROVENANCE] == {"md_step": 1200, "centre_atoms": [3, 4]}
    assert loaded.info[keys.STRUCTURE_ID] == "w0/it1/c0"
    assert store.count_structures(walker=0, iteration=1, status=LABELLED) == 1


def test_putting_a_key_twice_keeps_one_document_and_its_label() -> None:
    store = _store()
    store.put_structures([_si()], "cluster", ["c0"])
    store.set_label("c0", _labelled_si(energy=-40.0))
    store.put_structures([_si()], "cluster", ["c0"])  # a rerun of the cutout
    assert store.count_structures() == 1
    [again] = store.get_structures(["c0"])
    assert again.get_potential_energy() == -40.0


def test_a_structure_goes_from_pending_to_labelled_or_failed() -> None:
    store = _store()
    store.put_structures([_si(1), _si(2)], "cluster", ["a", "b"])
    assert store.count_structures(status=PENDING) == 2
    store.set_surrogate_label("a", _labelled_si(1, energy=-41.0))
    store.set_label("a", _labelled_si(1, energy=-43.0))
    store.mark_failed("b", "SCF did not converge")
    [a] = store.structure_documents(key="a")
    assert a["status"] == LABELLED and a["energy"] == -43.0
    assert a["surrogate"]["energy"] == -41.0
    [b] = store.structure_documents(key="b")
    assert b["status"] == FAILED and "SCF" in b["error"]
    with pytest.raises(KeyError, match="no structure 'c'"):
        store.set_label("c", _labelled_si())
    with pytest.raises(ValueError, match="carry no energy"):
        store.set_label("a", _si())


def test_datasets_and_campaigns_are_separate() -> None:
    store = _store()
    store.put_structures([_labelled_si(1), _labelled_si(2)], "phase1", ["p1", "p2"])
    store.put_structures([_labelled_si(3)], "dft", ["d1"])
    assert store.count_structures(dataset="phase1") == 2
    assert store.count_structures() == 3
    other = CampaignStore(store.db, campaign="another")
    assert other.count_structures() == 0
    other.put_structures([_labelled_si(1)], "phase1", ["p1"])  # same key, other campaign
    assert store.count_structures() == 3 and other.count_structures() == 1


def test_each_labelled_structure_is_claimed_by_exactly_one_fit() -> None:
    store = _store()
    store.put_structures([_labelled_si(i) for i in range(3)], "cluster", ["a", "b", "c"])
    store.put_structures([_si(9)], "cluster", ["pending"])
    first = store.claim_untrained("fit-w0-1", ["cluster"])
    store.put_structures([_labelled_si(5)], "cluster", ["d"])
    second = store.claim_untrained("fit-w1-1", ["cluster"])
    assert [atoms.info[keys.STRUCTURE_ID] for atoms in first] == ["a", "b", "c"]
    assert [atoms.info[keys.STRUCTURE_ID] for atoms in second] == ["d"]
    # a rerun of the first fit gets back what it claimed, nothing more
    rerun = store.claim_untrained("fit-w0-1", ["cluster"])
    assert [atoms.info[keys.STRUCTURE_ID] for atoms in rerun] == ["a", "b", "c"]


def test_versions_are_claimed_once_per_fit_and_never_twice(tmp_path: Path) -> None:
    store = _store()
    assert store.claim_version("phase1") == 1
    assert store.claim_version("w0/it1") == 2
    assert store.claim_version("phase1") == 1  # a rerun keeps its version
    assert store.latest_potential() is None  # claimed, not finished
    store.save_potential(_record(2, tmp_path), "w0/it1")
    store.save_potential(_record(1, tmp_path), "phase1")
    store.save_potential(_record(1, tmp_path), "phase1")  # a rerun writes the same record
    latest = store.latest_potential()
    assert latest is not None and latest.version == 2 and latest.parent_version == 1
    assert [record.version for record in store.potentials()] == [1, 2]
    assert store.db["potentials"].count_documents({"campaign": "si-test"}) == 2
    with pytest.raises(ValueError, match="claimed version 2"):
        store.save_potential(_record(3, tmp_path), "w0/it1")
    with pytest.raises(Exception, match=r"(?i)duplicate"):
        store.db["potentials"].insert_one({"campaign": "si-test", "version": 2, "fit_key": "x"})


def test_records_are_replaced_by_key() -> None:
    store = _store()
    store.put_record("md_segment", "w0/0000", {"status": "running", "steps": np.int64(0)})
    store.put_record("md_segment", "w0/0000", {"status": "completed", "steps": 500})
    store.put_record("md_segment", "w1/0000", {"status": "halted_uncertain", "steps": 120})
    [first, second] = store.records("md_segment")
    assert first["status"] == "completed" and first["steps"] == 500
    assert second["key"] == "w1/0000"
    assert store.get_record("md_segment", "w9/0000") is None


def test_events_are_time_ordered_and_a_keyed_event_is_logged_once() -> None:
    store = _store()
    store.log_event("md_halted", key="w0/120", step=120, gamma_max=np.float64(31.0))
    store.log_event("md_halted", key="w0/120", step=120, gamma_max=31.0)  # rerun
    store.log_event("dft_done", n_structures=2)
    store.log_event("md_halted", key="w0/480", step=480, gamma_max=40.0)
    halts = store.events("md_halted")
    assert [event["data"]["step"] for event in halts] == [120, 480]
    assert isinstance(halts[0]["data"]["gamma_max"], float)
    assert len(store.events()) == 3


def test_a_lock_is_held_by_one_owner_and_retaken_by_the_same_owner(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import pyacemaker_fw.core.store as store_module

    monkeypatch.setattr(store_module, "LOCK_POLL_SECONDS", 0.01)
    store = _store()
    with store.lock("ace_fit", "walker0/it001"):
        with (
            pytest.raises(TimeoutError, match="held by 'walker0/it001'"),
            store.lock("ace_fit", "walker1/it001", wait_seconds=0.05),
        ):
            pass
        with store.lock("ace_fit", "walker0/it001", wait_seconds=0.05):  # a rerun of the owner
            pass
    with store.lock("ace_fit", "walker1/it001", wait_seconds=0.05):  # released
        pass


def test_an_abandoned_lock_expires(monkeypatch: pytest.MonkeyPatch) -> None:
    import pyacemaker_fw.core.store as store_module

    monkeypatch.setattr(store_module, "LOCK_POLL_SECONDS", 0.01)
    store = _store()
    store._try_lock(store.db["locks"], "si-test/lock/ace_fit", "dead-worker", hold_seconds=0.0)
    with store.lock("ace_fit", "walker1/it001", wait_seconds=1.0):
        assert store.db["locks"].find_one({})["owner"] == "walker1/it001"
