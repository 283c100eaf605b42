"""The combinatorial generator: counts, bounds, determinism and the physics of each family."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
from ase import Atoms
from ase.neighborlist import neighbor_list

from pyacemaker_fw.config import DistillationConfig
from pyacemaker_fw.core import keys
from pyacemaker_fw.generation import prototypes as proto
from pyacemaker_fw.generation.combinatorial import (
    CombinatorialGenerator,
    largest_void,
    stratified_quotas,
)

SI_A0 = 5.431


def _families(pool: list[Atoms]) -> Counter[str]:
    return Counter(str(atoms.info[keys.STRUCTURE_FAMILY]) for atoms in pool)


@pytest.fixture(scope="module")
def si_pool() -> list[Atoms]:
    config = DistillationConfig(pool_size=120, n_select=20, max_atoms=32)
    return CombinatorialGenerator(["Si"], config).generate()


def test_pool_has_exactly_pool_size_structures_within_max_atoms(si_pool: list[Atoms]) -> None:
    assert len(si_pool) == 120
    assert max(len(atoms) for atoms in si_pool) <= 32
    assert all(keys.PROVENANCE in atoms.info for atoms in si_pool)


def test_single_element_pool_holds_every_family_but_alloys(si_pool: list[Atoms]) -> None:
    families = _families(si_pool)
    expected = {"bulk", "volume", "vacancy", "interstitial", "surface", "rattle", "shear"}
    assert set(families) == expected


def test_same_seed_same_pool_other_seed_other_pool() -> None:
    def pool(seed: int) -> list[Atoms]:
        config = DistillationConfig(pool_size=40, n_select=5, max_atoms=16, seed=seed)
        return CombinatorialGenerator(["Si"], config).generate()

    first, again, other = pool(3), pool(3), pool(4)
    assert [a.info[keys.PROVENANCE] for a in first] == [a.info[keys.PROVENANCE] for a in again]
    assert all(np.array_equal(a.positions, b.positions) for a, b in zip(first, again, strict=True))
    assert any(
        a.info[keys.PROVENANCE] != b.info[keys.PROVENANCE]
        or not np.allclose(a.positions, b.positions)
        for a, b in zip(first, other, strict=True)
    )


def test_small_pool_is_thinned_evenly_across_families() -> None:
    config = DistillationConfig(pool_size=21, n_select=5, max_atoms=16)
    pool = CombinatorialGenerator(["Si"], config).generate()
    counts = _families(pool)
    assert len(pool) == 21
    assert len(counts) == 7
    assert max(counts.values()) - min(counts.values()) <= 1


def test_stratified_quotas_keep_small_families_whole() -> None:
    quotas = stratified_quotas({"a": 2, "b": 50, "c": 50}, 30)
    assert quotas == {"a": 2, "b": 14, "c": 14}
    assert stratified_quotas({"a": 3}, 10) == {"a": 3}


def test_volumetric_strains_span_the_configured_range(si_pool: list[Atoms]) -> None:
    ground = proto.volume_per_atom("Si")
    diamond = [
        a.get_volume() / len(a)
        for a in si_pool
        if a.info[keys.STRUCTURE_FAMILY] == "volume" and "Si-diamond/" in a.info[keys.PROVENANCE]
    ]
    assert min(diamond) == pytest.approx(ground * 0.92, rel=1e-9)
    assert max(diamond) == pytest.approx(ground * 1.08, rel=1e-9)


def test_prototypes_share_the_ground_state_volume_per_atom() -> None:
    volume = proto.volume_per_atom("Si")
    assert volume == pytest.approx(SI_A0**3 / 8, rel=1e-3)
    for lattice in ("diamond", "fcc", "bcc", "hcp", "sc"):
        for conventional in (False, True):
            cell = proto.prototype("Si", lattice, volume, conventional=conventional)
            assert cell.get_volume() / len(cell) == pytest.approx(volume, rel=1e-9)


def test_vacancy_removes_one_atom_from_its_host() -> None:
    config = DistillationConfig(pool_size=50, n_select=5, max_atoms=64, prototypes=["diamond"])
    generator = CombinatorialGenerator(["Si"], config)
    (vacancy,) = generator.vacancies(generator.elemental_bases())
    assert len(vacancy) == 63
    coordination = np.bincount(neighbor_list("i", vacancy, 2.6), minlength=len(vacancy))
    assert sorted(Counter(coordination.tolist()).items()) == [(3, 4), (4, 59)]


def test_interstitial_sits_in_the_tetrahedral_void_of_diamond() -> None:
    host = proto.bounded_supercell(
        proto.prototype("Si", "diamond", SI_A0**3 / 8, conventional=True), 63
    )
    site = largest_void(host)
    nearest = np.linalg.norm(host.positions - site, axis=1).min()
    # the tetrahedral interstitial is one bond length (a√3/4) from its four neighbours
    assert nearest == pytest.approx(SI_A0 * np.sqrt(3) / 4, rel=0.02)


def test_surfaces_have_vacuum_beyond_the_cutoff(si_pool: list[Atoms]) -> None:
    slabs = [a for a in si_pool if a.info[keys.STRUCTURE_FAMILY] == "surface"]
    assert slabs
    for slab in slabs:
        thickness = np.ptp(slab.positions[:, 2])
        assert slab.cell[2, 2] - thickness >= 12.0 - 1e-6
        assert slab.pbc.all()


def test_alloys_follow_the_configured_composition() -> None:
    config = DistillationConfig(
        pool_size=60,
        n_select=5,
        max_atoms=32,
        compositions=[{"Cu": 3, "Ni": 1}],
        prototypes=["fcc", "bcc"],
    )
    pool = CombinatorialGenerator(["Cu", "Ni"], config).generate()
    alloys = [a for a in pool if a.info[keys.STRUCTURE_FAMILY] == "alloy"]
    assert alloys
    for alloy in alloys:
        symbols = Counter(alloy.get_chemical_symbols())
        assert symbols["Cu"] / len(alloy) == pytest.approx(0.75, abs=0.5 / len(alloy))
    orders = {tuple(a.get_chemical_symbols()) for a in alloys if len(a) == len(alloys[0])}
    assert len(orders) > 1, "random alloys of one size should not all share one ordering"


def test_default_compositions_cover_every_pair() -> None:
    compositions = proto.default_compositions(["Cu", "Ni", "Al"])
    assert {"Cu": 1 / 3, "Ni": 1 / 3, "Al": 1 / 3} in compositions
    assert {"Cu": 0.75, "Al": 0.25} in compositions
    assert proto.default_compositions(["Si"]) == []


def test_composition_with_a_foreign_element_is_rejected() -> None:
    config = DistillationConfig(compositions=[{"Si": 0.5, "Ge": 0.5}])
    with pytest.raises(ValueError, match="Ge"):
        CombinatorialGenerator(["Si"], config)


def test_campaign_config_rejects_compositions_of_other_elements() -> None:
    from pydantic import ValidationError

    from pyacemaker_fw.config import CampaignConfig

    with pytest.raises(ValidationError, match="not in elements"):
        CampaignConfig(
            name="x", elements=["Si"], distillation={"compositions": [{"Si": 1, "Ge": 1}]}
        )
