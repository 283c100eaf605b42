"""Active-set selection: pick the most informative structures of a candidate pool.

Two methods, both over per-atom features of the pool:

- **D-optimal (MaxVol)** over ACE B-basis projections, once a potential exists. pyace's MaxVol
  finds the atomic environments whose projection matrix has maximal volume (the D-optimal
  design of the linear ACE model, as ``pace_select`` does); structures are ranked by how many
  of those environments they hold. An existing active set (``.asi``) takes part, so that
  environments the potential already knows are not chosen again.
- **Farthest-point sampling** over MACE descriptors, for the very first selection, when no ACE
  exists: repeatedly take the structure holding the environment farthest from everything
  already taken.

A structure whose every environment lies within ``min_novelty`` of the environments already
picked is a (near-)duplicate and is never taken, so duplicates are not picked twice; when the
pool runs out of novel structures the selection stops short and says so.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
from ase import Atoms
from pydantic import BaseModel, ConfigDict, Field

from pyacemaker_fw.core import keys
from pyacemaker_fw.core.models import PotentialFiles

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
AtomDescriptor = Callable[[Atoms], npt.ArrayLike]
"""Per-atom features of one structure, shape (atoms, features)."""

DEFAULT_MIN_NOVELTY = 1e-3
"""RMS distance, in pool-standardised feature units, below which an environment is known."""


@dataclass
class AtomFeatures:
    """Per-atom feature blocks of a pool: one block per species for ACE (each species has its
    own basis), a single block for MACE. Each block holds the feature rows and the index of
    the structure every row belongs to."""

    n_structures: int
    blocks: dict[str, tuple[FloatArray, IntArray]] = field(default_factory=dict)


class SelectionReport(BaseModel):
    """How many structures were picked from the pool, by which method, and why each one."""

    model_config = ConfigDict(extra="forbid")

    method: Literal["maxvol", "farthest_point"]
    pool_size: int = Field(..., ge=0)
    requested: int = Field(..., ge=0)
    selected: list[int] = Field(default_factory=list, description="Pool indices, pick order.")
    reasons: list[str] = Field(default_factory=list, description="Why each pick, same order.")
    duplicates_skipped: int = Field(
        0, description="Structures left out because they lie within min_novelty of a pick."
    )
    note: str = Field("", description="Why fewer than requested, or why a fallback ran.")

    def summary(self) -> str:
        text = (
            f"{self.method}: picked {len(self.selected)} of {self.pool_size} "
            f"(requested {self.requested}); {self.duplicates_skipped} near-duplicates skipped"
        )
        return f"{text}; {self.note}" if self.note else text


@dataclass
class Selection:
    structures: list[Atoms]
    report: SelectionReport


class Coverage:
    """Distances from every pool environment to the nearest environment already selected.

    Features are standardised per column over the pool and distances divided by the square
    root of the feature count, so ``novelty`` is an RMS deviation in units of the pool spread.
    """

    def __init__(self, features: AtomFeatures) -> None:
        self.n_structures = features.n_structures
        self._blocks = {
            name: (_standardised(rows), owners) for name, (rows, owners) in features.blocks.items()
        }
        self._nearest = {
            name: np.full(len(owners), np.inf) for name, (_, owners) in self._blocks.items()
        }

    def novelty(self) -> FloatArray:
        """Per structure: the distance of its least-covered environment to the selection."""
        novelty = np.zeros(self.n_structures)
        for name, (_, owners) in self._blocks.items():
            np.maximum.at(novelty, owners, self._nearest[name])
        return novelty

    def add(self, structure: int) -> None:
        for name, (rows, owners) in self._blocks.items():
            picked = rows[owners == structure]
            if len(picked):
                distances = _pairwise_rms(rows, picked).min(axis=1)
                self._nearest[name] = np.minimum(self._nearest[name], distances)

    def most_atypical(self) -> int:
        """The structure holding the environment farthest from its block's mean (a seed)."""
        scores = np.zeros(self.n_structures)
        for rows, owners in self._blocks.values():
            distances = _pairwise_rms(rows, rows.mean(axis=0, keepdims=True))[:, 0]
            np.maximum.at(scores, owners, distances)
        return int(np.argmax(scores))


def _standardised(rows: FloatArray) -> FloatArray:
    spread = rows.std(axis=0)
    spread[spread < 1e-12] = 1.0
    return np.asarray((rows - rows.mean(axis=0)) / spread)


def _pairwise_rms(a: FloatArray, b: FloatArray) -> FloatArray:
    squared = (a * a).sum(axis=1)[:, None] + (b * b).sum(axis=1)[None, :] - 2.0 * a @ b.T
    return np.asarray(np.sqrt(np.clip(squared, 0.0, None) / a.shape[1]))


# --- farthest-point sampling -------------------------------------------------------------


def farthest_point_selection(
    features: AtomFeatures,
    n_select: int,
    *,
    min_novelty: float = DEFAULT_MIN_NOVELTY,
    coverage: Coverage | None = None,
    report: SelectionReport | None = None,
) -> SelectionReport:
    """Greedy farthest-point sampling of structures by their least-covered environment.

    With ``coverage`` and ``report`` it continues an earlier selection (the MaxVol fill).
    """
    coverage = coverage or Coverage(features)
    report = report or SelectionReport(
        method="farthest_point", pool_size=features.n_structures, requested=n_select
    )
    if not report.selected and features.n_structures and n_select:
        first = coverage.most_atypical()
        _take(report, coverage, first, "farthest-point seed: the most atypical environment")
    while len(report.selected) < n_select:
        novelty = coverage.novelty()
        novelty[report.selected] = -1.0
        best = int(np.argmax(novelty)) if len(novelty) else -1
        if best < 0 or novelty[best] <= min_novelty:
            report.note = _short_note(report, min_novelty)
            break
        _take(report, coverage, best, f"farthest-point: novelty {_format(novelty[best])}")
    report.duplicates_skipped = _redundant(report, coverage, min_novelty)
    return report


def _take(report: SelectionReport, coverage: Coverage, index: int, reason: str) -> None:
    report.selected.append(index)
    report.reasons.append(reason)
    coverage.add(index)


def _redundant(report: SelectionReport, coverage: Coverage, min_novelty: float) -> int:
    novelty = coverage.novelty()
    novelty[report.selected] = np.inf
    return int(np.sum(novelty <= min_novelty))


def _format(value: float) -> str:
    return "new species" if np.isinf(value) else f"{value:.3g}"


def _short_note(report: SelectionReport, min_novelty: float) -> str:
    return (
        f"stopped at {len(report.selected)}: every other structure lies within "
        f"{min_novelty:g} of the selection"
    )


# --- D-optimal (MaxVol) --------------------------------------------------------------------


def maxvol_selection(
    features: AtomFeatures,
    n_select: int,
    *,
    active_set: dict[str, FloatArray] | None = None,
    gamma_tolerance: float = 1.01,
    min_novelty: float = DEFAULT_MIN_NOVELTY,
) -> SelectionReport:
    """D-optimal selection over per-species B-basis projections (``pace_select``'s method).

    MaxVol picks, per species, the environments of maximal volume among the pool and the
    existing ``active_set`` (species -> active-set matrix). Structures are taken by the
    number of those environments they hold; any shortfall is filled by farthest-point
    sampling in the same projection space.
    """
    report = SelectionReport(method="maxvol", pool_size=features.n_structures, requested=n_select)
    coverage = Coverage(features)
    try:
        counts = _active_environment_counts(features, active_set, gamma_tolerance)
    except ValueError as error:
        report.note = f"MaxVol not possible ({error}); farthest-point sampling instead"
        return farthest_point_selection(
            features, n_select, min_novelty=min_novelty, coverage=coverage, report=report
        )
    total = int(sum(counts.values()))
    for index in sorted(counts, key=lambda i: (-counts[i], i)):
        if len(report.selected) >= n_select:
            break
        if coverage.novelty()[index] > min_novelty:
            reason = f"maxvol: holds {counts[index]} of the {total} active-set environments"
            _take(report, coverage, index, reason)
    if len(report.selected) < n_select:
        return farthest_point_selection(
            features, n_select, min_novelty=min_novelty, coverage=coverage, report=report
        )
    report.duplicates_skipped = _redundant(report, coverage, min_novelty)
    return report


def _active_environment_counts(
    features: AtomFeatures, active_set: dict[str, FloatArray] | None, tolerance: float
) -> dict[int, int]:
    from pyace.activelearning import compute_active_set

    names = sorted(features.blocks)
    projections = {k: features.blocks[name][0].copy() for k, name in enumerate(names)}
    owners = {k: features.blocks[name][1].astype(float) for k, name in enumerate(names)}
    extra = None
    if active_set:
        extra = {k: active_set[name] for k, name in enumerate(names) if name in active_set}
        for k in range(len(names)):
            extra.setdefault(k, np.zeros((0, projections[k].shape[1])))
    _, chosen = compute_active_set(
        projections, owners, tol=tolerance, extra_A0_projections_dict=extra
    )
    counts: dict[int, int] = {}
    for rows in chosen.values():
        for owner in np.asarray(rows, dtype=int):
            if owner >= 0:
                counts[int(owner)] = counts.get(int(owner), 0) + 1
    return counts


# --- features ------------------------------------------------------------------------------


def descriptor_features(structures: Sequence[Atoms], describe: AtomDescriptor) -> AtomFeatures:
    """One block of per-atom descriptors (e.g. MACE's invariant node features)."""
    rows = [
        np.asarray(describe(atoms), dtype=float).reshape(len(atoms), -1) for atoms in structures
    ]
    owners = np.concatenate([np.full(len(a), i) for i, a in enumerate(structures)]).astype(np.int64)
    stacked = np.vstack(rows) if rows else np.zeros((0, 1))
    return AtomFeatures(len(structures), {"all": (stacked, owners)})


RADIAL_GRID = np.linspace(1.5, 5.0, 14)
"""Distances (Å) at which :func:`radial_descriptor` samples each atom's neighbour density."""
RADIAL_WIDTH = 0.25


def radial_descriptor(elements: Sequence[str]) -> AtomDescriptor:
    """Per-atom Gaussian-smeared radial distribution, one block per neighbour element: a
    model-free descriptor for the first selection when the surrogate is not MACE."""
    from ase.data import atomic_numbers
    from ase.neighborlist import neighbor_list

    column = {atomic_numbers[symbol]: k for k, symbol in enumerate(elements)}

    def describe(atoms: Atoms) -> npt.ArrayLike:
        centres, neighbours, distances = neighbor_list(
            "ijd", atoms, float(RADIAL_GRID[-1] + 2 * RADIAL_WIDTH)
        )
        features = np.zeros((len(atoms), len(column), RADIAL_GRID.size))
        smeared = np.exp(-0.5 * ((distances[:, None] - RADIAL_GRID[None, :]) / RADIAL_WIDTH) ** 2)
        kinds = np.array([column[int(z)] for z in atoms.numbers[neighbours]], dtype=int)
        np.add.at(features, (centres, kinds), smeared)
        return features.reshape(len(atoms), -1)

    return describe


def mace_descriptor(calculator: Any) -> AtomDescriptor:
    """Per-atom invariant descriptors of a ``MACECalculator`` (first model of a committee)."""

    def describe(atoms: Atoms) -> npt.ArrayLike:
        descriptors = calculator.get_descriptors(atoms)
        first = descriptors[0] if isinstance(descriptors, list) else descriptors
        return np.asarray(first, dtype=float)

    return describe


def ace_features(structures: Sequence[Atoms], potential_yaml: Path) -> AtomFeatures:
    """Per-species B-basis projections of every atom with pyace."""
    from pyace.activelearning import compute_B_projections
    from pyace.basis import ACEBBasisSet

    basis = ACEBBasisSet(str(potential_yaml))
    projections, owners = compute_B_projections(
        basis, list(structures), return_structure_ind_dict=True
    )
    blocks = {
        basis.elements_name[species]: (np.asarray(rows), np.asarray(owners[species], np.int64))
        for species, rows in projections.items()
        if len(rows)
    }
    return AtomFeatures(len(structures), blocks)


def load_active_set(asi: Path) -> dict[str, FloatArray]:
    """The active-set matrices (species -> rows) of a pacemaker ``.asi`` inverse file."""
    with np.load(asi) as data:
        return {name: np.asarray(np.linalg.inv(data[name])) for name in data.files}


# --- the selector ------------------------------------------------------------------------


class ActiveSetSelector:
    """Picks ``n_select`` structures: MaxVol over ACE projections when a potential is given,
    farthest-point sampling over descriptors (MACE) otherwise."""

    def __init__(
        self,
        n_select: int,
        *,
        min_novelty: float = DEFAULT_MIN_NOVELTY,
        gamma_tolerance: float = 1.01,
    ) -> None:
        self.n_select = n_select
        self.min_novelty = min_novelty
        self.gamma_tolerance = gamma_tolerance

    def select(
        self,
        structures: Sequence[Atoms],
        *,
        potential: PotentialFiles | None = None,
        descriptor: AtomDescriptor | None = None,
    ) -> Selection:
        if potential is not None:
            report = self._maxvol(structures, potential)
        elif descriptor is not None:
            features = descriptor_features(structures, descriptor)
            report = farthest_point_selection(features, self.n_select, min_novelty=self.min_novelty)
        else:
            raise ValueError("selection needs an ACE potential or a descriptor (MACE)")
        return Selection(_picked(structures, report), report)

    def _maxvol(self, structures: Sequence[Atoms], potential: PotentialFiles) -> SelectionReport:
        features = ace_features(structures, potential.yaml)
        active_set = load_active_set(potential.asi) if potential.asi else None
        return maxvol_selection(
            features,
            self.n_select,
            active_set=active_set,
            gamma_tolerance=self.gamma_tolerance,
            min_novelty=self.min_novelty,
        )


def _picked(structures: Sequence[Atoms], report: SelectionReport) -> list[Atoms]:
    picked = []
    for index, reason in zip(report.selected, report.reasons, strict=True):
        atoms = structures[index].copy()
        atoms.info[keys.SELECTION_REASON] = reason
        picked.append(atoms)
    return picked
