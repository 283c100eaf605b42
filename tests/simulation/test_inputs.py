"""The LAMMPS input the engine generates: soft start, halt, restart, ensembles, back-ends."""

from __future__ import annotations

from pathlib import Path

import pytest

from pyacemaker_fw.config import MDConfig
from pyacemaker_fw.simulation import inputs


def words(line: str) -> list[str]:
    return line.split()


def test_soft_start_is_langevin_at_the_target_temperature_over_nve() -> None:
    nve, langevin = inputs.soft_start(temperature=1200.0, damping=0.05, seed=77)
    assert words(nve) == ["fix", inputs.SOFT_START_NVE_FIX, "all", "nve"]
    assert words(langevin) == [
        "fix", inputs.SOFT_START_LANGEVIN_FIX, "all", "langevin",
        "1200", "1200", "0.05", "77", "zero", "yes",
    ]  # fmt: skip


def test_soft_start_is_removed_before_the_production_ensemble() -> None:
    removed = [words(line) for line in inputs.end_soft_start()]
    assert removed == [
        ["unfix", inputs.SOFT_START_LANGEVIN_FIX],
        ["unfix", inputs.SOFT_START_NVE_FIX],
    ]


def test_halt_fix_watches_an_internal_variable_every_step_and_ends_softly() -> None:
    variable, halt = inputs.halt()
    assert words(variable) == ["variable", inputs.HALT_VARIABLE, "internal", "0"]
    assert words(halt)[:5] == ["fix", inputs.HALT_FIX, "all", "halt", "1"]
    assert f"v_{inputs.HALT_VARIABLE} > 0.5" in halt
    assert "error soft" in halt


def test_rearm_after_halt_clears_the_variable_and_the_soft_timeout() -> None:
    assert inputs.rearm_after_halt() == [
        f"variable {inputs.HALT_VARIABLE} internal 0",
        "timer timeout off",
    ]


def test_periodic_restart_names_files_by_timestep(tmp_path: Path) -> None:
    (line,) = inputs.periodic_restart(500, tmp_path)
    assert words(line) == ["restart", "500", str(tmp_path / "md.*.restart")]
    path = inputs.restart_file(tmp_path, 1500)
    assert path.name == "md.1500.restart"
    assert inputs.restart_step(path) == 1500
    assert inputs.restart_step(tmp_path / "md.last.restart") is None
    assert inputs.write_restart(path) == [f"write_restart {path}"]


def test_paths_with_spaces_are_one_lammps_word(tmp_path: Path) -> None:
    folder = tmp_path / "run one"
    (line,) = inputs.periodic_restart(10, folder)
    assert line == f'restart 10 "{folder}/md.*.restart"'
    assert (
        inputs.read_restart(folder / "md.10.restart")[1] == f'read_restart "{folder}/md.10.restart"'
    )


@pytest.mark.parametrize(
    ("ensemble", "expected"),
    [
        ("nve", "fix md all nve"),
        ("nvt", "fix md all nvt temp 900 900 0.2"),
        ("npt", "fix md all npt temp 900 900 0.2 iso 10 10 2"),
    ],
)
def test_ensembles_use_the_configured_targets_and_damping(ensemble: str, expected: str) -> None:
    md = MDConfig(
        ensemble=ensemble, temperature=900, pressure=10, thermostat_damping=0.2, barostat_damping=2
    )
    assert inputs.ensemble(md) == [expected]


def test_preamble_turns_off_sorting_for_exact_resume_and_maps_boundaries() -> None:
    lines = inputs.preamble([True, True, False])
    assert "atom_modify map array sort 0 0.0" in lines
    assert "boundary p p f" in lines
    assert "units metal" in lines


def test_external_backend_keeps_a_full_neighbour_list_and_adds_energy_and_virial() -> None:
    pair, coeff, fix, modify = inputs.external_ace(cutoff=5.0)
    assert words(pair) == ["pair_style", "zero", "5", "full"]
    assert coeff == "pair_coeff * *"
    assert words(fix) == ["fix", inputs.EXTERNAL_FIX, "all", "external", "pf/callback", "1", "1"]
    assert words(modify) == ["fix_modify", inputs.EXTERNAL_FIX, "energy", "yes", "virial", "yes"]


def test_native_backend_reads_gamma_from_fix_pair_before_the_check_callback() -> None:
    lines = inputs.native_pace(Path("/p/pot.yaml"), Path("/p/pot.asi"), ["Si", "O"], 20)
    assert lines[0] == "pair_style pace/extrapolation"
    assert lines[1] == "pair_coeff * * /p/pot.yaml /p/pot.asi Si O"
    gamma_fix = words(lines[2])
    assert gamma_fix == [
        "fix",
        inputs.GAMMA_FIX,
        "all",
        "pair",
        "20",
        "pace/extrapolation",
        "gamma",
        "1",
    ]
    check_fix = words(lines[3])
    assert check_fix == ["fix", inputs.CHECK_FIX, "all", "external", "pf/callback", "20", "1"]


def test_native_probe_evaluates_gamma_on_the_current_step() -> None:
    fix, run = inputs.native_probe("probe")
    assert words(fix) == ["fix", "probe", "all", "pair", "1", "pace/extrapolation", "gamma", "1"]
    assert run == "run 0"


def test_created_velocities_remove_rotation_only_for_clusters() -> None:
    (bulk,) = inputs.create_velocities(600.0, 5, periodic=True)
    (cluster,) = inputs.create_velocities(600.0, 5, periodic=False)
    assert words(bulk) == [
        "velocity",
        "all",
        "create",
        "600",
        "5",
        "dist",
        "gaussian",
        "mom",
        "yes",
        "rot",
        "no",
    ]
    assert cluster.endswith("rot yes")


def test_neighbour_lists_are_rebuilt_on_every_check_step() -> None:
    (line,) = inputs.align_neighbour_builds(25)
    assert words(line)[:5] == ["fix", inputs.ALIGN_FIX, "all", "balance", "25"]


def test_small_skin_with_a_rebuild_check_every_step() -> None:
    skin, modify = inputs.neighbours()
    assert words(skin) == ["neighbor", f"{inputs.NEIGHBOUR_SKIN:g}", "bin"]
    assert modify == "neigh_modify every 1 delay 0 check yes"
