"""Engine bookkeeping without LAMMPS: swap detection, restart sidecars, thermo logs, images."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from ase.build import bulk

from pyacemaker_fw.simulation.backends import PotentialInfo
from pyacemaker_fw.simulation.engine import (
    _start_from_atoms,
    _start_from_restart,
    _unpack_images,
    read_thermo,
)
from pyacemaker_fw.simulation.restarts import RestartMeta, meta_path

INFO = PotentialInfo(elements=("O", "Si"), cutoff=5.0, yaml_sha256="abc", asi_sha256="def")


def restart_with_meta(tmp_path: Path, **meta: object) -> Path:
    restart = tmp_path / "md.100.restart"
    restart.write_bytes(b"")
    if meta:
        fields = {"step": 100, "elements": ["Si"], "backend": "external", **meta}
        meta_path(restart).write_text(RestartMeta.model_validate(fields).model_dump_json())
    return restart


def test_same_potential_resumes_without_a_swap(tmp_path: Path) -> None:
    start = _start_from_restart(restart_with_meta(tmp_path, potential_yaml_sha256="abc"), INFO)
    assert not start.potential_swapped
    assert start.elements == ("Si",)  # LAMMPS types keep the elements they were written with
    assert not start.needs_velocities
    assert start.commands[1].startswith("read_restart")


def test_changed_potential_is_a_swap(tmp_path: Path) -> None:
    start = _start_from_restart(restart_with_meta(tmp_path, potential_yaml_sha256="xyz"), INFO)
    assert start.potential_swapped


def test_restart_of_unknown_origin_counts_as_a_swap(tmp_path: Path) -> None:
    start = _start_from_restart(restart_with_meta(tmp_path), INFO)
    assert start.potential_swapped
    assert start.elements == INFO.elements


def test_new_potential_must_cover_the_restart_elements(tmp_path: Path) -> None:
    restart = restart_with_meta(tmp_path, potential_yaml_sha256="abc", elements=["Si", "Ge"])
    with pytest.raises(ValueError, match="Ge"):
        _start_from_restart(restart, INFO)


def test_missing_restart_is_reported(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        _start_from_restart(tmp_path / "md.5.restart", INFO)


def test_atoms_become_a_data_file_with_types_in_potential_order(tmp_path: Path) -> None:
    atoms = bulk("Si", "diamond", a=5.431, cubic=True)
    start = _start_from_atoms(atoms, INFO, tmp_path)
    text = (tmp_path / "start.data").read_text()
    assert "2 atom types" in text  # O is type 1, Si type 2, even without O atoms
    assert re.search(r"^2\s+28\.08", text, re.MULTILINE)  # Si mass on type 2
    assert start.needs_velocities
    assert start.commands[-1] == f"read_data {tmp_path / 'start.data'}"
    assert "boundary p p p" in start.commands


def test_cluster_outside_its_fixed_box_is_refused(tmp_path: Path) -> None:
    atoms = bulk("Si", "diamond", a=5.431, cubic=True)
    atoms.pbc = False
    atoms.positions += 2.0  # some atoms now outside [0, a)
    with pytest.raises(ValueError, match="outside the fixed"):
        _start_from_atoms(atoms, INFO, tmp_path)


def test_image_flags_unpack_from_lammps_bit_packing() -> None:
    images = np.array([[0, 0, 0], [1, -1, 2], [-3, 4, -5]])
    packed = (images[:, 0] + 512) | ((images[:, 1] + 512) << 10) | ((images[:, 2] + 512) << 20)
    assert _unpack_images(packed).tolist() == images.tolist()


def test_thermo_of_consecutive_runs_is_joined_once_per_step(tmp_path: Path) -> None:
    log = tmp_path / "lammps.log"
    log.write_text(
        "run 20\n   Step          Temp     \n         0   300\n        10   310\n"
        "        20   320\nLoop time of 0.1 on 1 procs\n"
        "run 10\n   Step          Temp     \n        20   320\n        30   330\n"
        "Loop time of 0.1 on 1 procs\n"
    )
    thermo = read_thermo(log)
    assert thermo["Step"].tolist() == [0, 10, 20, 30]
    assert thermo["Temp"].tolist() == [300, 310, 320, 330]
