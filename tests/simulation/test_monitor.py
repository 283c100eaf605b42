"""The uncertainty monitor on synthetic gamma traces: noise filtering and the two thresholds."""

from __future__ import annotations

import numpy as np
import pytest

from pyacemaker_fw.config import ActiveLearningThresholds
from pyacemaker_fw.simulation.monitor import Decision, UncertaintyMonitor

THRESHOLDS = ActiveLearningThresholds(
    threshold_add_train=5.0, threshold_call_dft=25.0, smooth_steps=5, hard_ceiling=100.0
)


def thermal_noise(rng: np.random.Generator, atoms: int = 64) -> np.ndarray:
    """Per-atom gamma of a well-sampled state: all atoms inside the training domain."""
    return rng.uniform(0.2, 2.0, size=atoms)


def test_twenty_single_check_spikes_trigger_nothing() -> None:
    rng = np.random.default_rng(0)
    monitor = UncertaintyMonitor(THRESHOLDS)
    step = 0
    for _ in range(20):
        spike = thermal_noise(rng)
        spike[int(rng.integers(64))] = 95.0  # far above call_dft, still below the ceiling
        for gamma in [spike, *(thermal_noise(rng) for _ in range(THRESHOLDS.smooth_steps - 1))]:
            monitor.observe(step, gamma)
            step += 10
    assert all(check.decision == Decision.CONTINUE for check in monitor.trace)
    spikes = [check for check in monitor.trace if check.gamma_max > THRESHOLDS.threshold_call_dft]
    assert len(spikes) == 20
    assert all(check.gamma_smoothed < THRESHOLDS.threshold_call_dft for check in spikes)


@pytest.mark.parametrize("level", [25.5, 40.0, 99.0])
def test_sustained_rise_triggers_within_smooth_steps_checks(level: float) -> None:
    rng = np.random.default_rng(1)
    monitor = UncertaintyMonitor(THRESHOLDS)
    for step in range(30):
        assert monitor.observe(step, thermal_noise(rng)).decision == Decision.CONTINUE
    checks_after_rise = 0
    while not monitor.halted:
        gamma = thermal_noise(rng)
        gamma[:3] = level
        monitor.observe(30 + checks_after_rise, gamma)
        checks_after_rise += 1
        assert checks_after_rise <= THRESHOLDS.smooth_steps
    assert monitor.trace[-1].decision == Decision.CALL_DFT
    assert monitor.trace[-1].gamma_smoothed > THRESHOLDS.threshold_call_dft


def test_hard_ceiling_halts_on_the_first_reading_above_it() -> None:
    rng = np.random.default_rng(2)
    monitor = UncertaintyMonitor(THRESHOLDS)
    for step in range(3):
        monitor.observe(step, thermal_noise(rng))
    gamma = thermal_noise(rng)
    gamma[7] = 101.0
    check = monitor.observe(3, gamma)
    assert check.decision == Decision.HARD_CEILING
    assert check.gamma_smoothed < THRESHOLDS.threshold_call_dft  # the average alone would wait
    assert monitor.halted


def test_first_reading_of_a_run_cannot_call_dft_alone() -> None:
    monitor = UncertaintyMonitor(THRESHOLDS)
    check = monitor.observe(0, [90.0, 1.0])
    assert check.decision == Decision.CONTINUE
    assert check.gamma_smoothed == pytest.approx(90.0 / THRESHOLDS.smooth_steps)


def test_candidates_are_the_atoms_above_add_train_at_every_check() -> None:
    monitor = UncertaintyMonitor(THRESHOLDS)
    gamma = np.array([0.5, 6.0, 4.9, 12.0, 5.0])
    check = monitor.observe(40, gamma)
    assert check.candidates == [1, 3]
    assert check.step == 40
    assert check.gamma_max == 12.0
    assert monitor.candidates(np.array([7.0, 1.0])) == [0]


def test_trace_keeps_every_decision_in_order() -> None:
    monitor = UncertaintyMonitor(THRESHOLDS)
    maxima = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]
    for index, value in enumerate(maxima):
        monitor.observe(10 * index, [value])
    assert [check.step for check in monitor.trace] == [0, 10, 20, 30, 40, 50]
    assert [check.gamma_max for check in monitor.trace] == maxima
    assert monitor.trace[-1].gamma_smoothed == pytest.approx(np.mean(maxima[-5:]))


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_non_finite_gamma_is_refused_not_read_as_continue(bad: float) -> None:
    """NaN compares false with every threshold; deciding on it would always say continue."""
    monitor = UncertaintyMonitor(THRESHOLDS)
    with pytest.raises(ValueError, match=r"gamma at step 30 is not finite for atoms \[1\]"):
        monitor.observe(30, [1.0, bad, 2.0])
    assert monitor.trace == []
    assert not monitor.halted
