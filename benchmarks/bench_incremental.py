"""Constant-cost incremental ACE updates against from-scratch refits, in a simulated campaign.

Phase 1 gives 24 small Stillinger–Weber Si structures (the committed test set) and a scratch
fit. Each of the 10 iterations then adds 8 new SW-labelled structures (vacancy cells, strained
and rattled cells, 15 to 32 atoms), so the campaign's data grow from 24 structures (256 atoms)
to 104 (2,146 atoms).

- incremental: ``pacemaker -p`` from the previous potential on the 8 new structures plus 8
  replayed ones (``new_fraction`` 0.5), ``incremental_iterations`` = 50;
- scratch: a new basis fitted to all data so far, ``max_iterations`` = 150.

Both use 16 functions per element and produce the .yaml, .yace and .asi. Times cover the whole
trainer call (dataset, pacemaker, pace_yaml2yace, active set): wall seconds, and CPU seconds of
this process and its children, which other jobs on a shared machine disturb less. The force
RMSE is on a fixed held-out set of 12 such structures. The goal: iteration 10 costs at most
1.2x iteration 1 incrementally, while from scratch it grows with the data.

Run: ``OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_incremental.py`` (about 10 min).
"""

from __future__ import annotations

import resource
import tempfile
import time
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
        repeat = (2, 2, 1) if index % 2 else (2, 1, 1)
        atoms = bulk("Si", "diamond", a=5.431 * rng.uniform(0.97, 1.03), cubic=True).repeat(repeat)
        if index % 3 == 0:
            del atoms[int(rng.integers(len(atoms)))]
        atoms.rattle(rng.uniform(0.03, 0.1), seed=int(rng.integers(1 << 30)))
        cells.append(atoms)
    labelled: list[Atoms] = stillinger_weber_si().label(cells)
    return labelled


class Timed:
    """A trainer call with its wall and CPU seconds (this process plus finished children)."""

    def __init__(
        self,
        trainer: PacemakerTrainer,
        structures: Sequence[Atoms],
        workdir: Path,
        previous: PotentialRecord | None = None,
    ) -> None:
        began_wall, began_cpu = time.perf_counter(), _cpu_seconds()
        self.record = trainer.train(structures, workdir, previous)
        self.wall = time.perf_counter() - began_wall
        self.cpu = _cpu_seconds() - began_cpu


def _cpu_seconds() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


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
    scratch_loop = LOOP.model_copy(update={"update_mode": "scratch"})
    scratch = PacemakerTrainer(CONFIG, ["Si"], loop=scratch_loop)
    rows: list[tuple[int, int, Timed, Timed]] = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        previous = incremental.train(phase1, root / "phase1")
        data = list(phase1)
        for iteration in range(1, ITERATIONS + 1):
            new = new_structures(seed=iteration, count=NEW_PER_ITERATION)
            data += new
            update = Timed(incremental, new, root / f"inc{iteration}", previous)
            previous = update.record
            if iteration in MEASURED:
                refit = Timed(scratch, data, root / f"scratch{iteration}")
                rows.append((iteration, len(data), update, refit))
        print_table(rows, held_out)


def print_table(rows: list[tuple[int, int, Timed, Timed]], held_out: Sequence[Atoms]) -> None:
    first_inc, first_scratch = rows[0][2], rows[0][3]
    print()
    print(
        "| iteration | structures | incremental wall s (CPU s) | scratch wall s (CPU s) | "
        "scratch / incremental (CPU) | incremental / it. 1 (CPU) | scratch / it. 1 (CPU) | "
        "F RMSE inc. meV/Å | F RMSE scratch meV/Å |"
    )
    print("|" + "---|" * 9)
    for iteration, size, inc, full in rows:
        print(
            f"| {iteration} | {size} | {inc.wall:.1f} ({inc.cpu:.1f}) | "
            f"{full.wall:.1f} ({full.cpu:.1f}) | {full.wall / inc.wall:.2f} "
            f"({full.cpu / inc.cpu:.2f}) | {inc.wall / first_inc.wall:.2f} "
            f"({inc.cpu / first_inc.cpu:.2f}) | {full.wall / first_scratch.wall:.2f} "
            f"({full.cpu / first_scratch.cpu:.2f}) | {force_rmse(inc.record, held_out):.0f} | "
            f"{force_rmse(full.record, held_out):.0f} |"
        )


if __name__ == "__main__":
    main()
