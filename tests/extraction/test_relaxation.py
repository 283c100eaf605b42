"""Buffer pre-relaxation: core fixed, outcome recorded, any calculator or oracle, MACE default."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import numpy.typing as npt
import pytest
from ase import Atoms
from ase.build import bulk
from ase.calculators.emt import EMT

from pyacemaker_fw.config import CutoutConfig, MACEConfig, RelaxationConfig
from pyacemaker_fw.core import keys
from pyacemaker_fw.extraction import default_relaxer, extract_clusters, prepare_clusters
from pyacemaker_fw.extraction.relaxation import relax_buffer
from pyacemaker_fw.oracles.reference import emt_oracle

MACE_MODEL = Path(__file__).parents[1] / "assets" / "mace_si" / "committee_0.model"
COPPER = CutoutConfig(mode="cluster", core_radius=2.6, buffer_radius=5.0, passivate=False)
RELAXED = COPPER.model_copy(update={"relaxation": RelaxationConfig(enabled=True)})


class CopperOnlyEMT(EMT):
    """EMT that, like a MACE model fitted to one element, declares it knows only copper."""

    z_table = SimpleNamespace(zs=[29])

    def __init__(self) -> None:
        EMT.__init__(self)


@pytest.fixture
def copper_cluster() -> Atoms:
    frame = bulk("Cu", "fcc", a=3.61, cubic=True).repeat(4)
    frame.rattle(0.05, seed=5)
    return extract_clusters(frame, [21], COPPER)[0]


def core_of(atoms: Atoms) -> npt.NDArray[np.bool_]:
    return np.asarray(atoms.arrays[keys.REGION] == keys.REGION_CORE)


def test_relaxation_fixes_the_core_and_settles_the_buffer(copper_cluster: Atoms) -> None:
    relaxed = relax_buffer(
        copper_cluster, EMT(), RelaxationConfig(enabled=True, fmax=0.05, max_steps=300)
    )
    core = core_of(copper_cluster)
    assert np.array_equal(relaxed.positions[core], copper_cluster.positions[core])
    assert np.linalg.norm(relaxed.positions - copper_cluster.positions, axis=1).max() > 0.05
    outcome = relaxed.info[keys.RELAXATION]
    assert outcome["converged"] is True
    assert 0 < outcome["steps"] <= 300
    assert outcome["max_force"] < 0.05
    relaxed.calc = EMT()
    assert np.linalg.norm(relaxed.get_forces()[~core], axis=1).max() < 0.05


def test_unconverged_relaxation_is_returned_and_marked(copper_cluster: Atoms) -> None:
    relaxed = relax_buffer(
        copper_cluster, EMT(), RelaxationConfig(enabled=True, fmax=0.001, max_steps=2)
    )
    outcome = relaxed.info[keys.RELAXATION]
    assert outcome["converged"] is False
    assert outcome["steps"] == 2
    assert outcome["max_force"] > 0.001
    assert len(relaxed) == len(copper_cluster)


def test_an_oracle_relaxes_like_its_calculator(copper_cluster: Atoms) -> None:
    config = RelaxationConfig(enabled=True, optimizer="BFGS", fmax=0.1, max_steps=20)
    by_calculator = relax_buffer(copper_cluster, EMT(), config)
    by_oracle = relax_buffer(copper_cluster, emt_oracle(), config)
    assert np.allclose(by_oracle.positions, by_calculator.positions, atol=1e-10)
    assert by_oracle.info[keys.RELAXATION]["optimizer"] == "BFGS"


def test_passivants_follow_their_host_when_the_model_lacks_their_element(
    copper_cluster: Atoms,
) -> None:
    capped = copper_cluster.copy()
    outer = int(np.argmax(np.linalg.norm(capped.positions - capped.positions[0], axis=1)))
    bond = capped.positions[outer] - capped.positions[0]
    hydrogen = Atoms("H", positions=[capped.positions[outer] + 1.5 * bond / np.linalg.norm(bond)])
    hydrogen.arrays[keys.REGION] = np.array([keys.REGION_PASSIVANT])
    hydrogen.arrays[keys.PASSIVANT_HOST] = np.array([outer])
    capped.extend(hydrogen)
    rigid = RelaxationConfig(enabled=True, max_steps=50, unknown_passivant="rigid")
    relaxed = relax_buffer(capped, CopperOnlyEMT(), rigid)
    assert relaxed.info[keys.RELAXATION]["passivants_relaxed"] is False
    before = capped.positions[-1] - capped.positions[outer]
    after = relaxed.positions[-1] - relaxed.positions[outer]
    assert np.allclose(after, before)
    assert not np.allclose(relaxed.positions[outer], capped.positions[outer])


def test_passivants_follow_the_recorded_host_even_when_another_atom_is_nearer(
    copper_cluster: Atoms,
) -> None:
    capped = copper_cluster.copy()
    outer = int(np.argmax(np.linalg.norm(capped.positions - capped.positions[0], axis=1)))
    hydrogen = Atoms("H", positions=[capped.positions[0] + (0.0, 0.0, 0.5)])  # by the centre
    hydrogen.arrays[keys.REGION] = np.array([keys.REGION_PASSIVANT])
    hydrogen.arrays[keys.PASSIVANT_HOST] = np.array([outer])
    capped.extend(hydrogen)
    rigid = RelaxationConfig(enabled=True, max_steps=50, unknown_passivant="rigid")
    relaxed = relax_buffer(capped, CopperOnlyEMT(), rigid)
    moved = relaxed.positions - capped.positions
    assert np.linalg.norm(moved[outer]) > 0.01  # the host moved (the centre is core: fixed)
    assert np.allclose(moved[-1], moved[outer])


def test_a_passivant_host_that_is_no_atom_is_refused(copper_cluster: Atoms) -> None:
    capped = copper_cluster.copy()
    hydrogen = Atoms("H", positions=[capped.positions[0] + (0.0, 0.0, 1.5)])
    hydrogen.arrays[keys.REGION] = np.array([keys.REGION_PASSIVANT])
    hydrogen.arrays[keys.PASSIVANT_HOST] = np.array([len(capped) + 5])
    capped.extend(hydrogen)
    rigid = RelaxationConfig(enabled=True, max_steps=5, unknown_passivant="rigid")
    with pytest.raises(ValueError, match="passivant_host"):
        relax_buffer(capped, CopperOnlyEMT(), rigid)


def test_relaxation_is_skipped_by_default_when_the_model_lacks_the_passivant(
    copper_cluster: Atoms,
) -> None:
    capped = copper_cluster.copy()
    hydrogen = Atoms("H", positions=[capped.positions[0] + (0.0, 0.0, 1.5)])
    hydrogen.arrays[keys.REGION] = np.array([keys.REGION_PASSIVANT])
    capped.extend(hydrogen)
    kept = relax_buffer(capped, CopperOnlyEMT(), RelaxationConfig(enabled=True))
    assert np.array_equal(kept.positions, capped.positions)
    outcome = kept.info[keys.RELAXATION]
    assert outcome["converged"] is False
    assert "passivating element" in outcome["skipped"]


def test_pipeline_demands_a_relaxer_when_relaxation_is_on(copper_cluster: Atoms) -> None:
    frame = bulk("Cu", "fcc", a=3.61, cubic=True).repeat(3)
    with pytest.raises(ValueError, match="no relaxer was given"):
        prepare_clusters(frame, [0], RELAXED)
    (cluster,) = prepare_clusters(frame, [0], COPPER)
    assert keys.RELAXATION not in cluster.info


def test_default_relaxer_needs_a_model() -> None:
    with pytest.raises(ValueError, match=r"oracle\.mace\.model_paths"):
        default_relaxer(MACEConfig())


@pytest.mark.engine
def test_mace_relaxation_of_a_passivated_si_cluster_moves_no_core_atom(
    si512_vacancy: tuple[Atoms, int],
) -> None:
    frame, spike = si512_vacancy
    rigid_caps = RelaxationConfig(enabled=True, unknown_passivant="rigid")
    config = CutoutConfig(mode="cluster", core_radius=3.0, buffer_radius=5.0, relaxation=rigid_caps)
    (cluster,) = extract_clusters(frame, [spike], config)
    relaxer = default_relaxer(MACEConfig(model_paths=[str(MACE_MODEL)]))
    relaxed = relax_buffer(cluster, relaxer, config.relaxation)
    core = core_of(cluster)
    assert np.array_equal(relaxed.positions[core], cluster.positions[core])
    outcome = relaxed.info[keys.RELAXATION]
    assert outcome["converged"] is True
    assert outcome["max_force"] < config.relaxation.fmax
    assert outcome["passivants_relaxed"] is False  # the Si-only model knows no hydrogen
    gaps = relaxed.get_all_distances() + np.eye(len(relaxed)) * 10
    hydrogens = relaxed.numbers == 1
    assert np.allclose(np.sort(gaps[np.ix_(hydrogens, ~hydrogens)], axis=1)[:, 0], 1.48)
    assert gaps[np.ix_(~hydrogens, ~hydrogens)].min() > 2.0
