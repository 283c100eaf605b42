"""Active-set selection: diverse picks, never the same structure twice, and a report of why."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk
from ase.io import read

from pyacemaker_fw.config import DistillationConfig
from pyacemaker_fw.core import keys
from pyacemaker_fw.core.models import PotentialFiles
from pyacemaker_fw.generation.combinatorial import CombinatorialGenerator
from pyacemaker_fw.generation.selection import (
    ActiveSetSelector,
    AtomFeatures,
    farthest_point_selection,
    mace_descriptor,
)

ASSETS = Path(__file__).resolve().parents[1] / "assets"
ACE = PotentialFiles(
    yaml=ASSETS / "ace_si" / "potential.yaml", asi=ASSETS / "ace_si" / "potential.asi"
)
GROUP = "duplicate_group"


def _features(structures: list[np.ndarray]) -> AtomFeatures:
    rows = np.vstack(structures)
    owners = np.concatenate([np.full(len(s), i) for i, s in enumerate(structures)])
    return AtomFeatures(len(structures), {"all": (rows, owners.astype(np.int64))})


def test_farthest_point_never_picks_a_duplicate_twice() -> None:
    rng = np.random.default_rng(0)
    distinct = [rng.normal(size=(4, 6)) for _ in range(6)]
    # exact copies, and a copy with its atoms listed in another order
    pool = [*distinct, distinct[0], distinct[3].copy(), distinct[5][::-1]]
    groups = [0, 1, 2, 3, 4, 5, 0, 3, 5]
    report = farthest_point_selection(_features(pool), 6)
    assert sorted(groups[i] for i in report.selected) == [0, 1, 2, 3, 4, 5]

    greedy = farthest_point_selection(_features(pool), 9)
    assert len(greedy.selected) == 6
    assert greedy.duplicates_skipped == 3
    assert "stopped at 6" in greedy.note


def test_farthest_point_spreads_over_the_feature_space() -> None:
    positions = [0.0, 0.01, 0.02, 5.0, 10.0]
    pool = [np.array([[x]]) for x in positions]
    report = farthest_point_selection(_features(pool), 3)
    assert sorted(positions[i] for i in report.selected) == [0.0, 5.0, 10.0]
    assert len(report.reasons) == 3
    assert report.reasons[0].startswith("farthest-point seed")


@pytest.fixture(scope="module")
def pool_with_duplicates() -> list[Atoms]:
    config = DistillationConfig(pool_size=60, n_select=10, max_atoms=16, surfaces=False)
    pool = CombinatorialGenerator(["Si"], config).generate()
    for index, atoms in enumerate(pool):
        atoms.info[GROUP] = index
    copies = []
    for atoms in pool[::4]:
        copy = atoms.copy()
        copy.translate([0.3, -0.2, 0.1])  # the same structure, shifted
        copy.wrap()
        copies.append(copy)
    return pool + copies


def _assert_no_duplicates(picked: list[Atoms]) -> None:
    groups = Counter(int(atoms.info[GROUP]) for atoms in picked)
    assert max(groups.values()) == 1, f"picked twice: {groups.most_common(3)}"


@pytest.mark.engine
def test_maxvol_over_ace_projections_skips_duplicates(pool_with_duplicates: list[Atoms]) -> None:
    selection = ActiveSetSelector(30).select(pool_with_duplicates, potential=ACE)
    report = selection.report
    assert report.method == "maxvol"
    assert len(selection.structures) == 30
    _assert_no_duplicates(selection.structures)
    assert report.reasons[0].startswith("maxvol: holds")
    assert all(atoms.info[keys.SELECTION_REASON] for atoms in selection.structures)
    copied = Counter(int(atoms.info[GROUP]) for atoms in pool_with_duplicates)
    picked_with_a_copy = [a for a in selection.structures if copied[int(a.info[GROUP])] == 2]
    assert picked_with_a_copy
    # the other member of each picked pair is known once its twin is in
    assert report.duplicates_skipped >= len(picked_with_a_copy)


@pytest.mark.engine
def test_maxvol_with_an_active_set_still_reports_every_pick(
    pool_with_duplicates: list[Atoms],
) -> None:
    without = ActiveSetSelector(10).select(
        pool_with_duplicates, potential=PotentialFiles(yaml=ACE.yaml)
    )
    with_set = ActiveSetSelector(10).select(pool_with_duplicates, potential=ACE)
    assert len(with_set.report.selected) == len(without.report.selected) == 10
    _assert_no_duplicates(with_set.structures)
    assert with_set.report.summary().startswith("maxvol: picked 10 of 75")


@pytest.mark.engine
def test_an_existing_active_set_steers_maxvol_to_unknown_environments() -> None:
    known = read(ASSETS / "si_sw" / "train.extxyz", ":20")
    config = DistillationConfig(
        pool_size=30, n_select=5, max_atoms=16, prototypes=["sc", "bcc"], surfaces=False
    )
    unknown = CombinatorialGenerator(["Si"], config).generate()[:10]
    for atoms in known:
        atoms.info["novel"] = False
    for atoms in unknown:
        atoms.info["novel"] = True
    pool = known + unknown

    def novel_picks(potential: PotentialFiles) -> int:
        picked = ActiveSetSelector(8).select(pool, potential=potential).structures
        return sum(bool(atoms.info["novel"]) for atoms in picked)

    with_active_set = novel_picks(ACE)
    without = novel_picks(PotentialFiles(yaml=ACE.yaml))
    assert with_active_set >= 4
    assert with_active_set > without


@pytest.mark.engine
def test_maxvol_without_enough_environments_falls_back_to_farthest_point() -> None:
    pool = [bulk("Si", "sc", a=2.5 + 0.02 * k) for k in range(10)]  # 10 atoms < 40 functions
    report = ActiveSetSelector(5).select(pool, potential=PotentialFiles(yaml=ACE.yaml)).report
    assert "farthest-point sampling instead" in report.note
    assert len(report.selected) == 5
    assert report.method == "maxvol"


@pytest.mark.engine
def test_farthest_point_over_mace_descriptors_skips_duplicates() -> None:
    from mace.calculators import MACECalculator

    calculator = MACECalculator(
        model_paths=str(ASSETS / "mace_si" / "committee_0.model"),
        device="cpu",
        default_dtype="float32",
    )
    pool = []
    for index in range(8):
        atoms = bulk("Si", "diamond", a=5.431, cubic=True)
        atoms.rattle(0.03 * (1 + index % 4), seed=index)
        atoms.info[GROUP] = index
        pool.append(atoms)
    pool += [atoms.copy() for atoms in pool[:4]]
    selection = ActiveSetSelector(8).select(pool, descriptor=mace_descriptor(calculator))
    assert selection.report.method == "farthest_point"
    assert len(selection.structures) == 8
    _assert_no_duplicates(selection.structures)


def test_selector_needs_a_potential_or_a_descriptor() -> None:
    with pytest.raises(ValueError, match="ACE potential or a descriptor"):
        ActiveSetSelector(2).select([bulk("Si")])
