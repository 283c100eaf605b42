"""The spike filter on real MD: which gamma readings deserve a DFT call, against the true error.

An ACE fitted to a little data (12 strained and rattled diamond cells of 8 and 16 atoms,
Stillinger–Weber labels, 24 functions, cutoff 4.5 Å) runs NVT MD of the 64-atom diamond cell
at 600, 900 and 1200 K (``STEPS`` steps of 1 fs each) through :class:`LammpsEngine`, with halts
disabled and gamma checked every 10 steps. At every check the frame is recorded (positions,
per-atom gamma, ACE forces) and SW labels it, so the true force error is known at every
reading. The traces are then replayed through three monitors:

1. **dual**: the package's monitor, the moving average of the maximum gamma over
   ``smooth_steps`` (5) checks above ``threshold_call_dft`` (10), or one reading above
   ``hard_ceiling`` (100);
2. **single**: one reading above the same 10 calls DFT, no smoothing (DP-GEN/FLARE style);
3. **single raised**: one reading above a higher threshold, raised until it makes no more DFT
   calls than the dual monitor over the three traces (the level is printed): the question
   "why not just raise the threshold?".

After each call the monitor starts afresh, as the engine does for the next MD segment; the
potential is not retrained in the replay, so the same trajectory is judged by each monitor.

Truth. The error of a check is the largest per-atom force error |F_ACE − F_SW| in the frame.
A **sustained event** is a run of at least ``EVENT_CHECKS`` (3) consecutive checks, 30 fs,
whose error exceeds ``ERROR_BOUND`` (0.5 eV/Å). A call **catches** an event if it falls in
it, or at most ``LEAD_CHECKS`` (2) checks before it starts; **late** counts checks from the
event's first check to its first call (negative: early). A call outside every event is a
**false alarm** when the error at that check is below the bound, and a call on a **short
excursion** when it is above it (an excursion shorter than 3 checks). A sweep over the call
threshold for 1, 3 and 5 smoothing checks, and the same scores for other bounds and windows,
follow the main table; ``plots/noise_filter.png`` shows the sweep and a stretch of the
1200 K trace.

Run: ``OMP_NUM_THREADS=1 nice .venv/bin/python benchmarks/bench_noise_filter.py`` (about
1.5 min: one fit, 3 x 20,000 MD steps, 6,000 SW labels).
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from si_reference import (
    force_errors,
    md_cell,
    phase1_structures,
    potential_files,
    recording_checks,
)

from pyacemaker_fw.config import ActiveLearningThresholds, MDConfig, TrainerConfig
from pyacemaker_fw.core.threads import pin_threads
from pyacemaker_fw.oracles.reference import stillinger_weber_si
from pyacemaker_fw.simulation.engine import LammpsEngine
from pyacemaker_fw.simulation.monitor import Decision, UncertaintyMonitor
from pyacemaker_fw.training.pacemaker import PacemakerTrainer

PLOTS = Path(__file__).resolve().parent / "plots"
TEMPERATURES = (600.0, 900.0, 1200.0)
STEPS = 20_000
CHECK_INTERVAL = 10
ERROR_BOUND = 0.5
"""eV/Å on the worst atom of a frame."""
EVENT_CHECKS = 3
LEAD_CHECKS = 2
DUAL = ActiveLearningThresholds(
    threshold_add_train=5.0, threshold_call_dft=10.0, smooth_steps=5, hard_ceiling=100.0
)
NEVER = 1e9
SWEEP = (6.0, 8.0, 10.0, 12.0, 15.0, 20.0, 25.0, 30.0, 40.0)
SWEEP_SMOOTHING = (1, 3, 5)
SENSITIVITY = ((0.4, 3), (0.6, 3), (0.5, 2), (0.5, 5))
TRAINER = TrainerConfig(
    cutoff=4.5,
    functions_per_element=24,
    max_iterations=120,
    batch_size=50,
    test_fraction=0.0,
)


def single(threshold: float) -> ActiveLearningThresholds:
    """One reading above ``threshold`` calls DFT: no smoothing, no separate ceiling."""
    return ActiveLearningThresholds(
        threshold_add_train=min(DUAL.threshold_add_train, threshold / 2),
        threshold_call_dft=threshold,
        smooth_steps=1,
        hard_ceiling=NEVER,
    )


@dataclass(frozen=True)
class Trace:
    temperature: float
    gamma: NDArray[np.float64]
    """Largest per-atom gamma at each check."""
    error: NDArray[np.float64]
    """Largest per-atom force error (eV/Å) at each check."""
    status: str


def record_trace(temperature: float, potential: Path, workdir: Path) -> Trace:
    md = MDConfig(
        temperature=temperature,
        check_interval=CHECK_INTERVAL,
        restart_interval=10 * STEPS,
        seed=11,
    )
    quiet = ActiveLearningThresholds(
        threshold_add_train=1e5, threshold_call_dft=1e6, hard_ceiling=NEVER
    )
    with recording_checks() as checks:
        result = LammpsEngine(md, quiet).run(md_cell(), potential_files(potential), workdir, STEPS)
    frames = [check.frame for check in checks]
    errors = force_errors(frames, stillinger_weber_si().label(frames))
    return Trace(
        temperature,
        np.array([check.gamma_max for check in checks]),
        np.array([error.max() for error in errors]),
        str(result.status),
    )


def replay(gamma: Sequence[float], thresholds: ActiveLearningThresholds) -> list[int]:
    """Indices of the checks where the monitor calls DFT (or hits the ceiling)."""
    monitor, calls = UncertaintyMonitor(thresholds), []
    for index, value in enumerate(gamma):
        if monitor.observe(index, [value]).decision != Decision.CONTINUE:
            calls.append(index)
            monitor = UncertaintyMonitor(thresholds)
    return calls


def sustained_events(
    error: NDArray[np.float64], bound: float, length: int
) -> list[tuple[int, int]]:
    """(first, last) check of every run of at least ``length`` checks above ``bound``."""
    above = np.concatenate([[False], error > bound, [False]])
    edges = np.flatnonzero(np.diff(above.astype(int)))
    return [
        (int(a), int(b) - 1)
        for a, b in zip(edges[::2], edges[1::2], strict=True)
        if b - a >= length
    ]


@dataclass
class Score:
    calls: int = 0
    events: int = 0
    caught: int = 0
    late: list[int] = field(default_factory=list)
    excursions: int = 0
    false_alarms: int = 0
    checks: int = 0

    def __add__(self, other: Score) -> Score:
        return Score(
            self.calls + other.calls,
            self.events + other.events,
            self.caught + other.caught,
            self.late + other.late,
            self.excursions + other.excursions,
            self.false_alarms + other.false_alarms,
            self.checks + other.checks,
        )

    @property
    def lateness(self) -> str:
        if not self.late:
            return "–"
        return f"{np.median(self.late):+.1f} ({max(self.late):+d})"


def score(
    trace: Trace,
    thresholds: ActiveLearningThresholds,
    bound: float = ERROR_BOUND,
    length: int = EVENT_CHECKS,
) -> Score:
    calls = replay(trace.gamma, thresholds)
    events = sustained_events(trace.error, bound, length)
    result = Score(calls=len(calls), events=len(events), checks=len(trace.gamma))
    attributed: set[int] = set()
    for first, last in events:
        inside = [call for call in calls if first - LEAD_CHECKS <= call <= last]
        if inside:
            result.caught += 1
            result.late.append(inside[0] - first)
            attributed.update(inside)
    for call in calls:
        if call not in attributed:
            if trace.error[call] > bound:
                result.excursions += 1
            else:
                result.false_alarms += 1
    return result


def total(traces: Sequence[Trace], thresholds: ActiveLearningThresholds, **bounds: float) -> Score:
    scores = [score(trace, thresholds, **bounds) for trace in traces]  # type: ignore[arg-type]
    return sum(scores[1:], scores[0])


def raised_threshold(traces: Sequence[Trace], budget: int) -> float:
    """The lowest single threshold (0.5 steps) that makes at most ``budget`` calls."""
    level = DUAL.threshold_call_dft
    while total(traces, single(level)).calls > budget:
        level += 0.5
    return level


def main() -> None:
    pin_threads(1)
    began = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        trainer = PacemakerTrainer(TRAINER, ["Si"])
        trainer.train(phase1_structures(seed=0), root / "fit")
        traces = [record_trace(t, root / "fit", root / f"md{t:.0f}") for t in TEMPERATURES]
    budget = total(traces, DUAL).calls
    raised = raised_threshold(traces, budget)
    strategies = {
        f"dual (smoothed over {DUAL.smooth_steps}, > {DUAL.threshold_call_dft:g}; "
        f"ceiling {DUAL.hard_ceiling:g})": DUAL,
        f"single (> {DUAL.threshold_call_dft:g}, no smoothing)": single(DUAL.threshold_call_dft),
        f"single raised (> {raised:g}, no smoothing)": single(raised),
    }
    print_main_table(traces, strategies)
    print_sweep(traces)
    print_sensitivity(traces, strategies)
    plot(traces, strategies)
    dual, plain, high = (total(traces, t) for t in strategies.values())
    print(f"\n(wall time {time.perf_counter() - began:.0f} s)")
    print(
        f"headline: a single threshold makes {plain.calls / max(dual.calls, 1):.1f}x the DFT "
        f"calls of the dual threshold ({plain.calls} vs {dual.calls}; false alarms "
        f"{plain.false_alarms} vs {dual.false_alarms}); raised to the same budget it catches "
        f"{high.caught}/{high.events} sustained events, the dual threshold {dual.caught}/"
        f"{dual.events}"
    )


def print_main_table(
    traces: Sequence[Trace], strategies: dict[str, ActiveLearningThresholds]
) -> None:
    print()
    print(
        f"Sustained event: worst-atom force error > {ERROR_BOUND:g} eV/Å for >= {EVENT_CHECKS} "
        f"consecutive checks ({EVENT_CHECKS * CHECK_INTERVAL} fs)."
    )
    for trace in traces:
        print(
            f"{trace.temperature:.0f} K: {len(trace.gamma)} checks ({trace.status}); gamma max "
            f"median {np.median(trace.gamma):.1f}, 99th pct {np.percentile(trace.gamma, 99):.1f}; "
            f"error median {np.median(trace.error):.2f} eV/Å, checks above the bound "
            f"{int((trace.error > ERROR_BOUND).sum())}"
        )
    print()
    print(
        "| monitor | T (K) | DFT calls | sustained events caught | late, checks: median (max) | "
        "calls on short excursions | false alarms |"
    )
    print("|---|---|---|---|---|---|---|")
    for name, thresholds in strategies.items():
        scores = [score(trace, thresholds) for trace in traces]
        for trace, one in zip(traces, scores, strict=True):
            print(_row(name, f"{trace.temperature:.0f}", one))
        print(_row(f"**{name}**", "all", sum(scores[1:], scores[0])))


def _row(name: str, temperature: str, one: Score) -> str:
    return (
        f"| {name} | {temperature} | {one.calls} | {one.caught}/{one.events} | {one.lateness} | "
        f"{one.excursions} | {one.false_alarms} |"
    )


def print_sweep(traces: Sequence[Trace]) -> None:
    print()
    print("Sweep of the call threshold (all temperatures; ceiling off): calls / caught / false")
    header = "| threshold_call_dft |" + "".join(f" smoothed over {s} |" for s in SWEEP_SMOOTHING)
    print(header)
    print("|---|" + "---|" * len(SWEEP_SMOOTHING))
    for level in SWEEP:
        row = f"| {level:g} |"
        for smoothing in SWEEP_SMOOTHING:
            one = total(traces, single(level).model_copy(update={"smooth_steps": smoothing}))
            row += f" {one.calls} / {one.caught}/{one.events} / {one.false_alarms} |"
        print(row)


def print_sensitivity(
    traces: Sequence[Trace], strategies: dict[str, ActiveLearningThresholds]
) -> None:
    print()
    print("Other event definitions (all temperatures): caught/events, false alarms")
    names = list(strategies)
    print("| bound eV/Å | window (checks) |" + "".join(f" {name} |" for name in names))
    print("|---|---|" + "---|" * len(names))
    for bound, length in SENSITIVITY:
        row = f"| {bound:g} | {length} |"
        for thresholds in strategies.values():
            one = total(traces, thresholds, bound=bound, length=length)
            row += f" {one.caught}/{one.events}, {one.false_alarms} |"
        print(row)


def plot(traces: Sequence[Trace], strategies: dict[str, ActiveLearningThresholds]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (sweep, stretch) = plt.subplots(1, 2, figsize=(13, 4.8))
    for smoothing, marker in zip(SWEEP_SMOOTHING, "osD", strict=True):
        points = [
            total(traces, single(level).model_copy(update={"smooth_steps": smoothing}))
            for level in SWEEP
        ]
        sweep.plot(
            [max(p.calls, 0.8) for p in points],
            [p.caught / max(p.events, 1) for p in points],
            marker=marker,
            label=f"smoothed over {smoothing}" if smoothing > 1 else "single reading",
        )
        for level, point in zip(SWEEP, points, strict=True):
            if smoothing in (1, DUAL.smooth_steps):
                sweep.annotate(
                    f"{level:g}",
                    (max(point.calls, 0.8), point.caught / max(point.events, 1)),
                    fontsize=7,
                )
    sweep.set_xscale("log")
    sweep.set_xlabel("DFT calls over the three traces")
    sweep.set_ylabel("fraction of sustained events caught")
    sweep.set_title("threshold_call_dft sweep (labels: threshold)")
    sweep.legend()
    hot = traces[-1]
    window = slice(0, min(400, len(hot.gamma)))
    checks = np.arange(len(hot.gamma))[window]
    stretch.plot(checks, hot.gamma[window], lw=0.8, color="0.4", label="max gamma")
    smoothed = np.convolve(hot.gamma, np.ones(DUAL.smooth_steps) / DUAL.smooth_steps)[
        : len(hot.gamma)
    ]
    stretch.plot(
        checks, smoothed[window], lw=1.2, color="C0", label=f"smoothed ({DUAL.smooth_steps})"
    )
    stretch.axhline(
        DUAL.threshold_call_dft, color="C3", ls="--", lw=0.8, label="threshold_call_dft"
    )
    for first, last in sustained_events(hot.error, ERROR_BOUND, EVENT_CHECKS):
        if first < window.stop:
            stretch.axvspan(first, last + 1, color="C1", alpha=0.3)
    for offset, (name, thresholds) in enumerate(strategies.items()):
        calls = [c for c in replay(hot.gamma, thresholds) if c < window.stop]
        stretch.plot(
            calls, [-2.0 - 2.0 * offset] * len(calls), "|", ms=8, label=name.split(" (")[0]
        )
    error_axis = stretch.twinx()
    error_axis.plot(checks, hot.error[window], lw=0.6, color="C1", alpha=0.7)
    error_axis.set_ylabel("worst-atom force error vs SW (eV/Å)", color="C1")
    stretch.set_xlabel(f"check ({CHECK_INTERVAL} fs apart), {hot.temperature:.0f} K")
    stretch.set_ylabel("gamma")
    stretch.set_title("sustained events (shaded) and DFT calls (ticks)")
    stretch.legend(fontsize=7, loc="upper left")
    figure.tight_layout()
    PLOTS.mkdir(exist_ok=True)
    figure.savefig(PLOTS / "noise_filter.png", dpi=110)


if __name__ == "__main__":
    main()
