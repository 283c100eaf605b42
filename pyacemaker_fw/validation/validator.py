"""The Phase 2 gate: score a model against a reference on one crystal.

Both the model and the reference may be any ASE calculator or any :class:`BaseOracle`
(MACE, QE, a classical potential). Each is measured at its own equilibrium volume:

1. EOS (Birch–Murnaghan): V0, E0, B0;
2. elastic constants by ±strain at V0 (relaxed ions by default): C11, C12, C44 for cubic
   cells, every independent C_ij otherwise;
3. phonons with phonopy at V0: imaginary modes of the model, frequencies at the
   high-symmetry points of both;
4. a hot NVE run of the model alone: lost atoms, closest pair, energy drift, gamma.

Every comparison becomes a :class:`CheckResult` against the tolerances of
:class:`ValidationConfig`; the report says what failed and by how much.
"""

from __future__ import annotations

import logging
from pathlib import Path

from ase import Atoms
from ase.build import bulk
from ase.calculators.calculator import Calculator
from ase.io import read

from pyacemaker_fw.config import ValidationConfig
from pyacemaker_fw.core.models import PotentialFiles
from pyacemaker_fw.oracles.ase_adapter import Model, as_calculator
from pyacemaker_fw.validation.elastic import elastic_constants
from pyacemaker_fw.validation.eos import equation_of_state
from pyacemaker_fw.validation.md_stress import md_stress_test
from pyacemaker_fw.validation.models import ace_calculator
from pyacemaker_fw.validation.phonons import frequency_error, phonon_bands
from pyacemaker_fw.validation.plots import plot_bands, plot_eos
from pyacemaker_fw.validation.report import (
    CheckResult,
    ElasticResult,
    EOSResult,
    MDStressResult,
    ModelProperties,
    PhononResult,
    ValidationReport,
    absolute_check,
    lower_bound_check,
    relative_check,
    upper_bound_check,
)
from pyacemaker_fw.validation.symmetry import with_volume_per_atom

log = logging.getLogger(__name__)

SMALL_CONSTANT_FRACTION = 0.1
"""Non-cubic C_ij below this fraction of the largest diagonal one are compared against that
fraction instead of themselves (a relative error of a near-zero constant means nothing)."""
REPORT_FILE = "validation_report.json"


def validation_structure(config: ValidationConfig, elements: list[str]) -> Atoms:
    """The configured crystal, or ASE's ground state of the first element."""
    if config.structure is not None:
        structure = read(config.structure, index=-1)
        assert isinstance(structure, Atoms)
        return structure
    crystal: Atoms = bulk(elements[0])
    return crystal


class Validator:
    """Measures, compares and plots; see the module docstring for the checks."""

    def __init__(self, config: ValidationConfig) -> None:
        self.config = config

    def properties(self, model: Model, structure: Atoms) -> ModelProperties:
        """EOS, then elastic constants and phonons at the model's own V0."""
        cfg = self.config
        eos = equation_of_state(
            structure,
            model,
            points=cfg.eos_points,
            volume_range=cfg.eos_volume_range,
            relax_internal=cfg.elastic_relax_internal,
        )
        at_rest = with_volume_per_atom(structure, eos.volume)
        elastic = elastic_constants(
            at_rest, model, strain=cfg.elastic_strain, relax_internal=cfg.elastic_relax_internal
        )
        phonons = phonon_bands(
            at_rest, model, supercell=cfg.phonon_supercell, displacement=cfg.phonon_displacement
        )
        return ModelProperties(eos=eos, elastic=elastic, phonons=phonons)

    def validate(
        self,
        model: Model,
        reference: Model,
        structure: Atoms,
        workdir: Path,
        *,
        names: tuple[str, str] = ("model", "reference"),
        md_calculator: Calculator | None = None,
    ) -> ValidationReport:
        """The full gate. ``md_calculator`` (default: the model's) runs the stress test."""
        workdir.mkdir(parents=True, exist_ok=True)
        report = ValidationReport(
            model_name=names[0],
            reference_name=names[1],
            structure=structure.get_chemical_formula(),
        )
        report.reference = self.properties(reference, structure)
        report.model = self.properties(model, structure)
        report.checks = self.property_checks(report.model, report.reference)
        assert report.model.eos is not None
        at_rest = with_volume_per_atom(structure, report.model.eos.volume)
        report.md = md_stress_test(at_rest, md_calculator or as_calculator(model), self.config)
        report.checks += self.md_checks(report.md)
        report.plots = self._plots(report, workdir, names)
        report.write(workdir / REPORT_FILE)
        log.info("%s", report.summary())
        return report

    # --- checks -------------------------------------------------------------------------

    def property_checks(
        self, model: ModelProperties, reference: ModelProperties
    ) -> list[CheckResult]:
        checks: list[CheckResult] = []
        if model.eos and reference.eos:
            checks += self.eos_checks(model.eos, reference.eos)
        if model.elastic and reference.elastic:
            checks += self.elastic_checks(model.elastic, reference.elastic)
        if model.phonons and reference.phonons:
            checks += self.phonon_checks(model.phonons, reference.phonons)
        return checks

    def eos_checks(self, model: EOSResult, reference: EOSResult) -> list[CheckResult]:
        cfg = self.config
        return [
            relative_check(
                "eos.V0", model.volume, reference.volume, cfg.eos_volume_tolerance, "Å³/atom"
            ),
            absolute_check(
                "eos.E0",
                model.energy,
                reference.energy,
                cfg.eos_energy_tolerance / 1000.0,
                "eV/atom",
            ),
            relative_check(
                "eos.B0",
                model.bulk_modulus,
                reference.bulk_modulus,
                cfg.eos_bulk_modulus_tolerance,
                "GPa",
            ),
        ]

    def elastic_checks(self, model: ElasticResult, reference: ElasticResult) -> list[CheckResult]:
        ours, theirs = model.constants(), reference.constants()
        floor = SMALL_CONSTANT_FRACTION * max(reference.voigt[i][i] for i in range(6))
        checks = []
        for name, value in theirs.items():
            scale = None if reference.cubic or abs(value) >= floor else floor
            checks.append(
                relative_check(
                    f"elastic.{name}",
                    ours[name],
                    value,
                    self.config.elastic_tolerance,
                    "GPa",
                    scale=scale,
                )
            )
        return checks

    def phonon_checks(self, model: PhononResult, reference: PhononResult) -> list[CheckResult]:
        imaginary = max(0.0, -model.min_frequency)
        error, point = frequency_error(model, reference)
        highest = max(max(band) for band in reference.frequencies)
        return [
            upper_bound_check(
                "phonons.imaginary",
                imaginary,
                self.config.phonon_imaginary_tolerance,
                "THz",
                detail="largest imaginary frequency of the model on the band path",
            ),
            upper_bound_check(
                "phonons.frequencies",
                error,
                self.config.phonon_frequency_tolerance,
                detail=f"largest |Δf| at high-symmetry points over {highest:.2f} THz"
                + (f", worst at {point}" if point else ""),
            ),
        ]

    def md_checks(self, md: MDStressResult) -> list[CheckResult]:
        cfg = self.config
        detail = md.error or f"{md.steps_completed} steps at {md.temperature_mean:.0f} K"
        checks = [
            upper_bound_check("md.lost_atoms", float(md.lost_atoms), 0.0, "atoms", detail),
            lower_bound_check("md.min_distance", md.min_distance, cfg.md_min_distance, "Å"),
            upper_bound_check(
                "md.energy_drift", md.energy_drift, cfg.md_max_drift, "meV/atom/ps", detail
            ),
        ]
        if cfg.md_max_gamma is not None and md.gamma_max is not None:
            checks.append(upper_bound_check("md.gamma_max", md.gamma_max, cfg.md_max_gamma))
        return checks

    # --- plots --------------------------------------------------------------------------

    def _plots(
        self, report: ValidationReport, workdir: Path, names: tuple[str, str]
    ) -> dict[str, Path]:
        plots: dict[str, Path] = {}
        model, reference = report.model, report.reference
        if model.eos and reference.eos:
            plots["eos"] = plot_eos(model.eos, reference.eos, workdir / "eos.png", names)
        if model.phonons and reference.phonons:
            plots["phonons"] = plot_bands(
                model.phonons, reference.phonons, workdir / "phonons.png", names
            )
        return plots


def validate_potential(
    potential: PotentialFiles,
    reference: Model,
    config: ValidationConfig,
    structure: Atoms,
    workdir: Path,
    reference_name: str = "reference",
) -> ValidationReport:
    """Phase 2 for an ACE potential: pyace evaluates it, with gamma in the stress test."""
    calculator = ace_calculator(potential)
    return Validator(config).validate(
        calculator,
        reference,
        structure,
        workdir,
        names=(f"ACE {Path(potential.yaml).name}", reference_name),
        md_calculator=calculator,
    )
