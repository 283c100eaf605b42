"""Bulk prototype cells sized by volume per atom, and bounded supercells of them.

Cells come from :func:`ase.build.bulk`; this module only chooses the lattice constant that
gives a prototype the same volume per atom as the element's ground state, so that fcc, bcc or
simple-cubic silicon sit near the density the potential must describe.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator, Mapping, Sequence

import numpy as np
import numpy.typing as npt
from ase import Atoms
from ase.build import bulk
from ase.data import atomic_numbers, covalent_radii, reference_states

ATOMS_PER_CONVENTIONAL_CELL = {"sc": 1, "bcc": 2, "fcc": 4, "diamond": 8}
IDEAL_HCP_C_OVER_A = math.sqrt(8.0 / 3.0)


def volume_per_atom(symbol: str) -> float:
    """The ground-state volume per atom (Å³) from ASE's reference states.

    Elements whose reference state is not a simple lattice fall back to an fcc packing of
    spheres of twice the covalent radius, which errs on the dense side.
    """
    try:
        reference = bulk(symbol)
    except (ValueError, KeyError, NotImplementedError):
        reference = None
    if reference is not None and reference.cell.rank == 3:
        return float(reference.get_volume() / len(reference))
    nearest_neighbour = 2.0 * covalent_radii[atomic_numbers[symbol]]
    return float((math.sqrt(2.0) * nearest_neighbour) ** 3 / 4.0)


def ground_state_lattice(symbol: str) -> str | None:
    """The lattice name of the element's reference state, when it is one we build."""
    state = reference_states[atomic_numbers[symbol]]
    if state is None:
        return None
    lattice = str(state.get("symmetry"))
    return lattice if lattice in (*ATOMS_PER_CONVENTIONAL_CELL, "hcp") else None


def mean_volume_per_atom(composition: Mapping[str, float]) -> float:
    """Vegard's law: the composition-weighted mean of the elemental volumes."""
    total = sum(composition.values())
    return sum(fraction * volume_per_atom(s) for s, fraction in composition.items()) / total


def prototype(symbol: str, lattice: str, volume: float, *, conventional: bool = False) -> Atoms:
    """``ase.build.bulk`` of ``lattice`` with ``volume`` Å³ per atom.

    The conventional cell is cubic for cubic lattices and orthorhombic (4 atoms) for hcp.
    """
    if lattice == "hcp":
        a = (2.0 * volume / (math.sqrt(3.0) / 2.0 * IDEAL_HCP_C_OVER_A)) ** (1.0 / 3.0)
        hexagonal: Atoms = bulk(
            symbol, "hcp", a=a, c=a * IDEAL_HCP_C_OVER_A, orthorhombic=conventional
        )
        return hexagonal
    if lattice not in ATOMS_PER_CONVENTIONAL_CELL:
        raise ValueError(f"unknown lattice {lattice!r}; use diamond, fcc, bcc, hcp or sc")
    a = (ATOMS_PER_CONVENTIONAL_CELL[lattice] * volume) ** (1.0 / 3.0)
    cubic: Atoms = bulk(symbol, lattice, a=a, cubic=conventional)
    return cubic


def cell_widths(atoms: Atoms) -> npt.NDArray[np.float64]:
    """Distances between opposite faces of the cell (Å)."""
    return np.asarray(1.0 / np.linalg.norm(atoms.cell.reciprocal(), axis=1))


def best_repetition(atoms: Atoms, max_atoms: int) -> tuple[int, int, int]:
    """The diagonal repetition with at most ``max_atoms`` atoms and the widest narrowest face.

    Ties go to the one with more atoms. ``(1, 1, 1)`` when even one cell is too large.
    """
    widths = cell_widths(atoms)
    best: tuple[float, int, tuple[int, int, int]] = (0.0, 0, (1, 1, 1))
    for reps in _repetitions(max(1, max_atoms // len(atoms))):
        score = (float(np.min(widths * np.array(reps))), len(atoms) * math.prod(reps), reps)
        if score[:2] > best[:2]:
            best = score
    return best[2]


def _repetitions(limit: int) -> Iterator[tuple[int, int, int]]:
    """Every (n1, n2, n3) with n1 * n2 * n3 <= limit."""
    for n1 in range(1, limit + 1):
        for n2 in range(1, limit // n1 + 1):
            for n3 in range(1, limit // (n1 * n2) + 1):
                yield n1, n2, n3


def bounded_supercell(atoms: Atoms, max_atoms: int) -> Atoms:
    """The largest near-isotropic diagonal supercell of ``atoms`` within ``max_atoms``."""
    supercell: Atoms = atoms.repeat(best_repetition(atoms, max_atoms))
    return supercell


def assign_species(
    atoms: Atoms, composition: Mapping[str, float], rng: np.random.Generator
) -> Atoms:
    """A random substitutional alloy: ``composition`` fractions, rounded to whole atoms."""
    symbols = _species_counts(composition, len(atoms))
    alloy: Atoms = atoms.copy()
    alloy.set_chemical_symbols(list(rng.permutation(np.array(symbols))))
    return alloy


def _species_counts(composition: Mapping[str, float], n_atoms: int) -> list[str]:
    """Largest-remainder rounding of fractions to counts that add up to ``n_atoms``."""
    total = sum(composition.values())
    exact = {s: n_atoms * f / total for s, f in composition.items()}
    counts = {s: math.floor(x) for s, x in exact.items()}
    by_remainder = sorted(exact, key=lambda s: exact[s] - counts[s], reverse=True)
    for symbol in by_remainder[: n_atoms - sum(counts.values())]:
        counts[symbol] += 1
    return [s for s in composition for _ in range(counts[s])]


def normalise(composition: Mapping[str, float]) -> dict[str, float]:
    total = sum(composition.values())
    return {s: f / total for s, f in composition.items()}


def default_compositions(elements: Sequence[str]) -> list[dict[str, float]]:
    """Equiatomic over all elements, plus 3:1 and 1:3 for every pair (none for one element)."""
    if len(elements) < 2:
        return []
    compositions = [{s: 1.0 / len(elements) for s in elements}]
    for first, second in itertools.combinations(elements, 2):
        compositions.append({first: 0.75, second: 0.25})
        compositions.append({first: 0.25, second: 0.75})
    return compositions
