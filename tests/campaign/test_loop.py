"""The campaign's state machine: one test per MD status and gate outcome (recorded results)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pyacemaker_fw.campaign.loop import (
    Gate,
    Next,
    SegmentOutcome,
    after_gate,
    after_md,
)
from pyacemaker_fw.campaign.state import WalkerState
from pyacemaker_fw.config import CampaignConfig
from pyacemaker_fw.core.models import FailureKind, MDResult, MDStatus

CONFIG = CampaignConfig.model_validate(
    {
        "name": "loop",
        "elements": ["Si"],
        "loop": {"total_md_steps": 1000, "max_iterations": 3},
        "md": {"timestep": 0.002, "retry_timestep_factor": 0.5},
    }
)
SEGMENT = Path("/campaign/md/walker0/segment0002")
START = WalkerState(walker=0, segment=2, iteration=1, restart=Path("/old/md.300.restart"), step=300)


def _outcome(status: MDStatus, step: int, **fields: object) -> SegmentOutcome:
    failure = fields.pop("failure", FailureKind.LOST_ATOMS if status == MDStatus.FAILED else None)
    result = MDResult(
        status=status,
        failure=failure,
        step=step,
        reason=str(fields.pop("reason", f"{status.value} at step {step}")),
        restart_file=fields.pop("restart_file", SEGMENT / f"md.{step}.restart"),
        frame_file=fields.pop("frame_file", SEGMENT / f"frame.{step}.extxyz"),
    )
    walker = fields.pop("walker", START)
    return SegmentOutcome(result=result, walker=walker, target_step=1000, **fields)  # type: ignore[arg-type]


def test_a_completed_segment_with_steps_left_continues_from_its_restart() -> None:
    decision = after_md(_outcome(MDStatus.COMPLETED, 600), CONFIG, iterations_done=0)
    assert decision.next == Next.CONTINUE
    assert decision.resume is not None
    assert decision.resume.restart == SEGMENT / "md.600.restart"
    assert decision.resume.step == 600 and decision.resume.segment == 3
    assert decision.resume.iteration == 1  # no learning happened


def test_a_completed_walker_ends_the_loop() -> None:
    decision = after_md(_outcome(MDStatus.COMPLETED, 1000), CONFIG, iterations_done=2)
    assert decision.next == Next.END and decision.resume is None
    assert "1000" in decision.reason


def test_a_smoothed_gamma_halt_learns_from_the_halt_frame_and_resumes_at_the_halt() -> None:
    decision = after_md(_outcome(MDStatus.HALTED_UNCERTAIN, 420), CONFIG, iterations_done=1)
    assert decision.next == Next.LEARN
    assert decision.frame == SEGMENT / "frame.420.extxyz"
    assert decision.resume is not None
    assert decision.resume.restart == SEGMENT / "md.420.restart"
    assert decision.resume.step == 420
    assert decision.resume.iteration == 2 and decision.resume.segment == 3


def test_a_sane_hard_ceiling_halt_learns_its_frame_and_resumes_from_the_last_good_restart() -> None:
    outcome = _outcome(
        MDStatus.HALTED_CEILING,
        430,
        frame_is_sane=True,
        last_good_restart=SEGMENT / "md.400.restart",
    )
    decision = after_md(outcome, CONFIG, iterations_done=0)
    assert decision.next == Next.LEARN
    assert decision.frame == SEGMENT / "frame.430.extxyz"
    assert decision.resume is not None
    assert (decision.resume.restart, decision.resume.step) == (SEGMENT / "md.400.restart", 400)


def test_a_collapsed_hard_ceiling_frame_is_replaced_by_the_last_good_frame() -> None:
    outcome = _outcome(
        MDStatus.HALTED_CEILING,
        430,
        frame_is_sane=False,
        last_good_restart=SEGMENT / "md.400.restart",
        last_good_frame=SEGMENT / "last_good_frame.extxyz",
    )
    decision = after_md(outcome, CONFIG, iterations_done=0)
    assert decision.next == Next.LEARN
    assert decision.frame == SEGMENT / "last_good_frame.extxyz"
    assert decision.resume is not None and decision.resume.step == 400


def test_a_collapsed_frame_with_nothing_earlier_to_label_fails_plainly() -> None:
    outcome = _outcome(MDStatus.HALTED_CEILING, 10, frame_is_sane=False, last_good_restart=None)
    decision = after_md(outcome, CONFIG, iterations_done=0)
    assert decision.next == Next.FAIL
    assert "implausible geometry" in decision.reason


def test_a_halt_after_max_iterations_ends_the_loop() -> None:
    decision = after_md(_outcome(MDStatus.HALTED_UNCERTAIN, 420), CONFIG, iterations_done=3)
    assert decision.next == Next.END
    assert "max_iterations (3)" in decision.reason


@pytest.mark.parametrize(
    "failure", [FailureKind.LOST_ATOMS, FailureKind.TOO_CLOSE, FailureKind.NON_FINITE]
)
def test_a_first_failure_retries_once_with_a_shorter_timestep(failure: FailureKind) -> None:
    outcome = _outcome(
        MDStatus.FAILED, 455, failure=failure, restart_file=SEGMENT / "md.400.restart"
    )
    decision = after_md(outcome, CONFIG, iterations_done=0)
    assert decision.next == Next.RETRY
    assert decision.resume is not None
    assert (decision.resume.restart, decision.resume.step) == (SEGMENT / "md.400.restart", 400)
    assert decision.resume.timestep == pytest.approx(0.001)
    assert decision.resume.retries == 1


def test_a_failure_before_any_restart_retries_from_where_the_segment_began() -> None:
    outcome = _outcome(MDStatus.FAILED, 310, restart_file=None)
    decision = after_md(outcome, CONFIG, iterations_done=0)
    assert decision.resume is not None
    assert (decision.resume.restart, decision.resume.step) == (START.restart, 300)


def test_a_second_failure_fails_and_never_loops() -> None:
    retried = START.model_copy(update={"retries": 1, "timestep": 0.001})
    decision = after_md(_outcome(MDStatus.FAILED, 350, walker=retried), CONFIG, iterations_done=0)
    assert decision.next == Next.FAIL
    assert decision.resume is None
    assert "failed again" in decision.reason


def test_a_clean_segment_after_a_retry_earns_its_retry_back_and_keeps_the_short_step() -> None:
    retried = START.model_copy(update={"retries": 1, "timestep": 0.001})
    decision = after_md(_outcome(MDStatus.COMPLETED, 500, walker=retried), CONFIG, 0)
    assert decision.resume is not None
    assert decision.resume.retries == 0 and decision.resume.timestep == 0.001


def test_learning_restores_the_configured_timestep() -> None:
    retried = START.model_copy(update={"retries": 1, "timestep": 0.001})
    decision = after_md(_outcome(MDStatus.HALTED_UNCERTAIN, 420, walker=retried), CONFIG, 0)
    assert decision.resume is not None
    assert decision.resume.timestep is None and decision.resume.retries == 0


@pytest.mark.parametrize(
    ("passed", "policy", "round_", "expected"),
    [
        (True, "stop", 0, Gate.PASS),
        (False, "stop", 0, Gate.STOP),
        (False, "more_data", 0, Gate.MORE_DATA),
        (False, "more_data", 1, Gate.MORE_DATA),
        (False, "more_data", 2, Gate.STOP),  # max_more_data 2 spent
    ],
)
def test_the_gate(passed: bool, policy: str, round_: int, expected: Gate) -> None:
    config = CONFIG.model_copy(
        update={
            "validation": CONFIG.validation.model_copy(
                update={"on_failure": policy, "max_more_data": 2}
            )
        }
    )
    assert after_gate(passed, round_, config) == expected


def test_walker_settings_override_md_for_that_walker_only() -> None:
    config = CampaignConfig.model_validate(
        {
            "name": "w",
            "elements": ["Si"],
            "md": {"temperature": 600.0, "seed": 7, "walkers": [{}, {"temperature": 900.0}]},
            "loop": {"total_md_steps": 1000},
        }
    )
    first, second = WalkerState(walker=0), WalkerState(walker=1, timestep=0.0005)
    assert (first.md_config(config).temperature, first.md_config(config).seed) == (600.0, 7)
    assert (second.md_config(config).temperature, second.md_config(config).seed) == (900.0, 8)
    assert second.md_config(config).timestep == 0.0005
    segmented = config.model_copy(
        update={"md": config.md.model_copy(update={"segment_steps": 300})}
    )
    assert WalkerState(step=900).target_step(segmented) == 1000
    assert WalkerState(step=100).target_step(segmented) == 400
