"""The LAMMPS MD engine for real: ACE in LAMMPS, halting, exact resume, soft start, bad states.

Cells hold 64 Si atoms (216 for the soft start) and runs a few hundred steps.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from ase import Atoms, units
from ase.build import bulk
from ase.io import read
from ase.md.verlet import VelocityVerlet

from pyacemaker_fw.config import ActiveLearningThresholds, MDConfig
from pyacemaker_fw.core import keys
from pyacemaker_fw.core.models import FailureKind, MDResult, MDStatus, PotentialFiles
from pyacemaker_fw.simulation import newest_restart
from pyacemaker_fw.simulation.engine import (
    VELOCITY_METAL_TO_ASE,
    LammpsEngine,
    read_restart_state,
    read_thermo,
)
from pyacemaker_fw.simulation.lammps_runtime import has_native_pace, open_lammps
from pyacemaker_fw.simulation.restarts import read_meta, verified_meta
from tests.simulation.builders import nan_active_set, si_cell, vacancy_cell

pytestmark = pytest.mark.engine

HOT = ActiveLearningThresholds(
    threshold_add_train=5.0, threshold_call_dft=25.0, smooth_steps=5, hard_ceiling=10_000.0
)
"""The ceiling is out of reach, so only the smoothed maximum can halt a hot run."""
QUIET = ActiveLearningThresholds(
    threshold_add_train=500, threshold_call_dft=5_000, hard_ceiling=1e6
)
"""Thresholds no run here reaches: for tests about something else than uncertainty."""


def native_pace_available() -> bool:
    lmp = open_lammps()
    try:
        return has_native_pace(lmp)
    finally:
        lmp.close()


def pyace_calculator(potential: PotentialFiles) -> object:
    from pyace import PyACECalculator

    calculator = PyACECalculator(str(potential.yaml))
    calculator.set_active_set(str(potential.asi))
    return calculator


@pytest.fixture(scope="module")
def hot_halt(ace_si: PotentialFiles, tmp_path_factory: pytest.TempPathFactory) -> MDResult:
    """2000 K NVT of a rattled cell with a potential trained near equilibrium."""
    md = MDConfig(temperature=2000.0, check_interval=10, restart_interval=100)
    workdir = tmp_path_factory.mktemp("hot")
    return LammpsEngine(md, HOT).run(si_cell(), ace_si, workdir, 3000)


def test_hot_run_halts_for_uncertainty_at_a_frame_beyond_the_threshold(hot_halt: MDResult) -> None:
    assert hot_halt.status == MDStatus.HALTED_UNCERTAIN  # a DFT request, not a blow-up
    assert hot_halt.failure is None
    assert 0 < hot_halt.step < 3000
    last = hot_halt.trace[-1]
    assert last.step == hot_halt.step
    assert last.decision == "call_dft"
    assert last.gamma_smoothed > HOT.threshold_call_dft
    assert all(check.decision == "continue" for check in hot_halt.trace[:-1])
    assert "threshold_call_dft" in hot_halt.reason

    assert hot_halt.frame_file is not None
    frame = read(hot_halt.frame_file)
    gamma = frame.arrays[keys.GAMMA]
    assert frame.info[keys.MD_STEP] == hot_halt.step
    assert gamma.max() > HOT.threshold_call_dft
    assert gamma.max() == pytest.approx(last.gamma_max)
    assert hot_halt.candidate_atoms == [int(i) for i in np.flatnonzero(gamma > 5.0)]
    assert hot_halt.candidate_atoms == last.candidates


def test_halted_run_leaves_a_restart_at_the_halting_step(
    hot_halt: MDResult, ace_si: PotentialFiles
) -> None:
    assert hot_halt.restart_file is not None
    state, _ = read_restart_state(hot_halt.restart_file)
    assert state.step == hot_halt.step
    meta = read_meta(hot_halt.restart_file)
    assert meta is not None
    assert meta.elements == ["Si"]
    assert meta.step == hot_halt.step


def test_start_beyond_the_ceiling_halts_at_the_start_step_in_every_field(
    ace_si: PotentialFiles, tmp_path: Path
) -> None:
    """A vacancy the test ACE never saw: gamma about 170 at step 0, above the default ceiling."""
    start = vacancy_cell(2)
    result = LammpsEngine(MDConfig(), ActiveLearningThresholds()).run(start, ace_si, tmp_path, 200)
    assert result.status == MDStatus.HALTED_CEILING
    assert result.failure is None
    (check,) = result.trace
    assert check.decision == "hard_ceiling"
    assert check.gamma_max > ActiveLearningThresholds().hard_ceiling
    assert result.reason.endswith("at step 0")
    assert "hard_ceiling" in result.reason
    assert result.step == check.step == 0

    assert result.frame_file is not None and result.frame_file.name == "frame.0.extxyz"
    frame = read(result.frame_file)
    assert frame.info[keys.MD_STEP] == 0
    assert frame.arrays[keys.GAMMA].max() == pytest.approx(check.gamma_max)
    assert np.abs(frame.positions - start.positions).max() < 1e-6  # not a single step taken
    assert result.candidate_atoms == check.candidates

    assert result.restart_file is not None
    state, _ = read_restart_state(result.restart_file)
    meta = read_meta(result.restart_file)
    assert state.step == 0
    assert meta is not None and meta.step == 0


def test_non_finite_gamma_ends_the_run_instead_of_reading_as_continue(
    ace_si: PotentialFiles, tmp_path: Path
) -> None:
    broken = nan_active_set(ace_si, tmp_path / "nan.asi")
    result = LammpsEngine(MDConfig(), QUIET).run(si_cell(), broken, tmp_path / "md", 100)
    assert result.status == MDStatus.FAILED
    assert result.failure == FailureKind.NON_FINITE
    assert result.reason.startswith("non-finite gamma at step 0 (atoms 0, 1, 2")
    assert result.step == 0
    assert result.trace == []  # no decision was taken on a NaN
    assert result.restart_file is None  # started from atoms, nothing good was written


def test_killed_run_resumes_from_its_newest_vouched_restart(
    ace_si: PotentialFiles, tmp_path: Path
) -> None:
    """A job killed mid-run (a wall-time limit) leaves restarts; a rerun finds the good one."""
    md = MDConfig(temperature=1200.0, check_interval=10, restart_interval=50)
    workdir = tmp_path / "killed"
    script = (
        "import sys; from pathlib import Path\n"
        "from pyacemaker_fw.config import ActiveLearningThresholds, MDConfig\n"
        "from pyacemaker_fw.core.models import PotentialFiles\n"
        "from pyacemaker_fw.simulation.engine import LammpsEngine\n"
        "from tests.simulation.builders import si_cell\n"
        f"md = MDConfig.model_validate_json({md.model_dump_json()!r})\n"
        f"quiet = ActiveLearningThresholds.model_validate_json({QUIET.model_dump_json()!r})\n"
        f"potential = PotentialFiles.model_validate_json({ace_si.model_dump_json()!r})\n"
        f"LammpsEngine(md, quiet).run(si_cell(), potential, Path({str(workdir)!r}), 10**7)\n"
    )
    root = Path(__file__).resolve().parents[2]
    environment = {**os.environ, "PYTHONPATH": str(root), "OMP_NUM_THREADS": "1"}
    job = subprocess.Popen([sys.executable, "-c", script], env=environment, cwd=root)
    try:
        deadline = time.monotonic() + 120
        while len(list(workdir.glob("md.*.restart.json"))) < 2 and time.monotonic() < deadline:
            assert job.poll() is None, "the MD job ended before it was killed"
            time.sleep(0.05)
    finally:
        job.kill()
        job.wait()

    restart = newest_restart(workdir)
    assert restart is not None
    state, _ = read_restart_state(restart)
    assert state.step >= 100 and state.step % md.restart_interval == 0
    rerun = LammpsEngine(md, QUIET).run(restart, ace_si, workdir, 20)
    assert rerun.status == MDStatus.COMPLETED
    assert rerun.step == state.step + 20
    assert rerun.log_file is not None and "langevin" not in rerun.log_file.read_text()

    never_killed = LammpsEngine(md, QUIET).run(si_cell(), ace_si, tmp_path / "whole", rerun.step)
    assert rerun.restart_file is not None and never_killed.restart_file is not None
    resumed, _ = read_restart_state(rerun.restart_file)
    expected, _ = read_restart_state(never_killed.restart_file)
    assert np.array_equal(resumed.positions, expected.positions)
    assert np.array_equal(resumed.velocities, expected.velocities)


def test_paused_and_resumed_run_is_bitwise_equal_to_an_uninterrupted_one(
    ace_si: PotentialFiles, tmp_path: Path
) -> None:
    md = MDConfig(temperature=1200.0, check_interval=10, restart_interval=60)
    engine = LammpsEngine(md, QUIET)
    whole = engine.run(si_cell(), ace_si, tmp_path / "whole", 120)
    first = engine.run(si_cell(), ace_si, tmp_path / "first", 60)
    assert first.restart_file is not None
    second = LammpsEngine(md, QUIET).run(first.restart_file, ace_si, tmp_path / "second", 60)

    assert (whole.status, first.status, second.status) == (MDStatus.COMPLETED,) * 3
    assert second.step == whole.step == 120
    assert second.trace[0].step == 60  # the resumed run continues the timestep count
    assert whole.restart_file is not None and second.restart_file is not None
    expected, _ = read_restart_state(whole.restart_file)
    resumed, _ = read_restart_state(second.restart_file)
    assert np.array_equal(resumed.positions, expected.positions)
    assert np.array_equal(resumed.velocities, expected.velocities)
    assert not np.array_equal(
        resumed.positions, read_restart_state(first.restart_file)[0].positions
    )


def test_run_resumed_after_a_halt_is_bitwise_equal_to_one_never_halted(
    hot_halt: MDResult, ace_si: PotentialFiles, tmp_path: Path
) -> None:
    md = MDConfig(temperature=2000.0, check_interval=10, restart_interval=100)
    assert hot_halt.restart_file is not None
    assert hot_halt.step % md.restart_interval != 0  # no periodic restart aligned the two runs
    resumed = LammpsEngine(md, QUIET).run(hot_halt.restart_file, ace_si, tmp_path / "on", 30)
    never = LammpsEngine(md, QUIET).run(si_cell(), ace_si, tmp_path / "never", hot_halt.step + 30)
    assert resumed.restart_file is not None and never.restart_file is not None
    expected, _ = read_restart_state(never.restart_file)
    state, _ = read_restart_state(resumed.restart_file)
    assert state.step == expected.step == hot_halt.step + 30
    assert np.array_equal(state.positions, expected.positions)
    assert np.array_equal(state.velocities, expected.velocities)


def mean_temperature(result: MDResult, first_step: int, last_step: int) -> float:
    assert result.log_file is not None
    thermo = read_thermo(result.log_file)
    window = (thermo["Step"] >= first_step) & (thermo["Step"] <= last_step)
    return float(thermo["Temp"][window].mean())


def test_soft_start_absorbs_a_potential_swap(
    ace_si: PotentialFiles, ace_si_refit: PotentialFiles, tmp_path: Path
) -> None:
    md = MDConfig(temperature=1000.0, check_interval=10, restart_interval=100, soft_start_steps=100)
    base = LammpsEngine(md, QUIET).run(si_cell(3), ace_si, tmp_path / "base", 300)
    assert base.restart_file is not None
    soft = LammpsEngine(md, QUIET).run(base.restart_file, ace_si_refit, tmp_path / "soft", 300)
    hard = LammpsEngine(md, QUIET).run(
        base.restart_file, ace_si_refit, tmp_path / "hard", 300, soft_start=False
    )

    assert soft.status == hard.status == MDStatus.COMPLETED
    assert soft.step == 600
    assert soft.log_file is not None
    log = soft.log_file.read_text()
    assert "langevin 1000 1000 0.05" in log  # detected the swap by itself
    assert log.index("unfix soft_langevin") < log.index("fix md all nvt")
    # The new potential turns potential energy into heat; Langevin drains it, NVT alone lags.
    soft_heat = mean_temperature(soft, 310, 400) - md.temperature
    hard_heat = mean_temperature(hard, 310, 400) - md.temperature
    assert abs(soft_heat) < 0.08 * md.temperature
    assert abs(soft_heat) < 0.5 * hard_heat
    assert soft.log_file is not None
    assert read_thermo(soft.log_file)["Temp"].max() < 1.5 * md.temperature


def test_unchanged_potential_resumes_without_soft_start(
    hot_halt: MDResult, ace_si: PotentialFiles, tmp_path: Path
) -> None:
    assert hot_halt.restart_file is not None
    md = MDConfig(temperature=2000.0, check_interval=10, restart_interval=100)
    result = LammpsEngine(md, QUIET).run(hot_halt.restart_file, ace_si, tmp_path, 20)
    assert result.status == MDStatus.COMPLETED
    assert result.step == hot_halt.step + 20
    assert result.log_file is not None
    assert "langevin" not in result.log_file.read_text()


def test_fix_external_path_follows_the_pyace_trajectory(
    ace_si: PotentialFiles, tmp_path: Path
) -> None:
    """LAMMPS velocity-Verlet with ACE in fix external against ASE velocity-Verlet with pyace.

    Where the LAMMPS build has ML-PACE, the native back-end must follow the same trajectory.
    """
    start = si_cell(rattle=0.1)
    start.set_velocities(np.random.default_rng(1).normal(0.0, 0.06, size=(len(start), 3)))
    reference = start.copy()
    reference.calc = pyace_calculator(ace_si)
    VelocityVerlet(reference, timestep=1.0 * units.fs).run(40)

    backends = ["external", *(["native"] if native_pace_available() else [])]
    for backend in backends:
        md = MDConfig(ensemble="nve", timestep=0.001, check_interval=5, ace_backend=backend)
        result = LammpsEngine(md, QUIET).run(start, ace_si, tmp_path / backend, 40)
        assert result.restart_file is not None
        state, cell = read_restart_state(result.restart_file)
        assert np.abs(state.unwrapped_positions(cell) - reference.positions).max() < 1e-6
        velocities = state.velocities * VELOCITY_METAL_TO_ASE
        assert np.abs(velocities - reference.get_velocities()).max() < 1e-6

        assert result.frame_file is not None
        frame = read(result.frame_file)
        frame.calc = pyace_calculator(ace_si)
        assert np.abs(frame.arrays[keys.ACE_FORCES] - frame.get_forces()).max() < 1e-5
        assert frame.info[keys.ACE_ENERGY] == pytest.approx(frame.get_potential_energy(), abs=1e-5)
        np.testing.assert_allclose(frame.arrays[keys.GAMMA], frame.calc.results["gamma"], rtol=1e-5)


def test_npt_expands_a_compressed_cell_towards_zero_pressure(
    ace_si: PotentialFiles, tmp_path: Path
) -> None:
    compressed = bulk("Si", "diamond", a=5.25, cubic=True).repeat((2, 2, 2))
    md = MDConfig(ensemble="npt", temperature=300.0, pressure=0.0, barostat_damping=0.5)
    result = LammpsEngine(md, QUIET).run(compressed, ace_si, tmp_path, 400)
    assert result.status == MDStatus.COMPLETED
    assert result.log_file is not None
    thermo = read_thermo(result.log_file)
    assert thermo["Press"][0] > 20_000  # bar: the squeezed cell pushes outwards
    assert thermo["Volume"][-1] > 1.05 * compressed.get_volume()
    assert abs(thermo["Press"][-20:].mean()) < 0.25 * thermo["Press"][0]


def test_too_close_pair_fails_and_the_last_good_restart_resumes(
    ace_si: PotentialFiles, tmp_path: Path
) -> None:
    strict = MDConfig(temperature=2500.0, check_interval=5, restart_interval=10, min_distance=2.0)
    failed = LammpsEngine(strict, QUIET).run(si_cell(), ace_si, tmp_path / "bad", 2000)
    assert failed.status == MDStatus.FAILED
    assert failed.failure == FailureKind.TOO_CLOSE
    assert "closer than min_distance" in failed.reason
    assert failed.restart_file is not None
    state, _ = read_restart_state(failed.restart_file)
    # The last restart that a clean check (the last one in the trace) and its output followed.
    assert 0 < state.step <= failed.trace[-1].step < failed.step
    assert verified_meta(failed.restart_file) is not None
    assert failed.frame_file is not None
    assert read(failed.frame_file).get_all_distances(mic=True)[np.triu_indices(64, 1)].min() < 2.0

    relaxed = MDConfig(temperature=2500.0, check_interval=5, restart_interval=10)
    resumed = LammpsEngine(relaxed, QUIET).run(failed.restart_file, ace_si, tmp_path / "again", 20)
    assert resumed.status == MDStatus.COMPLETED
    assert resumed.step == state.step + 20


def test_non_finite_forces_end_the_run_with_a_reason(
    ace_si_corrupt: PotentialFiles, tmp_path: Path
) -> None:
    result = LammpsEngine(MDConfig(), QUIET).run(si_cell(), ace_si_corrupt, tmp_path, 100)
    assert result.status == MDStatus.FAILED
    assert result.failure == FailureKind.NON_FINITE
    assert result.reason.startswith("non-finite ACE ")
    assert result.step == 0  # found in the check of the start, before any step
    assert result.restart_file is None  # nothing good was ever written


def test_coincident_atoms_fail_as_a_too_close_pair(ace_si: PotentialFiles, tmp_path: Path) -> None:
    atoms = si_cell()
    atoms.positions[1] = atoms.positions[0]
    result = LammpsEngine(MDConfig(), QUIET).run(atoms, ace_si, tmp_path, 100)
    assert result.status == MDStatus.FAILED
    assert result.failure == FailureKind.TOO_CLOSE
    assert result.reason == "atoms closer than min_distance: 0.000 Å < 1 Å at step 0"


def test_pair_ace_itself_refuses_fails_as_too_close_in_the_same_words(
    ace_si: PotentialFiles, tmp_path: Path
) -> None:
    """Below min_distance's reach, pyace raises ML-PACE's own error; the reason says too close."""
    atoms = si_cell()
    atoms.positions[1] = atoms.positions[0] + [1e-4, 0.0, 0.0]
    result = LammpsEngine(MDConfig(min_distance=1e-5), QUIET).run(atoms, ace_si, tmp_path, 100)
    assert result.status == MDStatus.FAILED
    assert result.failure == FailureKind.TOO_CLOSE
    assert result.reason.startswith("atoms too close for ACE to evaluate at step 0 (ValueError")
    assert "Encountered very small distance" in result.reason


def test_atom_escaping_a_fixed_box_fails_as_lost(ace_si: PotentialFiles, tmp_path: Path) -> None:
    cluster = bulk("Si", "diamond", a=5.431, cubic=True)
    cluster.center(vacuum=3.0)
    cluster.pbc = False
    velocities = np.zeros((len(cluster), 3))
    velocities[0, 2] = -300.0 * VELOCITY_METAL_TO_ASE  # 300 Å/ps towards the wall 3 Å away
    cluster.set_velocities(velocities)
    md = MDConfig(check_interval=10, restart_interval=20)
    result = LammpsEngine(md, QUIET).run(cluster, ace_si, tmp_path, 200)
    assert result.status == MDStatus.FAILED
    assert result.failure == FailureKind.LOST_ATOMS
    assert result.reason.startswith("lost atoms at step")
    assert result.step <= 20


def test_elements_missing_from_the_potential_are_refused(
    ace_si: PotentialFiles, tmp_path: Path
) -> None:
    atoms = Atoms("SiC", positions=[[0, 0, 0], [1.9, 0, 0]], cell=[8, 8, 8], pbc=True)
    with pytest.raises(ValueError, match="no parameters for"):
        LammpsEngine(MDConfig(), QUIET).run(atoms, ace_si, tmp_path, 10)
