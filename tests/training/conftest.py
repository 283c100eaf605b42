"""Shared data for the training tests: the committed Stillinger–Weber Si set and new SW data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk
from ase.io import read

from pyacemaker_fw.oracles.reference import CalculatorOracle, stillinger_weber_si

ASSETS = Path(__file__).resolve().parents[1] / "assets"
SI_A0 = 5.431


@pytest.fixture(scope="session")
def si_dataset() -> list[Atoms]:
    """The committed SW-labelled Si structures (8, 16 and 64 atoms)."""
    structures = read(ASSETS / "si_sw" / "train.extxyz", ":")
    assert isinstance(structures, list)
    return structures


@pytest.fixture(scope="session")
def small_si(si_dataset: list[Atoms]) -> list[Atoms]:
    """The 8- and 16-atom structures of the committed set (31 of them)."""
    return [atoms for atoms in si_dataset if len(atoms) <= 16]


@pytest.fixture(scope="session")
def sw_oracle() -> CalculatorOracle:
    return stillinger_weber_si()


def vacancy_cells(count: int, seed: int, repeat: tuple[int, int, int] = (1, 1, 1)) -> list[Atoms]:
    """Rattled diamond cells with one vacancy: environments the committed set lacks."""
    rng = np.random.default_rng(seed)
    cells = []
    for _ in range(count):
        atoms = bulk("Si", "diamond", a=SI_A0 * rng.uniform(0.99, 1.01), cubic=True).repeat(repeat)
        del atoms[int(rng.integers(len(atoms)))]
        atoms.rattle(0.05, seed=int(rng.integers(1 << 30)))
        cells.append(atoms)
    return cells


@pytest.fixture(scope="session")
def sw_vacancies(sw_oracle: CalculatorOracle) -> list[Atoms]:
    """16 SW-labelled 15-atom cells with a vacancy."""
    return sw_oracle.label(vacancy_cells(16, seed=7, repeat=(2, 1, 1)))
