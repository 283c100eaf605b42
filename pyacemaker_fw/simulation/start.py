"""The structure a campaign's MD starts from, when there is no restart to resume."""

from __future__ import annotations

from ase import Atoms
from ase.build import bulk
from ase.io import read

from pyacemaker_fw.config import MDConfig


def initial_md_structure(md: MDConfig, elements: list[str]) -> Atoms:
    """``md.initial_structure`` if set, else the ground-state crystal of ``elements[0]``.

    - ``md.initial_structure`` is read with ASE (the last frame of a trajectory file) and used
      as it is: ``md.supercell`` does not repeat it. Its elements must be among ``elements``.
    - Otherwise ASE's reference crystal of the first element (``ase.build.bulk``, the cubic
      cell where one exists, else an orthorhombic one, else the primitive cell) is repeated by
      ``md.supercell``.
    """
    if not elements:
        raise ValueError("elements is empty: the MD start needs at least one element")
    if md.initial_structure is not None:
        return _read_structure(md, elements)
    crystal: Atoms = _ground_state(elements[0]).repeat(md.supercell)
    return crystal


def _read_structure(md: MDConfig, elements: list[str]) -> Atoms:
    path = md.initial_structure
    assert path is not None
    structure = read(path)
    if not isinstance(structure, Atoms):  # pragma: no cover - read(path) returns one frame
        raise ValueError(f"md.initial_structure: {path} holds no single structure")
    unknown = sorted(set(structure.get_chemical_symbols()) - set(elements))
    if unknown:
        raise ValueError(
            f"md.initial_structure: {path} contains {unknown}, which are not among the "
            f"campaign's elements {elements}"
        )
    if len(structure) == 0:
        raise ValueError(f"md.initial_structure: {path} holds no atoms")
    return structure


def _ground_state(element: str) -> Atoms:
    errors: list[str] = []
    for cubic, orthorhombic in ((True, False), (False, True), (False, False)):
        try:
            return bulk(element, cubic=cubic, orthorhombic=orthorhombic)
        except (ValueError, KeyError, RuntimeError) as error:  # no such cell for this lattice
            errors.append(str(error))
    raise ValueError(
        f"ASE has no ground-state crystal for {element} ({errors[-1]}); "
        "set md.initial_structure to a structure file"
    )
