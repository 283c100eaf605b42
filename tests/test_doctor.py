from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pyacemaker_fw.cli import app
from pyacemaker_fw.doctor import check_pseudopotential_dir, check_pw, run_checks


def test_every_engine_is_found_on_this_machine() -> None:
    checks = run_checks()
    failed = [(check.engine, check.detail) for check in checks if not check.ok]
    assert failed == []
    engines = {check.engine for check in checks}
    assert engines == {
        "Quantum ESPRESSO",
        "pseudopotentials",
        "LAMMPS",
        "pacemaker",
        "MACE",
        "FireWorks",
    }


def test_pw_version_is_reported() -> None:
    check = check_pw()
    assert check.ok
    assert "v.6" in check.detail


def test_probes_leave_the_current_folder_untouched(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # pw.x writes CRASH and input_tmp.in into the folder it starts in
    monkeypatch.chdir(tmp_path)
    checks = run_checks()
    assert all(check.ok for check in checks)
    assert sorted(path.name for path in tmp_path.iterdir()) == []


def test_missing_pw_is_reported_with_a_reason(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # A PATH holding everything the venv has, but not /usr/bin where pw.x lives.
    venv_bin = Path(sys.executable).parent
    monkeypatch.setenv("PATH", f"{venv_bin}{os.pathsep}{tmp_path}")
    check = check_pw()
    assert not check.ok
    assert "not on PATH" in check.detail


def test_empty_pseudo_dir_is_reported(tmp_path: Path) -> None:
    check = check_pseudopotential_dir(tmp_path)
    assert not check.ok
    assert str(tmp_path) in check.detail


def test_doctor_exits_non_zero_when_pw_is_missing(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    venv_bin = Path(sys.executable).parent
    monkeypatch.setenv("PATH", f"{venv_bin}{os.pathsep}{tmp_path}")
    result = CliRunner().invoke(app, ["doctor"])
    assert result.exit_code == 1
    assert "Quantum ESPRESSO  MISSING" in result.output


def test_unreachable_launchpad_is_reported(tmp_path: Path) -> None:
    launchpad = tmp_path / "my_launchpad.yaml"
    launchpad.write_text(
        "host: 127.0.0.1\nport: 1\nname: nowhere\nmongoclient_kwargs:\n"
        "  serverSelectionTimeoutMS: 300\n  connectTimeoutMS: 300\n"
    )
    fireworks_check = next(c for c in run_checks(launchpad) if c.engine == "FireWorks")
    assert not fireworks_check.ok
    assert "unreachable" in fireworks_check.detail
