"""The combinatorial candidate pool of Phase 1: prototypes, strains, rattles, defects, slabs
and random alloys for the configured elements.

Cells come from ``ase.build`` (``bulk``, ``surface``) and ``Atoms.rattle``; symmetry-distinct
vacancy sites from pymatgen's ``SpacegroupAnalyzer``. Everything is drawn from one seed, so the
same config always gives the same pool, and no structure exceeds ``max_atoms``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from ase import Atoms
from ase.build import surface
from ase.geometry import get_distances

from pyacemaker_fw.config import DistillationConfig
from pyacemaker_fw.core import keys
from pyacemaker_fw.core.base import BaseGenerator
from pyacemaker_fw.generation import prototypes as proto

VOLUME_POINTS = 8
"""Volumetric strains per prototype, evenly over ±strain_range (zero strain is ``bulk``)."""
MILLER_INDICES = ((1, 0, 0), (1, 1, 0), (1, 1, 1))
MAX_SLAB_LAYERS = 6
SLAB_VACUUM = 6.0
"""Vacuum on each side of a slab (Å): 12 Å between images, beyond any ACE or MACE cutoff."""
VOID_GRID = 10
"""Fractional grid points per axis searched for the largest void (interstitial site)."""
RANDOM_SHARES = {"rattle": 0.5, "shear": 0.25, "alloy": 0.25}
"""How the pool left after the deterministic families is shared between the random ones."""


@dataclass(frozen=True)
class Base:
    """A bulk cell the families start from: one element (or alloy) on one lattice."""

    label: str
    lattice: str
    primitive: Atoms
    conventional: Atoms


def _tag(atoms: Atoms, family: str, detail: str) -> Atoms:
    atoms.info[keys.STRUCTURE_FAMILY] = family
    atoms.info[keys.PROVENANCE] = f"combinatorial/{family}/{detail}"
    return atoms


def _scaled(atoms: Atoms, volume_factor: float) -> Atoms:
    scaled: Atoms = atoms.copy()
    scaled.set_cell(atoms.cell * volume_factor ** (1.0 / 3.0), scale_atoms=True)
    return scaled


def _strained(atoms: Atoms, strain: npt.NDArray[np.float64]) -> Atoms:
    strained: Atoms = atoms.copy()
    strained.set_cell(atoms.cell.array @ (np.eye(3) + strain), scale_atoms=True)
    return strained


def largest_void(atoms: Atoms) -> npt.NDArray[np.float64]:
    """The Cartesian point of a fractional grid farthest from every atom (periodic)."""
    axis = (np.arange(VOID_GRID) + 0.5) / VOID_GRID
    grid = np.stack(np.meshgrid(axis, axis, axis, indexing="ij"), axis=-1).reshape(-1, 3)
    points = grid @ atoms.cell.array
    _, distances = get_distances(points, atoms.positions, cell=atoms.cell, pbc=atoms.pbc)
    return np.asarray(points[int(np.argmax(distances.min(axis=1)))])


def distinct_sites(atoms: Atoms) -> list[int]:
    """One atom index per symmetry-equivalent group (pymatgen's SpacegroupAnalyzer)."""
    from pymatgen.io.ase import AseAtomsAdaptor
    from pymatgen.symmetry.analyzer import SpacegroupAnalyzer

    structure = AseAtomsAdaptor.get_structure(atoms)
    symmetrized = SpacegroupAnalyzer(structure, symprec=1e-3).get_symmetrized_structure()
    return [int(group[0]) for group in symmetrized.equivalent_indices]


class CombinatorialGenerator(BaseGenerator):
    """Candidate structures for the zero-shot distillation of Phase 1.

    ``generate()`` returns at most ``config.pool_size`` structures, each with at most
    ``config.max_atoms`` atoms, tagged with ``info[keys.STRUCTURE_FAMILY]`` and
    ``info[keys.PROVENANCE]``. When the families make more than ``pool_size`` structures, the
    pool is thinned evenly across families.
    """

    def __init__(self, elements: Sequence[str], config: DistillationConfig) -> None:
        if not elements:
            raise ValueError("elements must not be empty")
        self.elements = list(elements)
        self.config = config
        self.compositions = self._checked_compositions()

    def _checked_compositions(self) -> list[dict[str, float]]:
        compositions = self.config.compositions or proto.default_compositions(self.elements)
        for composition in compositions:
            unknown = sorted(set(composition) - set(self.elements))
            if unknown:
                raise ValueError(f"composition {composition} names {unknown}, not in elements")
        return [proto.normalise(c) for c in compositions if len(c) > 1]

    def _rng(self, family: str) -> np.random.Generator:
        return np.random.default_rng([self.config.seed, sum(map(ord, family))])

    def elemental_bases(self) -> list[Base]:
        bases = []
        for symbol in self.elements:
            volume = proto.volume_per_atom(symbol)
            for lattice in self._lattices_for(symbol):
                bases.append(self._base(symbol, symbol, lattice, volume))
        return bases

    def _lattices_for(self, symbol: str) -> list[str]:
        """The configured prototypes, the element's own ground state first."""
        ground = proto.ground_state_lattice(symbol)
        lattices: list[str] = list(self.config.prototypes)
        if ground in lattices:
            lattices.remove(ground)
            lattices.insert(0, ground)
        return lattices

    def _base(self, label: str, symbol: str, lattice: str, volume: float) -> Base:
        primitive = proto.prototype(symbol, lattice, volume)
        conventional = proto.prototype(symbol, lattice, volume, conventional=True)
        return Base(label, lattice, primitive, conventional)

    def _fits(self, atoms: Atoms) -> bool:
        return len(atoms) <= self.config.max_atoms

    # --- deterministic families ---------------------------------------------------------

    def bulk(self, bases: Sequence[Base]) -> list[Atoms]:
        return [
            _tag(b.primitive.copy(), "bulk", f"{b.label}-{b.lattice}")
            for b in bases
            if self._fits(b.primitive)
        ]

    def volumes(self, bases: Sequence[Base]) -> list[Atoms]:
        limit = self.config.strain_range
        factors = [1.0 + x for x in np.linspace(-limit, limit, VOLUME_POINTS + 1) if abs(x) > 1e-12]
        return [
            _tag(_scaled(b.primitive, f), "volume", f"{b.label}-{b.lattice}/V*{f:.3f}")
            for b in bases
            if self._fits(b.primitive)
            for f in factors
        ]

    def vacancies(self, bases: Sequence[Base]) -> list[Atoms]:
        structures = []
        for base in bases:
            host = proto.bounded_supercell(base.conventional, self.config.max_atoms + 1)
            if len(host) < 2 or len(host) > self.config.max_atoms + 1:
                continue
            for site in distinct_sites(host):
                defect = host.copy()
                del defect[site]
                detail = f"{base.label}-{base.lattice}/site{site}"
                structures.append(_tag(defect, "vacancy", detail))
        return structures

    def interstitials(self, bases: Sequence[Base]) -> list[Atoms]:
        structures = []
        for base in bases:
            host = proto.bounded_supercell(base.conventional, self.config.max_atoms - 1)
            if not self._fits(host + Atoms("H")):
                continue
            site = largest_void(host)
            for symbol in self.elements:
                defect = host + Atoms(symbol, positions=[site])
                detail = f"{base.label}-{base.lattice}/{symbol}"
                structures.append(_tag(defect, "interstitial", detail))
        return structures

    def surfaces(self, bases: Sequence[Base]) -> list[Atoms]:
        structures = []
        for base in bases:
            for miller in MILLER_INDICES:
                slab = self._slab(base.conventional, miller)
                if slab is not None:
                    detail = f"{base.label}-{base.lattice}/{''.join(map(str, miller))}"
                    structures.append(_tag(slab, "surface", detail))
        return structures

    def _slab(self, cell: Atoms, miller: tuple[int, int, int]) -> Atoms | None:
        per_layer = len(surface(cell, miller, layers=1))
        layers = min(MAX_SLAB_LAYERS, self.config.max_atoms // per_layer)
        if layers < 2:
            return None
        slab: Atoms = surface(cell, miller, layers=layers, vacuum=SLAB_VACUUM, periodic=True)
        slab.pbc = True
        return slab

    # --- random families ----------------------------------------------------------------

    def rattles(self, bases: Sequence[Base], count: int) -> list[Atoms]:
        rng = self._rng("rattle")
        amplitudes = self.config.rattle_amplitudes
        slots = [(b, a) for b in bases for a in amplitudes]
        structures = []
        for index in range(max(count, len(slots))):
            base, amplitude = slots[index % len(slots)]
            factor = 1.0 + rng.uniform(-0.5, 0.5) * self.config.strain_range
            cell = _scaled(
                proto.bounded_supercell(base.conventional, self.config.max_atoms), factor
            )
            cell.rattle(amplitude, seed=int(rng.integers(2**31)))
            detail = f"{base.label}-{base.lattice}/amp{amplitude:g}/V*{factor:.3f}"
            structures.append(_tag(cell, "rattle", detail))
        return structures

    def shears(self, bases: Sequence[Base], count: int) -> list[Atoms]:
        """Random symmetric strains (diagonal and shear) up to half the EOS range, rattled."""
        rng = self._rng("shear")
        usable = [b for b in bases if self._fits(b.conventional)]
        structures = []
        for index in range(max(count, len(usable)) if usable else 0):
            base = usable[index % len(usable)]
            strain = rng.uniform(-0.5, 0.5, (3, 3)) * self.config.strain_range
            strain = (strain + strain.T) / 2.0
            cell = _strained(base.conventional, strain)
            cell.rattle(min(self.config.rattle_amplitudes), seed=int(rng.integers(2**31)))
            largest = float(np.max(np.abs(strain)))
            structures.append(_tag(cell, "shear", f"{base.label}-{base.lattice}/eps{largest:.3f}"))
        return structures

    def alloys(self, count: int) -> list[Atoms]:
        """Random substitutional alloys on every prototype at Vegard's volume, rattled."""
        if not self.compositions:
            return []
        rng = self._rng("alloy")
        slots = [(c, lat) for c in self.compositions for lat in self.config.prototypes]
        structures = []
        for index in range(max(count, len(slots))):
            composition, lattice = slots[index % len(slots)]
            volume = proto.mean_volume_per_atom(composition)
            host = proto.prototype(self.elements[0], lattice, volume, conventional=True)
            cell = proto.assign_species(
                proto.bounded_supercell(host, self.config.max_atoms), composition, rng
            )
            cell.rattle(min(self.config.rattle_amplitudes), seed=int(rng.integers(2**31)))
            label = "".join(f"{s}{f:.2f}" for s, f in composition.items())
            structures.append(_tag(cell, "alloy", f"{label}-{lattice}"))
        return structures

    # --- the pool -----------------------------------------------------------------------

    def families(self) -> dict[str, list[Atoms]]:
        """Every family in full, before the pool is thinned to ``pool_size``."""
        bases = self.elemental_bases()
        deterministic: dict[str, Callable[[], list[Atoms]]] = {
            "bulk": lambda: self.bulk(bases),
            "volume": lambda: self.volumes(bases),
            "vacancy": lambda: self.vacancies(bases) if self.config.defects else [],
            "interstitial": lambda: self.interstitials(bases) if self.config.defects else [],
            "surface": lambda: self.surfaces(bases) if self.config.surfaces else [],
        }
        pool = {name: make() for name, make in deterministic.items()}
        left = max(0, self.config.pool_size - sum(len(v) for v in pool.values()))
        shares = self._random_shares()
        pool["rattle"] = self.rattles(bases, math.ceil(left * shares["rattle"]))
        pool["shear"] = self.shears(bases, math.ceil(left * shares["shear"]))
        pool["alloy"] = self.alloys(math.ceil(left * shares["alloy"]))
        return {name: [a for a in items if self._fits(a)] for name, items in pool.items()}

    def _random_shares(self) -> dict[str, float]:
        if self.compositions:
            return RANDOM_SHARES
        total = RANDOM_SHARES["rattle"] + RANDOM_SHARES["shear"]
        return {
            "rattle": RANDOM_SHARES["rattle"] / total,
            "shear": RANDOM_SHARES["shear"] / total,
            "alloy": 0.0,
        }

    def generate(self) -> list[Atoms]:
        families = self.families()
        quotas = stratified_quotas({k: len(v) for k, v in families.items()}, self.config.pool_size)
        rng = self._rng("thinning")
        pool: list[Atoms] = []
        for name, items in families.items():
            keep = np.sort(rng.choice(len(items), size=quotas[name], replace=False))
            pool.extend(items[int(i)] for i in keep)
        return pool


def stratified_quotas(sizes: dict[str, int], limit: int) -> dict[str, int]:
    """Share ``limit`` slots between families one at a time, so small families stay whole."""
    quotas = dict.fromkeys(sizes, 0)
    remaining = min(limit, sum(sizes.values()))
    open_families: Iterator[str] = iter(())
    while remaining > 0:
        name = next(open_families, None)
        if name is None:
            open_families = iter([n for n in sizes if quotas[n] < sizes[n]])
            continue
        if quotas[name] < sizes[name]:
            quotas[name] += 1
            remaining -= 1
    return quotas
