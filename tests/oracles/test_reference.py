"""Reference oracles: exact, cheap stand-ins for DFT behind the same interface."""

from __future__ import annotations

import numpy as np
import pytest
from ase.build import bulk
from ase.calculators.emt import EMT

from pyacemaker_fw.core import keys
from pyacemaker_fw.oracles.reference import emt_oracle, stillinger_weber_si


def test_emt_labels_match_the_calculator() -> None:
    copper = bulk("Cu", "fcc", a=3.6, cubic=True).repeat(2)
    copper.rattle(0.05, seed=1)
    [labelled] = emt_oracle().label([copper])
    direct = copper.copy()
    direct.calc = EMT()
    assert labelled.get_potential_energy() == pytest.approx(direct.get_potential_energy())
    assert np.allclose(labelled.get_forces(), direct.get_forces())
    assert np.abs(labelled.get_forces().sum(axis=0)).max() < 1e-10
    assert labelled.info[keys.LABEL_SOURCE] == "emt"


@pytest.mark.engine
def test_stillinger_weber_silicon_has_its_known_cohesive_energy() -> None:
    perfect = bulk("Si", "diamond", a=5.431, cubic=True)
    rattled = perfect.copy()
    rattled.rattle(0.05, seed=2)
    ideal, disturbed = stillinger_weber_si().label([perfect, rattled])
    assert ideal.get_potential_energy() / len(ideal) == pytest.approx(-4.3366, abs=1e-4)
    assert np.abs(ideal.get_forces()).max() < 1e-8
    assert np.abs(ideal.get_stress()).max() < 1e-4  # a0 = 5.431 Å is the SW equilibrium
    assert disturbed.get_potential_energy() > ideal.get_potential_energy()
    assert np.abs(disturbed.get_forces().sum(axis=0)).max() < 1e-8
    assert ideal.info[keys.LABEL_SOURCE] == "lammps"
