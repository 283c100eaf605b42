"""The pacemaker trainer. Unit tests of its input and output handling, then real tensorpot fits
on 40 small Si structures, shared between tests by module-scoped fixtures."""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import pytest
from ase import Atoms
from ase.build import bulk

from pyacemaker_fw.config import LoopStrategyConfig, TrainerConfig
from pyacemaker_fw.core import keys
from pyacemaker_fw.core.models import PotentialFiles, PotentialRecord
from pyacemaker_fw.oracles.reference import CalculatorOracle
from pyacemaker_fw.training.dataset import read_dataset
from pyacemaker_fw.training.pacemaker import (
    PacemakerTrainer,
    collect_metrics,
    energy_offset,
    held_out_count,
    pacemaker_input,
    read_fit_history,
    record_version,
    remove_fit_scratch,
    split_test_set,
)
from pyacemaker_fw.training.replay import ReplayBuffer, replay_count

SMALL = TrainerConfig(
    functions_per_element=16,
    max_iterations=60,
    incremental_iterations=50,
    batch_size=100,
    test_fraction=0.1,
)


# --- unit tests -------------------------------------------------------------------------
def test_scratch_input_builds_a_basis_and_an_update_continues_one() -> None:
    config = TrainerConfig(cutoff=4.5, functions_per_element=30, kappa=0.2, ndensity=1)
    scratch = pacemaker_input(config, ["Si"], iterations=300, scratch=True, test_set=True)
    potential = scratch["potential"]
    assert potential["elements"] == ["Si"]
    assert potential["bonds"]["ALL"]["rcut"] == 4.5
    assert potential["functions"]["number_of_functions_per_element"] == 30
    assert potential["embeddings"]["ALL"]["ndensity"] == 1
    assert potential["embeddings"]["ALL"]["fs_parameters"] == [1.0, 1.0]
    assert scratch["fit"]["loss"]["kappa"] == 0.2
    assert scratch["fit"]["maxiter"] == 300
    assert scratch["backend"]["evaluator"] == "tensorpot"
    assert scratch["data"] == {
        "filename": "train.pkl.gz",
        "test_filename": "test.pkl.gz",
        "reference_energy": "auto",
    }
    update = pacemaker_input(config, ["Si"], iterations=100, scratch=False)
    assert "potential" not in update, "the basis comes from -p previous.yaml"
    assert "reference_energy" not in update["data"], "it comes from the previous potential"
    raw = config.model_copy(update={"energy_reference": "none"})
    assert "reference_energy" not in pacemaker_input(raw, ["Si"], 300, scratch=True)["data"]


def test_the_test_set_holds_only_structures_whose_energy_teaches() -> None:
    """pacemaker refuses a test set whose energy weights are all zero (clusters): 11 clusters
    and 9 bulk cells must give a test set of bulk cells, whatever the seed."""
    clusters = [bulk("Si", "diamond", a=5.43, cubic=True) for _ in range(11)]
    for cluster in clusters:
        cluster.info[keys.ENERGY_WEIGHT] = 0.0
    cells = [bulk("Si", "diamond", a=5.43 + 0.01 * i, cubic=True) for i in range(9)]
    for seed in range(5):
        config = TrainerConfig(test_fraction=0.25, seed=seed)
        train, test = split_test_set(config, [*clusters, *cells])
        assert len(test) == 5 and len(train) == 15
        assert all(atoms in cells for atoms in test)
        assert any(atoms in cells for atoms in train)
    lonely = split_test_set(TrainerConfig(test_fraction=0.5), [*clusters, cells[0]])
    assert lonely[1] == []  # the one bulk cell stays in training


def test_small_sets_are_not_split() -> None:
    config = TrainerConfig(test_fraction=0.1)
    assert held_out_count(config, 9) == 0
    assert held_out_count(config, 25) == 2
    assert held_out_count(TrainerConfig(test_fraction=0.0), 100) == 0


def test_fit_history_reads_pacemaker_metrics_table(tmp_path: Path) -> None:
    table = tmp_path / "metrics.txt"
    table.write_text(
        "ladder_step cycle_step iter_num loss rmse_f_comp\n0 0 0 1.5 1.2\n0 0 1 0.5 0.7\n"
    )
    history = read_fit_history(table)
    assert [row["loss"] for row in history] == [1.5, 0.5]
    assert read_fit_history(tmp_path / "missing.txt") == []


def test_metrics_count_only_taught_atoms_and_energies(tmp_path: Path) -> None:
    forces = np.zeros((2, 3))
    frame = pd.DataFrame(
        {
            "energy_pred": [1.0, 5.0],
            "energy_corrected": [0.0, 0.0],
            "NUMBER_OF_ATOMS": [2, 2],
            "w_energy": [1.0, 0.0],
            "forces": [forces, forces],
            "forces_pred": [np.array([[0.3, 0, 0], [9, 9, 9]]), np.array([[0, 0.3, 0], [0, 0, 0]])],
            "w_forces": [np.array([1.0, 0.0]), np.array([1.0, 1.0])],
        }
    )
    frame.to_pickle(tmp_path / "train_pred.pckl.gzip", compression="gzip")
    metrics = collect_metrics(tmp_path, wall_seconds=1.0)
    assert metrics.energy_rmse_train == pytest.approx(500.0)  # meV/atom, weighted one only
    assert metrics.force_rmse_train == pytest.approx(1e3 * np.sqrt(2 * 0.09 / 9))
    assert metrics.energy_rmse_test is None


def test_version_is_the_named_one_else_the_parents_plus_one_else_one() -> None:
    parent = PotentialRecord(version=3, mode="scratch", files=PotentialFiles(yaml=Path("p.yaml")))
    assert record_version(None) == 1
    assert record_version(parent) == 4
    assert record_version(parent, version=9) == 9
    assert record_version(None, version=2) == 2
    with pytest.raises(ValueError, match="greater than its parent's version 3"):
        record_version(parent, version=3)
    with pytest.raises(ValueError, match="at least 1"):
        record_version(None, version=0)


def test_a_bad_version_is_refused_before_any_work(tmp_path: Path, small_si: list[Atoms]) -> None:
    parent = PotentialRecord(version=3, mode="scratch", files=PotentialFiles(yaml=Path("p.yaml")))
    trainer = PacemakerTrainer(SMALL, ["Si"])
    with pytest.raises(ValueError, match="version 2"):
        trainer.train(small_si, tmp_path / "fit", previous=parent, version=2)
    assert not (tmp_path / "fit").exists()


def _sized(path: Path, size: int) -> Path:
    path.write_bytes(b"x" * size)
    return path


def test_remove_fit_scratch_frees_the_intermediates_and_keeps_the_potential(
    tmp_path: Path,
) -> None:
    kept = [
        _sized(tmp_path / name, 10)
        for name in (
            "potential.yaml",
            "potential.yace",
            "potential.asi",
            "previous.yaml",
            "input.yaml",
            "pacemaker.log",
            "log.txt",
            "metrics.txt",
            "test_metrics.txt",
            "train_ef-distributions.png",
        )
    ]
    removed = [
        _sized(tmp_path / name, 1000 + index)
        for index, name in enumerate(
            (
                "train.pkl.gz",
                "train_pred.pckl.gzip",
                "test_pred.pckl.gzip",
                "fitting_data_info.pckl.gzip",
                "test_data_info.pckl.gzip",
                "interim_potential_0.yaml",
                "interim_potential_best_cycle.yaml",
                "ensemble_potential_1.yaml",
            )
        )
    ]
    assert remove_fit_scratch(tmp_path) == sum(1000 + index for index in range(len(removed)))
    assert all(path.is_file() for path in kept)
    assert not any(path.exists() for path in removed)
    assert remove_fit_scratch(tmp_path) == 0, "a second clean-up finds nothing"


def test_remove_fit_scratch_refuses_an_unfinished_fit(tmp_path: Path) -> None:
    dataset = _sized(tmp_path / "train.pkl.gz", 100)
    with pytest.raises(FileNotFoundError, match="not a finished fit"):
        remove_fit_scratch(tmp_path)
    assert dataset.is_file()


# --- real fits --------------------------------------------------------------------------
def _strained_cells(oracle: CalculatorOracle) -> list[Atoms]:
    cells = []
    for index, strain in enumerate(np.linspace(-0.04, 0.04, 9)):
        atoms = bulk("Si", "diamond", a=5.431 * (1 + strain), cubic=True)
        atoms.rattle(0.04, seed=100 + index)
        cells.append(atoms)
    return oracle.label(cells)


@pytest.fixture(scope="module")
def forty(small_si: list[Atoms], sw_oracle: CalculatorOracle) -> list[Atoms]:
    """40 small SW-labelled Si structures (8 and 16 atoms)."""
    return [*small_si, *_strained_cells(sw_oracle)]


@pytest.fixture(scope="module")
def campaign() -> dict[str, Any]:
    loop = LoopStrategyConfig(replay_buffer_size=30, new_fraction=0.5)
    replay = ReplayBuffer.for_loop(loop, seed=1)
    lines: list[str] = []
    trainer = PacemakerTrainer(SMALL, ["Si"], loop=loop, replay=replay, on_line=lines.append)
    return {"replay": replay, "trainer": trainer, "lines": lines}


@pytest.fixture(scope="module")
def scratch(
    tmp_path_factory: pytest.TempPathFactory, forty: list[Atoms], campaign: dict[str, Any]
) -> PotentialRecord:
    record: PotentialRecord = campaign["trainer"].train(forty, tmp_path_factory.mktemp("v0"))
    return record


@pytest.fixture(scope="module")
def new_data(sw_vacancies: list[Atoms]) -> list[Atoms]:
    return sw_vacancies[:8]


@pytest.fixture(scope="module")
def incremental(
    tmp_path_factory: pytest.TempPathFactory,
    scratch: PotentialRecord,
    new_data: list[Atoms],
    campaign: dict[str, Any],
) -> PotentialRecord:
    record: PotentialRecord = campaign["trainer"].train(
        new_data, tmp_path_factory.mktemp("v1"), previous=scratch
    )
    return record


def _ace(record: PotentialRecord, *, yace: bool = False, active_set: bool = False) -> Any:
    from pyace import PyACECalculator

    files = record.files
    calculator = PyACECalculator(str(files.yace if yace else files.yaml))
    if active_set:
        calculator.set_active_set(str(files.asi))
    return calculator


def _force_rmse(calculator: Any, structures: Sequence[Atoms]) -> float:
    """meV/Å per component, over all atoms."""
    errors = []
    for atoms in structures:
        work = atoms.copy()
        work.calc = calculator
        errors.append(work.get_forces() - atoms.get_forces())
    return float(np.sqrt(np.mean(np.concatenate(errors) ** 2))) * 1e3


@pytest.mark.engine
def test_scratch_fit_of_forty_structures_reaches_the_rmse_bound(
    scratch: PotentialRecord, forty: list[Atoms]
) -> None:
    """Bound: force RMSE below 70 meV/Å (5% of the data's 1.4 eV/Å force scale) and energy
    RMSE below 15 meV/atom on the training set; the held-out set within twice that."""
    force_scale = 1e3 * np.sqrt(np.mean(np.concatenate([a.get_forces() for a in forty]) ** 2))
    metrics = scratch.metrics
    assert force_scale > 1000
    assert metrics.force_rmse_train is not None and metrics.force_rmse_train < 70
    assert metrics.energy_rmse_train is not None and metrics.energy_rmse_train < 15
    assert metrics.force_rmse_test is not None and metrics.force_rmse_test < 140
    assert metrics.energy_rmse_test is not None and metrics.energy_rmse_test < 30
    assert metrics.iterations == SMALL.max_iterations
    assert _force_rmse(_ace(scratch), forty) < 70, "the saved potential is the fitted one"


@pytest.mark.engine
def test_energy_offset_restores_total_energies(
    scratch: PotentialRecord, forty: list[Atoms]
) -> None:
    """The fit used reference energies: potential energy plus offset is the SW total energy."""
    calculator = _ace(scratch)
    errors = []
    for atoms in forty[::4]:
        work = atoms.copy()
        work.calc = calculator
        predicted = work.get_potential_energy() + energy_offset(scratch.files.yaml, atoms)
        errors.append((predicted - atoms.get_potential_energy()) / len(atoms))
    assert abs(energy_offset(scratch.files.yaml, forty[0]) / len(forty[0])) > 3.0
    assert np.sqrt(np.mean(np.square(errors))) < 0.015


@pytest.mark.engine
def test_fit_produces_consistent_yaml_yace_and_active_set(
    scratch: PotentialRecord, forty: list[Atoms]
) -> None:
    atoms = forty[5].copy()
    atoms.calc = _ace(scratch)
    from_yaml = atoms.get_potential_energy(), atoms.get_forces()
    atoms.calc = _ace(scratch, yace=True)
    assert atoms.get_potential_energy() == pytest.approx(from_yaml[0], abs=1e-6)
    np.testing.assert_allclose(atoms.get_forces(), from_yaml[1], atol=1e-6)
    # Training environments are inside the active set's hull; a crushed cell is far outside.
    calculator = _ace(scratch, active_set=True)
    for known in forty[::5]:
        known = known.copy()
        known.calc = calculator
        known.get_potential_energy()
        assert calculator.results["gamma"].max() < 1.1
    crushed = bulk("Si", "diamond", a=4.6, cubic=True)
    crushed.calc = calculator
    crushed.get_potential_energy()
    assert calculator.results["gamma"].max() > 2


@pytest.mark.engine
def test_first_fit_is_version_one_and_seeds_the_replay_buffer(
    scratch: PotentialRecord, forty: list[Atoms], campaign: dict[str, Any]
) -> None:
    assert (scratch.version, scratch.parent_version, scratch.mode) == (1, None, "scratch")
    assert scratch.files.yaml.name == "potential.yaml"
    assert (scratch.files.yaml.parent / "input.yaml").is_file()
    assert len(campaign["replay"]) == 30, "the first fit fills the buffer"


@pytest.mark.engine
def test_fit_progress_is_streamed_line_by_line(
    scratch: PotentialRecord, campaign: dict[str, Any]
) -> None:
    lines = campaign["lines"]
    assert any("Initial state" in line for line in lines)
    assert sum("Iteration" in line for line in lines) >= SMALL.max_iterations // 2
    log_text = (scratch.files.yaml.parent / "pacemaker.log").read_text()
    assert lines[0] in log_text


@pytest.mark.engine
def test_incremental_update_trains_on_new_data_plus_replay_and_remembers_it(
    incremental: PotentialRecord, new_data: list[Atoms], campaign: dict[str, Any]
) -> None:
    workdir = incremental.files.yaml.parent
    trained_on = read_dataset(workdir / "train.pkl.gz")
    held_out = read_dataset(workdir / "test.pkl.gz") if (workdir / "test.pkl.gz").is_file() else []
    assert len(trained_on) + len(held_out) == len(new_data) + replay_count(len(new_data), 0.5)
    energies = {atoms.get_potential_energy() for atoms in [*trained_on, *held_out]}
    assert {atoms.get_potential_energy() for atoms in new_data} <= energies
    assert (incremental.version, incremental.parent_version) == (2, 1)
    assert incremental.mode == "incremental"
    assert incremental.metrics.iterations == SMALL.incremental_iterations
    buffered = {round(atoms.get_potential_energy(), 8) for atoms in campaign["replay"].structures()}
    assert len(campaign["replay"]) == 30
    assert campaign["replay"].offered == 40 + len(new_data)
    assert buffered, "the buffer still holds structures after the update"


@pytest.mark.engine
def test_incremental_update_starts_from_the_previous_coefficients(
    tmp_path: Path, incremental: PotentialRecord
) -> None:
    """Its first loss is far below that of a fresh potential on the very same training set."""
    workdir = incremental.files.yaml.parent
    incremental_start = read_fit_history(workdir / "metrics.txt")[0]
    assert incremental_start["iter_num"] == 0
    same_data = read_dataset(workdir / "train.pkl.gz")
    one_step = SMALL.model_copy(update={"max_iterations": 1})
    fresh = PacemakerTrainer(one_step, ["Si"], active_set=False).train(same_data, tmp_path)
    fresh_start = read_fit_history(fresh.files.yaml.parent / "metrics.txt")[0]
    assert incremental_start["loss"] < 0.1 * fresh_start["loss"]


@pytest.mark.engine
def test_incremental_update_learns_new_data_without_forgetting_old(
    scratch: PotentialRecord,
    incremental: PotentialRecord,
    new_data: list[Atoms],
    forty: list[Atoms],
) -> None:
    before, after = _ace(scratch), _ace(incremental)
    assert _force_rmse(after, new_data) < 0.8 * _force_rmse(before, new_data)
    assert _force_rmse(after, forty) < 1.3 * _force_rmse(before, forty)


@pytest.mark.engine
def test_update_of_a_potential_fitted_to_raw_energies(
    tmp_path: Path, sw_vacancies: list[Atoms]
) -> None:
    """The committed test potential stores no reference energies: the update keeps raw ones.
    It also updates in place: the folder already holds the starting potential.yaml."""
    committed = Path(__file__).resolve().parents[1] / "assets" / "ace_si" / "potential.yaml"
    in_place = Path(shutil.copy(committed, tmp_path / "potential.yaml"))
    previous = PotentialRecord(version=0, mode="scratch", files=PotentialFiles(yaml=in_place))
    config = SMALL.model_copy(update={"incremental_iterations": 3})
    trainer = PacemakerTrainer(config, ["Si"], active_set=False)
    record = trainer.train(sw_vacancies[:4], tmp_path, previous=previous, version=4)
    assert (record.version, record.parent_version) == (4, 0), "the caller names the version"
    start = read_fit_history(tmp_path / "metrics.txt")[0]
    # On a shifted scale the error would be the cohesive energy, about 4.3 eV/atom.
    assert start["rmse_epa"] < 1.0, "eV/atom"
    assert energy_offset(record.files.yaml, sw_vacancies[0]) == 0.0, "raw energies throughout"
    assert (tmp_path / "previous.yaml").read_text() == committed.read_text()
    assert record.files.yaml.read_text() != committed.read_text()
    assert record.metrics.iterations == 3


@pytest.mark.engine
def test_removing_the_scratch_of_a_real_fit_keeps_a_working_potential(
    tmp_path: Path, scratch: PotentialRecord, forty: list[Atoms]
) -> None:
    """On a copy of the scratch fit's folder: what pacemaker leaves behind goes, the potential,
    its active set and the records of the fit stay and still work."""
    folder = Path(shutil.copytree(scratch.files.yaml.parent, tmp_path / "fit"))
    before = {path.name: path.stat().st_size for path in folder.iterdir() if path.is_file()}
    freed = remove_fit_scratch(folder)
    after = {path.name for path in folder.iterdir() if path.is_file()}
    assert freed == sum(size for name, size in before.items() if name not in after)
    assert {"train.pkl.gz", "train_pred.pckl.gzip", "test_pred.pckl.gzip"} <= set(before) - after
    assert {"potential.yaml", "potential.yace", "potential.asi", "input.yaml"} <= after
    assert {"pacemaker.log", "metrics.txt", "test_metrics.txt"} <= after
    assert not any(name.startswith("interim_potential") for name in after)
    largest_kept = max(before[name] for name in after)
    assert freed > largest_kept, "what went was the bulk of the folder"
    moved = scratch.model_copy(
        update={
            "files": PotentialFiles(
                yaml=folder / "potential.yaml",
                yace=folder / "potential.yace",
                asi=folder / "potential.asi",
            )
        }
    )
    atoms, reference = forty[3].copy(), forty[3].copy()
    atoms.calc = _ace(moved, active_set=True)
    reference.calc = _ace(scratch)
    assert atoms.get_potential_energy() == pytest.approx(reference.get_potential_energy())
    assert atoms.calc.results["gamma"].max() < 1.1, "the active set still grades known atoms"
    atoms.calc = _ace(moved, yace=True)
    assert atoms.get_potential_energy() == pytest.approx(reference.get_potential_energy())


# --- zero-weight atoms ------------------------------------------------------------------
ZERO_WEIGHT_FIT = SMALL.model_copy(update={"max_iterations": 15, "test_fraction": 0.0})


def _half_weighted(structures: Sequence[Atoms]) -> list[Atoms]:
    """Every other structure gets weight 0 on half of its atoms (a 'buffer')."""
    weighted = []
    for index, atoms in enumerate(structures):
        copy = atoms.copy()
        copy.calc = atoms.calc
        weights = np.ones(len(atoms))
        if index % 2:
            weights[len(atoms) // 2 :] = 0.0
        copy.arrays[keys.FORCE_WEIGHT] = weights
        weighted.append(copy)
    return weighted


def _corrupt_untaught_forces(structures: Sequence[Atoms], weights_to: float | None) -> list[Atoms]:
    """Add 3 eV/Å noise to the forces of zero-weight atoms; optionally reweight them."""
    from pyacemaker_fw.core.labels import attach_labels

    rng = np.random.default_rng(11)
    corrupted = []
    for atoms in structures:
        untaught = atoms.arrays[keys.FORCE_WEIGHT] == 0
        forces = atoms.get_forces().copy()
        forces[untaught] += rng.normal(0.0, 3.0, (int(untaught.sum()), 3))
        copy = attach_labels(atoms, atoms.get_potential_energy(), forces, "corrupted")
        if weights_to is not None:
            copy.arrays[keys.FORCE_WEIGHT] = np.where(untaught, weights_to, 1.0)
            copy.info[keys.ENERGY_WEIGHT] = 0.0 if untaught.any() else 1.0
        corrupted.append(copy)
    return corrupted


@pytest.fixture(scope="module")
def zero_weight_fits(
    tmp_path_factory: pytest.TempPathFactory, small_si: list[Atoms]
) -> dict[str, PotentialRecord]:
    clean = _half_weighted(small_si[:16])
    trainer = PacemakerTrainer(ZERO_WEIGHT_FIT, ["Si"], active_set=False)
    variants = {
        "clean": clean,
        "corrupted": _corrupt_untaught_forces(clean, weights_to=None),
        "corrupted_and_taught": _corrupt_untaught_forces(clean, weights_to=1.0),
    }
    return {
        name: trainer.train(structures, tmp_path_factory.mktemp(name))
        for name, structures in variants.items()
    }


@pytest.mark.engine
def test_zero_weight_atoms_do_not_influence_the_fit(
    zero_weight_fits: dict[str, PotentialRecord], small_si: list[Atoms]
) -> None:
    probes = small_si[16:22]

    def predictions(name: str) -> npt.NDArray[np.float64]:
        calculator = _ace(zero_weight_fits[name])
        forces = []
        for atoms in probes:
            work = atoms.copy()
            work.calc = calculator
            forces.append(work.get_forces())
        return np.concatenate(forces)

    clean, corrupted = predictions("clean"), predictions("corrupted")
    control = predictions("corrupted_and_taught")
    np.testing.assert_allclose(corrupted, clean, atol=1e-6)
    assert np.abs(control - clean).max() > 0.05, "the corruption matters once it is taught"
