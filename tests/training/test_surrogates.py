from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk

from pyacemaker_fw.config import LoopStrategyConfig
from pyacemaker_fw.core import keys
from pyacemaker_fw.core.base import BaseOracle
from pyacemaker_fw.core.labels import attach_labels
from pyacemaker_fw.oracles.reference import CalculatorOracle
from pyacemaker_fw.training.surrogates import SurrogateGenerator

COMMITTEE_0 = Path(__file__).resolve().parents[1] / "assets" / "mace_si" / "committee_0.model"
LOOP = LoopStrategyConfig(
    surrogates_per_structure=6,
    surrogate_rattle=0.05,
    surrogate_strain=0.02,
    surrogate_relax_steps=40,
)


def _cutout_like(oracle: BaseOracle, seed: int) -> Atoms:
    """A 16-atom SW cell whose second half plays the buffer (force weight 0)."""
    atoms = bulk("Si", "diamond", a=5.431, cubic=True).repeat((2, 1, 1))
    atoms.rattle(0.03, seed=seed)
    atoms.arrays[keys.FORCE_WEIGHT] = np.r_[np.ones(8), np.zeros(8)]
    [labelled] = oracle.label([atoms])
    labelled.info[keys.STRUCTURE_ID] = f"dft-{seed}"
    return labelled


@pytest.fixture(scope="module")
def parents(sw_oracle: CalculatorOracle) -> list[Atoms]:
    return [_cutout_like(sw_oracle, seed) for seed in (1, 2)]


@pytest.fixture(scope="module")
def surrogates(sw_oracle: CalculatorOracle, parents: list[Atoms]) -> list[Atoms]:
    return SurrogateGenerator(sw_oracle, LOOP, seed=5).generate(parents)


def _kinds(structures: Sequence[Atoms]) -> list[str]:
    return [atoms.info[keys.PROVENANCE]["surrogate"] for atoms in structures]


@pytest.mark.engine
def test_every_parent_gets_its_share_of_each_kind(
    surrogates: list[Atoms], parents: list[Atoms]
) -> None:
    assert len(surrogates) == 2 * LOOP.surrogates_per_structure
    assert _kinds(surrogates) == ["rattle", "strain", "relax"] * 4
    assert [s.info[keys.PROVENANCE]["parent"] for s in surrogates] == ["dft-1"] * 6 + ["dft-2"] * 6
    for surrogate in surrogates:
        assert surrogate.info[keys.LABEL_SOURCE] == "surrogate"
        assert surrogate.info[keys.PROVENANCE]["labelled_by"] == "lammps"
        assert keys.STRUCTURE_ID not in surrogate.info
        np.testing.assert_array_equal(
            surrogate.arrays[keys.FORCE_WEIGHT], parents[0].arrays[keys.FORCE_WEIGHT]
        )


@pytest.mark.engine
def test_surrogates_carry_the_oracles_labels(
    surrogates: list[Atoms], sw_oracle: CalculatorOracle
) -> None:
    for surrogate in surrogates[:3]:
        [again] = sw_oracle.label([surrogate])
        assert surrogate.get_potential_energy() == pytest.approx(again.get_potential_energy())
        np.testing.assert_allclose(surrogate.get_forces(), again.get_forces(), atol=1e-10)


@pytest.mark.engine
def test_perturbations_stay_small_and_of_their_kind(
    surrogates: list[Atoms], parents: list[Atoms]
) -> None:
    parent = parents[0]
    rattled, strained, relaxed = surrogates[0], surrogates[1], surrogates[2]
    displacement = rattled.positions - parent.positions
    assert np.sqrt(np.mean(displacement**2)) == pytest.approx(LOOP.surrogate_rattle, rel=0.3)
    np.testing.assert_array_equal(rattled.cell, parent.cell)
    strain = np.linalg.solve(parent.cell.array, strained.cell.array) - np.eye(3)
    assert 0 < np.abs(strain).max() <= LOOP.surrogate_strain
    np.testing.assert_allclose(strain, strain.T, atol=1e-12)
    np.testing.assert_allclose(
        strained.get_scaled_positions(), parent.get_scaled_positions(), atol=1e-12
    )
    core = parent.arrays[keys.FORCE_WEIGHT] > 0
    np.testing.assert_array_equal(relaxed.positions[core], parent.positions[core])
    assert np.abs(relaxed.positions[~core] - parent.positions[~core]).max() > 1e-3


@pytest.mark.engine
def test_buffer_relaxation_lowers_the_buffer_forces(surrogates: list[Atoms]) -> None:
    """Same rattle amplitude on the buffer; relaxation leaves it with much smaller forces."""
    for rattled, relaxed in ((surrogates[0], surrogates[2]), (surrogates[6], surrogates[8])):
        buffer = rattled.arrays[keys.FORCE_WEIGHT] == 0
        before = np.linalg.norm(rattled.get_forces()[buffer], axis=1).max()
        after = np.linalg.norm(relaxed.get_forces()[buffer], axis=1).max()
        assert after < 0.5 * before


class _LabelsOnly(BaseOracle):
    """An oracle without an ASE calculator: it labels every structure with zeros."""

    name = "fake"

    def label(self, structures: Sequence[Atoms]) -> list[Atoms]:
        return [attach_labels(a, 0.0, np.zeros((len(a), 3)), self.name) for a in structures]


def test_without_a_calculator_relaxations_become_rattles() -> None:
    parent = bulk("Si", "diamond", a=5.431, cubic=True)
    surrogates = SurrogateGenerator(_LabelsOnly(), LOOP).generate([parent])
    assert _kinds(surrogates) == ["rattle", "strain", "rattle"] * 2


def test_a_cluster_is_strained_about_its_centre() -> None:
    cluster = bulk("Si", "diamond", a=5.431, cubic=True)
    cluster.pbc = False
    cluster.center(vacuum=4.0)
    generator = SurrogateGenerator(_LabelsOnly(), LOOP)
    strained = generator.perturb(cluster, 1, np.random.default_rng(0))
    np.testing.assert_array_equal(strained.cell, cluster.cell)
    np.testing.assert_allclose(
        strained.positions.mean(axis=0), cluster.positions.mean(axis=0), atol=1e-12
    )
    ratio = strained.get_all_distances() / np.where(
        cluster.get_all_distances() > 0, cluster.get_all_distances(), 1
    )
    assert np.abs(ratio[cluster.get_all_distances() > 0] - 1).max() <= 2 * LOOP.surrogate_strain


def test_no_surrogates_when_none_are_asked_for() -> None:
    loop = LoopStrategyConfig(surrogates_per_structure=0)
    assert SurrogateGenerator(_LabelsOnly(), loop).generate([bulk("Si", "diamond", a=5.4)]) == []


@pytest.mark.engine
def test_mace_labels_the_surrogates(parents: list[Atoms]) -> None:
    from mace.calculators import MACECalculator

    from pyacemaker_fw.core.threads import pin_threads

    pin_threads(1)

    def mace() -> MACECalculator:
        return MACECalculator(model_paths=str(COMMITTEE_0), device="cpu", default_dtype="float32")

    loop = LOOP.model_copy(update={"surrogates_per_structure": 3, "surrogate_relax_steps": 10})
    surrogates = SurrogateGenerator(CalculatorOracle(mace, "mace"), loop).generate(parents[:1])
    assert _kinds(surrogates) == ["rattle", "strain", "relax"]
    check = mace()
    for surrogate in surrogates:
        assert surrogate.info[keys.PROVENANCE]["labelled_by"] == "mace"
        work = surrogate.copy()
        work.calc = check
        assert surrogate.get_potential_energy() == pytest.approx(work.get_potential_energy())
