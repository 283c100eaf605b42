"""Make the committed Si test assets: a Stillinger–Weber dataset, a small ACE potential and a
committee of tiny MACE models trained on it.

Run from the repository root (about 6 minutes on 2 cores):

    OMP_NUM_THREADS=1 .venv/bin/python tests/assets/make_si_assets.py

Outputs (all committed, so tests do not retrain):
- tests/assets/si_sw/train.extxyz     structures with SW energy, forces, stress
- tests/assets/ace_si/potential.yaml  pacemaker B-basis; .yace for LAMMPS; .asi active set
- tests/assets/mace_si/committee_{0,1,2}.model
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from ase import Atoms, units
from ase.build import bulk
from ase.io import write
from ase.md.langevin import Langevin
from ase.md.velocitydistribution import MaxwellBoltzmannDistribution

from pyacemaker_fw.core.threads import subprocess_env
from pyacemaker_fw.oracles.reference import stillinger_weber_si

ASSETS = Path(__file__).resolve().parent
BIN = Path(sys.executable).parent
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


PACEMAKER_INPUT = """\
cutoff: {cutoff}
seed: 42
metadata: {{purpose: pyacemaker-fw test asset}}
data: {{filename: train.pkl.gz, test_size: 0.1}}
potential:
  deltaSplineBins: 0.001
  elements: [Si]
  embeddings:
    ALL: {{npot: FinnisSinclairShiftedScaled, fs_parameters: [1, 1, 1, 0.5], ndensity: 2}}
  bonds:
    ALL: {{radbase: SBessel, radparameters: [5.25], rcut: {cutoff}, dcut: 0.01,
          NameOfCutoffFunction: cos}}
  functions:
    number_of_functions_per_element: 40
    ALL: {{nradmax_by_orders: [12, 3, 2, 1], lmax_by_orders: [0, 2, 2, 1]}}
fit:
  loss: {{kappa: 0.3, L1_coeffs: 1.0e-8, L2_coeffs: 1.0e-8}}
  optimizer: BFGS
  maxiter: 200
backend: {{evaluator: tensorpot, batch_size: 100, display_step: 50}}
"""


def fit_ace(structures: list[Atoms], workdir: Path) -> None:
    workdir.mkdir(parents=True, exist_ok=True)
    frame = pd.DataFrame(
        {
            "ase_atoms": [atoms.copy() for atoms in structures],
            "energy": [atoms.get_potential_energy() for atoms in structures],
            "energy_corrected": [atoms.get_potential_energy() for atoms in structures],
            "forces": [atoms.get_forces() for atoms in structures],
        }
    )
    frame.to_pickle(workdir / "train.pkl.gz", compression="gzip")
    (workdir / "input.yaml").write_text(PACEMAKER_INPUT.format(cutoff=CUTOFF))
    env = subprocess_env(1)
    subprocess.run([str(BIN / "pacemaker"), "input.yaml"], cwd=workdir, env=env, check=True)
    potential = workdir / "output_potential.yaml"
    subprocess.run(
        [str(BIN / "pace_yaml2yace"), potential.name, "-o", "potential.yace"],
        cwd=workdir,
        env=env,
        check=True,
    )
    subprocess.run(
        [str(BIN / "pace_activeset"), "-d", "train.pkl.gz", potential.name],
        cwd=workdir,
        env=env,
        check=True,
    )
    target = ASSETS / "ace_si"
    target.mkdir(exist_ok=True)
    shutil.copy(potential, target / "potential.yaml")
    shutil.copy(workdir / "potential.yace", target / "potential.yace")
    shutil.copy(workdir / "output_potential.asi", target / "potential.asi")


def train_mace(train_file: Path, workdir: Path, seed: int) -> None:
    run_dir = workdir / f"mace_{seed}"
    run_dir.mkdir(parents=True, exist_ok=True)
    argv = [
        str(BIN / "mace_run_train"),
        f"--name=committee_{seed}",
        f"--train_file={train_file}",
        "--valid_fraction=0.1",
        "--energy_key=REF_energy",
        "--forces_key=REF_forces",
        "--stress_key=REF_stress",
        "--E0s=average",
        "--model=MACE",
        "--num_channels=16",
        "--max_L=0",
        "--num_interactions=2",
        "--correlation=2",
        f"--r_max={CUTOFF - 0.5}",
        "--batch_size=5",
        "--max_num_epochs=25",
        "--default_dtype=float32",
        "--device=cpu",
        f"--seed={seed}",
        "--energy_weight=1.0",
        "--forces_weight=10.0",
        "--swa",
        "--start_swa=18",
    ]
    subprocess.run(argv, cwd=run_dir, env=subprocess_env(1), check=True)
    target = ASSETS / "mace_si"
    target.mkdir(exist_ok=True)
    shutil.copy(run_dir / f"committee_{seed}.model", target / f"committee_{seed}.model")


def main() -> None:
    workdir = Path("/tmp/pyacemaker_assets")
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    structures = make_dataset()
    (ASSETS / "si_sw").mkdir(exist_ok=True)
    train_file = ASSETS / "si_sw" / "train.extxyz"
    write(train_file, structures, format="extxyz")
    print(f"dataset: {len(structures)} structures -> {train_file}")
    fit_ace(structures, workdir / "ace")
    for seed in MACE_SEEDS:
        train_mace(train_file, workdir, seed)


if __name__ == "__main__":
    main()
