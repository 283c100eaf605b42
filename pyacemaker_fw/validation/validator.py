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
:class:`ValidationConfig`; the report says what failed and by how much. The gate never
raises: a property that cannot be measured (an EOS without a minimum, a reference oracle that
fails) becomes a failed check, named after the property (``eos``, or ``reference.eos`` for the
reference), that says what was seen.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

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
    measurement_failure,
    not_checked,
    relative_check,
    upper_bound_check,
)
from pyacemaker_fw.validation.symmetry import with_volume_per_atom

log = logging.getLogger(__name__)

SMALL_CONSTANT_FRACTION = 0.1
"""Non-cubic C_ij below this fraction of the largest diagonal one are compared against that
fraction instead of themselves (a relative error of a near-zero constant means nothing)."""
REPORT_FILE = "validation_report.json"
NO_EQUILIBRIUM = "not measured: the model has no equilibrium volume (its EOS failed)"

Measured = TypeVar("Measured")


def _measure(
    properties: ModelProperties, name: str, measurement: Callable[[], Measured]
) -> Measured | None:
    """Run one measurement; a failure is recorded in ``properties.failures``, never raised."""
    try:
        return measurement()
    except Exception as error:  # the gate reports every failure as a failed check
        log.warning("%s could not be measured", name, exc_info=True)
        properties.failures[name] = f"{type(error).__name__}: {error}"
        return None


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
        """EOS, then elastic constants and phonons at the model's own V0; what cannot be
        measured is listed in ``failures``."""
        cfg = self.config
        measured = ModelProperties()
        measured.eos = _measure(
            measured,
            "eos",
            lambda: equation_of_state(
                structure,
                model,
                points=cfg.eos_points,
                volume_range=cfg.eos_volume_range,
                relax_internal=cfg.elastic_relax_internal,
            ),
        )
        if measured.eos is None:
            measured.failures.update(elastic=NO_EQUILIBRIUM, phonons=NO_EQUILIBRIUM)
            return measured
        at_rest = with_volume_per_atom(structure, measured.eos.volume)
        measured.elastic = _measure(
            measured,
            "elastic",
            lambda: elastic_constants(
                at_rest, model, strain=cfg.elastic_strain, relax_internal=cfg.elastic_relax_internal
            ),
        )
        measured.phonons = _measure(
            measured,
            "phonons",
            lambda: phonon_bands(
                at_rest,
                model,
                supercell=cfg.phonon_supercell,
                displacement=cfg.phonon_displacement,
            ),
        )
        return measured

    def validate(
        self,
        model: Model,
        reference: Model | ModelProperties,
        structure: Atoms,
        workdir: Path,
        *,
        names: tuple[str, str] = ("model", "reference"),
        md_calculator: Calculator | None = None,
    ) -> ValidationReport:
        """The full gate. ``reference`` is a model to measure, or its properties measured
        before (on the same structure); ``md_calculator`` (default: the model's) runs the
        stress test."""
        workdir.mkdir(parents=True, exist_ok=True)
        report = ValidationReport(
            model_name=names[0],
            reference_name=names[1],
            structure=structure.get_chemical_formula(),
        )
        report.reference = (
            reference
            if isinstance(reference, ModelProperties)
            else self.properties(reference, structure)
        )
        report.model = self.properties(model, structure)
        report.checks = self.property_checks(report.model, report.reference)
        report.md, md_failure = self._stress_test(
            report.model, structure, md_calculator or as_calculator(model)
        )
        report.checks += (
            self.md_checks(report.md)
            if report.md is not None
            else [measurement_failure("md", md_failure)]
        )
        report.plots = self._plots(report, workdir, names)
        report.write(workdir / REPORT_FILE)
        log.info("%s", report.summary())
        return report

    def _stress_test(
        self, model: ModelProperties, structure: Atoms, calculator: Calculator
    ) -> tuple[MDStressResult | None, str]:
        """The hot NVE run at the model's V0 (or at the given volume when it has none)."""
        at_rest = structure
        if model.eos is not None:
            at_rest = with_volume_per_atom(structure, model.eos.volume)
        try:
            return md_stress_test(at_rest, calculator, self.config), ""
        except Exception as error:  # the gate reports every failure as a failed check
            log.warning("the MD stress test failed", exc_info=True)
            return None, f"{type(error).__name__}: {error}"

    # --- checks -------------------------------------------------------------------------

    def property_checks(
        self, model: ModelProperties, reference: ModelProperties
    ) -> list[CheckResult]:
        checks = [
            measurement_failure(f"{prefix}{name}", reason)
            for prefix, measured in (("", model), ("reference.", reference))
            for name, reason in measured.failures.items()
        ]
        checks += [
            not_checked(name)
            for name in ("eos", "elastic", "phonons")
            if getattr(reference, name) is None and name not in reference.failures
        ]
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
            checks.append(
                upper_bound_check(
                    "md.gamma_max",
                    md.gamma_max,
                    cfg.md_max_gamma,
                    detail="largest extrapolation grade of any atom at any sampled step",
                )
            )
        return checks

    # --- plots --------------------------------------------------------------------------

    def _plots(
        self, report: ValidationReport, workdir: Path, names: tuple[str, str]
    ) -> dict[str, Path]:
        plots: dict[str, Path] = {}
        model, reference = report.model, report.reference
        try:
            if model.eos and reference.eos:
                plots["eos"] = plot_eos(model.eos, reference.eos, workdir / "eos.png", names)
            if model.phonons and reference.phonons:
                plots["phonons"] = plot_bands(
                    model.phonons, reference.phonons, workdir / "phonons.png", names
                )
        except Exception:  # a plot is a convenience: the report stands without it
            log.warning("plotting the validation report failed", exc_info=True)
        return plots


def validate_potential(
    potential: PotentialFiles,
    reference: Model | ModelProperties,
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
