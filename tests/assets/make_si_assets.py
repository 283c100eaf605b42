"""Make the committed Si test assets: a Stillinger–Weber dataset, a small ACE potential and a
committee of tiny MACE models trained on it.

Run from the repository root (about 6 minutes on 2 cores):

    OMP_NUM_THREADS=1 .venv/bin/python tests/assets/make_si_assets.py [OUTPUT_FOLDER]

It uses the project's own trainers: ``PacemakerTrainer`` (pacemaker, tensorpot backend) for
the ACE potential and ``train_mace`` (mace_run_train) for the committee.

Outputs (all committed, so tests do not retrain):
- tests/assets/si_sw/train.extxyz     structures with SW energy, forces, stress
- tests/assets/ace_si/potential.yaml  pacemaker B-basis; .yace for LAMMPS; .asi active set
- tests/assets/mace_si/committee_{0,1,2}.model
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import numpy as np
from ase import Atoms, units
from ase.build import bulk
from ase.io import write
from ase.md.langevin import Langevin
from ase.md.velocitydistribution import MaxwellBoltzmannDistribution

from pyacemaker_fw.config import MACEFinetuneConfig, TrainerConfig
from pyacemaker_fw.core.threads import pin_threads
from pyacemaker_fw.oracles.reference import stillinger_weber_si
from pyacemaker_fw.training.mace_finetune import MACEArchitecture, train_mace
from pyacemaker_fw.training.pacemaker import PacemakerTrainer

ASSETS = Path(__file__).resolve().parent
A0 = 5.431
CUTOFF = 5.0
MACE_SEEDS = (0, 1, 2)


def _strained_cells() -> list[Atoms]:
    cells = []
    for strain in np.linspace(-0.06, 0.06, 7):
        atoms = bulk("Si", "diamond", a=A0 * (1 + strain), cubic=True)
        atoms.info["provenance"] = f"strain {strain:+.3f}"
        cells.append(atoms)
    return cells


def _rattled_cells(rng: np.random.Generator) -> list[Atoms]:
    cells = []
    for amplitude in (0.03, 0.06, 0.1):
        for repeat in ((1, 1, 1), (2, 1, 1)):
            for _ in range(4):
                atoms = bulk("Si", "diamond", a=A0 * rng.uniform(0.98, 1.02), cubic=True)
                atoms = atoms.repeat(repeat)
                atoms.rattle(amplitude, seed=int(rng.integers(1 << 30)))
                atoms.info["provenance"] = f"rattle {amplitude}"
                cells.append(atoms)
    return cells


def _md_snapshots(temperature: float, count: int, seed: int) -> list[Atoms]:
    atoms = bulk("Si", "diamond", a=A0, cubic=True).repeat((2, 2, 2))
    atoms.calc = stillinger_weber_si().calculator
    MaxwellBoltzmannDistribution(atoms, temperature_K=temperature, rng=np.random.default_rng(seed))
    dynamics = Langevin(
        atoms,
        2 * units.fs,
        temperature_K=temperature,
        friction=0.02,
        rng=np.random.default_rng(seed),
    )
    snapshots = []
    for _ in range(count):
        dynamics.run(40)
        frame = atoms.copy()
        frame.info["provenance"] = f"md {temperature:.0f} K"
        snapshots.append(frame)
    return snapshots


def make_dataset() -> list[Atoms]:
    rng = np.random.default_rng(2024)
    structures = (
        _strained_cells()
        + _rattled_cells(rng)
        + _md_snapshots(600.0, 8, seed=1)
        + _md_snapshots(1200.0, 8, seed=2)
    )
    labelled = stillinger_weber_si().label(structures)
    for atoms in labelled:
        atoms.info["REF_energy"] = atoms.get_potential_energy()
        atoms.arrays["REF_forces"] = atoms.get_forces()
        atoms.info["REF_stress"] = atoms.get_stress(voigt=False)
    return labelled


ACE_CONFIG = TrainerConfig(
    cutoff=CUTOFF,
    functions_per_element=40,
    max_iterations=200,
    kappa=0.3,
    ndensity=2,
    batch_size=100,
    test_fraction=0.1,
    seed=42,
    energy_reference="none",  # the potential predicts SW total energies, no offset
)
MACE_TRAINING = MACEFinetuneConfig(
    epochs=25, learning_rate=0.01, batch_size=5, energy_weight=1.0, forces_weight=10.0
)
MACE_ARCHITECTURE = MACEArchitecture(
    num_channels=16,
    max_L=0,
    num_interactions=2,
    correlation=2,
    r_max=CUTOFF - 0.5,
    swa_from_epoch=18,
)


def fit_ace(structures: list[Atoms], workdir: Path, target: Path) -> None:
    record = PacemakerTrainer(ACE_CONFIG, ["Si"]).train(structures, workdir)
    target.mkdir(parents=True, exist_ok=True)
    shutil.copy(record.files.yaml, target / "potential.yaml")
    assert record.files.yace is not None and record.files.asi is not None
    shutil.copy(record.files.yace, target / "potential.yace")
    shutil.copy(record.files.asi, target / "potential.asi")


def train_committee_member(structures: list[Atoms], workdir: Path, seed: int, target: Path) -> None:
    """One member: its own random 10 % validation split and seed, like --valid_fraction."""
    order = np.random.default_rng(seed).permutation(len(structures))
    held_out = max(1, len(structures) // 10)
    valid = [structures[i] for i in order[:held_out]]
    train = [structures[i] for i in order[held_out:]]
    name = f"committee_{seed}"
    model = train_mace(
        train,
        valid,
        workdir / f"mace_{seed}",
        MACE_TRAINING,
        architecture=MACE_ARCHITECTURE,
        name=name,
        seed=seed,
    )
    target.mkdir(parents=True, exist_ok=True)
    shutil.copy(model, target / f"{name}.model")


def main() -> None:
    """Write the assets next to this script, or under the folder given as first argument."""
    pin_threads(1)
    out = Path(sys.argv[1]).resolve() if len(sys.argv) > 1 else ASSETS
    workdir = Path("/tmp/pyacemaker_assets")
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    structures = make_dataset()
    (out / "si_sw").mkdir(parents=True, exist_ok=True)
    train_file = out / "si_sw" / "train.extxyz"
    write(train_file, structures, format="extxyz")
    print(f"dataset: {len(structures)} structures -> {train_file}")
    fit_ace(structures, workdir / "ace", out / "ace_si")
    for seed in MACE_SEEDS:
        train_committee_member(structures, workdir, seed, out / "mace_si")


if __name__ == "__main__":
    main()
