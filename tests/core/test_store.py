from __future__ import annotations

from pathlib import Path

import mongomock
import numpy as np
from ase.build import bulk

from pyacemaker_fw.core import keys
from pyacemaker_fw.core.labels import attach_labels
from pyacemaker_fw.core.models import PotentialFiles, PotentialRecord, TrainingMetrics
from pyacemaker_fw.core.store import CampaignStore


def _store() -> CampaignStore:
    return CampaignStore(mongomock.MongoClient().db, campaign="si-test")


def _labelled_si() -> object:
    atoms = bulk("Si", "diamond", a=5.43, cubic=True)
    atoms.rattle(0.05, seed=1)
    rng = np.random.default_rng(0)
    labelled = attach_labels(
        atoms,
        energy=-43.21,
        forces=rng.normal(size=(len(atoms), 3)),
        source="qe",
        stress=rng.normal(size=6),
        gamma_max=7.5,
    )
    labelled.set_array(keys.FORCE_WEIGHT, np.linspace(0.0, 1.0, len(atoms)))
    labelled.info[keys.PROVENANCE] = {"md_step": 1200, "centre_atoms": [3, 4]}
    return labelled


def test_structure_round_trip_keeps_labels_and_metadata() -> None:
    store = _store()
    original = _labelled_si()
    [structure_id] = store.add_structures([original], dataset="dft")
    [loaded] = store.get_structures(ids=[structure_id])
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
    assert loaded.info[keys.STRUCTURE_ID] == structure_id


def test_datasets_are_separate_and_counted() -> None:
    store = _store()
    store.add_structures([_labelled_si(), _labelled_si()], dataset="phase1")
    store.add_structures([_labelled_si()], dataset="dft")
    assert store.count_structures("phase1") == 2
    assert store.count_structures("dft") == 1
    assert store.count_structures() == 3
    other = CampaignStore(store.db, campaign="another")
    assert other.count_structures() == 0


def test_latest_potential_is_the_highest_version(tmp_path: Path) -> None:
    store = _store()
    for version in (0, 2, 1):
        store.add_potential(
            PotentialRecord(
                version=version,
                parent_version=None if version == 0 else version - 1,
                mode="scratch" if version == 0 else "incremental",
                files=PotentialFiles(yaml=tmp_path / f"v{version}.yaml"),
                metrics=TrainingMetrics(force_rmse_test=10.0 / (version + 1)),
            )
        )
    latest = store.latest_potential()
    assert latest is not None
    assert latest.version == 2
    assert latest.parent_version == 1
    assert latest.files.yaml == tmp_path / "v2.yaml"
    first = store.get_potential(0)
    assert first is not None and first.mode == "scratch"


def test_events_are_time_ordered_and_filterable() -> None:
    store = _store()
    store.log_event("md_halted", step=120, gamma_max=np.float64(31.0))
    store.log_event("dft_done", n_structures=2)
    store.log_event("md_halted", step=480, gamma_max=40.0)
    halts = store.events("md_halted")
    assert [event["data"]["step"] for event in halts] == [120, 480]
    assert isinstance(halts[0]["data"]["gamma_max"], float)
    assert len(store.events()) == 3
