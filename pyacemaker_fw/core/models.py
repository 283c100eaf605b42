"""Serializable results that travel between engines and between Fireworks.

Everything here is a Pydantic model holding plain data and file paths, so that a FireWorks
spec can carry it from one node to another, days apart.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field


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
    COMPLETED = "completed"
    HALTED_UNCERTAIN = "halted_uncertain"
    FAILED = "failed"


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
    reason: str = ""
    step: int = Field(..., ge=0, description="Timestep number at which the run ended.")
    restart_file: Path | None = None
    frame_file: Path | None = Field(None, description="extxyz of the last frame, gamma in arrays.")
    candidate_atoms: list[int] = Field(
        default_factory=list, description="Frame indices of atoms above add_train in frame_file."
    )
    trace: list[GammaCheck] = Field(default_factory=list)
    log_file: Path | None = Field(None, description="LAMMPS log with the thermo output.")
