"""A short, hot NVE run of the model: does it hold together, and does it conserve energy?

The equations of motion are integrated by ASE's velocity Verlet on the model's calculator
(for an ACE potential, pyace's ``PyACECalculator`` with its active set, which also yields the
extrapolation grade gamma of every atom at every step).
"""

from __future__ import annotations

import math

import numpy as np
from ase import Atoms, units
from ase.calculators.calculator import Calculator
from ase.md.velocitydistribution import MaxwellBoltzmannDistribution, Stationary
from ase.md.verlet import VelocityVerlet
from ase.neighborlist import neighbor_list

from pyacemaker_fw.config import ValidationConfig
from pyacemaker_fw.validation.report import MDStressResult

SAMPLE_EVERY = 5
"""Steps between samples of energy, closest pair and gamma."""
SEED = 20240601


def stress_supercell(structure: Atoms, min_atoms: int) -> Atoms:
    """The smallest n×n×n repetition of ``structure`` with at least ``min_atoms`` atoms."""
    repeats = max(1, math.ceil((min_atoms / len(structure)) ** (1.0 / 3.0) - 1e-9))
    supercell: Atoms = structure.repeat((repeats, repeats, repeats))
    supercell.calc = None
    return supercell


def closest_pair(atoms: Atoms, search: float) -> float:
    distances = neighbor_list("d", atoms, search)
    return float(distances.min()) if len(distances) else search


class _Trace:
    def __init__(self) -> None:
        self.times: list[float] = []
        self.energies: list[float] = []
        self.temperatures: list[float] = []
        self.min_distance = math.inf
        self.gamma_max: float | None = None
        self.lost = 0

    def sample(self, atoms: Atoms, time_ps: float, search: float) -> None:
        positions_ok = np.isfinite(atoms.positions).all(axis=1)
        forces_ok = np.isfinite(atoms.get_forces()).all(axis=1)
        self.lost = int(np.sum(~(positions_ok & forces_ok)))
        self.times.append(time_ps)
        self.energies.append(float(atoms.get_total_energy()) / len(atoms))
        self.temperatures.append(float(atoms.get_temperature()))
        self.min_distance = min(self.min_distance, closest_pair(atoms, search))
        gamma = atoms.calc.results.get("gamma") if atoms.calc is not None else None
        if gamma is not None and len(gamma):
            peak = float(np.max(gamma))  # NaN if any atom's is NaN, and then it stays NaN
            self.gamma_max = (
                peak if self.gamma_max is None else float(np.max([self.gamma_max, peak]))
            )

    def drift(self) -> float:
        """|slope| of total energy per atom against time (meV/atom/ps)."""
        if len(self.times) < 2:
            return math.inf
        slope = np.polyfit(self.times, self.energies, 1)[0]
        return float(abs(slope) * 1000.0)


def md_stress_test(
    structure: Atoms, calculator: Calculator, config: ValidationConfig
) -> MDStressResult:
    """``config.md_steps`` of NVE from a Maxwell–Boltzmann start at twice ``md_temperature``
    (equipartition brings it to about ``md_temperature``)."""
    atoms = stress_supercell(structure, config.md_min_atoms)
    atoms.calc = calculator
    rng = np.random.default_rng(SEED)
    MaxwellBoltzmannDistribution(atoms, temperature_K=2.0 * config.md_temperature, rng=rng)
    Stationary(atoms)
    dynamics = VelocityVerlet(atoms, timestep=config.md_timestep * 1000.0 * units.fs)
    trace, search = _Trace(), 2.0 * config.md_min_distance
    steps, error = 0, ""
    try:
        trace.sample(atoms, 0.0, search)
        while steps < config.md_steps and not error:
            chunk = min(SAMPLE_EVERY, config.md_steps - steps)
            dynamics.run(chunk)
            steps += chunk
            trace.sample(atoms, steps * config.md_timestep, search)
            error = _broken(trace, config)
    except (RuntimeError, ValueError, FloatingPointError) as exc:
        error = f"{type(exc).__name__}: {exc}"
    half = trace.temperatures[len(trace.temperatures) // 2 :] or [math.nan]
    return MDStressResult(
        engine=f"ase VelocityVerlet on {type(getattr(calculator, 'inner', calculator)).__name__}",
        atoms=len(atoms),
        steps_requested=config.md_steps,
        steps_completed=steps,
        temperature_target=config.md_temperature,
        temperature_mean=float(np.mean(half)),
        lost_atoms=trace.lost,
        min_distance=trace.min_distance,
        energy_drift=trace.drift() if not error else math.inf,
        gamma_max=trace.gamma_max,
        error=error,
    )


def _broken(trace: _Trace, config: ValidationConfig) -> str:
    """Why to stop early: lost atoms, a non-finite gamma, or a collapse well inside the
    allowed closest pair."""
    if trace.lost:
        return f"{trace.lost} atoms lost (non-finite positions or forces)"
    if trace.gamma_max is not None and not math.isfinite(trace.gamma_max):
        return "the extrapolation grade gamma is not finite"
    if trace.min_distance < 0.5 * config.md_min_distance:
        return f"atoms collapsed to {trace.min_distance:.2f} Å"
    return ""
