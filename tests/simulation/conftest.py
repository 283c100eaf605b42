"""Potentials for the MD engine tests: the committed Si ACE asset and variants of it."""

from __future__ import annotations

from pathlib import Path

import pytest

from pyacemaker_fw.core.models import PotentialFiles
from tests.simulation.builders import scaled_potential

ASSETS = Path(__file__).resolve().parents[1] / "assets" / "ace_si"


@pytest.fixture(scope="session")
def ace_si() -> PotentialFiles:
    """Si ACE (cutoff 5 Å) fitted to near-equilibrium Stillinger–Weber data, with active set."""
    return PotentialFiles(
        yaml=ASSETS / "potential.yaml", yace=ASSETS / "potential.yace", asi=ASSETS / "potential.asi"
    )


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
