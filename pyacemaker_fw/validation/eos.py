"""The equation of state: energies over a volume scan, fitted with ASE's Birch–Murnaghan.

A model's equilibrium can lie far from the given structure: a potential 20 % off in V0 sees
only a falling energy across a ±6 % scan, and a fit to that fails or extrapolates. So the scan
first walks towards lower energy until its lowest point lies inside it (the minimum is
bracketed). Only then is it fitted, and re-centred on the fitted V0. When no minimum can be
bracketed, or the fit does not land inside the scan, :class:`EOSError` says what was seen.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt
from ase import Atoms
from ase.eos import EquationOfState
from ase.units import GPa

from pyacemaker_fw.oracles.ase_adapter import Model
from pyacemaker_fw.validation.relax import labelled_relaxed
from pyacemaker_fw.validation.report import EOSResult
from pyacemaker_fw.validation.symmetry import conventional_atom_count, is_cubic

MAX_RECENTRING = 3
"""Scans re-centred on the fitted V0 when it falls outside the middle half of the scan."""
MAX_SHIFTS = 8
"""Scans moved towards lower energy while the lowest point is at an edge of the scan."""
VOLUME_FACTOR_LIMITS = (0.3, 3.0)
"""The scan's centre stays within these multiples of the given structure's volume."""

Scan = tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]


class EOSError(RuntimeError):
    """The energy–volume scan has no minimum that a fit can find; the message says what was
    seen."""


def _scan(
    structure: Atoms, model: Model, factor: float, points: int, volume_range: float, relax: bool
) -> Scan:
    """Energy per atom against volume per atom over ``factor`` × V × (1 ± ``volume_range``)."""
    cells = []
    for scale in factor * np.linspace(1.0 - volume_range, 1.0 + volume_range, points):
        cell = structure.copy()
        cell.calc = None
        cell.set_cell(structure.cell.array * scale ** (1.0 / 3.0), scale_atoms=True)
        cells.append(cell)
    labelled = labelled_relaxed(model, cells, relax)
    n_atoms = len(structure)
    volumes = np.array([atoms.get_volume() / n_atoms for atoms in labelled])
    energies = np.array([atoms.get_potential_energy() / n_atoms for atoms in labelled])
    if not np.all(np.isfinite(energies)):
        raise EOSError(f"the model gave non-finite energies over V = {_span(volumes)}")
    return volumes, energies


def _span(volumes: npt.NDArray[np.float64]) -> str:
    return f"{volumes.min():.3f}–{volumes.max():.3f} Å³/atom"


def _seen(volumes: npt.NDArray[np.float64], energies: npt.NDArray[np.float64]) -> str:
    pairs = ", ".join(f"{v:.2f}: {e:.4f}" for v, e in zip(volumes, energies, strict=True))
    return f"E(V) in eV/atom at V in Å³/atom: {pairs}"


def _bracketed(
    structure: Atoms, model: Model, points: int, volume_range: float, relax: bool
) -> tuple[float, Scan]:
    """A scan whose lowest energy is not at either end, and its centre (volume factor)."""
    factor, start = 1.0, structure.get_volume() / len(structure)
    for _ in range(MAX_SHIFTS + 1):
        volumes, energies = _scan(structure, model, factor, points, volume_range, relax)
        lowest = int(np.argmin(energies))
        if 0 < lowest < points - 1:
            return factor, (volumes, energies)
        factor *= volumes[lowest] / volumes[points // 2]  # centre the next scan on that edge
        if not VOLUME_FACTOR_LIMITS[0] <= factor <= VOLUME_FACTOR_LIMITS[1]:
            break
    direction = "smaller" if lowest == 0 else "larger"
    raise EOSError(
        f"no energy minimum: the energy keeps falling towards {direction} volumes, from "
        f"{start:.3f} Å³/atom (the given structure) to {volumes[lowest]:.3f} Å³/atom; last scan "
        + _seen(volumes, energies)
    )


def _fit(
    volumes: npt.NDArray[np.float64], energies: npt.NDArray[np.float64]
) -> tuple[float, float, float]:
    """Birch–Murnaghan V0, E0 and B0 (eV/Å³), checked to be a minimum inside the scan."""
    try:
        volume, energy, modulus = EquationOfState(volumes, energies, eos="birchmurnaghan").fit(
            warn=False
        )
    except (RuntimeError, ValueError, np.linalg.LinAlgError) as error:
        raise EOSError(
            f"the Birch–Murnaghan fit failed ({error}); " + _seen(volumes, energies)
        ) from error
    values = (float(volume), float(energy), float(modulus))
    inside = volumes.min() <= values[0] <= volumes.max()
    if not (all(math.isfinite(v) for v in values) and inside and values[2] > 0):
        raise EOSError(
            f"the Birch–Murnaghan fit gave V0 = {values[0]:.3f} Å³/atom and "
            f"B0 = {values[2] / GPa:.3g} GPa, not a minimum inside the scan "
            f"{_span(volumes)}; " + _seen(volumes, energies)
        )
    return values


def equation_of_state(
    structure: Atoms,
    model: Model,
    *,
    points: int = 7,
    volume_range: float = 0.06,
    relax_internal: bool = True,
) -> EOSResult:
    """E(V) over V × (1 ± ``volume_range``), positions relaxed where forces remain.

    The scan starts at ``structure``'s volume, walks downhill until it brackets the minimum,
    and moves to the fitted V0 until V0 lies in its middle half, so a model with a very
    different lattice constant is fitted, not extrapolated. Raises :class:`EOSError`, saying
    what was seen, when there is no minimum to fit.
    """
    factor, (volumes, energies) = _bracketed(structure, model, points, volume_range, relax_internal)
    for _ in range(MAX_RECENTRING):
        volume, energy, modulus = _fit(volumes, energies)
        centre = volumes[points // 2]
        if abs(volume / centre - 1.0) <= volume_range / 2.0:
            break
        factor *= volume / centre
        volumes, energies = _scan(structure, model, factor, points, volume_range, relax_internal)
    else:
        volume, energy, modulus = _fit(volumes, energies)
    lattice = None
    if is_cubic(structure):
        lattice = float((volume * conventional_atom_count(structure)) ** (1.0 / 3.0))
    return EOSResult(
        volume=volume,
        energy=energy,
        bulk_modulus=modulus / GPa,
        lattice_constant=lattice,
        volumes=volumes.tolist(),
        energies=energies.tolist(),
    )
