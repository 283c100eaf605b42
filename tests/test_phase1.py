"""Phase 1: generate, select, label through the tiers, fit the zero-shot ACE."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk
from ase.calculators.emt import EMT
from ase.io import read
from ase.neighborlist import neighbor_list

from pyacemaker_fw.config import CampaignConfig
from pyacemaker_fw.core import keys
from pyacemaker_fw.core.base import BaseGenerator, BaseOracle, BaseTrainer
from pyacemaker_fw.core.labels import attach_labels
from pyacemaker_fw.core.models import PotentialFiles, PotentialRecord
from pyacemaker_fw.oracles.reference import stillinger_weber_si
from pyacemaker_fw.phase1 import Phase1, Phase1Result, build_phase1
from pyacemaker_fw.validation.models import ace_calculator

MACE_MODELS = Path(__file__).resolve().parent / "assets" / "mace_si"
FORCE_RMSE_BOUND = 0.15
"""eV/Å: the zero-shot ACE against SW on unseen rattled diamond (measured: 0.07)."""


# --- the pipeline's logic, with stand-in engines --------------------------------------------


class _RattledCopper(BaseGenerator):
    def generate(self) -> list[Atoms]:
        pool = []
        for index in range(12):
            atoms = bulk("Cu", "fcc", a=3.6, cubic=True)
            atoms.rattle(0.02 * (1 + index % 6), seed=index)
            atoms.info[keys.PROVENANCE] = f"test/{index}"
            pool.append(atoms)
        return pool


class _EveryThirdDropped(BaseOracle):
    """EMT labels; every third structure is 'too uncertain' and left out."""

    def __init__(self) -> None:
        self.seen = 0

    def label(self, structures: Sequence[Atoms]) -> list[Atoms]:
        labelled = []
        for atoms in structures:
            self.seen += 1
            if self.seen % 3 == 0:
                continue
            work = atoms.copy()
            work.calc = EMT()
            labelled.append(
                attach_labels(atoms, work.get_potential_energy(), work.get_forces(), "emt")
            )
        return labelled


class _RecordingTrainer(BaseTrainer):
    def __init__(self) -> None:
        self.trained_on: list[Atoms] = []

    def train(
        self, structures: Sequence[Atoms], workdir: Path, previous: PotentialRecord | None = None
    ) -> PotentialRecord:
        self.trained_on = list(structures)
        workdir.mkdir(parents=True, exist_ok=True)
        (workdir / "potential.yaml").write_text("stub")
        return PotentialRecord(
            version=0, mode="scratch", files=PotentialFiles(yaml=workdir / "potential.yaml")
        )


def _bond_lengths(atoms: Atoms) -> np.ndarray:
    """A toy per-atom descriptor: each atom's sorted distances to its 12 nearest neighbours."""
    first, distances = neighbor_list("id", atoms, 3.2)
    return np.array([np.sort(distances[first == i])[:12] for i in range(len(atoms))])


def _copper_config(n_select: int) -> CampaignConfig:
    return CampaignConfig(
        name="unit",
        elements=["Cu"],
        distillation={"pool_size": 12, "n_select": n_select},
        oracle={"qe": {"pseudopotentials": {"Cu": "Cu.pbe-kjpaw.UPF", "H": "H.pbe-kjpaw.UPF"}}},
    )


def test_phase1_selects_labels_drops_and_trains_on_what_was_labelled(tmp_path: Path) -> None:
    config = _copper_config(n_select=6)
    trainer = _RecordingTrainer()
    phase = Phase1(
        config=config,
        generator=_RattledCopper(),
        oracle=_EveryThirdDropped(),
        trainer=trainer,
        descriptor=_bond_lengths,
    )
    result = phase.run(tmp_path)

    assert result.generated == 12
    assert len(result.selection.selected) == 6
    assert result.labelled_by == {"emt": 4}
    assert result.dropped == 2
    assert len(trainer.trained_on) == 4
    assert all(atoms.info[keys.SELECTION_REASON] for atoms in trainer.trained_on)
    assert len(read(tmp_path / "pool.extxyz", ":")) == 12
    assert len(read(tmp_path / "labelled.extxyz", ":")) == 4
    saved = Phase1Result.model_validate(json.loads((tmp_path / "phase1.json").read_text()))
    assert saved.training_size == 4


def test_phase1_stops_when_nothing_was_labelled(tmp_path: Path) -> None:
    class _DropsAll(BaseOracle):
        def label(self, structures: Sequence[Atoms]) -> list[Atoms]:
            return []

    config = _copper_config(n_select=3)
    phase = Phase1(config, _RattledCopper(), _DropsAll(), _RecordingTrainer(), _bond_lengths)
    with pytest.raises(RuntimeError, match="labelled none"):
        phase.run(tmp_path)


# --- a small real run: MACE committee, SW as the "DFT" tier, pacemaker ---------------------


def _si_config(policy: str) -> CampaignConfig:
    return CampaignConfig(
        name="phase1-si",
        elements=["Si"],
        distillation={
            "pool_size": 60,
            "n_select": 20,
            "max_atoms": 16,
            "prototypes": ["diamond", "sc"],
            "rattle_amplitudes": [0.03, 0.08],
            "surfaces": False,
            "uncertain_policy": policy,
        },
        oracle={
            "mace": {"model_paths": [str(MACE_MODELS / f"committee_{i}.model") for i in range(3)]}
        },
        trainer={
            "functions_per_element": 20,
            "max_iterations": 80,
            "test_fraction": 0.0,
            "ndensity": 1,
        },
    )


@pytest.fixture(scope="module")
def phase1_run(tmp_path_factory: pytest.TempPathFactory) -> Phase1Result:
    workdir = tmp_path_factory.mktemp("phase1")
    phase = build_phase1(_si_config("dft"), workdir, dft=stillinger_weber_si())
    return phase.run(workdir)


def _unseen_rattled_diamond() -> list[Atoms]:
    rng = np.random.default_rng(7)
    cells = []
    for index in range(6):
        atoms = bulk("Si", "diamond", a=5.431 * rng.uniform(0.98, 1.02), cubic=True)
        atoms.rattle(0.05, seed=100 + index)
        cells.append(atoms)
    return cells


@pytest.mark.engine
def test_zero_shot_ace_reproduces_sw_forces(phase1_run: Phase1Result) -> None:
    files = phase1_run.potential.files
    assert files.yace is not None and files.yace.is_file()
    assert files.asi is not None and files.asi.is_file()
    reference = stillinger_weber_si().label(_unseen_rattled_diamond())
    calculator = ace_calculator(files)
    errors, magnitudes = [], []
    for labelled in reference:
        atoms = labelled.copy()
        atoms.calc = calculator
        errors.append(atoms.get_forces() - labelled.get_forces())
        magnitudes.append(labelled.get_forces())
    rmse = float(np.sqrt(np.mean(np.concatenate(errors) ** 2)))
    rms_force = float(np.sqrt(np.mean(np.concatenate(magnitudes) ** 2)))
    assert rmse < FORCE_RMSE_BOUND
    assert rmse < 0.15 * rms_force


@pytest.mark.engine
def test_confident_structures_keep_mace_labels_and_uncertain_ones_go_to_dft(
    phase1_run: Phase1Result,
) -> None:
    assert phase1_run.selection.method == "farthest_point"
    assert len(phase1_run.selection.selected) == 20
    assert phase1_run.labelled_by.get("mace", 0) > 0
    assert phase1_run.labelled_by.get("lammps", 0) > 0
    assert phase1_run.dropped == 0
    tiered = _si_config("dft").oracle.tiered
    for atoms in read(phase1_run.workdir / "labelled.extxyz", ":"):
        uncertain = (
            float(atoms.info[keys.UNCERTAINTY]) > tiered.force_spread_threshold
            or float(atoms.info[keys.ENERGY_UNCERTAINTY]) > tiered.energy_spread_threshold
        )
        assert atoms.info[keys.LABEL_SOURCE] == ("lammps" if uncertain else "mace")


@pytest.mark.engine
def test_drop_policy_trains_on_confident_mace_labels_only(tmp_path: Path) -> None:
    phase = build_phase1(_si_config("drop"), tmp_path)
    trainer = _RecordingTrainer()
    phase.trainer = trainer
    result = phase.run(tmp_path)
    assert set(result.labelled_by) == {"mace"}
    assert result.dropped > 0
    assert result.training_size + result.dropped == 20
    assert all(atoms.info[keys.LABEL_SOURCE] == "mace" for atoms in trainer.trained_on)
