"""Writes si_fast_holdout.extxyz: hot Stillinger-Weber Si that si_fast never trains on.

Six 64-atom frames, 0.5 ps apart, from SW NVT at 2500 K (the conditions of si_fast's MD), labelled
by the same SW oracle that stands in for DFT there. Run:
``.venv/bin/python workflows/make_si_fast_holdout.py``
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from ase import units
from ase.build import bulk
from ase.io import write
from ase.md.langevin import Langevin
from ase.md.velocitydistribution import MaxwellBoltzmannDistribution

from pyacemaker_fw.oracles.reference import stillinger_weber_si

OUTPUT = Path(__file__).with_name("si_fast_holdout.extxyz")


def main() -> None:
    oracle = stillinger_weber_si()
    atoms = bulk("Si", "diamond", a=5.431, cubic=True).repeat(2)
    atoms.calc = oracle.calculator
    MaxwellBoltzmannDistribution(atoms, temperature_K=2500, rng=np.random.default_rng(7))
    dynamics = Langevin(
        atoms, 1.0 * units.fs, temperature_K=2500, friction=0.02, rng=np.random.default_rng(8)
    )
    frames = []
    dynamics.run(1000)  # melt first
    for _ in range(6):
        dynamics.run(500)
        frame = atoms.copy()
        frame.info["provenance"] = "SW NVT 2500 K, held out from si_fast"
        frames.append(frame)
    write(OUTPUT, oracle.label(frames))


if __name__ == "__main__":
    main()
