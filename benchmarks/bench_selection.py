"""Cost of Phase 1's generation and active-set selection, against labelling the same pool.

For the default Si distillation config at two pool sizes, prints the wall time of:
generating the pool; MACE descriptors of the whole pool (the tiny committee_0 test model) and
farthest-point sampling over them; ACE B-projections (the 40-function test potential) and
MaxVol over them; and, for scale, labelling the whole pool with the 3-model MACE committee.
The last column is what selection (features + algorithm) costs relative to that labelling.

Run: ``OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_selection.py``
"""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import TypeVar

from pyacemaker_fw.config import DistillationConfig, MACEConfig
from pyacemaker_fw.core.models import PotentialFiles
from pyacemaker_fw.generation.combinatorial import CombinatorialGenerator
from pyacemaker_fw.generation.selection import (
    AtomDescriptor,
    ace_features,
    descriptor_features,
    farthest_point_selection,
    load_active_set,
    mace_descriptor,
    maxvol_selection,
)
from pyacemaker_fw.oracles.mace_manager import MACEManager

ASSETS = Path(__file__).resolve().parents[1] / "tests" / "assets"
ACE = PotentialFiles(
    yaml=ASSETS / "ace_si" / "potential.yaml", asi=ASSETS / "ace_si" / "potential.asi"
)
T = TypeVar("T")


def timed(task: Callable[[], T]) -> tuple[T, float]:
    start = time.perf_counter()
    result = task()
    return result, time.perf_counter() - start


def row(pool_size: int, committee: MACEManager, describe: AtomDescriptor) -> str:
    config = DistillationConfig(pool_size=pool_size, n_select=pool_size // 7)
    pool, generate = timed(CombinatorialGenerator(["Si"], config).generate)
    mace_rows, describe_s = timed(partial(descriptor_features, pool, describe))
    _, fps_s = timed(partial(farthest_point_selection, mace_rows, config.n_select))
    ace_rows, project_s = timed(partial(ace_features, pool, ACE.yaml))
    active = load_active_set(ACE.asi) if ACE.asi else None
    _, maxvol_s = timed(partial(maxvol_selection, ace_rows, config.n_select, active_set=active))
    _, label_s = timed(partial(committee.label, pool))
    atoms = sum(len(a) for a in pool)
    return (
        f"| {pool_size} | {atoms} | {config.n_select} | {generate:.2f} | {describe_s:.2f} | "
        f"{fps_s:.3f} | {project_s:.2f} | {maxvol_s:.3f} | {label_s:.2f} | "
        f"{(describe_s + fps_s) / label_s:.2f} | {(project_s + maxvol_s) / label_s:.2f} |"
    )


def main() -> None:
    models = [str(ASSETS / "mace_si" / f"committee_{i}.model") for i in range(3)]
    committee = MACEManager(MACEConfig(model_paths=models))
    single = MACEManager(MACEConfig(model_paths=models[:1]))
    describe = mace_descriptor(single.calculator)
    print(
        "| pool | atoms | n_select | generate s | MACE descr. s | FPS s | ACE proj. s | "
        "MaxVol s | MACE label pool s | FPS / label | MaxVol / label |"
    )
    print("|" + "---|" * 11)
    for pool_size in (100, 400):
        print(row(pool_size, committee, describe))


if __name__ == "__main__":
    main()
