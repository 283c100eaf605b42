"""Implausibly close pairs, by element: the rule the QE oracle applies before pw.x runs."""

from __future__ import annotations

import pytest
from ase import Atoms
from ase.build import bulk, molecule

from pyacemaker_fw.oracles.espresso.plausibility import (
    MIN_DISTANCE_FRACTION,
    implausibility,
    implausible_pairs,
)


def _pair(symbols: str, distance: float, box: float = 8.0) -> Atoms:
    centre = box / 2
    return Atoms(
        symbols,
        positions=[(centre, centre, centre), (centre, centre, centre + distance)],
        cell=[box] * 3,
        pbc=True,
    )


def test_real_structures_pass() -> None:
    assert implausibility(bulk("Si", "diamond", a=5.431)) is None
    squeezed = bulk("Si", "diamond", a=5.431 * 0.8)  # about 90 GPa: bonds at 0.85 of the sum
    assert implausibility(squeezed) is None
    cluster = molecule("SiH4")
    cluster.center(vacuum=3.0)
    assert implausibility(cluster) is None
    assert implausibility(molecule("N2")) is None  # a triple bond: 0.77 of the sum


def test_a_pair_half_an_angstrom_apart_is_named() -> None:
    reason = implausibility(_pair("Si2", 0.5))
    assert reason == (
        "atoms 0 (Si) and 1 (Si) are 0.500 Å apart, below 1.110 Å "
        f"({MIN_DISTANCE_FRACTION:g} × the sum of their covalent radii)"
    )


def test_the_limit_depends_on_the_elements() -> None:
    # 0.9 Å: far too short for Si–Si (limit 1.11 Å), a fine length for Si–H (limit 0.71 Å)
    assert implausibility(_pair("Si2", 0.9)) is not None
    assert implausibility(_pair("SiH", 0.9)) is None
    [pair] = implausible_pairs(_pair("SiH", 0.6))
    assert pair.symbols == ("Si", "H")
    assert pair.limit == pytest.approx(0.5 * (1.11 + 0.31))


def test_periodic_images_count_and_each_pair_is_listed_once() -> None:
    # one atom in a 1 Å cube sits 1 Å from its own images along x, y and z
    lonely = Atoms("Si", positions=[(0, 0, 0)], cell=[1.0] * 3, pbc=True)
    pairs = implausible_pairs(lonely)
    assert len(pairs) == 3
    assert all(pair.first == pair.second == 0 for pair in pairs)
    three = Atoms("Si3", positions=[(0, 0, 0), (0, 0, 0.6), (0, 0, 4.0)], cell=[9.0] * 3)
    pairs = implausible_pairs(three)
    assert [(pair.first, pair.second) for pair in pairs] == [(0, 1)]
    assert (implausibility(three) or "").endswith("covalent radii)")  # no "(and N more …)"


def test_the_most_compressed_pair_comes_first() -> None:
    atoms = Atoms(
        "Si2H2",
        positions=[(0, 0, 0), (0, 0, 1.0), (5, 5, 5), (5, 5, 5.3)],
        cell=[12.0] * 3,
    )
    reason = implausibility(atoms) or ""
    # Si–Si at 1.0 Å is 0.45 of its 2.22 Å sum; H–H at 0.3 Å is 0.48 of its 0.62 Å
    assert reason.startswith("atoms 0 (Si) and 1 (Si) are 1.000 Å apart")
    assert reason.endswith("(and 1 more such pairs)")
