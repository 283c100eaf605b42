"""The Phase 2 validator on Stillinger–Weber silicon, whose properties are published:
a0 = 5.431 Å, C11 = 151, C12 = 76, C44 = 56 GPa (relaxed ions)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from ase import Atoms
from ase.build import bulk

from pyacemaker_fw.config import ValidationConfig
from pyacemaker_fw.core.models import PotentialFiles
from pyacemaker_fw.oracles.reference import CalculatorOracle, lammps_calculator
from pyacemaker_fw.oracles.reference import stillinger_weber_si as sw_oracle
from pyacemaker_fw.simulation.lammps_runtime import potentials_dir
from pyacemaker_fw.validation.elastic import elastic_constants
from pyacemaker_fw.validation.report import ModelProperties, ValidationReport
from pyacemaker_fw.validation.validator import Validator, validate_potential

pytestmark = pytest.mark.engine

ASSETS = Path(__file__).resolve().parents[1] / "assets"
CONFIG = ValidationConfig(md_steps=200, md_min_atoms=64)
EPSILON_SCALE = 0.85
SIGMA_SCALE = 1.03


def _silicon() -> Atoms:
    atoms: Atoms = bulk("Si", "diamond", a=5.40)  # off V0 on purpose: the EOS must find it
    return atoms


def scaled_sw(folder: Path) -> CalculatorOracle:
    """SW silicon with epsilon × 0.85 (softer, less bound) and sigma × 1.03 (larger)."""
    lines = (potentials_dir() / "Si.sw").read_text().splitlines()
    entry = " ".join(line for line in lines if line.strip() and not line.startswith("#")).split()
    values = [float(v) for v in entry[3:]]
    values[0] *= EPSILON_SCALE
    values[1] *= SIGMA_SCALE
    path = folder / "Si_wrong.sw"
    path.write_text("Si Si Si " + " ".join(f"{v:.10g}" for v in values) + "\n")
    return CalculatorOracle(
        lambda: lammps_calculator("sw", [f"* * {path} Si"], ["Si"]), source="lammps"
    )


@pytest.fixture(scope="module")
def self_report(tmp_path_factory: pytest.TempPathFactory) -> ValidationReport:
    """SW as both model (an ASE calculator) and reference (an oracle)."""
    workdir = tmp_path_factory.mktemp("sw_vs_sw")
    model = sw_oracle().calculator
    return Validator(CONFIG).validate(
        model, sw_oracle(), _silicon(), workdir, names=("SW", "SW reference")
    )


@pytest.fixture(scope="module")
def wrong_report(tmp_path_factory: pytest.TempPathFactory) -> ValidationReport:
    workdir = tmp_path_factory.mktemp("wrong_vs_sw")
    return Validator(CONFIG).validate(
        scaled_sw(workdir), sw_oracle(), _silicon(), workdir, names=("scaled SW", "SW")
    )


def test_eos_recovers_the_sw_lattice_constant(self_report: ValidationReport) -> None:
    eos = self_report.model.eos
    assert eos is not None
    assert eos.lattice_constant == pytest.approx(5.431, abs=0.003)
    assert eos.energy == pytest.approx(-4.3366, abs=1e-3)


def test_elastic_constants_match_published_sw_values(self_report: ValidationReport) -> None:
    assert self_report.model.elastic is not None
    constants = self_report.model.elastic.constants()
    assert constants["C11"] == pytest.approx(151.0, rel=0.03)
    assert constants["C12"] == pytest.approx(76.0, rel=0.03)
    assert constants["C44"] == pytest.approx(56.0, rel=0.03)
    # cubic symmetry: the off-cubic entries vanish
    voigt = self_report.model.elastic.voigt
    assert abs(voigt[0][3]) < 0.5
    assert abs(voigt[3][4]) < 0.5


def test_unrelaxed_c44_is_about_twice_the_relaxed_one() -> None:
    at_rest = bulk("Si", "diamond", a=5.431)
    clamped = elastic_constants(at_rest, sw_oracle().calculator, relax_internal=False)
    assert clamped.constants()["C44"] == pytest.approx(110.0, rel=0.05)
    assert clamped.constants()["C11"] == pytest.approx(151.0, rel=0.03)


def test_a_model_validated_against_itself_passes(self_report: ValidationReport) -> None:
    assert self_report.passed, self_report.summary()
    names = {check.name for check in self_report.checks}
    assert {"eos.V0", "eos.E0", "eos.B0", "elastic.C11", "elastic.C12", "elastic.C44"} <= names
    assert {"phonons.imaginary", "phonons.frequencies", "md.energy_drift"} <= names
    assert self_report.check("eos.V0").error < 1e-6


def test_phonons_of_sw_silicon_are_stable(self_report: ValidationReport) -> None:
    phonons = self_report.model.phonons
    assert phonons is not None
    assert phonons.min_frequency > -0.05
    # SW's zone-centre optical mode sits near 17.8 THz (it overestimates experiment's 15.5)
    assert max(phonons.special_points["G"]) == pytest.approx(17.8, rel=0.03)


def test_md_stress_test_conserves_energy_and_keeps_atoms_apart(
    self_report: ValidationReport,
) -> None:
    md = self_report.md
    assert md is not None
    assert md.steps_completed == CONFIG.md_steps
    assert md.lost_atoms == 0
    assert md.min_distance > 1.8
    assert md.energy_drift < CONFIG.md_max_drift
    assert md.temperature_mean == pytest.approx(CONFIG.md_temperature, rel=0.3)
    assert md.gamma_max is None  # SW has no extrapolation grade
    assert "no extrapolation grade" in self_report.summary()


def test_report_has_plots_and_round_trips_as_json(self_report: ValidationReport) -> None:
    for name in ("eos", "phonons"):
        path = self_report.plots[name]
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert path.stat().st_size > 10_000
    saved = self_report.plots["eos"].parent / "validation_report.json"
    loaded = ValidationReport.model_validate(json.loads(saved.read_text()))
    assert loaded.checks == self_report.checks


def test_a_wrong_potential_fails_and_says_by_how_much(wrong_report: ValidationReport) -> None:
    assert not wrong_report.passed
    failed = {check.name for check in wrong_report.failures()}
    assert {"eos.V0", "eos.E0", "eos.B0", "elastic.C11", "elastic.C12", "elastic.C44"} <= failed
    # V0 scales with sigma³, E0 with epsilon
    assert wrong_report.check("eos.V0").error == pytest.approx(SIGMA_SCALE**3 - 1, rel=0.02)
    assert wrong_report.check("eos.E0").error == pytest.approx(
        4.3366 * (1 - EPSILON_SCALE), rel=0.02
    )
    # moduli scale with epsilon / sigma³
    expected = 1 - EPSILON_SCALE / SIGMA_SCALE**3
    assert wrong_report.check("elastic.C11").error == pytest.approx(expected, rel=0.05)
    assert "[FAILED] eos.V0" in wrong_report.summary()
    assert "9.3% > allowed 2.0%" in wrong_report.check("eos.V0").message()


def test_stored_reference_properties_stand_in_for_the_reference_model(
    self_report: ValidationReport, wrong_report: ValidationReport, tmp_path: Path
) -> None:
    # SW's measured EOS and phonons, as a file; its elastic constants left out
    stored = self_report.reference.model_copy(update={"elastic": None})
    stored = ModelProperties.model_validate_json(stored.model_dump_json())
    report = Validator(CONFIG).validate(
        scaled_sw(tmp_path), stored, _silicon(), tmp_path, names=("scaled SW", "SW file")
    )
    assert report.check("eos.V0").error == pytest.approx(wrong_report.check("eos.V0").error)
    assert report.check("phonons.frequencies").error == pytest.approx(
        wrong_report.check("phonons.frequencies").error
    )
    elastic = report.check("elastic")
    assert elastic.passed and "not checked" in elastic.detail
    assert not any(check.name.startswith("elastic.C") for check in report.checks)


def test_ace_asset_passes_against_sw_and_reports_gamma(tmp_path: Path) -> None:
    potential = PotentialFiles(
        yaml=ASSETS / "ace_si" / "potential.yaml", asi=ASSETS / "ace_si" / "potential.asi"
    )
    # 25: pacemaker's "halt" level and the campaign's threshold_call_dft
    config = CONFIG.model_copy(update={"md_max_gamma": 25.0})
    report = validate_potential(potential, sw_oracle(), config, _silicon(), tmp_path, "SW")
    assert report.passed, report.summary()
    assert report.md is not None
    assert f"gamma max {report.md.gamma_max:.3g}" in report.summary()
    assert report.md.engine == "ase VelocityVerlet on PyACECalculator"
    assert report.md.gamma_max is not None and report.md.gamma_max > 1.0
    assert report.check("md.gamma_max").value == report.md.gamma_max
    # the ACE fit learnt SW: its constants are within 5 % of the reference's
    assert report.check("elastic.C11").error < 0.05


def test_mace_committee_serves_as_the_reference_oracle(tmp_path: Path) -> None:
    from pyacemaker_fw.config import MACEConfig
    from pyacemaker_fw.oracles.mace_manager import MACEManager

    models = [str(ASSETS / "mace_si" / f"committee_{i}.model") for i in range(3)]
    reference = MACEManager(MACEConfig(model_paths=models))
    report = Validator(CONFIG).validate(
        sw_oracle().calculator, reference, _silicon(), tmp_path, names=("SW", "MACE")
    )
    eos = report.reference.eos
    assert eos is not None and eos.lattice_constant is not None
    # the tiny test committee learnt SW silicon to within a few percent
    assert eos.lattice_constant == pytest.approx(5.431, rel=0.03)
    assert report.reference.phonons is not None
    assert report.reference.phonons.min_frequency > -CONFIG.phonon_imaginary_tolerance
    assert len(report.checks) == 11
