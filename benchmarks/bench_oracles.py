"""Oracle costs: MACE batching and dtype, custodian's overhead on pw.x, MACE versus DFT.

Tables (all measured in this run, serial, one thread):
1. MACE committee (3 tiny Si models) on 32 structures of 8–64 atoms: one ASE calculator call
   per structure versus :class:`MACEManager` batches of 1, 4, 8 and 32.
2. float32 versus float64 for the same committee.
3. pw.x on Si2 run directly versus through :class:`EspressoOracle` (custodian, input building,
   parsing, clean-up), and one Si8 SCF versus a MACE committee label of the same cell: what
   the tiered oracle saves per structure it keeps on MACE.

Run: ``OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_oracles.py`` (about a minute).
"""

from __future__ import annotations

import subprocess
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path

from ase import Atoms
from ase.build import bulk

from pyacemaker_fw.config import EspressoConfig
from pyacemaker_fw.core.threads import subprocess_env
from pyacemaker_fw.oracles.espresso import EspressoOracle
from pyacemaker_fw.oracles.espresso.inputs import build_pw_input
from pyacemaker_fw.oracles.espresso.jobs import UNBUFFERED_FORTRAN
from pyacemaker_fw.oracles.mace_manager import MACEManager

ROOT = Path(__file__).resolve().parents[1]
COMMITTEE = [ROOT / "tests/assets/mace_si" / f"committee_{seed}.model" for seed in (0, 1, 2)]
REPEATS = ((1, 1, 1), (2, 1, 1), (2, 2, 1), (2, 2, 2))


def structures(count: int = 32) -> list[Atoms]:
    frames = []
    for index in range(count):
        atoms = bulk("Si", "diamond", a=5.431, cubic=True).repeat(REPEATS[index % 4])
        atoms.rattle(0.05, seed=index)
        frames.append(atoms)
    return frames


def best_of(function: Callable[[], object], repeats: int = 3) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return min(times)


def calculator_loop(manager: MACEManager, frames: list[Atoms]) -> None:
    for atoms in frames:
        copy = atoms.copy()
        copy.calc = manager.calculator
        copy.get_forces()


def mace_tables(frames: list[Atoms]) -> None:
    managers = {size: MACEManager.from_paths(COMMITTEE, batch_size=size) for size in (1, 4, 8, 32)}
    loop = best_of(lambda: calculator_loop(managers[1], frames))
    print(f"\n1. MACE committee of 3 on {len(frames)} Si structures (8-64 atoms)")
    print(f"{'method':<28}{'ms/structure':>14}{'speed-up':>10}")
    print(f"{'ASE calculator, one by one':<28}{1000 * loop / len(frames):>14.1f}{1.0:>10.2f}")
    for size, manager in managers.items():
        batched = best_of(lambda manager=manager: manager.predict(frames))
        print(
            f"{f'MACEManager batch {size}':<28}"
            f"{1000 * batched / len(frames):>14.1f}{loop / batched:>10.2f}"
        )
    double = MACEManager.from_paths(COMMITTEE, batch_size=8, default_dtype="float64")
    single_time = best_of(lambda: managers[8].predict(frames))
    double_time = best_of(lambda: double.predict(frames))
    print("\n2. dtype, batch 8")
    print(f"{'dtype':<28}{'ms/structure':>14}{'ratio':>10}")
    print(f"{'float32':<28}{1000 * single_time / len(frames):>14.1f}{1.0:>10.2f}")
    ratio = double_time / single_time
    print(f"{'float64':<28}{1000 * double_time / len(frames):>14.1f}{ratio:>10.2f}")


def direct_pw(atoms: Atoms, config: EspressoConfig, workdir: Path) -> None:
    workdir.mkdir(parents=True, exist_ok=True)
    build_pw_input(atoms, config).write(workdir / "pw.in")
    with (workdir / "pw.out").open("wb") as output:
        subprocess.run(
            ["pw.x", "-in", "pw.in"],
            cwd=workdir,
            stdout=output,
            env=subprocess_env(1) | UNBUFFERED_FORTRAN,
            check=True,
        )


def dft_table(scratch: Path) -> None:
    si2 = bulk("Si", "diamond", a=5.431)
    si2.rattle(0.05, seed=1)
    config = EspressoConfig(
        ecutwfc=20.0, ecutrho=None, kspacing=0.2, kpoint_shift=False, smearing=None
    )
    counter = iter(range(1000))
    direct = best_of(lambda: direct_pw(si2, config, scratch / f"direct{next(counter)}"))
    oracle = EspressoOracle(config, scratch / "oracle")
    through = best_of(lambda: oracle.label([si2]))
    si8 = bulk("Si", "diamond", a=5.431, cubic=True)
    si8.rattle(0.05, seed=2)
    si8_config = EspressoConfig(ecutwfc=20.0, ecutrho=None, kspacing=0.1, kpoint_shift=False)
    dft_si8 = best_of(lambda: EspressoOracle(si8_config, scratch / "si8").label([si8]), 1)
    manager = MACEManager.from_paths(COMMITTEE)
    mace_si8 = best_of(lambda: manager.label([si8]))
    print("\n3. DFT costs (wall seconds, serial pw.x 6.7)")
    print(f"{'run':<40}{'seconds':>10}{'ratio':>10}")
    print(f"{'Si2 SCF, pw.x directly':<40}{direct:>10.3f}{1.0:>10.2f}")
    print(f"{'Si2 SCF, EspressoOracle (custodian)':<40}{through:>10.3f}{through / direct:>10.2f}")
    print(f"{'Si8 SCF 2x2x2 k, 20 Ry, EspressoOracle':<40}{dft_si8:>10.3f}{1.0:>10.2f}")
    print(f"{'Si8 MACE committee label':<40}{mace_si8:>10.4f}{mace_si8 / dft_si8:>10.5f}")


def main() -> None:
    warnings.filterwarnings("ignore")
    frames = structures()
    print(f"atoms per structure: {sorted({len(atoms) for atoms in frames})}; threads: 1")
    mace_tables(frames)
    with tempfile.TemporaryDirectory() as scratch:
        dft_table(Path(scratch))


if __name__ == "__main__":
    main()
