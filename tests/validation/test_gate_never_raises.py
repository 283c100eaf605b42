"""The gate fails with a reason and never raises: far equilibria, no minimum, a broken gamma.

EMT copper stands in for a potential: it is exact, fast and has a known equilibrium. A copy
of it with every length scaled by f^(1/3) has its equilibrium volume f times larger and its
bulk modulus f times smaller, with no approximation. With f = 0.8 the fit of a ±6 % scan
used to raise scipy's RuntimeError.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk
from ase.calculators.calculator import Calculator, all_changes
from ase.calculators.emt import EMT

from pyacemaker_fw.config import ValidationConfig
from pyacemaker_fw.validation.eos import equation_of_state
from pyacemaker_fw.validation.md_stress import md_stress_test
from pyacemaker_fw.validation.validator import NO_EQUILIBRIUM, REPORT_FILE, Validator

FAST = ValidationConfig(md_steps=40, md_min_atoms=32, phonon_supercell=(2, 2, 2), md_max_gamma=25.0)
VOLUME_FACTOR = 0.8


class StretchedEMT(Calculator):
    """EMT evaluated on the structure shrunk by ``factor``^(1/3): E'(V) = E(V / factor)."""

    implemented_properties: ClassVar[list[str]] = ["energy", "free_energy", "forces", "stress"]

    def __init__(self, factor: float) -> None:
        super().__init__()
        self.factor = factor

    def calculate(
        self,
        atoms: Atoms | None = None,
        properties: Sequence[str] = ("energy",),
        system_changes: Sequence[str] = tuple(all_changes),
    ) -> None:
        super().calculate(atoms, properties, system_changes)
        assert self.atoms is not None
        shrink = self.factor ** (-1.0 / 3.0)
        small = self.atoms.copy()
        small.set_cell(self.atoms.cell.array * shrink, scale_atoms=True)
        small.calc = EMT()
        energy = small.get_potential_energy()
        self.results = {
            "energy": energy,
            "free_energy": energy,
            "forces": small.get_forces() * shrink,
            "stress": small.get_stress() / self.factor,
        }


class Expanding(Calculator):
    """A 'potential' whose energy falls for ever as the cell grows: it has no equilibrium."""

    implemented_properties: ClassVar[list[str]] = ["energy", "free_energy", "forces", "stress"]

    def calculate(
        self,
        atoms: Atoms | None = None,
        properties: Sequence[str] = ("energy",),
        system_changes: Sequence[str] = tuple(all_changes),
    ) -> None:
        super().calculate(atoms, properties, system_changes)
        assert self.atoms is not None
        energy = -0.1 * self.atoms.get_volume()
        pressure = 0.1  # -dE/dV
        self.results = {
            "energy": energy,
            "free_energy": energy,
            "forces": np.zeros((len(self.atoms), 3)),
            "stress": np.array([-pressure] * 3 + [0.0] * 3),
        }


class GammaFailsAfter(EMT):  # type: ignore[misc]
    """EMT that reports an extrapolation grade of 2 per atom, and NaN from call ``calls`` on."""

    def __init__(self, calls: int) -> None:
        super().__init__()
        self.calls_left = calls

    def calculate(self, *args: object, **kwargs: object) -> None:
        super().calculate(*args, **kwargs)
        self.calls_left -= 1
        grade = 2.0 if self.calls_left > 0 else math.nan
        self.results["gamma"] = np.full(len(self.atoms), grade)


def _copper() -> Atoms:
    atoms: Atoms = bulk("Cu", "fcc", a=3.59)
    return atoms


@pytest.mark.parametrize("factor", [VOLUME_FACTOR, 1.2, 1.3])
def test_an_equilibrium_20_percent_away_is_found_not_extrapolated(factor: float) -> None:
    near = equation_of_state(_copper(), EMT())
    far = equation_of_state(_copper(), StretchedEMT(factor))
    assert far.volume == pytest.approx(factor * near.volume, rel=2e-3)
    assert far.bulk_modulus == pytest.approx(near.bulk_modulus / factor, rel=2e-2)
    assert far.energy == pytest.approx(near.energy, abs=1e-4)
    assert min(far.volumes) < far.volume < max(far.volumes)  # fitted inside its own scan


def test_a_reference_20_percent_smaller_fails_the_gate_by_that_much(tmp_path: Path) -> None:
    report = Validator(FAST).validate(
        EMT(), StretchedEMT(VOLUME_FACTOR), _copper(), tmp_path, names=("EMT", "stretched")
    )
    assert report.model.failures == {} and report.reference.failures == {}
    volume = report.check("eos.V0")
    assert not volume.passed
    assert volume.error == pytest.approx(1 / VOLUME_FACTOR - 1, rel=1e-2)  # 25 % of its V0
    assert not report.passed
    assert (tmp_path / REPORT_FILE).is_file()


def test_an_eos_without_a_minimum_fails_and_says_what_was_seen(tmp_path: Path) -> None:
    report = Validator(FAST).validate(
        Expanding(), EMT(), _copper(), tmp_path, names=("expanding", "EMT")
    )
    eos = report.check("eos")
    assert not eos.passed
    assert "no energy minimum: the energy keeps falling towards larger volumes" in eos.detail
    assert "E(V) in eV/atom" in eos.detail
    assert report.check("elastic").detail == NO_EQUILIBRIUM
    assert report.check("phonons").detail == NO_EQUILIBRIUM
    assert "[FAILED] eos: could not be measured; " in report.summary()
    assert report.reference.eos is not None  # the reference was still measured
    assert report.md is not None  # the stress test ran at the given volume
    assert (tmp_path / REPORT_FILE).is_file()


def test_a_broken_reference_fails_the_gate_under_its_own_name(tmp_path: Path) -> None:
    report = Validator(FAST).validate(
        EMT(), Expanding(), _copper(), tmp_path, names=("EMT", "expanding")
    )
    assert not report.check("reference.eos").passed
    assert report.model.eos is not None
    assert not report.passed


def test_a_non_finite_gamma_stops_the_stress_test_and_fails_the_gate() -> None:
    md = md_stress_test(bulk("Cu", "fcc", a=3.61, cubic=True), GammaFailsAfter(calls=4), FAST)
    assert md.error == "the extrapolation grade gamma is not finite"
    assert md.gamma_max is not None and math.isnan(md.gamma_max)
    assert md.steps_completed < FAST.md_steps
    [gamma] = [c for c in Validator(FAST).md_checks(md) if c.name == "md.gamma_max"]
    assert not gamma.passed
    assert "gamma max nan" in md.summary()


def test_the_gamma_reached_is_reported_and_gated() -> None:
    md = md_stress_test(bulk("Cu", "fcc", a=3.61, cubic=True), GammaFailsAfter(calls=10**6), FAST)
    assert md.gamma_max == 2.0
    assert "gamma max 2" in md.summary()
    [gamma] = [c for c in Validator(FAST).md_checks(md) if c.name == "md.gamma_max"]
    assert gamma.passed and gamma.tolerance == 25.0
