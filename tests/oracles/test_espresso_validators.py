"""The validator judges pw.x output by its text, not by the "JOB DONE." banner."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from pyacemaker_fw.oracles.espresso.validators import PwOutputValidator, output_problems


def test_a_converged_run_passes(captured_run: Callable[[str], Path]) -> None:
    assert not PwOutputValidator().check(str(captured_run("converged")))


def test_an_unconverged_run_fails_although_pw_x_printed_job_done(
    captured_run: Callable[[str], Path],
) -> None:
    directory = captured_run("scf_not_converged")
    text = (directory / "pw.out").read_text()
    assert "JOB DONE." in text
    assert PwOutputValidator().check(str(directory))
    assert "the SCF did not converge" in output_problems(text)


def test_an_interrupted_run_and_a_missing_output_fail(
    captured_run: Callable[[str], Path], tmp_path: Path
) -> None:
    assert PwOutputValidator().check(str(captured_run("max_seconds")))
    assert PwOutputValidator().check(str(captured_run("s_matrix")))
    assert PwOutputValidator().check(str(tmp_path))
