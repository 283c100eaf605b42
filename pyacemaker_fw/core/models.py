"""Serializable results that travel between engines and between Fireworks.

Everything here is a Pydantic model holding plain data and file paths, so that a FireWorks
spec can carry it from one node to another, days apart.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Self

from pydantic import BaseModel, ConfigDict, Field, model_validator


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PotentialFiles(_Record):
    """An ACE potential as pacemaker writes it."""

    yaml: Path = Field(..., description="B-basis potential (pacemaker .yaml).")
    yace: Path | None = Field(None, description="C-tilde basis for LAMMPS (.yace).")
    asi: Path | None = Field(None, description="Active set for extrapolation grades (.asi).")


class TrainingMetrics(_Record):
    energy_rmse_train: float | None = Field(None, description="meV/atom")
    force_rmse_train: float | None = Field(None, description="meV/Å")
    energy_rmse_test: float | None = Field(None, description="meV/atom")
    force_rmse_test: float | None = Field(None, description="meV/Å")
    iterations: int | None = None
    wall_seconds: float | None = None


class PotentialRecord(_Record):
    """A versioned potential: what the store keeps and the trainer returns."""

    version: int = Field(..., ge=0)
    parent_version: int | None = None
    mode: str = Field(..., description="'scratch' or 'incremental'")
    files: PotentialFiles
    dataset_ids: list[str] = Field(default_factory=list)
    metrics: TrainingMetrics = Field(default_factory=TrainingMetrics)


class MDStatus(StrEnum):
    """How an MD run ended."""

    COMPLETED = "completed"
    """All requested steps ran."""
    HALTED_UNCERTAIN = "halted_uncertain"
    """The smoothed maximum gamma rose above ``threshold_call_dft``: a request for DFT."""
    HALTED_CEILING = "halted_ceiling"
    """One gamma reading rose above ``hard_ceiling``: the potential may already be blowing up."""
    FAILED = "failed"
    """The state went bad (see :class:`FailureKind`); the run cannot vouch for its last frame."""


class FailureKind(StrEnum):
    """Why a ``failed`` MD run failed, the same whichever ACE back-end ran."""

    LOST_ATOMS = "lost_atoms"
    """An atom left a fixed (non-periodic) box, or LAMMPS lost track of it."""
    TOO_CLOSE = "too_close"
    """A pair came closer than ``md.min_distance`` (or too close for ACE to evaluate)."""
    NON_FINITE = "non_finite"
    """Forces, energy, gamma or positions became NaN or infinite."""
    ENGINE_ERROR = "engine_error"
    """Any other LAMMPS error, or an exception inside the ACE callback."""


class GammaCheck(_Record):
    """One decision of the uncertainty monitor."""

    step: int
    gamma_max: float
    gamma_smoothed: float
    candidates: list[int] = Field(
        default_factory=list, description="Frame indices (atom id - 1) of atoms above add_train."
    )
    decision: str = Field("continue", description="continue, call_dft or hard_ceiling")


class MDResult(_Record):
    """What an MD engine returns: how the run ended and where its files are."""

    status: MDStatus
    failure: FailureKind | None = Field(
        None, description="Why the run failed; set exactly when status is 'failed'."
    )
    reason: str = Field("", description="The same in plain words, with the step; '' if completed.")
    step: int = Field(..., ge=0, description="Timestep number at which the run ended.")
    restart_file: Path | None = Field(
        None,
        description="Restart to resume from: at 'step' unless failed; for a failed run the last "
        "restart known to be good, else the restart the run started from, else None (a run "
        "started from atoms that failed before its first good restart).",
    )
    frame_file: Path | None = Field(None, description="extxyz of the last frame, gamma in arrays.")
    candidate_atoms: list[int] = Field(
        default_factory=list, description="Frame indices of atoms above add_train in frame_file."
    )
    trace: list[GammaCheck] = Field(default_factory=list)
    log_file: Path | None = Field(None, description="LAMMPS log with the thermo output.")

    @model_validator(mode="after")
    def _failure_iff_failed(self) -> Self:
        if (self.status == MDStatus.FAILED) != (self.failure is not None):
            raise ValueError(
                f"failure ({self.failure}) must be set exactly when status is 'failed' "
                f"(status {self.status.value})"
            )
        return self
