from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk

from pyacemaker_fw.core import keys
from pyacemaker_fw.core.threads import subprocess_env
from pyacemaker_fw.training.active_set import taught_atom_masks, write_active_set
from pyacemaker_fw.training.dataset import write_dataset
from pyacemaker_fw.training.process import executable

ACE_SI = Path(__file__).resolve().parents[1] / "assets" / "ace_si" / "potential.yaml"


def test_masks_follow_pyace_row_order_per_species() -> None:
    first = bulk("SiC", "zincblende", a=4.36)  # Si, C
    first.arrays[keys.FORCE_WEIGHT] = np.array([1.0, 0.0])
    second = Atoms("CSiSi", positions=np.eye(3))
    second.arrays[keys.FORCE_WEIGHT] = np.array([1.0, 0.0, 1.0])
    masks = taught_atom_masks([first, second], {"C": 0, "Si": 1})
    np.testing.assert_array_equal(masks[0], [False, True])  # C rows: first[1], second[0]
    np.testing.assert_array_equal(masks[1], [True, False, True])  # Si rows


@pytest.mark.engine
def test_all_weighted_atoms_give_pace_activeset_result(
    tmp_path: Path, small_si: list[Atoms]
) -> None:
    potential = Path(shutil.copy(ACE_SI, tmp_path / "potential.yaml"))
    dataset = write_dataset(small_si, tmp_path / "data.pkl.gz")
    subprocess.run(
        [executable("pace_activeset"), "-a", "-d", str(dataset), potential.name],
        cwd=tmp_path,
        env=subprocess_env(1),
        check=True,
        capture_output=True,
    )
    ours = write_active_set(potential, small_si, tmp_path / "ours.asi")
    np.testing.assert_allclose(np.load(ours)["Si"], np.load(tmp_path / "potential.asi")["Si"])


@pytest.mark.engine
def test_untaught_atoms_stay_out_of_the_active_set(tmp_path: Path, small_si: list[Atoms]) -> None:
    """The active set's environments all come from weighted atoms."""
    from pyace import ACEBBasisSet, BBasisConfiguration
    from pyace.activelearning import compute_B_projections

    structures = [atoms.copy() for atoms in small_si]
    rng = np.random.default_rng(0)
    for atoms in structures:
        atoms.arrays[keys.FORCE_WEIGHT] = (rng.random(len(atoms)) < 0.5).astype(float)
    inverse = np.load(write_active_set(ACE_SI, structures, tmp_path / "masked.asi"))["Si"]
    active_rows = np.linalg.inv(inverse)
    basis = ACEBBasisSet(BBasisConfiguration(str(ACE_SI)))
    projections = compute_B_projections(basis, [_bare(atoms) for atoms in small_si])[0]
    weights = np.concatenate([atoms.arrays[keys.FORCE_WEIGHT] for atoms in structures])
    for row in active_rows:
        # Symmetric cells hold atoms with identical projections (equal to ~1e-16), and which of
        # those twins the active set took is CPU-dependent: some twin must be a taught atom.
        twins = np.flatnonzero(np.all(np.isclose(projections, row, rtol=1e-6, atol=1e-8), axis=1))
        assert twins.size > 0, "an active-set row matches no atom's projection"
        assert np.any(weights[twins] > 0), f"row matches only untaught atoms {twins.tolist()}"


def _bare(atoms: Atoms) -> Atoms:
    copy: Atoms = atoms.copy()
    copy.calc = None
    return copy


@pytest.mark.engine
def test_an_element_no_atom_teaches_gets_a_placeholder_and_the_others_their_active_set(
    tmp_path: Path, small_si: list[Atoms]
) -> None:
    """A campaign with H caps fits Si+H, but no H atom ever teaches: pyace still needs an
    active set for H, and Si's gamma must be the real extrapolation grade."""
    from pyace import PyACECalculator

    from pyacemaker_fw.config import TrainerConfig
    from pyacemaker_fw.training.pacemaker import PacemakerTrainer

    config = TrainerConfig(cutoff=4.5, functions_per_element=8, max_iterations=3, test_fraction=0)
    fit = PacemakerTrainer(config, ["Si", "H"], active_set=False).train(small_si, tmp_path / "fit")
    asi = write_active_set(fit.files.yaml, small_si, tmp_path / "both.asi")
    with np.load(asi) as inverse:
        np.testing.assert_array_equal(inverse["H"], np.eye(inverse["H"].shape[0]))
        assert not np.allclose(inverse["Si"], np.eye(inverse["Si"].shape[0]))
    calculator = PyACECalculator(str(fit.files.yaml))
    calculator.set_active_set(str(asi))
    taught = _bare(small_si[0])
    taught.calc = calculator
    taught.get_potential_energy()
    assert calculator.results["gamma"].max() <= 1.0 + 1e-6  # a training structure interpolates


@pytest.mark.engine
def test_environments_that_do_not_span_the_basis_still_give_an_active_set_that_warns(
    tmp_path: Path,
) -> None:
    """Perfect diamond cells hold one environment (rank 1): MaxVol alone finds no invertible
    start. The active set must still be made, keep the crystal at gamma ~1, and flag any
    other environment as far outside (gamma >> 1)."""
    from pyace import PyACECalculator

    crystal = bulk("Si", "diamond", a=5.43, cubic=True)
    cells = [attach(crystal.copy()) for _ in range(20)]
    asi = write_active_set(ACE_SI, cells, tmp_path / "one_environment.asi")
    calculator = PyACECalculator(str(ACE_SI))
    calculator.set_active_set(str(asi))
    probe = crystal.copy()
    probe.calc = calculator
    probe.get_potential_energy()
    assert calculator.results["gamma"].max() == pytest.approx(1.0, abs=1e-3)
    probe.rattle(0.05, seed=1)
    probe.get_potential_energy()
    assert calculator.results["gamma"].max() > 1e3


def attach(atoms: Atoms) -> Atoms:
    """A labelled copy (any label: the active set reads only positions and weights)."""
    from pyacemaker_fw.core.labels import attach_labels

    return attach_labels(atoms, 0.0, np.zeros((len(atoms), 3)), "test")
