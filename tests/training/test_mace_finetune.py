from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from ase import Atoms
from ase.io import read

from pyacemaker_fw.config import MACEFinetuneConfig
from pyacemaker_fw.core.threads import pin_threads
from pyacemaker_fw.training.mace_finetune import (
    ENERGY_KEY,
    FORCES_KEY,
    MACEArchitecture,
    MACEFineTuner,
    MACETrainingResult,
    mace_errors,
    mace_train_argv,
    model_settings,
    train_mace,
    write_mace_xyz,
)

COMMITTEE_0 = Path(__file__).resolve().parents[1] / "assets" / "mace_si" / "committee_0.model"
SEED_MACE = Path(__file__).resolve().parents[2] / "workflows" / "si_demo" / "seed_mace.model"
FINETUNE = MACEFinetuneConfig(epochs=10, learning_rate=0.005, replay_structures=20, batch_size=4)


def test_extxyz_carries_only_the_reference_labels(tmp_path: Path, small_si: list[Atoms]) -> None:
    path = write_mace_xyz(small_si[:3], tmp_path / "train.xyz")
    loaded = read(path, ":")
    assert isinstance(loaded, list)
    assert loaded[1].info[ENERGY_KEY] == pytest.approx(small_si[1].get_potential_energy())
    np.testing.assert_allclose(loaded[1].arrays[FORCES_KEY], small_si[1].get_forces())
    assert loaded[1].calc is None, "no second set of labels under ASE's default keys"


def test_scratch_command_sets_the_architecture() -> None:
    architecture = MACEArchitecture(num_channels=8, max_L=1, r_max=4.0, swa_from_epoch=5)
    argv = mace_train_argv("m", FINETUNE, 3, "float32", None, architecture)
    assert argv[0].endswith("mace_run_train")
    for expected in (
        "--model=MACE",
        "--E0s=average",
        "--num_channels=8",
        "--max_L=1",
        "--r_max=4.0",
        "--swa",
        "--start_swa=5",
        "--max_num_epochs=10",
        "--default_dtype=float32",
        "--seed=3",
    ):
        assert expected in argv
    assert not any(arg.startswith("--foundation_model") for arg in argv)


def test_finetune_command_takes_class_and_atomic_energies_from_the_model() -> None:
    model_class, energies = model_settings(COMMITTEE_0)
    assert list(energies) == [14]
    argv = mace_train_argv("m", FINETUNE, 0, "float32", COMMITTEE_0, MACEArchitecture())
    assert f"--foundation_model={COMMITTEE_0}" in argv
    assert "--multiheads_finetuning=False" in argv
    assert f"--model={model_class}" in argv
    assert f"--E0s={{14: {energies[14]!r}}}" in argv
    assert not any(arg.startswith("--num_channels") for arg in argv), "kept from the model"


@pytest.fixture(scope="module")
def finetuned(
    tmp_path_factory: pytest.TempPathFactory, small_si: list[Atoms], sw_vacancies: list[Atoms]
) -> MACETrainingResult:
    pin_threads(1)
    order = np.random.default_rng(0).permutation(len(small_si))
    old = [small_si[index] for index in order]
    tuner = MACEFineTuner(FINETUNE, seed=1)
    return tuner.finetune(
        COMMITTEE_0,
        new=sw_vacancies[:10],
        workdir=tmp_path_factory.mktemp("finetune"),
        old=old[:20],
        validation_new=sw_vacancies[10:],
        validation_old=old[20:],
    )


@pytest.mark.engine
def test_finetuning_learns_new_data_and_keeps_old_data(finetuned: MACETrainingResult) -> None:
    """Held-out data. New (vacancies): force RMSE at least halved, energy RMSE lower.
    Old (the committee's training kind): force RMSE grows by less than 20 %, energy RMSE by
    less than 40 meV/atom."""
    before, after = finetuned.before, finetuned.after
    assert before["new"].structures == 6 and before["old"].structures == 11
    assert after["new"].force_rmse < 0.5 * before["new"].force_rmse
    assert after["new"].energy_rmse < before["new"].energy_rmse
    assert after["old"].force_rmse < 1.2 * before["old"].force_rmse
    assert after["old"].energy_rmse < before["old"].energy_rmse + 40
    assert finetuned.parent == COMMITTEE_0
    assert finetuned.model.is_file() and finetuned.model != COMMITTEE_0


@pytest.mark.engine
def test_reported_errors_are_those_of_the_returned_model(
    finetuned: MACETrainingResult, sw_vacancies: list[Atoms]
) -> None:
    recomputed = mace_errors(finetuned.model, sw_vacancies[10:])
    assert recomputed.force_rmse == pytest.approx(finetuned.after["new"].force_rmse, rel=1e-5)
    saved = (finetuned.model.parent / "finetune_result.json").read_text()
    assert MACETrainingResult.model_validate_json(saved) == finetuned


@pytest.mark.engine
def test_a_small_model_trains_from_scratch(tmp_path: Path, small_si: list[Atoms]) -> None:
    pin_threads(1)
    config = MACEFinetuneConfig(epochs=10, learning_rate=0.01, batch_size=4)
    architecture = MACEArchitecture(num_channels=8, num_interactions=1, r_max=4.0)
    train, valid = small_si[:24], small_si[24:]
    model = train_mace(train, valid, tmp_path, config, architecture=architecture, seed=2)
    assert model == tmp_path.resolve() / "mace.model"
    force_scale = 1e3 * np.sqrt(np.mean(np.concatenate([a.get_forces() for a in valid]) ** 2))
    errors = mace_errors(model, valid)
    assert errors.force_rmse < 0.5 * force_scale, "it predicts most of the force signal"
    _, energies = model_settings(model)
    assert energies[14] == pytest.approx(
        np.mean([a.get_potential_energy() / len(a) for a in small_si[:24]]), abs=0.05
    ), "E0 is the average energy per atom of the training set"


@pytest.mark.engine
def test_one_si_label_fine_tunes_a_si_h_model_and_it_keeps_h(tmp_path: Path) -> None:
    """A learning round with one Si frame: mace_run_train drops incomplete batches, so a batch
    of 4 must shrink to the one structure; and the Si–H seed model must keep its H."""
    pin_threads(1)
    frame = read(SEED_MACE.parent / "holdout.extxyz", index=0)  # hot Si64, QE at Gamma
    tuner = MACEFineTuner(MACEFinetuneConfig(epochs=3, batch_size=4), seed=1)
    result = tuner.finetune(SEED_MACE, new=[frame], workdir=tmp_path, old=[])
    assert result.after["new"].force_rmse < result.before["new"].force_rmse
    assert list(model_settings(result.model)[1]) == [1, 14]
