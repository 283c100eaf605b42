"""MACEManager on the committed tiny Si committee (three seeds, trained on SW data)."""

from __future__ import annotations

import os
import urllib.error
from pathlib import Path

import numpy as np
import pytest
from ase import Atoms, units
from ase.build import bulk
from ase.md.langevin import Langevin
from ase.md.velocitydistribution import thermalize_momenta

from pyacemaker_fw.core import keys
from pyacemaker_fw.oracles.mace_manager import (
    MACEManager,
    MACEModelUnavailable,
    force_spread,
    resolve_model,
)
from pyacemaker_fw.oracles.reference import stillinger_weber_si
from tests.oracles.paths import MACE_COMMITTEE

DISPLACED_ATOM = 0


@pytest.fixture(scope="module")
def committee() -> MACEManager:
    return MACEManager.from_paths(MACE_COMMITTEE)


@pytest.fixture(scope="module")
def md_snapshot() -> Atoms:
    """A 64-atom Si frame after 200 fs of Stillinger–Weber Langevin MD at 600 K."""
    atoms = bulk("Si", "diamond", a=5.431, cubic=True).repeat(2)
    atoms.calc = stillinger_weber_si().calculator
    thermalize_momenta(atoms, temperature_K=600, rng=np.random.default_rng(7))
    Langevin(
        atoms,
        2 * units.fs,
        temperature_K=600,
        friction=0.02,
        fixcm=False,
        rng=np.random.default_rng(7),
    ).run(100)
    snapshot = atoms.copy()
    snapshot.calc = None
    return snapshot


def _distorted(snapshot: Atoms) -> Atoms:
    distorted = snapshot.copy()
    distorted.positions[DISPLACED_ATOM] += (0.6, 0.5, 0.4)  # 0.9 Å, into a bond
    return distorted


@pytest.mark.engine
def test_committee_spread_is_larger_on_a_distorted_structure_and_sits_on_it(
    committee: MACEManager, md_snapshot: Atoms
) -> None:
    snapshot, distorted = committee.label([md_snapshot, _distorted(md_snapshot)])
    assert distorted.info[keys.UNCERTAINTY] > 5 * snapshot.info[keys.UNCERTAINTY]
    spread = distorted.arrays[keys.FORCE_UNCERTAINTY]
    distance = distorted.get_distances(DISPLACED_ATOM, range(len(distorted)), mic=True)
    near, far = spread[distance < 3.0], spread[distance > 5.0]
    assert int(np.argmax(spread)) == DISPLACED_ATOM
    assert near.mean() > 5 * far.mean()
    # far from the defect the committee agrees as well as on the MD frame
    assert far.max() < 2 * snapshot.info[keys.UNCERTAINTY]


@pytest.mark.engine
def test_energy_spread_flags_wrong_symmetric_cells_that_have_no_force_spread(
    committee: MACEManager,
) -> None:
    from ase.build import bulk

    diamond, simple_cubic = committee.label(
        [bulk("Si", "diamond", a=5.431), bulk("Si", "sc", a=2.6)]
    )
    assert simple_cubic.info[keys.UNCERTAINTY] == pytest.approx(0.0, abs=1e-6)
    assert simple_cubic.info[keys.ENERGY_UNCERTAINTY] > 10 * diamond.info[keys.ENERGY_UNCERTAINTY]
    assert simple_cubic.info[keys.ENERGY_UNCERTAINTY] > 0.02


@pytest.mark.engine
def test_batched_labels_equal_the_ase_calculator(
    committee: MACEManager, md_snapshot: Atoms
) -> None:
    structures = [md_snapshot, _distorted(md_snapshot), bulk("Si", "diamond", a=5.5)]
    labelled = committee.label(structures)
    for atoms, result in zip(structures, labelled, strict=True):
        reference = atoms.copy()
        reference.calc = committee.calculator
        assert result.get_potential_energy() == pytest.approx(
            reference.get_potential_energy(), abs=1e-3
        )
        assert np.abs(result.get_forces() - reference.get_forces()).max() < 1e-4
        assert np.abs(result.get_stress() - reference.get_stress()).max() < 1e-6
        committee_forces = committee.calculator.results["forces_comm"]
        assert np.allclose(result.arrays[keys.FORCE_UNCERTAINTY], force_spread(committee_forces))
        assert result.info[keys.LABEL_SOURCE] == "mace"


@pytest.mark.engine
def test_batch_size_does_not_change_results(md_snapshot: Atoms) -> None:
    structures = [md_snapshot, _distorted(md_snapshot), bulk("Si", "diamond", a=5.3)]
    one = MACEManager.from_paths(MACE_COMMITTEE, batch_size=1).predict(structures)
    all_at_once = MACEManager.from_paths(MACE_COMMITTEE, batch_size=8).predict(structures)
    for a, b in zip(one, all_at_once, strict=True):
        assert a.energy == pytest.approx(b.energy, abs=1e-3)
        assert np.abs(a.forces - b.forces).max() < 1e-4


@pytest.mark.engine
def test_single_model_has_no_uncertainty_and_clusters_no_stress() -> None:
    single = MACEManager.from_paths(MACE_COMMITTEE[:1])
    cluster = bulk("Si", "diamond", a=5.431, cubic=True)
    cluster.pbc = False
    cluster.center(vacuum=4.0)
    [labelled] = single.label([cluster])
    assert keys.UNCERTAINTY not in labelled.info
    assert keys.FORCE_UNCERTAINTY not in labelled.arrays
    assert "stress" not in labelled.calc.results
    assert np.abs(labelled.get_forces().sum(axis=0)).max() < 1e-3


@pytest.mark.engine
def test_threads_are_pinned(committee: MACEManager) -> None:
    import torch

    assert torch.get_num_threads() == committee.config.threads == 1
    assert os.environ["OMP_NUM_THREADS"] == "1"


def test_mace_mp_name_offline_gives_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    from mace.calculators import foundations_models

    def offline(model: str) -> str:
        raise urllib.error.URLError("[Errno -2] Name or service not known")

    monkeypatch.setattr(foundations_models, "download_mace_mp_checkpoint", offline)
    with pytest.raises(MACEModelUnavailable, match="'small' cannot be had") as raised:
        resolve_model("small")
    assert "oracle.mace.model_paths" in str(raised.value)


def test_unknown_model_entries_are_refused(tmp_path: Path) -> None:
    with pytest.raises(MACEModelUnavailable, match="not a file"):
        resolve_model(str(tmp_path / "missing.model"))
    assert resolve_model(str(MACE_COMMITTEE[0])) == MACE_COMMITTEE[0]
