"""The seed-MACE data set: about 150 Si and Si–H structures labelled by QE at production settings.

Categories (``info['category']``):
- ``bulk``: diamond Si2 at seven lattice constants;
- ``strained``: Si2 and Si8 cells under random strain (±5 %), slightly rattled;
- ``rattled``: Si8 rattled by 0.05–0.15 Å;
- ``phases``: fcc, bcc, simple cubic, hcp and β-tin Si at three volumes each;
- ``hot_md``: Stillinger–Weber MD frames (600–1600 K) of 7–17-atom cells, with vacancies and
  interstitials (``frames/``);
- ``hot_md_64``: hot Si64/Si63 frames at Gamma (the stage-2 benchmark frames left out);
- ``surface``: a Si(001) slab, as cut and rattled;
- ``molecule``: SiH4 and Si2H6, at equilibrium and rattled;
- ``cluster``: H-capped clusters cut from hot frames (8 Si5H12, 8 of about Si15H32), as cut and
  rattled: the chemistry of a cutout's buffer and caps.

About one structure in seven of each category is held out (``info['split'] = 'heldout'``), by a
fixed random draw. Writes ``seed_data.extxyz``. Each label is cached (``common.label``), so an
interrupted run continues. Run: ``nice -n 15 .venv/bin/python workflows/si_demo/build_seed_data.py``
(about 45 CPU minutes of serial pw.x from scratch).
"""

from __future__ import annotations

import sys
import time

import numpy as np
from ase import Atoms
from ase.build import bulk, molecule
from ase.io import read, write
from common import A0_SW, HERE, label

from pyacemaker_fw.config import CutoutConfig, RelaxationConfig
from pyacemaker_fw.core.threads import pin_threads
from pyacemaker_fw.extraction import extract_clusters

OUTPUT = HERE / "seed_data.extxyz"
FRAMES = HERE / "frames"
HELD_OUT_FRACTION = 1 / 7
STAGE2_FRAMES = {("si64", 2), ("si64", 5), ("si64_vacancy", 3)}
"""Parents of the cutout benchmark: kept out so that it judges the relaxation fairly."""


def plain(atoms: Atoms) -> Atoms:
    return Atoms(atoms.numbers, atoms.positions, cell=atoms.cell, pbc=atoms.pbc)


def strained(atoms: Atoms, rng: np.random.Generator, amount: float) -> Atoms:
    strain = rng.uniform(-amount, amount, (3, 3))
    strain = (strain + strain.T) / 2
    result = plain(atoms)
    result.set_cell(atoms.cell.array @ (np.eye(3) + strain), scale_atoms=True)
    return result


def rattled(atoms: Atoms, amplitude: float, seed: int) -> Atoms:
    result = plain(atoms)
    result.rattle(amplitude, seed=seed)
    return result


def crystals(rng: np.random.Generator) -> dict[str, list[Atoms]]:
    diamond2 = bulk("Si", "diamond", a=A0_SW)
    diamond8 = bulk("Si", "diamond", a=A0_SW, cubic=True)
    sets: dict[str, list[Atoms]] = {
        "bulk": [bulk("Si", "diamond", a=a) for a in np.linspace(5.25, 5.65, 7)],
        "strained": [rattled(strained(diamond2, rng, 0.05), 0.02, s) for s in range(8)]
        + [rattled(strained(diamond8, rng, 0.05), 0.03, s) for s in range(12)],
        "rattled": [rattled(diamond8, a, s) for s, a in enumerate(np.repeat([0.05, 0.1, 0.15], 4))],
    }
    phases = [
        bulk("Si", "fcc", a=3.85),
        bulk("Si", "bcc", a=3.08),
        bulk("Si", "sc", a=2.53),
        bulk("Si", "hcp", a=2.65, c=4.36),
        beta_tin(),
    ]
    sets["phases"] = [scaled(phase, factor) for phase in phases for factor in (0.94, 1.0, 1.06)]
    return sets


def beta_tin() -> Atoms:
    """β-tin Si (A5, I4_1/amd): a = 4.80, c/a = 0.55, two atoms in the primitive cell."""
    a, c = 4.80, 2.65
    cell = np.array([[-a / 2, a / 2, c / 2], [a / 2, -a / 2, c / 2], [a / 2, a / 2, -c / 2]])
    return Atoms("Si2", scaled_positions=[[0, 0, 0], [0.75, 0.25, 0.5]], cell=cell, pbc=True)


def scaled(atoms: Atoms, factor: float) -> Atoms:
    result = plain(atoms)
    result.set_cell(atoms.cell.array * factor, scale_atoms=True)
    return result


def hot_frames() -> dict[str, list[Atoms]]:
    small = []
    for name in ("si8", "si16", "si15_vacancy", "si17_interstitial", "si7_vacancy"):
        small += read(FRAMES / f"{name}.extxyz", index=":")
    small += read(FRAMES / "si9_interstitial.extxyz", index=":")
    large = [
        frame
        for name in ("si64", "si64_vacancy")
        for index, frame in enumerate(read(FRAMES / f"{name}.extxyz", index=":"))
        if (name, index) not in STAGE2_FRAMES
    ]
    return {"hot_md": small[::1], "hot_md_64": large}


def surfaces() -> list[Atoms]:
    slab = bulk("Si", "diamond", a=A0_SW, cubic=True).repeat((1, 1, 2))
    slab.center(vacuum=4.0, axis=2)
    slab.pbc = True
    return [plain(slab), rattled(slab, 0.08, 3)]


def molecules() -> list[Atoms]:
    result = []
    for name in ("SiH4", "Si2H6"):
        base = molecule(name)
        for seed, amplitude in enumerate([0.0, 0.04, 0.08, 0.08, 0.12, 0.15]):
            atoms = rattled(base, amplitude, seed) if amplitude else plain(base)
            atoms.center(vacuum=4.0)
            atoms.pbc = False
            result.append(atoms)
    return result


def clusters(rng: np.random.Generator) -> list[Atoms]:
    """Capped clusters around random atoms of hot frames; every third one rattled by 0.06 Å."""
    sources = [
        (name, index)
        for name in ("si64", "si64_vacancy")
        for index in range(6)
        if (name, index) not in STAGE2_FRAMES
    ]
    result = []
    for number, buffer in enumerate([3.0, 4.0] * 8):
        name, index = sources[number % len(sources)]
        frame = read(FRAMES / f"{name}.extxyz", index=index)
        assert isinstance(frame, Atoms)
        centre = int(rng.integers(len(frame)))
        config = CutoutConfig(
            core_radius=2.0, buffer_radius=buffer, relaxation=RelaxationConfig(enabled=False)
        )
        cluster = extract_clusters(frame, [centre], config)[0]
        atoms = plain(cluster)
        if number % 3 == 2:
            atoms.rattle(0.06, seed=number)
        result.append(atoms)
    return result


def structures() -> dict[str, list[Atoms]]:
    rng = np.random.default_rng(12)
    sets = crystals(rng)
    sets.update(hot_frames())
    sets["surface"] = surfaces()
    sets["molecule"] = molecules()
    sets["cluster"] = clusters(rng)
    return sets


def main() -> None:
    pin_threads(1)
    only = set(sys.argv[1:])
    rng = np.random.default_rng(7)
    labelled = []
    began = time.perf_counter()
    for category, members in structures().items():
        if only and category not in only:
            continue
        held = set(rng.choice(len(members), max(1, round(HELD_OUT_FRACTION * len(members))), False))
        cpu = 0.0
        for number, atoms in enumerate(members):
            result = label(plain(atoms), f"seed/{category}_{number:03d}")
            result.info.update(category=category, split="heldout" if number in held else "train")
            cpu += result.info["qe_cpu_s"]
            labelled.append(result)
        print(
            f"{category}: {len(members)} structures, {cpu:.0f} QE CPU s, "
            f"{time.perf_counter() - began:.0f} s elapsed",
            flush=True,
        )
    if not only:
        write(OUTPUT, labelled, format="extxyz")
        print(f"{len(labelled)} structures -> {OUTPUT}")


if __name__ == "__main__":
    main()
