"""Put MACE labels on the DFT energy scale before both enter one fit.

A MACE model and a QE setup disagree on absolute energies by a constant per element (other
pseudopotentials, other codes, or a MACE trained on other reference data), while their forces
agree far better. Mixing raw MACE and QE energies in one ACE fit would teach the potential
that constant as if it were physics. Structures sent to QE are labelled by the MACE committee
too (for routing), so each one gives an equation ``E_qe - E_mace = sum_e n_e * shift_e``;
their least-squares solution moves every MACE label onto the QE scale. Constant shifts per
atom change neither forces nor stress.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from ase import Atoms

from pyacemaker_fw.core import keys
from pyacemaker_fw.core.labels import attach_labels


def fit_energy_shifts(
    structures: Sequence[Atoms], reference: Sequence[float], model: Sequence[float]
) -> dict[str, float]:
    """Per-element shifts (eV/atom) that best map ``model`` energies onto ``reference``.

    Elements that no structure contains get no shift. With fewer structures than elements the
    minimum-norm solution is taken.
    """
    elements = sorted({symbol for atoms in structures for symbol in atoms.symbols})
    counts = np.array(
        [[list(atoms.symbols).count(element) for element in elements] for atoms in structures],
        dtype=float,
    )
    gap = np.asarray(reference, dtype=float) - np.asarray(model, dtype=float)
    shifts, *_ = np.linalg.lstsq(counts, gap, rcond=None)
    return {element: float(shift) for element, shift in zip(elements, shifts, strict=True)}


def shift_energy(atoms: Atoms, shifts: dict[str, float]) -> Atoms:
    """A labelled copy whose energy is moved by the per-element ``shifts``; forces unchanged."""
    offset = sum(shifts.get(symbol, 0.0) for symbol in atoms.symbols)
    calc = atoms.calc
    stress = calc.results.get("stress") if calc is not None else None
    info = dict(atoms.info)
    source = info.pop(keys.LABEL_SOURCE)
    shifted = attach_labels(
        atoms, atoms.get_potential_energy() + offset, atoms.get_forces(), source, stress, **info
    )
    shifted.info[keys.ENERGY_SHIFT] = float(offset)
    return shifted
