"""QE cost and accuracy of passivated cutout clusters against the periodic cell they came from.

Parents: diamond Si with one vacancy, rattled by 0.05 Å (63 and 215 atoms). The centre is a
neighbour of the vacancy. Every pw.x run is serial and Gamma-only, with the same cutoff,
smearing, mixing and convergence threshold; clusters add ``assume_isolated='mt'``.

Tables:
1. Core-force error of the cluster against the periodic 215-atom parent, for several buffer
   radii and vacuum paddings, and one MACE-relaxed buffer: the justification of the default
   radii. Errors are given for the centre atom and for the whole core.
2. CPU seconds of one cluster SCF (default CutoutConfig) versus the full periodic cell, per
   parent size, and the power-law fit of each extrapolated to a 1000-atom production cell.

Each run is kept in ``--workdir`` under a hash of its pw.x input; a rerun with the same
workdir reads a finished run instead of repeating it.

Run: ``OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_cutout_qe.py --workdir DIR``
(about 30 CPU minutes of serial pw.x at 15 Ry).
"""

from __future__ import annotations

import argparse
import hashlib
import io
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from ase import Atoms
from ase.build import bulk
from ase.calculators.espresso import Espresso, EspressoProfile
from ase.io import read
from ase.io.espresso import write_espresso_in

from pyacemaker_fw.config import CutoutConfig, RelaxationConfig
from pyacemaker_fw.core import keys
from pyacemaker_fw.core.threads import pin_threads
from pyacemaker_fw.extraction import extract_clusters, relax_buffer

PSEUDO_DIR = "/usr/share/espresso/pseudo"
PSEUDOPOTENTIALS = {"Si": "Si.pbe-rrkj.UPF", "H": "H.pbe-kjpaw.UPF"}
MACE_MODEL = Path(__file__).resolve().parents[1] / "tests/assets/mace_si/committee_0.model"
PRODUCTION_ATOMS = 1000
CPU_TIME = re.compile(r"PWSCF\s*:\s*(?:(\d+)h\s*)?(?:(\d+)m\s*)?([\d.]+)s CPU")
FROZEN = RelaxationConfig(enabled=False)


@dataclass
class Run:
    forces: npt.NDArray[np.float64]
    cpu_seconds: float


def parent(repeat: int, seed: int = 7) -> tuple[Atoms, int]:
    """Rattled diamond Si with a vacancy mid-cell, and the index of a vacancy neighbour."""
    frame = bulk("Si", "diamond", a=5.431, cubic=True).repeat(repeat)
    middle = frame.cell.array.sum(axis=0) / 2
    site = int(np.argmin(np.linalg.norm(frame.positions - middle, axis=1)))
    vacancy = frame.positions[site].copy()
    del frame[site]
    frame.rattle(0.05, seed=seed)
    centre = int(np.argmin(np.linalg.norm(frame.positions - vacancy, axis=1)))
    return frame, centre


def pw_parameters(atoms: Atoms, ecut: float) -> dict[str, Any]:
    system: dict[str, Any] = {
        "ecutwfc": ecut,
        "ecutrho": 4 * ecut,
        "occupations": "smearing",
        "smearing": "mv",
        "degauss": 0.01,
    }
    if not atoms.pbc.any():
        system["assume_isolated"] = "mt"
    return {
        "pseudopotentials": {s: PSEUDOPOTENTIALS[s] for s in set(atoms.get_chemical_symbols())},
        "input_data": {
            "control": {"calculation": "scf", "tprnfor": True, "pseudo_dir": PSEUDO_DIR},
            "system": system,
            "electrons": {"conv_thr": 1e-8, "mixing_beta": 0.3, "mixing_mode": "local-TF"},
        },
        "kpts": None,
    }


def run_pw(atoms: Atoms, root: Path, label: str, ecut: float) -> Run:
    """One serial pw.x SCF, or the finished run of exactly the same input under ``root``."""
    parameters = pw_parameters(atoms, ecut)
    text = io.StringIO()
    write_espresso_in(text, atoms, **parameters)
    digest = hashlib.sha1(text.getvalue().encode()).hexdigest()[:10]
    directory = root / f"{label}-{digest}"
    output = directory / "espresso.pwo"
    if not (output.is_file() and "JOB DONE" in output.read_text()):
        work = atoms.copy()
        work.calc = Espresso(
            profile=EspressoProfile(command="pw.x", pseudo_dir=PSEUDO_DIR),
            directory=str(directory),
            **parameters,
        )
        work.get_forces()
    log = output.read_text()
    if "convergence NOT achieved" in log:
        raise RuntimeError(f"pw.x did not converge in {directory}")
    final = read(output, format="espresso-out", index=-1)
    assert isinstance(final, Atoms)
    return Run(final.get_forces(), _cpu_seconds(log))


def _cpu_seconds(output: str) -> float:
    hours, minutes, seconds = CPU_TIME.findall(output)[-1]
    return 3600 * float(hours or 0) + 60 * float(minutes or 0) + float(seconds)


def _box(cluster: Atoms) -> str:
    return "×".join(f"{length:.1f}" for length in cluster.cell.lengths())


def accuracy_table(
    ecut: float, repeat: int, variants: list[CutoutConfig], root: Path, bulk_like: bool
) -> None:
    frame, centre = parent(repeat)
    if bulk_like:  # the atom farthest from the vacancy: a rattled but otherwise perfect site
        centre = int(np.argmax(frame.get_distances(centre, range(len(frame)), mic=True)))
    periodic = run_pw(frame, root, f"periodic_{len(frame)}", ecut)
    site = "a bulk-like atom" if bulk_like else "a vacancy neighbour"
    print(
        f"\n## Core-force error vs the periodic {len(frame)}-atom parent, centre on {site} "
        f"({ecut:g} Ry, Gamma; periodic SCF {periodic.cpu_seconds:.0f} CPU s)"
    )
    print(
        "| core Å | buffer Å | vacuum Å | relaxed | cluster | box Å | CPU s "
        "| centre err eV/Å | core max err eV/Å | core RMS err eV/Å |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    prefix = "bulk" if bulk_like else "accuracy"
    for number, config in enumerate(variants):
        cluster = extract_clusters(frame, [centre], config)[0]
        if config.relaxation.enabled:
            cluster = relax_buffer(cluster, _mace(), config.relaxation)
        run = run_pw(cluster, root, f"{prefix}_{number}", ecut)
        core = cluster.arrays[keys.REGION] == keys.REGION_CORE
        parents = cluster.arrays[keys.PARENT_INDEX]
        error = run.forces[core] - periodic.forces[parents[core]]
        centre_error = np.linalg.norm(error[0])  # atoms are sorted, the centre comes first
        size = np.linalg.norm(error, axis=1)
        print(
            f"| {config.core_radius:g} | {config.buffer_radius:g} | {config.vacuum:g} | "
            f"{'MACE' if config.relaxation.enabled else 'no'} | "
            f"{cluster.get_chemical_formula()} | {_box(cluster)} | {run.cpu_seconds:.0f} | "
            f"{centre_error:.3f} | {size.max():.3f} | {np.sqrt((size**2).mean()):.3f} |"
        )
    core_reference = np.linalg.norm(periodic.forces[parents[core]], axis=1)
    print(
        f"(periodic |F| on these core atoms: max {core_reference.max():.2f}, "
        f"RMS {np.sqrt((core_reference**2).mean()):.2f} eV/Å; "
        "errors are |F_cluster − F_periodic| per atom)"
    )


def cost_table(ecut: float, repeats: list[int], config: CutoutConfig, root: Path) -> None:
    print(f"\n## QE CPU time, one cluster vs its periodic parent ({ecut:g} Ry, Gamma, serial)")
    print(
        f"cutout: core {config.core_radius:g} Å, buffer {config.buffer_radius:g} Å, "
        f"vacuum {config.vacuum:g} Å"
    )
    print("| parent atoms | periodic CPU s | cluster | box Å | cluster CPU s | periodic/cluster |")
    print("|---|---|---|---|---|---|")
    timings = []
    for repeat in repeats:
        frame, centre = parent(repeat)
        periodic = run_pw(frame, root, f"periodic_{len(frame)}", ecut)
        cluster = extract_clusters(frame, [centre], config)[0]
        clustered = run_pw(cluster, root, f"cluster_{len(frame)}", ecut)
        timings.append((len(frame), periodic.cpu_seconds, clustered.cpu_seconds))
        print(
            f"| {len(frame)} | {periodic.cpu_seconds:.1f} | {cluster.get_chemical_formula()} "
            f"| {_box(cluster)} | {clustered.cpu_seconds:.1f} | "
            f"{periodic.cpu_seconds / clustered.cpu_seconds:.2f} |"
        )
    _print_extrapolation(np.array(timings))


def _print_extrapolation(timings: npt.NDArray[np.float64]) -> None:
    atoms, periodic, cluster = timings.T
    periodic_power, periodic_log = np.polyfit(np.log(atoms), np.log(periodic), 1)
    cluster_power, cluster_log = np.polyfit(np.log(atoms), np.log(cluster), 1)
    periodic_cost = np.exp(periodic_log) * PRODUCTION_ATOMS**periodic_power
    cluster_cost = np.exp(cluster_log) * PRODUCTION_ATOMS**cluster_power
    print(
        f"\nfit: periodic CPU ∝ N^{periodic_power:.2f}, cluster CPU ∝ N^{cluster_power:.2f} "
        "(the cluster does not grow with the parent; its trend is noise)"
    )
    print("| parent atoms | periodic CPU s (fit) | cluster CPU s (fit) | periodic/cluster |")
    print("|---|---|---|---|")
    print(
        f"| {PRODUCTION_ATOMS} | {periodic_cost:.0f} | {cluster_cost:.1f} | "
        f"{periodic_cost / cluster_cost:.0f} |"
    )


def _mace() -> Any:
    from mace.calculators import MACECalculator

    return MACECalculator(model_paths=[str(MACE_MODEL)], device="cpu", default_dtype="float32")


def main() -> None:
    options = argparse.ArgumentParser(description=__doc__)
    options.add_argument("--ecut", type=float, default=15.0, help="ecutwfc (Ry)")
    options.add_argument("--workdir", type=Path, default=None)
    options.add_argument("--skip-accuracy", action="store_true")
    options.add_argument("--skip-cost", action="store_true")
    arguments = options.parse_args()
    pin_threads(1)
    root = arguments.workdir or Path(tempfile.mkdtemp(prefix="bench_cutout_qe_"))
    root.mkdir(parents=True, exist_ok=True)
    if not arguments.skip_accuracy:
        variants = [
            CutoutConfig(core_radius=3.0, buffer_radius=radius, vacuum=vacuum, relaxation=FROZEN)
            for radius, vacuum in [(4.0, 3.0), (5.0, 3.0), (6.0, 3.0), (5.0, 2.0), (5.0, 4.0)]
        ]
        variants.append(CutoutConfig(core_radius=3.0, buffer_radius=5.0, vacuum=3.0))
        accuracy_table(arguments.ecut, 3, variants, root, bulk_like=False)
        bulk_variants = [
            CutoutConfig(core_radius=3.0, buffer_radius=radius, vacuum=vacuum, relaxation=FROZEN)
            for radius, vacuum in [
                (4.0, 3.0),
                (5.0, 3.0),
                (6.0, 3.0),
                (5.0, 2.0),
                (6.0, 2.0),
                (5.0, 4.0),
            ]
        ]
        accuracy_table(arguments.ecut, 3, bulk_variants, root, bulk_like=True)
    if not arguments.skip_cost:
        cost_table(arguments.ecut, [2, 3], CutoutConfig(relaxation=FROZEN), root)
    print(f"\nwork files: {root}")


if __name__ == "__main__":
    main()
