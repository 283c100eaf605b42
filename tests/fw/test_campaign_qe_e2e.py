"""The demo campaign (workflows/si_demo.yaml) shortened for CI, on the real engines: the seed
MACE committee, Quantum ESPRESSO under custodian, pacemaker and LAMMPS. Small cells, cheap QE
settings, one uncertainty-triggered round; the chain must be in the database."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from ase.build import bulk
from ase.io import write

from pyacemaker_fw.config import CampaignConfig, EspressoConfig, load_config
from pyacemaker_fw.core import keys
from pyacemaker_fw.core.store import LABELLED, CampaignStore
from pyacemaker_fw.fw.embedded import EmbeddedLaunchPad
from pyacemaker_fw.fw.env import FIREWORK_KEY, layout
from pyacemaker_fw.fw.runner import run_embedded
from pyacemaker_fw.oracles.espresso.oracle import EspressoOracle
from tests.fw.conftest import ROOT, assert_each_child_resumed_where_its_parent_halted

pytestmark = [pytest.mark.engine, pytest.mark.slow]

SI_DEMO = ROOT / "workflows" / "si_demo.yaml"
CHEAP_QE = {
    "ecutwfc": 20.0,
    "ecutrho": None,
    "kspacing": 0.3,
    "kpoint_shift": False,
    "mpi_command": [],
}
"""Gamma for 16 atoms, a few k-points for 8: seconds per label, not minutes."""


def _hot_si16(seed: int) -> Any:
    atoms = bulk("Si", "diamond", a=5.43, cubic=True).repeat((2, 1, 1))
    atoms.rattle(0.12, seed=seed)  # about the thermal displacement at 1200 K
    return atoms


def _holdout(folder: Path) -> Path:
    """Two hot Si16 cells labelled by QE at the test's settings: never trained on."""
    oracle = EspressoOracle(EspressoConfig(**CHEAP_QE), folder / "holdout_qe")
    path = folder / "holdout.extxyz"
    write(path, oracle.label([_hot_si16(seed) for seed in (101, 102)]))
    return path


def _short_demo(folder: Path) -> CampaignConfig:
    data = yaml.safe_load(SI_DEMO.read_text())
    data["workdir"] = str(folder / "campaign")
    data["oracle"]["mace"]["model_paths"] = [
        str(SI_DEMO.parent / path) for path in data["oracle"]["mace"]["model_paths"]
    ]
    data["oracle"]["qe"] = {**data["oracle"]["qe"], **CHEAP_QE}
    data["oracle"]["tiered"] = {"force_spread_threshold": 1e-6}  # every Phase 1 cell to QE
    data["distillation"] = {
        **data["distillation"],
        **{"pool_size": 12, "n_select": 4, "max_atoms": 8, "defects": False},
    }
    data["distillation"]["rattle_amplitudes"] = [0.05]
    data["thresholds"] = {"threshold_add_train": 1.5, "threshold_call_dft": 2.0}
    data["loop"] = {"total_md_steps": 400, "max_iterations": 1, "surrogates_per_structure": 2}
    data["md"] = {"supercell": [2, 1, 1], "temperature": 1500.0, "restart_interval": 50}
    data["trainer"] = {
        "cutoff": 4.5,
        "functions_per_element": 16,
        "max_iterations": 60,
        "incremental_iterations": 30,
        "mace_finetune": {"epochs": 2, "replay_structures": 2},
    }
    data["validation"] = {
        "holdout_set": str(_holdout(folder)),
        "on_failure": "stop",
        "eos_volume_tolerance": 0.5,
        "eos_bulk_modulus_tolerance": 5.0,
        "eos_energy_tolerance": 5000.0,
        "elastic_tolerance": 5.0,
        "phonon_supercell": [1, 1, 1],
        "phonon_imaginary_tolerance": 50.0,
        "phonon_frequency_tolerance": 5.0,
        "md_steps": 50,
        "md_max_drift": 1e5,
        "md_max_gamma": None,
    }
    path = folder / "si_demo_short.yaml"
    path.write_text(yaml.safe_dump(data))
    return load_config(path)


class Campaign:
    def __init__(self, config: CampaignConfig) -> None:
        self.config = config
        self.session = EmbeddedLaunchPad(layout(config).launchpad_snapshot, read_only=True)
        self.store = CampaignStore(self.session.db, config.name)

    def keys(self) -> list[str]:
        fireworks = self.session.launchpad.fireworks.find({}, {"spec": 1})
        return [str(fw["spec"][FIREWORK_KEY]) for fw in fireworks]


@pytest.fixture(scope="module")
def campaign(tmp_path_factory: pytest.TempPathFactory) -> Campaign:
    config = _short_demo(tmp_path_factory.mktemp("si_demo"))
    summary = run_embedded(config)
    assert summary.complete, summary.states
    return Campaign(config)


def test_the_halt_added_dft_and_update_fireworks_to_the_workflow(campaign: Campaign) -> None:
    assert len(campaign.store.records("learning_round")) == 1  # the one trigger
    [cutout] = campaign.store.records("cutout")
    keys_now = set(campaign.keys())
    assert {f"dft/{key}" for key in cutout["keys"]} <= keys_now
    assert {f"{cutout['key']}/surrogates", f"{cutout['key']}/update"} <= keys_now


def test_the_halted_frame_was_labelled_by_qe_whole_and_periodic(campaign: Campaign) -> None:
    [document] = campaign.store.structure_documents(dataset="cluster")
    assert document["status"] == LABELLED
    [frame] = campaign.store.get_structures([document["key"]])
    assert frame.info[keys.LABEL_SOURCE] == "qe"
    assert frame.info[keys.CUTOUT_MODE] == "whole_frame" and frame.pbc.all()
    assert np.all(frame.arrays[keys.FORCE_WEIGHT] == 1.0)
    # pw.x's forces on a periodic cell sum to zero: a real SCF, not a stand-in
    assert np.abs(frame.get_forces().sum(axis=0)).max() < 1e-2
    phase1 = campaign.store.structure_documents(dataset="phase1", status=LABELLED)
    assert phase1, "the committee sent no Phase 1 cell to QE"


def test_the_update_made_a_new_version_from_the_first(campaign: Campaign) -> None:
    first, *later = campaign.store.potentials()
    assert later, "no incremental update"
    assert later[-1].mode == "incremental" and later[-1].parent_version == later[-1].version - 1
    assert first.mode == "scratch"


def test_the_md_resumed_from_the_restart_and_step_it_halted_at(campaign: Campaign) -> None:
    segments = campaign.store.records("md_segment")
    assert len(segments) >= 2
    assert_each_child_resumed_where_its_parent_halted(segments)
    # the resumed MD ran on, on the new potential, until its end or its next halt
    last = segments[-1]
    assert last["outcome"]["result"]["step"] > segments[0]["outcome"]["result"]["step"]
    assert last["potential"] == len(campaign.store.potentials())


def test_the_potentials_error_on_held_out_qe_cells_is_bounded(campaign: Campaign) -> None:
    from ase.io import read

    holdout = read(campaign.config.validation.holdout_set, index=":")
    force_scale = float(np.sqrt(np.mean(np.concatenate([a.get_forces() for a in holdout]) ** 2)))
    documents = sorted(
        campaign.store.db["potentials"].find({"campaign": campaign.config.name}),
        key=lambda document: document["version"],
    )
    errors = [document["holdout"]["force_rmse"] / 1000.0 for document in documents]
    assert len(errors) >= 2 and all(np.isfinite(errors))
    # Phase 1 saw four rattled Si8 cells; the round taught it a hot Si16 frame. The final
    # potential beats predicting zero force by a clear margin, and the first one.
    assert errors[-1] < 0.6 * force_scale, (errors, force_scale)
    assert errors[-1] < errors[0], errors
