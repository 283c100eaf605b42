"""Cost of ACE molecular dynamics through ``fix external`` and of its uncertainty monitoring.

For diamond Si cells, prints the MD cost per atom-step (CPU time of this process, so that
other jobs on the machine do not count; NVT 600 K; best of five, taken in turns) of:

- the engine's ``fix external`` ACE path with gamma checked every 10 steps (production);
- the same path with no gamma checks (check interval beyond the run);
- LAMMPS' ``pair_style sw`` on the same cell (a cheap classical reference);
- one ACE evaluation by pyace's recursive C-tilde evaluator on a ready-made environment,
  which is the work LAMMPS' native ``pair_style pace`` does per step (this LAMMPS build has no
  ML-PACE, so native ``pace`` itself cannot be timed here);
- one call of pyace's ASE calculator, which builds its own neighbour list (the old path).

The monitoring overhead is given twice: from the callback CPU time of check steps against
plain steps within one run (robust to load), and from the two separate runs (A/B).

Run: ``OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_md_ace.py``
"""

from __future__ import annotations

import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from ase import Atoms
from ase.build import bulk

from pyacemaker_fw.config import ActiveLearningThresholds, MDConfig
from pyacemaker_fw.core.models import PotentialFiles
from pyacemaker_fw.simulation import inputs
from pyacemaker_fw.simulation.engine import LammpsEngine
from pyacemaker_fw.simulation.lammps_runtime import open_lammps, potentials_dir

ASSETS = Path(__file__).resolve().parents[1] / "tests" / "assets" / "ace_si"
POTENTIAL = PotentialFiles(yaml=ASSETS / "potential.yaml", asi=ASSETS / "potential.asi")
QUIET = ActiveLearningThresholds(threshold_add_train=1e3, threshold_call_dft=1e4, hard_ceiling=1e6)
REPEATS = 5
STEPS = {216: 300, 256: 300, 1000: 100, 2048: 50}
REPEATS_OF_CELL = {216: (3, 3, 3), 256: (4, 4, 2), 1000: (5, 5, 5), 2048: (8, 8, 4)}


def cell(atoms: int) -> Atoms:
    structure = bulk("Si", "diamond", a=5.431, cubic=True).repeat(REPEATS_OF_CELL[atoms])
    structure.rattle(0.05, seed=1)
    return structure


def cpu_seconds(task: Callable[[], object]) -> float:
    """CPU time of ``task`` in this process: robust to other jobs sharing the cores."""
    start = time.process_time()
    task()
    return time.process_time() - start


def engine_cost(atoms: int, check_interval: int, workdir: Path) -> float:
    """CPU seconds per atom-step of the fix external path, set-up and final files excluded."""
    md = MDConfig(temperature=600.0, check_interval=check_interval, restart_interval=10**6)
    structure = cell(atoms)

    def run(steps: int) -> float:
        engine = LammpsEngine(md, QUIET)
        return cpu_seconds(lambda: engine.run(structure, POTENTIAL, workdir / str(steps), steps))

    return (run(STEPS[atoms]) - run(0)) / (atoms * STEPS[atoms])


def in_run_monitoring_overhead(atoms: int, workdir: Path) -> float:
    """Extra callback CPU time of check steps, per step of the run, in one production run.

    Check and plain steps alternate within the run, so machine load affects both alike; the
    A/B comparison of two separate runs is noisier on a shared machine.
    """
    from pyacemaker_fw.simulation.ace_bridge import ExternalAceBackend

    check_times: list[float] = []
    plain_times: list[float] = []
    evaluate = ExternalAceBackend._evaluate

    def timed(self: ExternalAceBackend, step: int, *args: object) -> None:
        start = time.process_time()
        evaluate(self, step, *args)  # type: ignore[arg-type]
        (check_times if step % self.check_interval == 0 else plain_times).append(
            time.process_time() - start
        )

    md = MDConfig(temperature=600.0, check_interval=10, restart_interval=10**6)
    ExternalAceBackend._evaluate = timed  # type: ignore[method-assign]
    try:
        engine = LammpsEngine(md, QUIET)
        total = cpu_seconds(lambda: engine.run(cell(atoms), POTENTIAL, workdir, STEPS[atoms]))
    finally:
        ExternalAceBackend._evaluate = evaluate  # type: ignore[method-assign]
    extra = sum(check_times) - len(check_times) * sum(plain_times) / len(plain_times)
    return extra / (total - extra)


def stillinger_weber_cost(atoms: int, workdir: Path) -> float:
    from ase.io import write

    data = workdir / "sw.data"
    write(data, cell(atoms), format="lammps-data", specorder=["Si"], masses=True)
    lmp = open_lammps()
    try:
        for line in [
            *inputs.preamble([True, True, True]),
            *inputs.read_data(data),
            "pair_style sw",
            f"pair_coeff * * {potentials_dir() / 'Si.sw'} Si",
            *inputs.neighbours(),
            "velocity all create 600 1 dist gaussian",
            "fix md all nvt temp 600 600 0.1",
            "run 0",
        ]:
            lmp.command(line)
        seconds = cpu_seconds(lambda: lmp.command(f"run {STEPS[atoms]}"))
    finally:
        lmp.close()
    return seconds / (atoms * STEPS[atoms])


def interleaved_best(measures: list[Callable[[], float]]) -> list[float]:
    """Best of ``REPEATS`` for each measure, run in turns so that load drifts hit all alike."""
    results: list[list[float]] = [[] for _ in measures]
    for _ in range(REPEATS):
        for index, measure in enumerate(measures):
            results[index].append(measure())
    return [min(values) for values in results]


def per_call(task: Callable[[], object], calls: int = 5) -> float:
    task()
    return min(cpu_seconds(task) for _ in range(calls))


def evaluator_costs(atoms: int) -> tuple[float, float]:
    """(recursive evaluator alone, pyace ASE calculator) seconds per atom and evaluation."""
    from pyace import PyACECalculator
    from pyace.atomicenvironment import aseatoms_to_atomicenvironment
    from pyace.basis import ACEBBasisSet
    from pyace.calculator import ACECalculator
    from pyace.evaluator import ACERecursiveEvaluator

    structure = cell(atoms)
    b_basis = ACEBBasisSet(str(POTENTIAL.yaml))
    c_basis = b_basis.to_ACECTildeBasisSet()
    evaluator = ACERecursiveEvaluator(c_basis)
    evaluator.set_recursive(True)
    calculator = ACECalculator()
    calculator.set_evaluator(evaluator)
    environment = aseatoms_to_atomicenvironment(
        structure, cutoff=5.0, elements_mapper_dict={"Si": 0}
    )
    bare = per_call(lambda: calculator.compute(environment, compute_projections=False))

    ase_calculator = PyACECalculator(str(POTENTIAL.yaml))
    ase_calculator.set_active_set(str(POTENTIAL.asi))

    def ase_call() -> None:
        structure.rattle(1e-4)  # defeat the calculator's cache
        structure.calc = ase_calculator
        structure.get_forces()

    return bare / atoms, per_call(ase_call) / atoms


def main() -> None:
    sizes = [int(argument) for argument in sys.argv[1:]] or [216, 256, 1000, 2048]
    print("ACE Si (cutoff 5 Å) MD, NVT 600 K, CPU µs per atom-step; best of", REPEATS)
    print(
        "| atoms | ext + gamma/10 | ext, no gamma | pair sw | ACE evaluator alone "
        "| pyace ASE calc | monitoring overhead (in run) | (A/B runs) | ext/evaluator | ext/sw |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        for atoms in sizes:
            checked, unchecked, classical = interleaved_best(
                [
                    lambda: engine_cost(atoms, 10, root / f"c{atoms}"),  # noqa: B023
                    lambda: engine_cost(atoms, 10**6, root / f"u{atoms}"),  # noqa: B023
                    lambda: stillinger_weber_cost(atoms, root),  # noqa: B023
                ]
            )
            bare, ase_calc = evaluator_costs(atoms)
            in_run = min(in_run_monitoring_overhead(atoms, root / f"i{atoms}") for _ in range(3))
            print(
                f"| {atoms} | {checked * 1e6:.2f} | {unchecked * 1e6:.2f} | {classical * 1e6:.3f} "
                f"| {bare * 1e6:.2f} | {ase_calc * 1e6:.2f} | {in_run:+.1%} "
                f"| {checked / unchecked - 1:+.1%} | {checked / bare:.2f} "
                f"| {checked / classical:.0f} |"
            )


if __name__ == "__main__":
    main()
