"""Where a campaign's MD starts when there is no restart: a file, or the element's crystal."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from ase.build import bulk
from ase.io import write

from pyacemaker_fw.config import MDConfig
from pyacemaker_fw.simulation import initial_md_structure


def test_default_start_is_the_cubic_ground_state_repeated_by_supercell() -> None:
    atoms = initial_md_structure(MDConfig(supercell=(2, 3, 1)), ["Si", "O"])
    assert len(atoms) == 8 * 6
    assert set(atoms.get_chemical_symbols()) == {"Si"}
    assert np.allclose(atoms.cell.lengths(), [2 * 5.43, 3 * 5.43, 5.43])
    assert np.allclose(atoms.cell.angles(), 90.0)
    assert atoms.pbc.all()


def test_hcp_element_without_a_cubic_cell_gets_an_orthorhombic_one() -> None:
    atoms = initial_md_structure(MDConfig(supercell=(1, 1, 1)), ["Ti"])
    assert len(atoms) == 4
    assert np.allclose(atoms.cell.angles(), 90.0)


def test_element_without_a_crystal_in_ase_asks_for_a_structure_file() -> None:
    with pytest.raises(ValueError, match=r"set md\.initial_structure"):
        initial_md_structure(MDConfig(), ["H"])


def test_structure_file_is_used_as_it_is(tmp_path: Path) -> None:
    path = tmp_path / "start.extxyz"
    crystal = bulk("Si", "diamond", a=5.5, cubic=True)
    del crystal[3]
    write(path, crystal)
    md = MDConfig.model_validate({"initial_structure": path, "supercell": (3, 3, 3)})
    atoms = initial_md_structure(md, ["Si"])
    assert len(atoms) == 7  # supercell repeats only the generated crystal
    assert np.allclose(atoms.positions, crystal.positions)


def test_structure_file_with_an_element_outside_the_campaign_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "start.extxyz"
    write(path, bulk("Cu", "fcc", a=3.6, cubic=True))
    md = MDConfig.model_validate({"initial_structure": path})
    with pytest.raises(ValueError, match=r"md.initial_structure: .*\['Cu'\]"):
        initial_md_structure(md, ["Si"])


def test_no_elements_is_refused() -> None:
    with pytest.raises(ValueError, match="elements is empty"):
        initial_md_structure(MDConfig(), [])
