"""Constant-cost incremental ACE updates over 20 iterations: their cost, and what they forget.

Phase 1 gives 24 small Stillinger–Weber Si structures (the committed test set) and a scratch
fit. Each of the 20 iterations then adds 8 new SW-labelled structures (vacancy cells, strained
and rattled cells, 15 to 32 atoms), so the campaign's data grow from 24 structures (256 atoms)
to 184 (about 4,000 atoms).

- incremental: ``pacemaker -p`` from the previous potential on the 8 new structures plus a
  replay sample drawn from the in-memory ``ReplayBuffer`` (capacity 200, random reservoir,
  holding Phase 1 and every earlier iteration's data). Settings of
  (``trainer.incremental_iterations``, ``loop.new_fraction``) run side by side from the same
  Phase 1 fit on the same data: by default (100, 0.2), with four replayed structures per new
  one, and (100, 0.5), one per new one. Pass others as ``ITERATIONS:FRACTION`` (two settings
  fit the time; every setting gives the same numbers whichever it runs with).
- scratch: a new basis fitted to all data so far, ``max_iterations`` = 150, at iterations 1
  and 20 only (each costs minutes and grows with the data).

Both use 16 functions per element and produce the .yaml, .yace and .asi. Times cover the whole
trainer call (dataset, pacemaker, pace_yaml2yace, active set): wall seconds, and CPU seconds of
this process and its children, which other jobs on a shared machine disturb less.

Forgetting: the force RMSE on the 8 structures learnt at iteration 1, after every later update,
relative to its value right after iteration 1 (+10 % means those structures are predicted 10 %
worse than when they were learnt). The held-out force RMSE is on 12 fresh structures of the
same kinds. Goals: the update at iteration 20 costs at most 1.2x the one at iteration 1, and
forgetting stays under 10 %.

Run: ``OMP_NUM_THREADS=1 nice .venv/bin/python benchmarks/bench_incremental.py [100:0.2 ...]``
(about 16 min on a shared 2-core machine).
"""

from __future__ import annotations

import resource
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

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
ITERATIONS = 20
NEW_PER_ITERATION = 8
SCRATCH_AT = (1, 20)
FORGETTING_GOAL = 10.0
"""Percent by which the error on iteration 1's data may rise over the campaign."""
DEFAULT_SETTINGS = ((100, 0.2), (100, 0.5))
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
    """Force-component RMSE of ``record`` on ``structures`` (meV/Å)."""
    from pyace import PyACECalculator

    calculator = PyACECalculator(str(record.files.yaml))
    errors = []
    for atoms in structures:
        work = atoms.copy()
        work.calc = calculator
        errors.append(work.get_forces() - atoms.get_forces())
    return float(np.sqrt(np.mean(np.concatenate(errors) ** 2))) * 1e3


@dataclass(frozen=True)
class Setting:
    iterations: int
    new_fraction: float

    @classmethod
    def parse(cls, text: str) -> Setting:
        iterations, _, fraction = text.partition(":")
        return cls(int(iterations), float(fraction or LOOP.new_fraction))

    @property
    def label(self) -> str:
        return f"{self.iterations} it., new {self.new_fraction:g}"


@dataclass
class Update:
    iteration: int
    wall: float
    cpu: float
    first_data_rmse: float
    held_out_rmse: float


@dataclass
class Series:
    """One setting's 20 updates."""

    setting: Setting
    updates: list[Update] = field(default_factory=list)

    def forgetting(self, update: Update) -> float:
        """Percent rise of the error on iteration 1's data since iteration 1."""
        first = self.updates[0].first_data_rmse
        return (update.first_data_rmse / first - 1.0) * 100.0

    @property
    def worst_forgetting(self) -> float:
        return max(self.forgetting(update) for update in self.updates)

    def cost_ratio(self, wall: bool = True) -> float:
        """The last update's time over the first's (CPU seconds unless ``wall``)."""
        first, last = self.updates[0], self.updates[-1]
        return last.wall / first.wall if wall else last.cpu / first.cpu


@dataclass(frozen=True)
class Refit:
    iteration: int
    structures: int
    timed: Timed
    held_out_rmse: float


def run_setting(
    setting: Setting,
    phase1: Sequence[Atoms],
    start: PotentialRecord,
    batches: Sequence[Sequence[Atoms]],
    held_out: Sequence[Atoms],
    root: Path,
) -> Series:
    """Twenty updates from the Phase 1 fit ``start``, each timed and scored."""
    config = CONFIG.model_copy(update={"incremental_iterations": setting.iterations})
    loop = LOOP.model_copy(update={"new_fraction": setting.new_fraction})
    replay = ReplayBuffer.for_loop(loop, seed=1)
    replay.add(phase1)  # what the Phase 1 scratch fit would have put in
    trainer = PacemakerTrainer(config, ["Si"], loop=loop, replay=replay)
    series, previous = Series(setting), start
    for iteration, new in enumerate(batches, start=1):
        update = Timed(trainer, new, root / f"inc{setting.iterations}_{iteration}", previous)
        previous = update.record
        series.updates.append(
            Update(
                iteration,
                update.wall,
                update.cpu,
                force_rmse(previous, batches[0]),
                force_rmse(previous, held_out),
            )
        )
        print(f"  {setting.label}: iteration {iteration} {update.wall:.1f} s", flush=True)
    return series


def main(arguments: Sequence[str]) -> None:
    pin_threads(1)
    settings = [Setting.parse(text) for text in arguments] or [
        Setting(iterations, fraction) for iterations, fraction in DEFAULT_SETTINGS
    ]
    phase1 = [a for a in read(ASSETS / "si_sw" / "train.extxyz", ":") if len(a) <= 16][:24]
    held_out = new_structures(seed=999, count=12)
    batches = [new_structures(seed=i, count=NEW_PER_ITERATION) for i in range(1, ITERATIONS + 1)]
    scratch = PacemakerTrainer(
        CONFIG, ["Si"], loop=LOOP.model_copy(update={"update_mode": "scratch"})
    )
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        start = scratch.train(phase1, root / "phase1")
        series = [run_setting(s, phase1, start, batches, held_out, root) for s in settings]
        refits = []
        for iteration in SCRATCH_AT:
            data = [*phase1, *(atoms for batch in batches[:iteration] for atoms in batch)]
            timed = Timed(scratch, data, root / f"scratch{iteration}")
            refits.append(Refit(iteration, len(data), timed, force_rmse(timed.record, held_out)))
    print_tables(series, refits)


def print_tables(series: Sequence[Series], refits: Sequence[Refit]) -> None:
    print()
    header = "| iteration | structures |"
    for one in series:
        name = one.setting.label
        header += (
            f" {name}: update wall s (CPU s) | {name}: it. 1 data meV/Å (forgetting) | "
            f"{name}: held-out meV/Å |"
        )
    print(header)
    print("|" + "---|" * (2 + 3 * len(series)))
    for index in range(ITERATIONS):
        iteration = index + 1
        row = f"| {iteration} | {24 + NEW_PER_ITERATION * iteration} |"
        for one in series:
            update = one.updates[index]
            row += (
                f" {update.wall:.1f} ({update.cpu:.1f}) | {update.first_data_rmse:.1f} "
                f"({one.forgetting(update):+.0f} %) | {update.held_out_rmse:.1f} |"
            )
        print(row)
    print()
    print("| fit | structures | wall s (CPU s) | held-out meV/Å |")
    print("|---|---|---|---|")
    for refit in refits:
        print(
            f"| scratch at iteration {refit.iteration} | {refit.structures} | "
            f"{refit.timed.wall:.1f} ({refit.timed.cpu:.1f}) | {refit.held_out_rmse:.1f} |"
        )
    print()
    print(
        "| setting | it. 20 / it. 1 wall (CPU) | worst forgetting | forgetting at it. 20 | "
        f"under {FORGETTING_GOAL:g} % |"
    )
    print("|---|---|---|---|---|")
    for one in series:
        print(
            f"| {one.setting.label} | {one.cost_ratio():.2f} ({one.cost_ratio(wall=False):.2f}) | "
            f"{one.worst_forgetting:+.0f} % | {one.forgetting(one.updates[-1]):+.0f} % | "
            f"{'yes' if one.worst_forgetting < FORGETTING_GOAL else 'no'} |"
        )
    first, last = refits[0].timed, refits[-1].timed
    kept = [one for one in series if one.worst_forgetting < FORGETTING_GOAL]
    best = kept[0] if kept else min(series, key=lambda one: one.worst_forgetting)
    print()
    print(
        f"headline: incremental update at iteration {ITERATIONS} costs "
        f"{best.cost_ratio(wall=False):.2f}x iteration 1 (CPU; scratch "
        f"{last.cpu / first.cpu:.2f}x); worst forgetting {best.worst_forgetting:+.0f} % with "
        f"{best.setting.label}"
    )


if __name__ == "__main__":
    main(sys.argv[1:])
