"""pw.x input building: k-points, clusters, smearing, cutoffs and pseudopotentials."""

from __future__ import annotations

from pathlib import Path

import pytest
from ase import Atoms
from ase.build import bulk, molecule

from pyacemaker_fw.config import EspressoConfig
from pyacemaker_fw.oracles.espresso.inputs import (
    EMPTY_BANDS,
    PwInput,
    build_pw_input,
    fortran_value,
    kpoint_grid,
    settings_summary,
)
from pyacemaker_fw.oracles.espresso.pseudopotentials import (
    PseudopotentialError,
    read_upf_header,
    valence_electrons,
)

PSEUDO_DIR = Path("/usr/share/espresso/pseudo")


def _si2() -> Atoms:
    return bulk("Si", "diamond", a=5.431)


def test_kpoint_grid_follows_the_reciprocal_lengths() -> None:
    cubic = bulk("Si", "diamond", a=5.431, cubic=True)  # |b| = 1/5.431 Å^-1 = 0.184
    assert kpoint_grid(cubic, 0.1) == (2, 2, 2)
    assert kpoint_grid(cubic, 0.05) == (4, 4, 4)
    elongated = cubic.repeat((1, 1, 3))
    assert kpoint_grid(elongated, 0.05) == (4, 4, 2)


def test_large_cells_clusters_and_slabs() -> None:
    assert kpoint_grid(bulk("Si", "diamond", a=5.431, cubic=True).repeat(3), 0.1) is None
    cluster = molecule("SiH4")
    cluster.center(vacuum=4.0)
    assert kpoint_grid(cluster, 0.01) is None
    slab = bulk("Si", "diamond", a=5.431, cubic=True)
    slab.pbc = (True, True, False)
    assert kpoint_grid(slab, 0.05) == (4, 4, 1)


def test_periodic_input_has_grid_stress_forces_and_default_ecutrho() -> None:
    config = EspressoConfig(ecutwfc=25.0, ecutrho=None, kspacing=0.1, kpoint_shift=False)
    pw_input = build_pw_input(_si2(), config)
    assert pw_input.k_points() == [4, 4, 4, 0, 0, 0]
    assert pw_input.get("control", "tprnfor") is True
    assert pw_input.get("control", "tstress") is True
    assert pw_input.get("system", "ecutrho") == pytest.approx(100.0)  # null: 4 × ecutwfc
    assert EspressoConfig().ecutrho == 240.0  # what H's PAW dataset needs at 30 Ry
    assert pw_input.get("system", "assume_isolated") is None
    assert pw_input.get("system", "occupations") == "smearing"
    assert pw_input.get("system", "smearing") == "mv"


def test_cluster_input_is_gamma_isolated_without_stress() -> None:
    cluster = molecule("SiH4")
    cluster.center(vacuum=4.0)
    pw_input = build_pw_input(cluster, EspressoConfig())
    assert pw_input.k_points() == "gamma"
    assert pw_input.get("system", "assume_isolated") == "mt"
    assert pw_input.get("control", "tstress") is False
    assert settings_summary(pw_input)["pseudopotentials"] == {
        "Si": "Si.pbe-rrkj.UPF",
        "H": "H.pbe-kjpaw.UPF",
    }


def test_fixed_occupations_get_empty_bands_to_show_the_gap() -> None:
    pw_input = build_pw_input(_si2(), EspressoConfig(smearing=None))
    assert pw_input.get("system", "occupations") == "fixed"
    assert pw_input.get("system", "nbnd") == 8 // 2 + EMPTY_BANDS  # 2 Si × 4 valence electrons
    smeared = build_pw_input(_si2(), EspressoConfig())
    assert smeared.get("system", "nbnd") is None  # pw.x picks its own for smearing


def test_fixed_occupations_limits_and_overrides() -> None:
    config = EspressoConfig(smearing=None, max_seconds=100.0, ecutrho=150.0)
    pw_input = build_pw_input(_si2(), config, {"system": {"nbnd": 12}})
    assert pw_input.get("system", "occupations") == "fixed"
    assert pw_input.get("system", "smearing") is None
    assert pw_input.get("system", "nbnd") == 12
    assert pw_input.get("system", "ecutrho") == pytest.approx(150.0)
    assert pw_input.get("control", "max_seconds") == pytest.approx(100.0)


def test_missing_pseudopotential_is_named() -> None:
    with pytest.raises(PseudopotentialError, match=r"\['Ge'\]"):
        build_pw_input(bulk("Ge", "diamond", a=5.65), EspressoConfig())
    absent = EspressoConfig(pseudopotentials={"Si": "Si.nothing.UPF"})
    with pytest.raises(PseudopotentialError, match=r"Si\.nothing\.UPF"):
        build_pw_input(_si2(), absent)


def test_upf_headers_of_both_versions_give_element_and_valence() -> None:
    v2 = read_upf_header(PSEUDO_DIR / "Si.pbe-rrkj.UPF")
    assert (v2.element, v2.z_valence, v2.version) == ("Si", 4.0, 2)
    v1 = read_upf_header(PSEUDO_DIR / "Si.rel-pbe-rrkj.UPF")
    assert (v1.element, v1.z_valence, v1.version) == ("Si", 4.0, 1)
    assert read_upf_header(PSEUDO_DIR / "H.pbe-kjpaw.UPF").element == "H"  # element=" H"
    cluster = molecule("SiH4")
    assert valence_electrons(cluster, EspressoConfig()) == 8.0


def test_a_pseudopotential_of_another_element_is_refused() -> None:
    wrong = EspressoConfig(pseudopotentials={"Si": "Al.pz-vbc.UPF"})
    with pytest.raises(PseudopotentialError, match=r"maps Si to Al\.pz-vbc\.UPF.*for Al"):
        build_pw_input(_si2(), wrong)


@pytest.mark.parametrize(
    ("keep", "why"),
    [(0, "no <PP_HEADER>"), (400, "no <PP_HEADER>"), (60_000, "cut short")],
)
def test_a_truncated_pseudopotential_is_refused(tmp_path: Path, keep: int, why: str) -> None:
    name = "Si.pbe-rrkj.UPF"
    (tmp_path / name).write_bytes((PSEUDO_DIR / name).read_bytes()[:keep])
    config = EspressoConfig(pseudo_dir=tmp_path, pseudopotentials={"Si": name})
    with pytest.raises(PseudopotentialError, match=why):
        build_pw_input(_si2(), config)


def test_a_cluster_without_a_box_is_refused() -> None:
    with pytest.raises(ValueError, match="vacuum"):
        build_pw_input(molecule("SiH4"), EspressoConfig())


def test_input_round_trips_through_text(tmp_path: Path) -> None:
    original = build_pw_input(_si2(), EspressoConfig())
    original.write(tmp_path / "pw.in")
    again = PwInput.read(tmp_path / "pw.in")
    assert again == original
    assert "&FCP" not in (tmp_path / "pw.in").read_text()  # pw.x 6.7 warns on unknown namelists


def test_fortran_values() -> None:
    assert fortran_value(True) == ".true."
    assert fortran_value(3) == "3"
    assert fortran_value(1e-7) == "1e-07"
    assert fortran_value("local-TF") == "'local-TF'"
    with pytest.raises(TypeError):
        fortran_value([1, 2])


def test_a_shifted_grid_offsets_the_axes_with_several_points_and_keeps_gamma_alone() -> None:
    from pyacemaker_fw.oracles.espresso.inputs import kpoint_sampling

    big = bulk("Si", "diamond", a=5.431, cubic=True).repeat(2)
    assert kpoint_sampling(big, 0.1, shift=False) == (None, (0, 0, 0))
    assert kpoint_sampling(big, 0.1, shift=True) == (None, (0, 0, 0))  # Gamma stays Gamma
    assert kpoint_sampling(big, 0.05, shift=True) == ((2, 2, 2), (1, 1, 1))
    slab = bulk("Si", "diamond", a=5.431, cubic=True)
    slab.pbc = (True, True, False)
    assert kpoint_sampling(slab, 0.05, shift=True) == ((4, 4, 1), (1, 1, 0))
    cluster = bulk("Si", "diamond", a=5.431, cubic=True)
    cluster.pbc = False
    cluster.center(vacuum=3.0)
    assert kpoint_sampling(cluster, 0.05, shift=True) == (None, (0, 0, 0))
    config = EspressoConfig(kpoint_shift=True, kspacing=0.05)
    card = build_pw_input(big, config).to_string()
    assert "K_POINTS automatic" in card and "2 2 2  1 1 1" in card
