"""The typed validation report: measured properties of both models and pass/fail per check."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, computed_field, model_validator


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid", ser_json_inf_nan="constants")

    @model_validator(mode="before")
    @classmethod
    def _drop_computed_fields(cls, data: Any) -> Any:
        """A saved report carries its computed fields; reading it back recomputes them."""
        if isinstance(data, dict):
            return {k: v for k, v in data.items() if k not in cls.model_computed_fields}
        return data


class EOSResult(_Record):
    """A Birch–Murnaghan fit of E(V), per atom."""

    volume: float = Field(..., description="Equilibrium volume V0 (Å³/atom).")
    energy: float = Field(..., description="Minimum energy E0 (eV/atom).")
    bulk_modulus: float = Field(..., description="B0 (GPa).")
    lattice_constant: float | None = Field(
        None, description="Conventional cubic lattice constant at V0 (Å), for cubic cells."
    )
    volumes: list[float] = Field(default_factory=list, description="Scan volumes (Å³/atom).")
    energies: list[float] = Field(default_factory=list, description="Scan energies (eV/atom).")


class ElasticResult(_Record):
    """Elastic constants by central finite strains, in GPa."""

    voigt: list[list[float]] = Field(..., description="6×6 stiffness matrix C_ij (GPa).")
    cubic: bool = Field(..., description="Whether the cell is cubic (C11, C12, C44 suffice).")
    relaxed_ions: bool = Field(..., description="Atoms relaxed inside each strained cell.")

    def constants(self) -> dict[str, float]:
        """C11, C12, C44 (cubic averages) or every independent C_ij otherwise."""
        c = self.voigt
        if self.cubic:
            return {
                "C11": (c[0][0] + c[1][1] + c[2][2]) / 3.0,
                "C12": (c[0][1] + c[0][2] + c[1][2]) / 3.0,
                "C44": (c[3][3] + c[4][4] + c[5][5]) / 3.0,
            }
        return {f"C{i + 1}{j + 1}": c[i][j] for i in range(6) for j in range(i, 6)}


class PhononResult(_Record):
    """Phonon frequencies (THz) along a band path and at its high-symmetry points."""

    path: str = Field(..., description="ASE band-path string, e.g. GXWKGLUWLK,UX.")
    distances: list[float] = Field(..., description="Linear path coordinate of each q-point.")
    frequencies: list[list[float]] = Field(..., description="Bands at each q-point (THz).")
    label_positions: list[float] = Field(default_factory=list)
    labels: list[str] = Field(default_factory=list)
    special_points: dict[str, list[float]] = Field(
        default_factory=dict, description="Sorted frequencies at each high-symmetry point (THz)."
    )

    @computed_field  # type: ignore[prop-decorator]
    @property
    def min_frequency(self) -> float:
        """Lowest frequency on the path; negative values are imaginary modes (THz)."""
        return min(min(band) for band in self.frequencies)


class MDStressResult(_Record):
    """A short hot NVE run of the model."""

    engine: str = Field(..., description="What integrated the equations of motion.")
    atoms: int
    steps_requested: int
    steps_completed: int
    temperature_target: float = Field(..., description="K")
    temperature_mean: float = Field(..., description="Mean over the second half (K).")
    lost_atoms: int = Field(..., description="Atoms with non-finite positions or forces.")
    min_distance: float = Field(..., description="Closest pair seen (Å).")
    energy_drift: float = Field(..., description="|d(E_total)/dt| (meV/atom/ps).")
    gamma_max: float | None = Field(
        None,
        description="Largest ACE extrapolation grade of any atom at any sampled step; None for "
        "a model without one; NaN if it was ever not finite.",
    )
    error: str = Field("", description="What stopped the run early, if anything.")

    def summary(self) -> str:
        """One line: how far it ran, how hot, closest pair, drift, and the gamma reached."""
        gamma = (
            "no extrapolation grade (the model has none)"
            if self.gamma_max is None
            else f"gamma max {self.gamma_max:.3g}"
        )
        stopped = f"; stopped early: {self.error}" if self.error else ""
        return (
            f"md stress test: {self.steps_completed}/{self.steps_requested} steps on "
            f"{self.atoms} atoms at {self.temperature_mean:.0f} K, closest pair "
            f"{self.min_distance:.2f} Å, drift {self.energy_drift:.3g} meV/atom/ps, "
            f"{gamma}{stopped}"
        )


CheckKind = Literal["relative", "absolute", "upper_bound", "lower_bound", "measurement"]


class CheckResult(_Record):
    """One pass/fail comparison, with the numbers that decided it."""

    name: str = Field(..., description="e.g. 'eos.V0', 'elastic.C44', 'md.energy_drift'.")
    kind: CheckKind
    value: float = Field(..., description="What the model gave.")
    reference: float | None = Field(None, description="What the reference gave.")
    error: float = Field(..., description="Relative or absolute error, or the value itself.")
    tolerance: float
    unit: str = ""
    passed: bool
    detail: str = ""

    def message(self) -> str:
        """One line: the verdict, both values, the error and the allowance it was held to."""
        verdict = "ok" if self.passed else "FAILED"
        unit = f" {self.unit}" if self.unit else ""
        if self.kind == "measurement":
            if self.passed:  # not_checked: nothing to compare against
                return f"[{verdict}] {self.name}: {self.detail}"
            return f"[{verdict}] {self.name}: could not be measured; {self.detail}"
        if self.kind == "lower_bound":
            relation = ">=" if self.passed else "<"
            text = f"{self.value:.4g}{unit} ({relation} allowed {self.tolerance:.4g})"
        elif self.kind == "upper_bound":
            relation = "<=" if self.passed else ">"
            text = f"{self.value:.4g}{unit} ({relation} allowed {self.tolerance:.4g})"
        else:
            relation = "<=" if self.passed else ">"
            text = f"{self.value:.4g} vs {self.reference:.4g}{unit} (error "
            if self.kind == "relative":
                text += f"{100 * self.error:.1f}% {relation} allowed {100 * self.tolerance:.1f}%)"
            else:
                text += f"{self.error:.3g} {relation} allowed {self.tolerance:.3g}{unit})"
        suffix = f"; {self.detail}" if self.detail else ""
        return f"[{verdict}] {self.name}: {text}{suffix}"


def relative_check(
    name: str,
    value: float,
    reference: float,
    tolerance: float,
    unit: str = "",
    detail: str = "",
    scale: float | None = None,
) -> CheckResult:
    """|value − reference| / |reference|, or over ``scale`` where the reference is near zero."""
    denominator = abs(reference) if scale is None else scale
    error = abs(value - reference) / denominator if denominator else math.inf
    return CheckResult(
        name=name,
        kind="relative",
        value=value,
        reference=reference,
        error=error,
        tolerance=tolerance,
        unit=unit,
        passed=bool(error <= tolerance),
        detail=detail,
    )


def absolute_check(
    name: str, value: float, reference: float, tolerance: float, unit: str = "", detail: str = ""
) -> CheckResult:
    error = abs(value - reference)
    return CheckResult(
        name=name,
        kind="absolute",
        value=value,
        reference=reference,
        error=error,
        tolerance=tolerance,
        unit=unit,
        passed=bool(error <= tolerance),
        detail=detail,
    )


def upper_bound_check(
    name: str, value: float, limit: float, unit: str = "", detail: str = ""
) -> CheckResult:
    passed = math.isfinite(value) and value <= limit
    return CheckResult(
        name=name,
        kind="upper_bound",
        value=value,
        error=value,
        tolerance=limit,
        unit=unit,
        passed=passed,
        detail=detail,
    )


def lower_bound_check(
    name: str, value: float, limit: float, unit: str = "", detail: str = ""
) -> CheckResult:
    passed = math.isfinite(value) and value >= limit
    return CheckResult(
        name=name,
        kind="lower_bound",
        value=value,
        error=limit - value,
        tolerance=limit,
        unit=unit,
        passed=passed,
        detail=detail,
    )


def _no_comparison(name: str, passed: bool, detail: str) -> CheckResult:
    nan = math.nan
    kind: CheckKind = "measurement"
    return CheckResult(
        name=name, kind=kind, value=nan, error=nan, tolerance=nan, passed=passed, detail=detail
    )


def measurement_failure(name: str, detail: str) -> CheckResult:
    """A property that could not be measured: a failed check that says what was seen."""
    return _no_comparison(name, False, detail)


def not_checked(name: str) -> CheckResult:
    """A property the reference holds no value for (a partial reference file): a passed
    check that says the property went unchecked, so the report never implies it was."""
    return _no_comparison(name, True, "not checked: the reference properties hold no value for it")


class ModelProperties(_Record):
    """Everything measured for one model, and what could not be measured."""

    eos: EOSResult | None = None
    elastic: ElasticResult | None = None
    phonons: PhononResult | None = None
    failures: dict[str, str] = Field(
        default_factory=dict,
        description="Property ('eos', 'elastic', 'phonons') → why it could not be measured.",
    )


class ValidationReport(_Record):
    """The Phase 2 gate: both models' properties, every check, and the plots."""

    model_name: str
    reference_name: str
    structure: str = Field(..., description="Chemical formula of the validation cell.")
    model: ModelProperties = Field(default_factory=ModelProperties)
    reference: ModelProperties = Field(default_factory=ModelProperties)
    md: MDStressResult | None = None
    checks: list[CheckResult] = Field(default_factory=list)
    plots: dict[str, Path] = Field(default_factory=dict)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def passed(self) -> bool:
        return all(check.passed for check in self.checks)

    def failures(self) -> list[CheckResult]:
        return [check for check in self.checks if not check.passed]

    def check(self, name: str) -> CheckResult:
        for check in self.checks:
            if check.name == name:
                return check
        raise KeyError(f"no check named {name!r}; have {[c.name for c in self.checks]}")

    def summary(self) -> str:
        head = "PASSED" if self.passed else f"FAILED ({len(self.failures())} checks)"
        lines = [f"validation of {self.model_name} against {self.reference_name}: {head}"]
        lines += [f"  {check.message()}" for check in self.checks]
        if self.md is not None:
            lines.append(f"  {self.md.summary()}")
        return "\n".join(lines)

    def write(self, path: Path) -> Path:
        path.write_text(self.model_dump_json(indent=2))
        return path
