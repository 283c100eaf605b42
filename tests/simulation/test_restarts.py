"""Which restart a rerun resumes from: the newest one the engine vouched for."""

from __future__ import annotations

from pathlib import Path

from pyacemaker_fw.simulation import newest_restart
from pyacemaker_fw.simulation.restarts import RestartMeta, meta_path, verified_meta, write_meta

META = RestartMeta(step=0, elements=["Si"], potential_yaml_sha256="abc", backend="external")


def restart(directory: Path, step: int, vouched: bool = True, content: bytes = b"") -> Path:
    path = directory / f"md.{step}.restart"
    path.write_bytes(content or f"state at {step}".encode())
    if vouched:
        write_meta(path, META.model_copy(update={"step": step}))
    return path


def test_newest_vouched_restart_is_chosen_by_step_not_by_name(tmp_path: Path) -> None:
    restart(tmp_path, 900)
    newest = restart(tmp_path, 1000)  # "md.1000" sorts before "md.900" as text
    restart(tmp_path, 1100, vouched=False)  # written, but no check followed it
    (tmp_path / "md.final.restart").write_bytes(b"not an engine restart name")
    assert newest_restart(tmp_path) == newest


def test_a_restart_overwritten_after_its_sidecar_is_not_trusted(tmp_path: Path) -> None:
    older = restart(tmp_path, 100)
    newer = restart(tmp_path, 200)
    newer.write_bytes(b"state at 2")  # a later run was killed while rewriting it
    assert verified_meta(newer) is None
    assert newest_restart(tmp_path) == older


def test_an_unreadable_sidecar_vouches_for_nothing(tmp_path: Path) -> None:
    path = restart(tmp_path, 100)
    meta_path(path).write_text("{")
    assert newest_restart(tmp_path) is None


def test_a_folder_without_restarts_has_none(tmp_path: Path) -> None:
    assert newest_restart(tmp_path) is None
    assert newest_restart(tmp_path / "absent") is None


def test_sidecar_records_the_file_it_vouches_for(tmp_path: Path) -> None:
    path = restart(tmp_path, 300, content=b"x" * 1234)
    meta = verified_meta(path)
    assert meta is not None
    assert meta.step == 300
    assert meta.restart_size == 1234
    assert not list(tmp_path.glob("*.partial"))
