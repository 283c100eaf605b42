from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from ase import Atoms
from ase.build import bulk

from pyacemaker_fw.core import keys
from pyacemaker_fw.core.labels import attach_labels
from pyacemaker_fw.training.dataset import (
    DatasetError,
    energy_weight,
    read_dataset,
    structures_to_dataframe,
    write_dataset,
)


def _labelled(weights: list[float] | None = None, symbol: str = "Si", seed: int = 0) -> Atoms:
    atoms = bulk(symbol, "diamond", a=5.43, cubic=True)
    rng = np.random.default_rng(seed)
    labelled = attach_labels(atoms, -34.5 + seed, rng.normal(size=(len(atoms), 3)), "qe")
    if weights is not None:
        labelled.arrays[keys.FORCE_WEIGHT] = np.asarray(weights, dtype=float)
    return labelled


def test_columns_carry_labels_and_per_atom_force_weights() -> None:
    core_and_buffer = _labelled([1, 1, 1, 0, 0, 0, 0.5, 0], seed=1)
    frame = structures_to_dataframe([_labelled(seed=0), core_and_buffer], elements=["Si"])
    assert list(frame["energy"]) == [-34.5, -33.5]
    assert list(frame["energy_corrected"]) == [-34.5, -33.5]
    np.testing.assert_array_equal(frame["forces"][1], core_and_buffer.get_forces())
    np.testing.assert_array_equal(frame["w_forces"][0], np.ones(8))
    np.testing.assert_array_equal(frame["w_forces"][1], [1, 1, 1, 0, 0, 0, 0.5, 0])
    assert frame["ase_atoms"][0].calc is None


def test_energy_of_a_structure_with_untaught_atoms_is_not_fitted_by_default() -> None:
    assert energy_weight(_labelled()) == 1.0
    assert energy_weight(_labelled([1, 1, 1, 1, 0, 0, 0, 0])) == 0.0
    explicit = _labelled([1, 1, 1, 1, 0, 0, 0, 0])
    explicit.info[keys.ENERGY_WEIGHT] = 0.25
    assert energy_weight(explicit) == 0.25


def test_round_trip_through_the_pickle_keeps_labels_and_weights(tmp_path: Path) -> None:
    original = _labelled([1, 0, 1, 0, 1, 0, 1, 0], seed=3)
    path = write_dataset([original, _labelled(seed=4)], tmp_path / "train.pkl.gz")
    frame = pd.read_pickle(path, compression="gzip")
    assert {"ase_atoms", "energy", "forces", "w_energy", "w_forces"} <= set(frame.columns)
    [loaded, _] = read_dataset(path)
    assert loaded.get_potential_energy() == original.get_potential_energy()
    np.testing.assert_array_equal(loaded.get_forces(), original.get_forces())
    np.testing.assert_array_equal(loaded.arrays[keys.FORCE_WEIGHT], [1, 0, 1, 0, 1, 0, 1, 0])
    assert loaded.info[keys.ENERGY_WEIGHT] == 0.0


def test_elements_outside_the_potential_are_refused() -> None:
    with pytest.raises(DatasetError, match=r"contains \['Ge'\]"):
        structures_to_dataframe([_labelled(symbol="Ge")], elements=["Si"])


def test_unlabelled_or_all_zero_weight_data_are_refused() -> None:
    with pytest.raises(DatasetError, match="no labels"):
        structures_to_dataframe([bulk("Si", "diamond", a=5.43)])
    with pytest.raises(DatasetError, match="nothing to fit"):
        structures_to_dataframe([_labelled([0] * 8)])
    with pytest.raises(DatasetError, match="force_weight"):
        structures_to_dataframe([_labelled([1, 1, -1, 1, 1, 1, 1, 1])])
