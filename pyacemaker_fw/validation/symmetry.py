"""Crystal symmetry of the validation cell (spglib), and cell scaling helpers."""

from __future__ import annotations

from ase import Atoms

CUBIC_SPACE_GROUPS = range(195, 231)


def _spglib_cell(atoms: Atoms) -> tuple[list[list[float]], list[list[float]], list[int]]:
    return (
        atoms.cell.array.tolist(),
        atoms.get_scaled_positions().tolist(),
        [int(n) for n in atoms.numbers],
    )


def space_group_number(atoms: Atoms, symprec: float = 1e-3) -> int:
    import spglib

    dataset = spglib.get_symmetry_dataset(_spglib_cell(atoms), symprec=symprec)
    return int(dataset.number) if dataset is not None else 1


def is_cubic(atoms: Atoms) -> bool:
    return space_group_number(atoms) in CUBIC_SPACE_GROUPS


def conventional_atom_count(atoms: Atoms) -> int:
    """Atoms in spglib's standard conventional cell of this crystal."""
    import spglib

    standard = spglib.standardize_cell(_spglib_cell(atoms), to_primitive=False, symprec=1e-3)
    return len(standard[2]) if standard is not None else len(atoms)


def with_volume_per_atom(atoms: Atoms, volume: float) -> Atoms:
    """A copy scaled isotropically to ``volume`` Å³ per atom."""
    scaled: Atoms = atoms.copy()
    factor = (volume * len(atoms) / atoms.get_volume()) ** (1.0 / 3.0)
    scaled.set_cell(atoms.cell.array * factor, scale_atoms=True)
    scaled.calc = None
    return scaled
