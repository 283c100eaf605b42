"""The ``.asi`` active set of an ACE potential, built only from atoms that teach the fit.

``pace_activeset -d dataset potential.yaml`` selects, by MaxVol over the B-basis projections,
the atomic environments against which the extrapolation grade gamma is measured. It works on
whole structures, so the buffer atoms and passivants of a cutout, which the fit ignored, would
enter the active set and make their unphysical environments look "known" to the MD monitor.
:func:`write_active_set` runs the same pyace functions (``compute_B_projections``,
``compute_active_set``, ``compute_A_active_inverse``, ``save_active_inverse_set``) on the atoms
whose force weight is positive, and writes the same file format (one inverse matrix per element,
``np.savez``); with all weights positive it is ``pace_activeset -a``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt
from ase import Atoms

from pyacemaker_fw.training.dataset import force_weights

log = logging.getLogger(__name__)

GAMMA_TOLERANCE = 1.001
MAXVOL_ITERATIONS = 300
REGULARISATION = 1e-6
"""Relative size of the rows that complete an active set whose environments do not span
the basis."""


class ActiveSetError(ValueError):
    """Too few weighted atomic environments to span the basis of some element."""


def taught_atom_masks(
    structures: Sequence[Atoms], elements_to_index: dict[str, int]
) -> dict[int, npt.NDArray[np.bool_]]:
    """Per species type, which rows of pyace's projection matrix come from weighted atoms.

    pyace stacks the projections structure by structure and, within one, atom by atom.
    """
    masks: dict[int, list[bool]] = {index: [] for index in elements_to_index.values()}
    for atoms in structures:
        taught = force_weights(atoms) > 0
        for symbol, keep in zip(atoms.get_chemical_symbols(), taught, strict=True):
            masks[elements_to_index[symbol]].append(bool(keep))
    return {species: np.asarray(rows, dtype=bool) for species, rows in masks.items()}


def write_active_set(potential_yaml: Path, structures: Sequence[Atoms], output: Path) -> Path:
    """Compute the active set of ``potential_yaml`` over the taught atoms and save it."""
    from pyace import ACEBBasisSet, BBasisConfiguration
    from pyace.activelearning import (
        compute_A_active_inverse,
        compute_B_projections,
        save_active_inverse_set,
    )

    basis = ACEBBasisSet(BBasisConfiguration(str(potential_yaml)))
    bare = [_without_calculator(atoms) for atoms in structures]
    projections = compute_B_projections(basis, bare)
    masks = taught_atom_masks(structures, dict(basis.elements_to_index_map))
    taught = {species: projections[species][mask] for species, mask in masks.items()}
    never_taught = {
        species: _placeholder(rows.shape[1]) for species, rows in taught.items() if not len(rows)
    }
    for species, rows in taught.items():
        if species not in never_taught and rows.shape[0] < rows.shape[1]:
            raise ActiveSetError(
                f"element {basis.elements_name[species]}: {rows.shape[0]} weighted atoms cannot "
                f"span {rows.shape[1]} basis functions; add data or use fewer functions"
            )
    spanned = {s: rows for s, rows in taught.items() if s not in never_taught}
    active = _active_set(spanned, output)
    inverse = {**compute_A_active_inverse(active), **never_taught}
    for species in never_taught:
        log.warning(
            "element %s teaches nothing (only caps or buffer): its gamma in %s is not an "
            "extrapolation grade",
            basis.elements_name[species],
            output.name,
        )
    save_active_inverse_set(str(output), dict(sorted(inverse.items())), basis.elements_name)
    log.info("active set of %s over %d structures -> %s", potential_yaml, len(structures), output)
    return output


def _active_set(
    projections: dict[int, npt.NDArray[np.float64]], output: Path
) -> dict[int, npt.NDArray[np.float64]]:
    """MaxVol over the taught environments. When they are (numerically) linearly dependent,
    MaxVol finds no invertible start; tiny rows ``REGULARISATION * scale * e_k`` then complete
    the basis, so that a direction the data never showed gets a gamma of about
    1/REGULARISATION: the potential extrapolates there, and says so."""
    from pyace.activelearning import compute_active_set

    try:
        active: dict[int, npt.NDArray[np.float64]] = compute_active_set(
            {s: rows.copy() for s, rows in projections.items()},
            tol=GAMMA_TOLERANCE,
            max_iters=MAXVOL_ITERATIONS,
        )
        return active
    except ValueError as error:
        if "singular" not in str(error):
            raise
    log.warning(
        "the taught environments of %s do not span the basis; directions they never show "
        "get gamma ~%.0e",
        output.name,
        1 / REGULARISATION,
    )
    extra = {
        s: REGULARISATION * float(np.abs(rows).max()) * np.eye(rows.shape[1])
        for s, rows in projections.items()
    }
    active = compute_active_set(
        {s: rows.copy() for s, rows in projections.items()},
        tol=GAMMA_TOLERANCE,
        max_iters=MAXVOL_ITERATIONS,
        extra_A0_projections_dict=extra,
    )
    return active


def _placeholder(functions: int) -> npt.NDArray[np.float64]:
    """The inverse active set of an element no atom teaches (a passivant): pyace needs one per
    element, and MD of the campaign's own elements never evaluates it."""
    return np.eye(functions)


def _without_calculator(atoms: Atoms) -> Atoms:
    copy: Atoms = atoms.copy()
    copy.calc = None
    return copy
