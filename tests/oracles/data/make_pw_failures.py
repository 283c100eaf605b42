"""Capture real pw.x 6.7 failures (and one success) for the handler unit tests.

Run from the repository root (about 10 s):

    OMP_NUM_THREADS=1 .venv/bin/python tests/oracles/data/make_pw_failures.py

Each case is built with the oracle's own input builder, nudged into failing, and run once with
the same command and environment as :class:`PwJob`. ``<case>/`` keeps ``pw.in``, ``pw.out`` and
``CRASH`` (when pw.x wrote one); ``cases.json`` records each exit code and what was injected.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ase import Atoms
from ase.build import bulk

from pyacemaker_fw.config import EspressoConfig
from pyacemaker_fw.oracles.espresso.inputs import (
    CRASH_FILE,
    INPUT_FILE,
    OUTPUT_FILE,
    STDERR_FILE,
    PwInput,
    build_pw_input,
)
from pyacemaker_fw.oracles.espresso.jobs import PwJob

DATA = Path(__file__).resolve().parent
PSEUDOPOTENTIALS = {"Si": "Si.pbe-rrkj.UPF", "Al": "Al.pz-vbc.UPF", "Ni": "Ni.pbe-nd-rrkjus.UPF"}


@dataclass
class Case:
    description: str
    atoms: Atoms
    config: dict[str, Any]
    overrides: dict[str, dict[str, Any]] = field(default_factory=dict)
    damage: Callable[[Path], None] | None = None
    """Spoils the written run folder before pw.x starts (for faults the builder refuses)."""


def _si2() -> Atoms:
    # 0.01 Å keeps a 0.35 eV gap on the 2x2x2 grid; at 0.05 Å the bands overlap (a metal)
    atoms = bulk("Si", "diamond", a=5.431)
    atoms.rattle(0.01, seed=3)
    return atoms


def _empty_pseudopotential(run_dir: Path) -> None:
    """An empty Si.pbe-rrkj.UPF in ./pseudo, which pw.x reports as 'not readable'."""
    (run_dir / "pseudo").mkdir()
    (run_dir / "pseudo" / PSEUDOPOTENTIALS["Si"]).write_text("")
    pw_input = PwInput.read(run_dir / INPUT_FILE)
    pw_input.set("control", "pseudo_dir", "./pseudo")
    pw_input.write(run_dir / INPUT_FILE)


def _box(symbol: str, length: float, separation: float) -> Atoms:
    centre = length / 2
    return Atoms(
        f"{symbol}2",
        positions=[(centre, centre, centre), (centre, centre, centre + separation)],
        cell=[length] * 3,
        pbc=True,
    )


SI = {"ecutwfc": 20.0, "kspacing": 0.2, "smearing": None}
CASES = {
    "converged": Case("Si2, 2x2x2 k, fixed occupations: a normal run", _si2(), SI),
    "metal_fixed_occupations": Case(
        "fcc Al2 (6 electrons) with fixed occupations: converges, but the bands overlap",
        bulk("Al", "fcc", a=4.05).repeat((2, 1, 1)),
        {"ecutwfc": 15.0, "kspacing": 0.1, "smearing": None},
    ),
    "empty_pseudopotential": Case(
        "Si2 whose Si.pbe-rrkj.UPF is an empty file",
        _si2(),
        SI,
        damage=_empty_pseudopotential,
    ),
    "scf_not_converged": Case("Si2 with electron_maxstep=3", _si2(), {**SI, "electron_maxstep": 3}),
    "max_seconds": Case("Si2 with max_seconds=0.01", _si2(), {**SI, "max_seconds": 0.01}),
    "smearing_needed": Case(
        "fcc Al (one atom, 3 electrons) with fixed occupations",
        bulk("Al", "fcc", a=4.05),
        {"ecutwfc": 15.0, "kspacing": 0.1, "smearing": None},
    ),
    "s_matrix": Case(
        "ultrasoft Ni dimer squeezed to 0.6 Å: Davidson's S matrix is not positive definite",
        _box("Ni", 5.0, 0.6),
        {"ecutwfc": 25.0, "ecutrho": 200.0, "smearing": "gaussian", "degauss": 0.02},
        {"electrons": {"conv_thr": 1e-6}},
    ),
    "more_bands_than_pws": Case(
        "Si2 in a 3 Å box at 10 Ry with 28 bands: Davidson's workspace exceeds the basis",
        _box("Si", 3.0, 1.7),
        {"ecutwfc": 10.0, "kspacing": 0.5, "smearing": "gaussian", "degauss": 0.02},
        {"system": {"nbnd": 28}},
    ),
    "bands_not_converged": Case(
        "Si2, 16 bands, conjugate gradients capped at one iteration",
        _si2(),
        {"ecutwfc": 20.0, "kspacing": 0.2, "smearing": "gaussian", "degauss": 0.02},
        {"system": {"nbnd": 16}, "electrons": {"diagonalization": "cg", "diago_cg_maxiter": 1}},
    ),
}


def capture(name: str, case: Case, scratch: Path) -> int:
    # the settings these files were recorded with, not today's production defaults
    recorded = {"ecutrho": None, "kpoint_shift": False, **case.config}
    config = EspressoConfig(pseudopotentials=PSEUDOPOTENTIALS, **recorded)
    run_dir = scratch / name
    run_dir.mkdir()
    build_pw_input(case.atoms, config, case.overrides).write(run_dir / INPUT_FILE)
    if case.damage is not None:
        case.damage(run_dir)
    job = PwJob(["pw.x"])
    job.setup(str(run_dir))
    exit_code = job.run(str(run_dir)).wait()
    target = DATA / name
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir()
    for file_name in (INPUT_FILE, OUTPUT_FILE, CRASH_FILE, STDERR_FILE):
        if (run_dir / file_name).exists() and (run_dir / file_name).stat().st_size:
            shutil.copy(run_dir / file_name, target / file_name)
    return exit_code


def main() -> None:
    cases = {}
    with tempfile.TemporaryDirectory() as scratch:
        for name, case in CASES.items():
            exit_code = capture(name, case, Path(scratch))
            cases[name] = {"description": case.description, "exit_code": exit_code}
            print(f"{name:24s} exit {exit_code:4d}  {case.description}")
    version = subprocess.run(
        ["dpkg-query", "-W", "-f=${Version}", "quantum-espresso"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout
    manifest = {"pw.x": f"Debian quantum-espresso {version}".strip(), "cases": cases}
    (DATA / "cases.json").write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
