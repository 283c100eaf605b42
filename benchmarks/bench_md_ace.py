"""What the MD engine costs on top of LAMMPS running ACE through ``fix external``.

For diamond Si cells (NVT 600 K, the test ACE with cutoff 5 Å), prints the CPU time per
atom-step (this process only, so other jobs on the machine do not count; best of nine, taken
in turns so that load drifts hit all alike) of:

- **bare**: LAMMPS with the same back-end (``pair_style zero`` + ``fix external``, pyace's
  recursive evaluator on LAMMPS' neighbour list), and nothing else: no gamma, no monitor, no
  forced neighbour rebuilds, no halt fix. The reference the goal is stated against;
- **+ gamma**: bare, with the B-basis evaluator and its active set every ``check_interval`` (10)
  steps instead of the recursive one, which is what gives gamma;
- **+ rebuilds**: + gamma, with the neighbour rebuild forced on every check step (``fix
  balance``) that exact resume after a halt needs;
- **engine**: ``LammpsEngine.run`` itself (monitor, halt fix, closest-pair check, restart
  bookkeeping, log), with its set-up and final files excluded (a run of N steps minus a run of
  0 steps).

The overhead columns are relative to bare. A second table gives reference costs: one bare ACE
evaluation (the work LAMMPS' native ``pair_style pace`` does per step; this LAMMPS build has
no ML-PACE, so native ``pace`` itself cannot be timed here), pyace's own ASE calculator, and
LAMMPS' ``pair_style sw``. The last line is the headline: the engine's overhead over bare.

Run: ``OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_md_ace.py [atoms ...]``
"""

from __future__ import annotations

import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from ase import Atoms
from ase.build import bulk
from ase.io import write

from pyacemaker_fw.config import ActiveLearningThresholds, MDConfig
from pyacemaker_fw.core.models import PotentialFiles
from pyacemaker_fw.simulation import inputs
from pyacemaker_fw.simulation.ace_bridge import ExternalAceBackend
from pyacemaker_fw.simulation.engine import LammpsEngine
from pyacemaker_fw.simulation.lammps_runtime import open_lammps, potentials_dir

ASSETS = Path(__file__).resolve().parents[1] / "tests" / "assets" / "ace_si"
POTENTIAL = PotentialFiles(yaml=ASSETS / "potential.yaml", asi=ASSETS / "potential.asi")
QUIET = ActiveLearningThresholds(threshold_add_train=1e3, threshold_call_dft=1e4, hard_ceiling=1e6)
TEMPERATURE = 600.0
CHECK_INTERVAL = 10
REPEATS = 9
STEPS = {216: 600, 256: 600, 1000: 150, 2048: 80}
REPEATS_OF_CELL = {216: (3, 3, 3), 256: (4, 4, 2), 1000: (5, 5, 5), 2048: (8, 8, 4)}
HEADLINE_ATOMS = 216


def cell(atoms: int) -> Atoms:
    structure = bulk("Si", "diamond", a=5.431, cubic=True).repeat(REPEATS_OF_CELL[atoms])
    structure.rattle(0.05, seed=1)
    return structure


def cpu_seconds(task: Callable[[], object]) -> float:
    """CPU time of ``task`` in this process: robust to other jobs sharing the cores."""
    start = time.process_time()
    task()
    return time.process_time() - start


def plain_lammps_cost(atoms: int, workdir: Path, gamma: bool, rebuilds: bool) -> float:
    """CPU seconds per atom-step of LAMMPS with the fix external back-end and nothing else."""
    data = workdir / f"plain{atoms}.data"
    write(data, cell(atoms), format="lammps-data", specorder=["Si"], masses=True)
    backend = ExternalAceBackend(POTENTIAL, ["Si"], CHECK_INTERVAL if gamma else 10**9)
    lmp = open_lammps()
    try:
        for line in [
            *inputs.preamble([True, True, True]),
            *inputs.read_data(data),
            *backend.commands(),
            *inputs.neighbours(),
            *(inputs.align_neighbour_builds(CHECK_INTERVAL) if rebuilds else []),
            *inputs.timestep(MDConfig()),
            *inputs.create_velocities(TEMPERATURE, 12345, periodic=True),
            *inputs.thermo(CHECK_INTERVAL),
            *inputs.ensemble(MDConfig(temperature=TEMPERATURE)),
        ]:
            lmp.command(line)
        backend.attach(lmp, lambda _reading: None)
        backend.begin_run()
        lmp.command("run 0")
        backend.begin_run()
        seconds = cpu_seconds(lambda: lmp.command(f"run {STEPS[atoms]}"))
    finally:
        lmp.close()
    return seconds / (atoms * STEPS[atoms])


def engine_cost(atoms: int, workdir: Path) -> float:
    """CPU seconds per atom-step of the engine, set-up and final files excluded."""
    md = MDConfig(temperature=TEMPERATURE, check_interval=CHECK_INTERVAL, restart_interval=10**6)
    structure = cell(atoms)

    def run(steps: int) -> float:
        engine = LammpsEngine(md, QUIET)
        return cpu_seconds(lambda: engine.run(structure, POTENTIAL, workdir / str(steps), steps))

    return (run(STEPS[atoms]) - run(0)) / (atoms * STEPS[atoms])


def stillinger_weber_cost(atoms: int, workdir: Path) -> float:
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


def per_call(task: Callable[[], object], calls: int = 20) -> float:
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
    sizes = [int(argument) for argument in sys.argv[1:]] or [216, 1000, 2048]
    print(
        f"ACE Si (cutoff 5 Å) MD through fix external, NVT {TEMPERATURE:g} K, gamma every "
        f"{CHECK_INTERVAL} steps; CPU µs per atom-step, best of {REPEATS}"
    )
    print(
        "| atoms | bare | + gamma | + rebuilds | engine | gamma | rebuilds | rest of engine "
        "| engine overhead |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    references: list[str] = []
    overhead: dict[int, float] = {}
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        for atoms in sizes:
            bare, gamma, rebuilds, engine = interleaved_best(
                [
                    lambda: plain_lammps_cost(atoms, root, gamma=False, rebuilds=False),  # noqa: B023
                    lambda: plain_lammps_cost(atoms, root, gamma=True, rebuilds=False),  # noqa: B023
                    lambda: plain_lammps_cost(atoms, root, gamma=True, rebuilds=True),  # noqa: B023
                    lambda: engine_cost(atoms, root / f"e{atoms}"),  # noqa: B023
                ]
            )
            overhead[atoms] = engine / bare - 1
            shares = [gamma - bare, rebuilds - gamma, engine - rebuilds]
            print(
                f"| {atoms} | {bare * 1e6:.2f} | {gamma * 1e6:.2f} | {rebuilds * 1e6:.2f} "
                f"| {engine * 1e6:.2f} | {' | '.join(f'{share / bare:+.1%}' for share in shares)} "
                f"| **{overhead[atoms]:+.1%}** |"
            )
            evaluator, ase_calc = evaluator_costs(atoms)
            classical = stillinger_weber_cost(atoms, root)
            references.append(
                f"| {atoms} | {evaluator * 1e6:.2f} | {bare / evaluator:.2f} "
                f"| {engine / evaluator:.2f} | {ase_calc * 1e6:.2f} | {classical * 1e6:.3f} |"
            )
    print()
    print(
        "| atoms | ACE evaluator alone | bare / evaluator | engine / evaluator | pyace ASE calc "
        "| pair sw |"
    )
    print("|---|---|---|---|---|---|")
    print("\n".join(references))
    print()
    headline = HEADLINE_ATOMS if HEADLINE_ATOMS in overhead else sizes[0]
    print(
        f"Engine overhead over bare LAMMPS with the same back-end (fix external), {headline} "
        f"atoms: {overhead[headline]:+.1%} (goal: at most +10%)"
    )


if __name__ == "__main__":
    main()
