"""What travels between the steps of a campaign, in FireWorks specs: plain, serializable data."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from pyacemaker_fw.config import CampaignConfig, MDConfig


class WalkerState(BaseModel):
    """Where one MD walker stands when an MD segment starts."""

    model_config = ConfigDict(extra="forbid")

    walker: int = Field(0, ge=0, description="Index into md.walkers.")
    segment: int = Field(0, ge=0, description="MD Fireworks this walker has run before this one.")
    iteration: int = Field(0, ge=0, description="Learning rounds this walker has triggered.")
    restart: Path | None = Field(
        None, description="Restart file to continue from; None starts from the structure."
    )
    step: int = Field(0, ge=0, description="The timestep the walker is at.")
    timestep: float | None = Field(None, gt=0, description="Overrides md.timestep (ps).")
    retries: int = Field(0, ge=0, description="Retries already spent on the current failure.")

    @property
    def key(self) -> str:
        """The store key of this segment."""
        return f"walker{self.walker}/segment{self.segment:04d}"

    def md_config(self, config: CampaignConfig) -> MDConfig:
        """md settings for this walker: its own temperature, seed and timestep."""
        md = config.md
        settings = md.walkers[self.walker]
        update: dict[str, object] = {"seed": settings.seed or md.seed + self.walker}
        if settings.temperature is not None:
            update["temperature"] = settings.temperature
        if self.timestep is not None:
            update["timestep"] = self.timestep
        return md.model_copy(update=update)

    def target_step(self, config: CampaignConfig) -> int:
        """Where this segment stops at the latest: the end, or one segment on."""
        total = config.loop.total_md_steps
        if config.md.segment_steps is None:
            return total
        return min(total, self.step + config.md.segment_steps)
