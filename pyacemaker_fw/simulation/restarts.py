"""Restart files and their sidecars: which restart can a run resume from?

LAMMPS writes ``md.<step>.restart`` files; the engine vouches for one by writing a JSON sidecar
``md.<step>.restart.json`` next to it (:class:`RestartMeta`). A sidecar is written only once the
state in the restart is known to be good, that is after a later gamma check (with its
closest-pair and lost-atom checks) passed, or when the run ends on it. It records the file's size
and SHA-256, so a restart overwritten by a later run that was killed half-way through writing
it is not mistaken for the good one.

A restart without a valid sidecar may still be readable, but nothing vouches for it: LAMMPS
writes periodic restarts before the step's checks are complete, and a killed job can leave
one truncated. :func:`newest_restart` therefore only returns restarts with a matching sidecar.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from pydantic import BaseModel, ConfigDict, ValidationError

from pyacemaker_fw.simulation import inputs


class RestartMeta(BaseModel):
    """The sidecar of a restart file."""

    model_config = ConfigDict(extra="forbid")

    step: int
    elements: list[str]
    potential_yaml_sha256: str
    potential_asi_sha256: str | None = None
    backend: str
    restart_size: int | None = None
    """Size of the restart file in bytes; None in sidecars written before it was recorded."""
    restart_sha256: str | None = None


def meta_path(restart: Path) -> Path:
    return restart.with_name(restart.name + ".json")


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_meta(restart: Path) -> RestartMeta | None:
    """The sidecar of ``restart`` as written, or None if there is none."""
    path = meta_path(restart)
    return RestartMeta.model_validate_json(path.read_text()) if path.is_file() else None


def verified_meta(restart: Path) -> RestartMeta | None:
    """The sidecar of ``restart`` if it vouches for this very file, else None."""
    try:
        meta = read_meta(restart)
    except (OSError, ValidationError):
        return None
    if meta is None or not restart.is_file():
        return None
    if meta.restart_size is not None and meta.restart_size != restart.stat().st_size:
        return None
    if meta.restart_sha256 is not None and meta.restart_sha256 != file_sha256(restart):
        return None
    return meta


def write_meta(restart: Path, meta: RestartMeta) -> None:
    """Vouch for ``restart``: record ``meta`` with the file's current size and SHA-256."""
    stamped = meta.model_copy(
        update={"restart_size": restart.stat().st_size, "restart_sha256": file_sha256(restart)}
    )
    # Written aside and renamed, so a job killed meanwhile leaves no half-written sidecar.
    partial = meta_path(restart).with_suffix(".json.partial")
    partial.write_text(stamped.model_dump_json(indent=2))
    os.replace(partial, meta_path(restart))


def restart_files(directory: Path) -> dict[int, Path]:
    """Restart files the engine names ``md.<step>.restart`` in ``directory``, by step."""
    found: dict[int, Path] = {}
    for path in Path(directory).glob(f"{inputs.RESTART_PREFIX}*{inputs.RESTART_SUFFIX}"):
        step = inputs.restart_step(path)
        if step is not None:
            found[step] = path
    return found


def newest_restart(directory: Path) -> Path | None:
    """The restart at the highest step in ``directory`` that the engine vouched for, or None.

    Only ``md.<step>.restart`` files whose sidecar exists and matches the file's size and
    SHA-256 count (see the module docstring). This is where a rerun of an interrupted MD job
    resumes: timesteps count on across resumes, so the highest step is the furthest point of
    the trajectory that is known to be good.
    """
    for _, restart in sorted(restart_files(directory).items(), reverse=True):
        if verified_meta(restart) is not None:
            return restart
    return None
