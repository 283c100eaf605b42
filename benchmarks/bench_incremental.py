"""Constant-cost incremental ACE updates against from-scratch refits, in a simulated campaign.

Phase 1 gives 24 small Stillinger–Weber Si structures (the committed test set) and a scratch
fit. Each of the 10 iterations then adds 8 new SW-labelled structures (vacancy cells, strained
and rattled cells, 7 to 16 atoms), so the campaign's data grow from 24 to 104 structures.

- incremental: ``pacemaker -p`` from the previous potential on the 8 new structures plus 8
  replayed ones (``new_fraction`` 0.5), ``incremental_iterations`` = 50;
- scratch: a new basis fitted to all data so far, ``max_iterations`` = 150.

Both use 16 functions per element and produce the .yaml, .yace and .asi. The wall time covers
the whole trainer call (dataset, pacemaker, pace_yaml2yace, active set). The force RMSE is on a
fixed held-out set of 12 such structures. The goal: iteration 10 costs at most 1.2x iteration 1
incrementally, while from scratch it grows with the data.

Run: ``OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_incremental.py`` (about 10 min).
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from pathlib import Path

import mongomock
import numpy as np
from ase import Atoms
from ase.build import bulk
from ase.io import read

from pyacemaker_fw.config import LoopStrategyConfig, TrainerConfig
from pyacemaker_fw.core.models import PotentialRecord
from pyacemaker_fw.core.threads import pin_threads
from pyacemaker_fw.oracles.reference import stillinger_weber_si
from pyacemaker_fw.training.pacemaker import PacemakerTrainer
from pyacemaker_fw.training.replay import ReplayBuffer

ASSETS = Path(__file__).resolve().parents[1] / "tests" / "assets"
ITERATIONS = 10
NEW_PER_ITERATION = 8
MEASURED = (1, 5, 10)
CONFIG = TrainerConfig(
    functions_per_element=16,
    max_iterations=150,
    incremental_iterations=50,
    batch_size=200,
    test_fraction=0.0,
)
LOOP = LoopStrategyConfig(replay_buffer_size=200, new_fraction=0.5)


def new_structures(seed: int, count: int) -> list[Atoms]:
    """Vacancy cells and strained, rattled cells: what an MD campaign would send to DFT."""
    rng = np.random.default_rng(seed)
    cells = []
    for index in range(count):
        repeat = (2, 1, 1) if index % 2 else (1, 1, 1)
        atoms = bulk("Si", "diamond", a=5.431 * rng.uniform(0.97, 1.03), cubic=True).repeat(repeat)
        if index % 3 == 0:
            del atoms[int(rng.integers(len(atoms)))]
        atoms.rattle(rng.uniform(0.03, 0.1), seed=int(rng.integers(1 << 30)))
        cells.append(atoms)
    labelled: list[Atoms] = stillinger_weber_si().label(cells)
    return labelled


def force_rmse(record: PotentialRecord, structures: Sequence[Atoms]) -> float:
    from pyace import PyACECalculator

    calculator = PyACECalculator(str(record.files.yaml))
    errors = []
    for atoms in structures:
        work = atoms.copy()
        work.calc = calculator
        errors.append(work.get_forces() - atoms.get_forces())
    return float(np.sqrt(np.mean(np.concatenate(errors) ** 2))) * 1e3


def main() -> None:
    pin_threads(1)
    phase1 = [a for a in read(ASSETS / "si_sw" / "train.extxyz", ":") if len(a) <= 16][:24]
    held_out = new_structures(seed=999, count=12)
    replay = ReplayBuffer(mongomock.MongoClient().db, "bench", LOOP.replay_buffer_size, seed=1)
    incremental = PacemakerTrainer(CONFIG, ["Si"], loop=LOOP, replay=replay)
    scratch = PacemakerTrainer(
        CONFIG, ["Si"], loop=LOOP.model_copy(update={"update_mode": "scratch"})
    )
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        previous = incremental.train(phase1, root / "phase1")
        data = list(phase1)
        for iteration in range(1, ITERATIONS + 1):
            new = new_structures(seed=iteration, count=NEW_PER_ITERATION)
            data += new
            previous = incremental.train(new, root / f"inc{iteration}", previous)
            if iteration not in MEASURED:
                continue
            refit = scratch.train(data, root / f"scratch{iteration}")
            rows.append((iteration, len(data), previous, refit))
            print(f"iteration {iteration} done", flush=True)
    print_table(rows, held_out)


def print_table(
    rows: list[tuple[int, int, PotentialRecord, PotentialRecord]], held_out: Sequence[Atoms]
) -> None:
    first_inc = rows[0][2].metrics.wall_seconds or 1.0
    first_scratch = rows[0][3].metrics.wall_seconds or 1.0
    print()
    print(
        "| iteration | structures | incremental s | scratch s | scratch / incremental | "
        "incremental / inc. it. 1 | scratch / scratch it. 1 | F RMSE inc. meV/Å | "
        "F RMSE scratch meV/Å |"
    )
    print("|" + "---|" * 9)
    for iteration, size, inc, full in rows:
        inc_s = inc.metrics.wall_seconds or 0.0
        full_s = full.metrics.wall_seconds or 0.0
        print(
            f"| {iteration} | {size} | {inc_s:.1f} | {full_s:.1f} | {full_s / inc_s:.2f} | "
            f"{inc_s / first_inc:.2f} | {full_s / first_scratch:.2f} | "
            f"{force_rmse(inc, held_out):.0f} | {force_rmse(full, held_out):.0f} |"
        )


if __name__ == "__main__":
    main()
