"""Hand-built silicon frames for the cutout tests."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest
from ase import Atoms
from ase.build import bulk

SI_LATTICE = 5.431  # Å


def diamond(repeat: int) -> Atoms:
    frame: Atoms = bulk("Si", "diamond", a=SI_LATTICE, cubic=True).repeat(repeat)
    return frame


@pytest.fixture
def si512() -> Atoms:
    """A rattled 512-atom diamond Si cell."""
    frame = diamond(4)
    frame.rattle(0.03, seed=3)
    return frame


@pytest.fixture(scope="module")
def si216_hot() -> Atoms:
    """216 Si atoms after 0.4 ps of Stillinger–Weber NVE MD started at 2400 K: about 1200 K."""
    from ase import units
    from ase.md.velocitydistribution import Stationary, thermalize_momenta
    from ase.md.verlet import VelocityVerlet

    from pyacemaker_fw.oracles.reference import stillinger_weber_si

    frame = diamond(3)
    frame.calc = stillinger_weber_si().calculator
    thermalize_momenta(frame, temperature_K=2400, rng=np.random.default_rng(2))
    Stationary(frame)
    VelocityVerlet(frame, timestep=2 * units.fs).run(200)
    assert 900 < frame.get_temperature() < 1500
    frame.calc = None
    return frame


@pytest.fixture
def si512_vacancy() -> tuple[Atoms, int]:
    """511 Si atoms around a vacancy, rattled, with a gamma spike on a vacancy neighbour."""
    frame = diamond(4)
    vacancy = frame.positions[300].copy()
    del frame[300]
    frame.rattle(0.03, seed=4)
    spike = int(np.argmin(np.linalg.norm(frame.positions - vacancy, axis=1)))
    gamma = np.random.default_rng(0).uniform(0.5, 2.0, len(frame))
    gamma[spike] = 40.0
    frame.arrays["gamma"] = gamma
    frame.info["structure_id"] = "frame-0042"
    frame.info["md_step"] = 1234
    return frame, spike


def minimum_image_distances(frame: Atoms, centre: int) -> npt.NDArray[np.float64]:
    return np.asarray(frame.get_distances(centre, range(len(frame)), mic=True))
