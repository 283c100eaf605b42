"""The report's arithmetic and wording, the model adapters, and the gamma gate."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
import yaml
from ase import Atoms
from ase.build import bulk
from ase.calculators.emt import EMT

from pyacemaker_fw.config import ValidationConfig
from pyacemaker_fw.core.base import BaseOracle
from pyacemaker_fw.core.labels import attach_labels
from pyacemaker_fw.oracles.ase_adapter import OracleCalculator
from pyacemaker_fw.training.pacemaker import reference_energies
from pyacemaker_fw.validation.models import ShiftedCalculator, label_all
from pyacemaker_fw.validation.report import (
    ElasticResult,
    MDStressResult,
    ValidationReport,
    absolute_check,
    lower_bound_check,
    measurement_failure,
    relative_check,
    upper_bound_check,
)
from pyacemaker_fw.validation.validator import Validator


def test_relative_check_measures_error_against_the_reference() -> None:
    check = relative_check("eos.B0", 90.0, 100.0, 0.05, "GPa")
    assert check.error == pytest.approx(0.10)
    assert not check.passed
    assert check.message() == ("[FAILED] eos.B0: 90 vs 100 GPa (error 10.0% > allowed 5.0%)")
    assert relative_check("eos.B0", 97.0, 100.0, 0.05).passed


def test_relative_check_of_a_near_zero_constant_uses_the_given_scale() -> None:
    check = relative_check("elastic.C16", 3.0, 0.1, 0.15, "GPa", scale=20.0)
    assert check.error == pytest.approx(2.9 / 20.0)
    assert check.passed


def test_absolute_and_bound_checks() -> None:
    assert absolute_check("eos.E0", -4.30, -4.33, 0.02).error == pytest.approx(0.03)
    assert not absolute_check("eos.E0", -4.30, -4.33, 0.02).passed
    assert upper_bound_check("md.energy_drift", 0.5, 1.0).passed
    assert not upper_bound_check("md.energy_drift", math.inf, 1.0).passed
    closest = lower_bound_check("md.min_distance", 1.2, 1.5, "Å")
    assert not closest.passed
    assert "1.2 Å (< allowed 1.5)" in closest.message()


def _md(gamma: float | None, drift: float = 0.1) -> MDStressResult:
    return MDStressResult(
        engine="test",
        atoms=64,
        steps_requested=10,
        steps_completed=10,
        temperature_target=1000.0,
        temperature_mean=990.0,
        lost_atoms=0,
        min_distance=2.0,
        energy_drift=drift,
        gamma_max=gamma,
    )


def test_gamma_is_gated_only_when_a_bound_is_configured() -> None:
    reported = Validator(ValidationConfig(md_max_gamma=None)).md_checks(_md(gamma=40.0))
    assert "md.gamma_max" not in {check.name for check in reported}
    gated = Validator(ValidationConfig(md_max_gamma=25.0)).md_checks(_md(gamma=40.0))
    (gamma,) = [check for check in gated if check.name == "md.gamma_max"]
    assert not gamma.passed
    assert gamma.value == 40.0


def test_the_summary_shows_the_gamma_reached_even_when_it_is_not_gated() -> None:
    report = ValidationReport(model_name="ACE", reference_name="SW", structure="Si2")
    report.md = _md(gamma=17.7)
    assert report.summary().splitlines()[-1] == (
        "  md stress test: 10/10 steps on 64 atoms at 990 K, closest pair 2.00 Å, "
        "drift 0.1 meV/atom/ps, gamma max 17.7"
    )
    assert "no extrapolation grade (the model has none)" in _md(gamma=None).summary()


def test_a_property_that_could_not_be_measured_is_a_failed_check() -> None:
    check = measurement_failure("eos", "no energy minimum")
    assert not check.passed
    assert check.message() == "[FAILED] eos: could not be measured; no energy minimum"
    report = ValidationReport(model_name="a", reference_name="b", structure="Cu", checks=[check])
    again = ValidationReport.model_validate_json(report.model_dump_json())
    assert again.checks[0].name == "eos" and not again.passed


def test_non_cubic_cells_compare_every_independent_constant() -> None:
    stiffness = np.diag([200.0, 200.0, 180.0, 50.0, 50.0, 60.0])
    stiffness[0, 1] = stiffness[1, 0] = 90.0
    reference = ElasticResult(voigt=stiffness.tolist(), cubic=False, relaxed_ions=True)
    model = ElasticResult(voigt=(stiffness + 1.0).tolist(), cubic=False, relaxed_ions=True)
    checks = Validator(ValidationConfig()).elastic_checks(model, reference)
    assert len(checks) == 21
    small = next(check for check in checks if check.name == "elastic.C14")
    assert small.error == pytest.approx(1.0 / 20.0)  # over 10 % of the largest diagonal


class _EMTOracle(BaseOracle):
    name = "emt"

    def __init__(self) -> None:
        self.calls = 0

    def label(self, structures: Sequence[Atoms]) -> list[Atoms]:
        self.calls += 1
        labelled = []
        for atoms in structures:
            work = atoms.copy()
            work.calc = EMT()
            labelled.append(
                attach_labels(
                    atoms, work.get_potential_energy(), work.get_forces(), "emt", work.get_stress()
                )
            )
        return labelled


def test_an_oracle_serves_as_a_calculator_and_labels_in_one_batch() -> None:
    atoms = bulk("Cu", "fcc", a=3.6, cubic=True)
    atoms.rattle(0.05, seed=1)
    oracle = _EMTOracle()
    atoms.calc = OracleCalculator(oracle)
    direct = atoms.copy()
    direct.calc = EMT()
    assert atoms.get_potential_energy() == pytest.approx(direct.get_potential_energy())
    np.testing.assert_allclose(atoms.get_forces(), direct.get_forces(), atol=1e-12)

    oracle.calls = 0
    labelled = label_all(oracle, [atoms, atoms, atoms])
    assert oracle.calls == 1
    assert len(labelled) == 3


def test_pacemaker_reference_energies_are_added_back(tmp_path: Path) -> None:
    potential = tmp_path / "potential.yaml"
    metadata = {"reference_energy": '{"Cu": -3.5, "shift": -0.25}'}
    potential.write_text(yaml.safe_dump({"metadata": metadata}))
    per_element, shift = reference_energies(potential)
    assert per_element == {"Cu": -3.5}
    assert shift == -0.25

    atoms = bulk("Cu", "fcc", a=3.6, cubic=True)
    plain = atoms.copy()
    plain.calc = EMT()
    atoms.calc = ShiftedCalculator(EMT(), per_element, shift)
    expected = plain.get_potential_energy() + len(atoms) * (-3.5 + 0.25)
    assert atoms.get_potential_energy() == pytest.approx(expected)
    np.testing.assert_allclose(atoms.get_forces(), plain.get_forces())
