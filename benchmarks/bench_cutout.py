"""Speed of the spherical cutout on large periodic frames.

Prints, for diamond Si frames of 10,648 and 97,336 atoms, the wall time to cut (and
passivate) one cluster and a merged cluster of three nearby centres, with the default
CutoutConfig, and to cut one periodic box (``mode='periodic_box'``, with its search for the
edges), next to the cost of a full-frame neighbour list at only the bond cutoff (ASE and
matscipy), which is what the local query avoids. Best of three repeats.

Run: ``OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_cutout.py``
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
from ase import Atoms
from ase.build import bulk
from ase.neighborlist import neighbor_list
from matscipy.neighbours import neighbour_list

from pyacemaker_fw.config import CutoutConfig
from pyacemaker_fw.extraction import extract_clusters

REPEATS = 3


def best_time(task: Callable[[], object]) -> float:
    times = []
    for _ in range(REPEATS):
        start = time.perf_counter()
        task()
        times.append(time.perf_counter() - start)
    return min(times)


def frame(repeat: int) -> Atoms:
    atoms: Atoms = bulk("Si", "diamond", a=5.431, cubic=True).repeat(repeat)
    atoms.rattle(0.05, seed=1)
    return atoms


def main() -> None:
    config = CutoutConfig()
    box_config = CutoutConfig(mode="periodic_box")
    print(f"cutout: core {config.core_radius} Å, buffer {config.buffer_radius} Å, passivated")
    print(
        "| atoms | 1 centre s | 3 merged centres s | cluster atoms | periodic box s | "
        "full NL ASE 2.7 Å s | full NL matscipy 2.7 Å s |"
    )
    print("|---|---|---|---|---|---|---|")
    for repeat in (11, 23):
        atoms = frame(repeat)
        centre = 0  # at the cell corner: the cluster has to be unwrapped across the boundary
        nearby = [0, 9, 17]
        one = best_time(lambda: extract_clusters(atoms, [centre], config))  # noqa: B023
        merged_clusters = extract_clusters(atoms, nearby, config)
        merged = best_time(lambda: extract_clusters(atoms, nearby, config))  # noqa: B023
        size = len(extract_clusters(atoms, [centre], config)[0])
        box = best_time(lambda: extract_clusters(atoms, [centre], box_config))  # noqa: B023
        ase_full = best_time(lambda: neighbor_list("i", atoms, 2.7))  # noqa: B023
        matscipy_full = best_time(lambda: neighbour_list("i", atoms, 2.7))  # noqa: B023
        assert len(merged_clusters) == 1
        print(
            f"| {len(atoms)} | {one:.4f} | {merged:.4f} | {size} | {box:.4f} | "
            f"{ase_full:.3f} | {matscipy_full:.3f} |"
        )


if __name__ == "__main__":
    np.seterr(all="raise")
    main()
