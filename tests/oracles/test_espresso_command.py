"""Resolving the pw.x command from config or the FWorker env (FireWorks' env_chk style)."""

from __future__ import annotations

import pytest

from pyacemaker_fw.oracles.espresso.command import CommandError, full_command, resolve_command


def test_an_argv_list_is_used_as_given() -> None:
    assert resolve_command(["pw.x", "-nk", "2"]) == ["pw.x", "-nk", "2"]


def test_env_chk_string_resolves_from_the_fworker_env() -> None:
    env = {"pw_cmd": ["mpirun", "-np", "4", "pw.x"]}
    assert resolve_command(">>pw_cmd<<", env) == ["mpirun", "-np", "4", "pw.x"]
    assert resolve_command(">>pw_cmd<<", {"pw_cmd": "srun pw.x -nk 2"}) == [
        "srun",
        "pw.x",
        "-nk",
        "2",
    ]


def test_missing_env_key_says_what_to_set() -> None:
    with pytest.raises(CommandError, match="pw_cmd"):
        resolve_command(">>pw_cmd<<", {"vasp_cmd": "vasp"})
    with pytest.raises(CommandError, match="FWorker env"):
        resolve_command(">>pw_cmd<<")


def test_mpi_prefix_and_executable_check() -> None:
    assert full_command(["pw.x"], ["mpirun", "-np", "2"]) == ["mpirun", "-np", "2", "pw.x"]
    with pytest.raises(CommandError, match="not an executable"):
        full_command(["no-such-pw.x"])
    with pytest.raises(CommandError, match="empty"):
        resolve_command([])
