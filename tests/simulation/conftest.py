"""Potentials for the MD engine tests: the committed Si ACE asset and variants of it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk

from pyacemaker_fw.core.models import PotentialFiles

ASSETS = Path(__file__).resolve().parents[1] / "assets" / "ace_si"


@pytest.fixture(scope="session")
def ace_si() -> PotentialFiles:
    """Si ACE (cutoff 5 Å) fitted to near-equilibrium Stillinger–Weber data, with active set."""
    return PotentialFiles(
        yaml=ASSETS / "potential.yaml", yace=ASSETS / "potential.yace", asi=ASSETS / "potential.asi"
    )


def scaled_potential(source: PotentialFiles, target: Path, factor: float) -> PotentialFiles:
    """The same basis with every B-function coefficient times ``factor``: a changed potential."""
    from pyace.basis import BBasisConfiguration

    configuration = BBasisConfiguration(str(source.yaml))
    coefficients = np.asarray(configuration.get_func_coeffs(), dtype=float)
    configuration.set_func_coeffs(list(coefficients * factor))
    configuration.save(str(target))
    return PotentialFiles(yaml=target, asi=source.asi)


@pytest.fixture(scope="session")
def ace_si_refit(
    ace_si: PotentialFiles, tmp_path_factory: pytest.TempPathFactory
) -> PotentialFiles:
    """A potential swap: 50 % stronger many-body terms, so forces change noticeably."""
    return scaled_potential(ace_si, tmp_path_factory.mktemp("refit") / "refit.yaml", 1.5)


@pytest.fixture(scope="session")
def ace_si_corrupt(
    ace_si: PotentialFiles, tmp_path_factory: pytest.TempPathFactory
) -> PotentialFiles:
    """A broken potential: coefficients near the largest double, so energy and forces overflow."""
    return scaled_potential(ace_si, tmp_path_factory.mktemp("corrupt") / "corrupt.yaml", 1e308)


def si_cell(repeat: int = 2, rattle: float = 0.05, seed: int = 3) -> Atoms:
    """Diamond Si (a = 5.431 Å), 8 * repeat**3 atoms, slightly rattled."""
    atoms = bulk("Si", "diamond", a=5.431, cubic=True).repeat((repeat, repeat, repeat))
    atoms.rattle(rattle, seed=seed)
    return atoms
