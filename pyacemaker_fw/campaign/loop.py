"""The campaign's state machine: what follows an MD segment, and what follows the gate.

Pure functions of recorded outcomes, so every transition has a unit test and the FireWorks
layer only maps a decision to Fireworks. Every MD status leads somewhere defined:

============================  ==============================================================
MD outcome                     next
============================  ==============================================================
completed, steps left          ``continue``: the next segment from the restart it wrote
completed, all steps run       ``end``: final validation and report
halted (smoothed gamma)        ``learn``: cutout of the halt frame, DFT, retrain, resume from
                               the halt restart
halted (hard ceiling)          ``learn`` as well, because that is what the potential needs;
                               the frame is labelled only if its geometry is sane, else the
                               frame at the last good restart; the walker resumes from the
                               last good restart
halted, max_iterations spent   ``end``
failed (lost atoms, a pair     ``retry`` once from the last good restart with a shorter
too close, non-finite, LAMMPS) timestep; a second failure is ``fail``: the Firework fizzles
                               with the reason, and the loop never spins
============================  ==============================================================
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from pyacemaker_fw.campaign.state import WalkerState
from pyacemaker_fw.config import CampaignConfig
from pyacemaker_fw.core.models import MDResult, MDStatus


class Next(StrEnum):
    CONTINUE = "continue"
    LEARN = "learn"
    RETRY = "retry"
    FAIL = "fail"
    END = "end"


class SegmentOutcome(BaseModel):
    """An MD segment's result, with what the decision needs to know about its files."""

    model_config = ConfigDict(extra="forbid")

    result: MDResult
    walker: WalkerState
    target_step: int
    frame_is_sane: bool = Field(
        True, description="The halt frame has no pair closer than the DFT oracle accepts."
    )
    last_good_restart: Path | None = Field(
        None, description="Newest restart before the halting step (a ceiling halt resumes here)."
    )
    last_good_frame: Path | None = Field(
        None, description="The frame at last_good_restart, written for labelling if needed."
    )


class MDDecision(BaseModel):
    model_config = ConfigDict(extra="forbid")

    next: Next
    reason: str
    resume: WalkerState | None = Field(None, description="The walker of the next MD segment.")
    frame: Path | None = Field(None, description="The frame to cut clusters from (learn).")


def after_md(outcome: SegmentOutcome, config: CampaignConfig, iterations_done: int) -> MDDecision:
    """What follows an MD segment; ``iterations_done`` counts learning rounds campaign-wide."""
    result = outcome.result
    if result.status == MDStatus.COMPLETED:
        return _after_completed(outcome, config)
    if result.status == MDStatus.FAILED:
        return _after_failure(outcome, config)
    if iterations_done >= config.loop.max_iterations:
        return MDDecision(
            next=Next.END,
            reason=f"max_iterations ({config.loop.max_iterations}) reached; the MD halted at "
            f"step {result.step}: {result.reason}",
        )
    return _learn(outcome)


def _after_completed(outcome: SegmentOutcome, config: CampaignConfig) -> MDDecision:
    result = outcome.result
    total = config.loop.total_md_steps
    if result.step >= total:
        return MDDecision(next=Next.END, reason=f"walker ran all {total} steps")
    return MDDecision(
        next=Next.CONTINUE,
        reason=f"segment ended at step {result.step} of {total}",
        # A segment that ran clean earns its retry back; a shortened timestep stays.
        resume=_moved(outcome.walker, result.restart_file, result.step).model_copy(
            update={"retries": 0}
        ),
    )


def _after_failure(outcome: SegmentOutcome, config: CampaignConfig) -> MDDecision:
    result, walker = outcome.result, outcome.walker
    if walker.retries >= 1:
        return MDDecision(
            next=Next.FAIL,
            reason=f"MD failed again after a retry with a shorter timestep: {result.reason}",
        )
    restart = result.restart_file if result.restart_file is not None else walker.restart
    step = _restart_step(result, restart, walker)
    timestep = (walker.timestep or config.md.timestep) * config.md.retry_timestep_factor
    resume = _moved(walker, restart, step).model_copy(
        update={"timestep": timestep, "retries": walker.retries + 1}
    )
    return MDDecision(
        next=Next.RETRY,
        reason=f"{result.reason}; retrying once from step {step} with timestep {timestep:g} ps",
        resume=resume,
    )


def _restart_step(result: MDResult, restart: Path | None, walker: WalkerState) -> int:
    if restart is None:
        return 0
    if restart == walker.restart:
        return walker.step
    from pyacemaker_fw.simulation.inputs import restart_step

    step = restart_step(restart)
    return result.step if step is None else step


def _learn(outcome: SegmentOutcome) -> MDDecision:
    result, walker = outcome.result, outcome.walker
    if result.status == MDStatus.HALTED_UNCERTAIN:
        return MDDecision(
            next=Next.LEARN,
            reason=result.reason,
            resume=_learnt(walker, result.restart_file, result.step),
            frame=result.frame_file,
        )
    # A hard-ceiling halt: the potential is far outside its data; go back to the last good state.
    restart, frame = outcome.last_good_restart, result.frame_file
    step = walker.step if restart is None else _restart_step(result, restart, walker)
    if not outcome.frame_is_sane:
        if outcome.last_good_frame is None:
            return MDDecision(
                next=Next.FAIL,
                reason=f"{result.reason}, with an implausible geometry and no earlier frame "
                "to label instead",
            )
        frame = outcome.last_good_frame
    return MDDecision(
        next=Next.LEARN,
        reason=result.reason,
        resume=_learnt(walker, restart if restart is not None else walker.restart, step),
        frame=frame,
    )


def _moved(walker: WalkerState, restart: Path | None, step: int) -> WalkerState:
    return walker.model_copy(
        update={"restart": restart, "step": step, "segment": walker.segment + 1}
    )


def _learnt(walker: WalkerState, restart: Path | None, step: int) -> WalkerState:
    """The walker after a learning round: a fresh timestep budget and retry count."""
    return _moved(walker, restart, step).model_copy(
        update={"iteration": walker.iteration + 1, "retries": 0, "timestep": None}
    )


class Gate(StrEnum):
    PASS = "pass"
    MORE_DATA = "more_data"
    STOP = "stop"


def after_gate(passed: bool, round_: int, config: CampaignConfig) -> Gate:
    """What follows the Phase 2 gate for the potential fitted on Phase 1 round ``round_``."""
    if passed:
        return Gate.PASS
    if config.validation.on_failure == "more_data" and round_ < config.validation.max_more_data:
        return Gate.MORE_DATA
    return Gate.STOP
