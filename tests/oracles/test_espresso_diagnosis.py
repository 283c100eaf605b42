"""Failure reports in words: what pw.x said, how it ended, how far it got, what was tried."""

from __future__ import annotations

import json
import signal
from collections.abc import Callable
from pathlib import Path

from custodian.custodian import MaxCorrectionsError, NonRecoverableError, ValidationError

from pyacemaker_fw.oracles.espresso.diagnosis import (
    corrections_tried,
    describe_failure,
    how_it_ended,
    pw_messages,
    scf_iterations,
)
from pyacemaker_fw.oracles.espresso.handlers import ScfConvergenceHandler
from pyacemaker_fw.oracles.espresso.validators import PwOutputValidator

CaseCopier = Callable[[str], Path]

SCF_CORRECTION = {
    "errors": ["convergence NOT achieved after   3 iterations: stopping"],
    "actions": [
        {
            "dict": "pw.in",
            "action": {"_set": {"electrons.mixing_beta": 0.25, "electrons.electron_maxstep": 100}},
        }
    ],
    "handler": {
        "@module": "pyacemaker_fw.oracles.espresso.handlers",
        "@class": "ScfConvergenceHandler",
    },
}
GAVE_UP = {**SCF_CORRECTION, "actions": None}


def _log(directory: Path, *corrections: dict[str, object]) -> None:
    (directory / "custodian.json").write_text(json.dumps([{"corrections": list(corrections)}]))


def test_pw_x_messages_come_from_crash_output_and_stderr(captured_run: CaseCopier) -> None:
    assert pw_messages(captured_run("empty_pseudopotential")) == [
        "readpp: file ./pseudo/Si.pbe-rrkj.UPF not readable"
    ]
    assert pw_messages(captured_run("s_matrix")) == ["cdiaghg: S matrix not positive definite"]
    directory = captured_run("converged")
    (directory / "pw.err").write_text(
        "At line 761 of file xmltools.f90\nFortran runtime error: Bad real number in item 1\n"
    )
    assert pw_messages(directory) == [
        "Fortran runtime error: Bad real number in item 1 (At line 761 of file xmltools.f90)"
    ]


def test_scf_iterations_are_counted(captured_run: CaseCopier) -> None:
    assert scf_iterations(captured_run("scf_not_converged")) == 3
    assert scf_iterations(captured_run("empty_pseudopotential")) == 0


def test_how_pw_x_ended() -> None:
    assert how_it_ended(-signal.SIGKILL) == "was killed by signal 9 (SIGKILL)"
    assert how_it_ended(137) == "exited with code 137 (128 + 9: its launcher reports SIGKILL)"
    assert how_it_ended(2) == "exited with code 2"
    assert how_it_ended(255) == "exited with code 255"  # pw.x's own code at max_seconds
    assert how_it_ended(None) == ""


def test_exhausted_handlers_are_described_in_words(captured_run: CaseCopier) -> None:
    directory = captured_run("scf_not_converged")
    _log(directory, SCF_CORRECTION, GAVE_UP)
    handler = ScfConvergenceHandler()
    error = NonRecoverableError(f"Unrecoverable error for handler: {handler}", True, handler)
    text = describe_failure(directory, error, returncode=2)
    assert "object at 0x" not in text
    assert text.startswith(
        "the SCF did not converge, and ScfConvergenceHandler had nothing left to try"
    )
    assert "the last attempt ran 3 SCF iterations and pw.x exited with code 2" in text
    assert "set electrons.mixing_beta = 0.25, electrons.electron_maxstep = 100" in text
    assert "ScfConvergenceHandler saw 'convergence NOT achieved after   3 iterations" in text
    assert f"output kept in {directory}" in text


def test_a_limit_on_corrections_says_what_was_still_failing(captured_run: CaseCopier) -> None:
    directory = captured_run("scf_not_converged")
    _log(directory, SCF_CORRECTION)
    text = describe_failure(directory, MaxCorrectionsError("Max errors reached: 1.", True, 1), 2)
    assert text.startswith("the SCF did not converge; custodian used up its corrections")
    assert "oracle.qe.max_corrections" in text


def test_an_unknown_failure_surfaces_what_pw_x_said(captured_run: CaseCopier) -> None:
    directory = captured_run("empty_pseudopotential")
    error = ValidationError("Validation failed: PwOutputValidator", True, PwOutputValidator())
    text = describe_failure(directory, error, returncode=1)
    assert "Validation failed" not in text
    assert "there is no converged total energy" in text
    assert "pw.x said: readpp: file ./pseudo/Si.pbe-rrkj.UPF not readable" in text
    assert "no correction was tried" in text


def test_a_killed_pw_x_is_reported_as_dead(captured_run: CaseCopier) -> None:
    directory = captured_run("scf_not_converged")
    error = ValidationError("Validation failed: PwOutputValidator", True, PwOutputValidator())
    text = describe_failure(directory, error, returncode=-signal.SIGKILL)
    assert text.startswith("pw.x died: it was killed by signal 9 (SIGKILL)")
    assert "the last attempt ran 3 SCF iterations" in text


def test_corrections_without_a_log_are_empty(tmp_path: Path) -> None:
    assert corrections_tried(tmp_path) == []
