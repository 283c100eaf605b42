"""Is a structure physically plausible enough to be worth a DFT label?

pw.x converges on almost anything: two Si atoms 0.5 Å apart give a clean SCF and forces of
870 eV/Å, which would poison a training set. The rule is by element pair. It compares every
interatomic distance with the sum of the two covalent radii (Cordero et al. 2008, as in
``ase.data.covalent_radii``) and refuses a pair closer than :data:`MIN_DISTANCE_FRACTION` of
that sum.

Why 0.5: real bonds never get that short. Triple bonds such as N≡N and C≡C are about 0.77 of
the single-bond sum, and crystals compressed to megabar pressures keep about 0.8. Below half
the sum a pair sits far up the repulsive wall (1.11 Å for Si–Si, 0.71 Å for Si–H, 0.31 Å for
H–H), and a fit would chase forces of hundreds of eV/Å there.

The functions are pure (``Atoms`` in, a description out), so other engines can share them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from ase import Atoms
from ase.data import covalent_radii
from ase.neighborlist import neighbor_list

MIN_DISTANCE_FRACTION = 0.5
"""Pairs closer than this fraction of the sum of their covalent radii are implausible."""


@dataclass(frozen=True)
class ClosePair:
    """Two atoms closer than their element pair allows (indices into the structure)."""

    first: int
    second: int
    symbols: tuple[str, str]
    distance: float
    limit: float
    fraction: float

    def describe(self) -> str:
        """e.g. 'atoms 0 (Si) and 1 (Si) are 0.500 Å apart, below 1.110 Å (0.5 × ...)'."""
        return (
            f"atoms {self.first} ({self.symbols[0]}) and {self.second} ({self.symbols[1]}) "
            f"are {self.distance:.3f} Å apart, below {self.limit:.3f} Å "
            f"({self.fraction:g} × the sum of their covalent radii)"
        )


def implausible_pairs(atoms: Atoms, fraction: float = MIN_DISTANCE_FRACTION) -> list[ClosePair]:
    """Every pair (periodic images included) closer than ``fraction`` × the sum of their
    covalent radii, the most compressed first (ties broken by index, so the order is fixed)."""
    if fraction <= 0:
        raise ValueError(f"fraction must be positive, not {fraction}")
    if len(atoms) == 0:
        return []
    radii = fraction * covalent_radii[atoms.numbers]
    # neighbor_list keeps pairs with d < r_i + r_j when given per-atom cutoffs.
    first, second, distance, shift = neighbor_list(
        "ijdS", atoms, radii.tolist(), self_interaction=False
    )
    keep = _once_per_pair(first, second, shift)
    first, second, distance = first[keep], second[keep], distance[keep]
    limits = radii[first] + radii[second]
    order = np.lexsort((second, first, distance / limits))
    symbols = atoms.get_chemical_symbols()
    return [
        ClosePair(
            first=int(first[k]),
            second=int(second[k]),
            symbols=(symbols[first[k]], symbols[second[k]]),
            distance=float(distance[k]),
            limit=float(limits[k]),
            fraction=fraction,
        )
        for k in order
    ]


def _once_per_pair(
    first: npt.NDArray[np.int_], second: npt.NDArray[np.int_], shift: npt.NDArray[np.int_]
) -> npt.NDArray[np.bool_]:
    """Each pair is listed from both sides: keep i < j, and of an atom's two views of its
    own image (shifts S and -S) the one whose first non-zero component is positive."""
    leading = np.array([row[np.flatnonzero(row)[0]] if row.any() else 0 for row in shift])
    return (first < second) | ((first == second) & (leading > 0))  # type: ignore[no-any-return]


def implausibility(atoms: Atoms, fraction: float = MIN_DISTANCE_FRACTION) -> str | None:
    """Why ``atoms`` cannot be a physical structure, or ``None`` when nothing is wrong."""
    pairs = implausible_pairs(atoms, fraction)
    if not pairs:
        return None
    others = f" (and {len(pairs) - 1} more such pairs)" if len(pairs) > 1 else ""
    return pairs[0].describe() + others
