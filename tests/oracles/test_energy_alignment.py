"""MACE labels move onto the DFT energy scale; forces and stress stay as they were."""

from __future__ import annotations

from collections.abc import Sequence
from unittest.mock import MagicMock

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk

from pyacemaker_fw.config import TieredOracleConfig
from pyacemaker_fw.core import keys
from pyacemaker_fw.core.base import BaseOracle
from pyacemaker_fw.core.labels import attach_labels
from pyacemaker_fw.oracles.energy_alignment import fit_energy_shifts, shift_energy
from pyacemaker_fw.oracles.mace_manager import MACEManager
from pyacemaker_fw.oracles.tiered import TieredOracle

# A "true" energy per atom for each element, and a model that is off by a constant per element.
TRUE = {"Si": -5.4, "Ge": -4.6}
MODEL_ERROR = {"Si": 1.3, "Ge": -0.7}


def _energy(atoms: Atoms, offsets: dict[str, float]) -> float:
    return sum(TRUE[s] + offsets.get(s, 0.0) for s in atoms.get_chemical_symbols())


def _alloys() -> list[Atoms]:
    cells = []
    for n_ge in range(4):
        atoms = bulk("Si", "diamond", a=5.5, cubic=True)
        atoms.symbols[:n_ge] = "Ge"
        atoms.info["tag"] = n_ge
        cells.append(atoms)
    return cells


def test_shifts_recover_the_per_element_offsets() -> None:
    cells = _alloys()
    shifts = fit_energy_shifts(
        cells, [_energy(a, {}) for a in cells], [_energy(a, MODEL_ERROR) for a in cells]
    )
    assert shifts == pytest.approx({"Si": -1.3, "Ge": 0.7})


def test_shifting_changes_the_energy_only() -> None:
    atoms = bulk("Si", "diamond", a=5.43, cubic=True)
    forces = np.random.default_rng(1).normal(size=(8, 3))
    labelled = attach_labels(atoms, -40.0, forces, "mace", np.arange(6.0), uncertainty=0.1)
    shifted = shift_energy(labelled, {"Si": 0.5})
    assert shifted.get_potential_energy() == pytest.approx(-36.0)
    assert np.array_equal(shifted.get_forces(), forces)
    assert np.array_equal(shifted.get_stress(), np.arange(6.0))
    assert shifted.info[keys.LABEL_SOURCE] == "mace"
    assert shifted.info[keys.UNCERTAINTY] == 0.1
    assert shifted.info[keys.ENERGY_SHIFT] == pytest.approx(4.0)


class TrueDFT(BaseOracle):
    name = "qe"

    def label(self, structures: Sequence[Atoms]) -> list[Atoms]:
        return [
            attach_labels(a, _energy(a, {}), np.zeros((len(a), 3)), self.name) for a in structures
        ]


def _offset_mace(uncertain_tags: set[int]) -> MagicMock:
    mace = MagicMock(spec=MACEManager)
    mace.committee_size = 3

    def label(structures: Sequence[Atoms]) -> list[Atoms]:
        labelled = []
        for atoms in structures:
            copy = attach_labels(
                atoms, _energy(atoms, MODEL_ERROR), np.zeros((len(atoms), 3)), "mace"
            )
            copy.info[keys.UNCERTAINTY] = 1.0 if atoms.info["tag"] in uncertain_tags else 0.0
            labelled.append(copy)
        return labelled

    mace.label.side_effect = label
    return mace


def test_tiered_oracle_puts_every_label_on_the_dft_scale() -> None:
    cells = [*_alloys(), bulk("Ge", "diamond", a=5.66, cubic=True)]
    cells[-1].info["tag"] = 9
    oracle = TieredOracle(_offset_mace({0, 2}), TrueDFT(), TieredOracleConfig())
    labelled = oracle.label(cells)
    sources = [atoms.info[keys.LABEL_SOURCE] for atoms in labelled]
    assert sources == ["qe", "mace", "qe", "mace", "mace"]
    for atoms in labelled:
        assert atoms.get_potential_energy() == pytest.approx(_energy(atoms, {}), abs=1e-9)
    assert oracle.last_counts.energy_shifts == pytest.approx({"Si": -1.3, "Ge": 0.7})


def test_alignment_can_be_turned_off_and_needs_dft_labels() -> None:
    raw = TieredOracle(_offset_mace({0}), TrueDFT(), TieredOracleConfig(align_energies=False))
    kept = raw.label(_alloys())[1]
    assert kept.get_potential_energy() == pytest.approx(_energy(kept, MODEL_ERROR))
    confident = TieredOracle(_offset_mace(set()), TrueDFT(), TieredOracleConfig())
    confident.label(_alloys())
    assert confident.last_counts.energy_shifts == {}
