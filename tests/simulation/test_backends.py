"""Back-end logic without a LAMMPS run: id ordering, distances, the native gamma callback.

The native ML-PACE back-end cannot run on this LAMMPS build, so its callback is exercised
against a stand-in that serves the arrays LAMMPS would.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any
from unittest.mock import MagicMock

import numpy as np
import pytest

from pyacemaker_fw.core.models import PotentialFiles
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
    """Serves what LAMMPS would: local arrays in a shuffled order, ``fix pair`` gamma."""

    def __init__(self, forces: np.ndarray) -> None:
        self.tags = np.array([2, 3, 1])
        self.x = np.array([[1.0, 0, 0], [2.5, 0, 0], [4.0, 0, 0]])
        self.f = forces
        self.gamma = np.array([7.0, 0.5, 2.0])
        self.variables: dict[str, float] = {}
        self.callbacks: dict[str, Any] = {}
        self.numpy = SimpleNamespace(extract_atom=self._atom, extract_fix=self._fix)

    def _atom(self, name: str) -> np.ndarray:
        return {"id": self.tags, "x": self.x, "f": self.f}[name]

    def _fix(self, fix_id: str, *_style: int) -> np.ndarray:
        assert fix_id == inputs.GAMMA_FIX
        return self.gamma

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
    assert backend.fault is None
    assert lmp.variables == {}


def test_native_callback_turns_bad_forces_into_a_fault_and_a_halt(ace_si: PotentialFiles) -> None:
    lmp = NativeStandIn(forces=np.array([[np.nan, 0, 0], [0.3, 0, 0], [0.1, 0, 0]]))
    readings: list[CheckReading] = []
    backend = native_backend(ace_si)
    backend.attach(lmp, readings.append)
    lmp.check(60)
    assert readings == []
    assert backend.fault is not None
    assert backend.fault.step == 60
    assert "non-finite" in backend.fault.reason
    assert lmp.variables == {inputs.HALT_VARIABLE: 1.0}


def test_exceptions_in_a_check_end_the_run_instead_of_vanishing(ace_si: PotentialFiles) -> None:
    lmp = NativeStandIn(forces=np.zeros((3, 3)))
    backend = native_backend(ace_si)
    backend.attach(lmp, MagicMock(side_effect=KeyError("boom")))
    lmp.check(80)
    assert backend.fault is not None
    assert "KeyError" in backend.fault.reason
    assert lmp.variables == {inputs.HALT_VARIABLE: 1.0}


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
