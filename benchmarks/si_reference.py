"""Shared pieces of the Si benchmarks that measure the loop against Stillinger–Weber (SW).

SW stands in for DFT: it labels, and it is the truth errors are measured against. Nothing
here belongs to the package; the benchmarks import it as a sibling module.

- :func:`phase1_structures`: "a little data", near-crystalline diamond cells;
- :func:`recording_checks`: every gamma check of a :class:`LammpsEngine` run, with the
  positions of that very step, so the true force error can be measured where gamma was read;
- :func:`reference_md_frames`: frames of SW's own MD (the held-out truth of the hot liquid-free
  solid);
- :func:`force_errors`: per-atom force error of ACE against SW.
"""

from __future__ import annotations

import resource
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from ase import Atoms, units
from ase.build import bulk
from numpy.typing import NDArray

from pyacemaker_fw.core import keys
from pyacemaker_fw.core.models import PotentialFiles, PotentialRecord
from pyacemaker_fw.oracles.reference import stillinger_weber_si
from pyacemaker_fw.simulation import engine
from pyacemaker_fw.simulation.backends import CheckReading, lammps_cell

LATTICE = 5.431


def phase1_structures(seed: int, count: int = 12) -> list[Atoms]:
    """Strained (±3 %) and rattled (0.03–0.08 Å) diamond cells of 8 and 16 atoms, SW-labelled."""
    rng = np.random.default_rng(seed)
    cells = []
    for index in range(count):
        atoms = bulk("Si", "diamond", a=LATTICE * rng.uniform(0.97, 1.03), cubic=True)
        if index % 2:
            atoms = atoms.repeat((2, 1, 1))
        atoms.rattle(rng.uniform(0.03, 0.08), seed=int(rng.integers(1 << 30)))
        cells.append(atoms)
    labelled: list[Atoms] = stillinger_weber_si().label(cells)
    return labelled


def md_cell(repeat: int = 2) -> Atoms:
    """The perfect diamond supercell the MD starts from (64 atoms for ``repeat`` 2)."""
    cell: Atoms = bulk("Si", "diamond", a=LATTICE, cubic=True).repeat(repeat)
    return cell


def potential_files(record: PotentialRecord | Path) -> PotentialFiles:
    if isinstance(record, PotentialRecord):
        return record.files
    folder = Path(record)
    return PotentialFiles(
        yaml=folder / "potential.yaml", yace=folder / "potential.yace", asi=folder / "potential.asi"
    )


# --- recording the checks of an engine run -----------------------------------------------
@dataclass
class CheckRecord:
    """One gamma check of an MD run: the frame (with ACE forces and per-atom gamma)."""

    step: int
    frame: Atoms

    @property
    def gamma_max(self) -> float:
        return float(self.frame.arrays[keys.GAMMA].max())


@contextmanager
def recording_checks() -> Iterator[list[CheckRecord]]:
    """Inside the block, every :class:`LammpsEngine` check also appends the frame it saw.

    The engine writes a frame only where it halts; a benchmark that must know the true error
    at every check wraps the back-end's check handler instead. The wrapper reads the positions
    from LAMMPS at the check step itself, so position, gamma and ACE forces belong together.
    """
    records: list[CheckRecord] = []
    original = engine.select_backend

    def select(choice: str, lmp: Any, potential: PotentialFiles, *rest: Any) -> Any:
        backend = original(choice, lmp, potential, *rest)
        attach = backend.attach

        def attach_recording(lammps: Any, on_check: Callable[[CheckReading], None]) -> None:
            def handler(reading: CheckReading) -> None:
                records.append(CheckRecord(reading.step, _frame(lammps, reading, rest[0])))
                on_check(reading)

            attach(lammps, handler)

        backend.attach = attach_recording
        return backend

    engine.select_backend = select  # type: ignore[assignment]
    try:
        yield records
    finally:
        engine.select_backend = original


def _frame(lmp: Any, reading: CheckReading, elements: Sequence[str]) -> Atoms:
    count = int(lmp.extract_setting("nlocal"))
    order = np.argsort(np.array(lmp.numpy.extract_atom("id")[:count]))
    types = np.array(lmp.numpy.extract_atom("type")[:count])[order]
    boxlo, cell, pbc = lammps_cell(lmp)
    atoms = Atoms(
        symbols=[elements[t - 1] for t in types],
        positions=np.array(lmp.numpy.extract_atom("x")[:count])[order] - boxlo,
        cell=cell,
        pbc=pbc,
    )
    atoms.arrays[keys.GAMMA] = reading.gamma.copy()
    atoms.arrays[keys.ACE_FORCES] = reading.forces.copy()
    atoms.info[keys.MD_STEP] = reading.step
    return atoms


# --- truth -------------------------------------------------------------------------------
def force_errors(frames: Sequence[Atoms], truth: Sequence[Atoms]) -> list[NDArray[np.float64]]:
    """Per-atom |F_ACE - F_SW| (eV/Å) of each frame; ACE forces from ``arrays['ace_forces']``."""
    return [
        np.linalg.norm(frame.arrays[keys.ACE_FORCES] - labelled.get_forces(), axis=1)
        for frame, labelled in zip(frames, truth, strict=True)
    ]


def reference_md_frames(
    temperature: float, count: int, seed: int, interval: int = 100, equilibrate: int = 1000
) -> list[Atoms]:
    """``count`` SW-labelled frames, ``interval`` steps (1 fs) apart, of SW's own Langevin MD
    of the 64-atom cell at ``temperature``, after ``equilibrate`` steps."""
    from ase.md.langevin import Langevin
    from ase.md.velocitydistribution import MaxwellBoltzmannDistribution

    oracle = stillinger_weber_si()
    atoms = md_cell()
    atoms.calc = oracle.calculator
    rng = np.random.default_rng(seed)
    MaxwellBoltzmannDistribution(atoms, temperature_K=temperature, rng=rng)
    dynamics = Langevin(
        atoms, 1.0 * units.fs, temperature_K=temperature, friction=0.02, fixcm=False, rng=rng
    )
    dynamics.run(equilibrate)
    frames = []
    for _ in range(count):
        dynamics.run(interval)
        frames.append(
            Atoms(atoms.get_chemical_symbols(), atoms.positions, cell=atoms.cell, pbc=True)
        )
    labelled: list[Atoms] = oracle.label(frames)
    return labelled


def held_out_rmse(potential: PotentialFiles, structures: Sequence[Atoms]) -> float:
    """Force-component RMSE of the ACE ``potential`` on SW-labelled ``structures`` (meV/Å)."""
    from pyace import PyACECalculator

    calculator = PyACECalculator(str(potential.yaml))
    errors = []
    for atoms in structures:
        work = atoms.copy()
        work.calc = calculator
        errors.append(work.get_forces() - atoms.get_forces())
    return float(np.sqrt(np.mean(np.concatenate(errors) ** 2))) * 1e3


def cpu_seconds() -> float:
    """CPU seconds of this process and its finished children."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime
