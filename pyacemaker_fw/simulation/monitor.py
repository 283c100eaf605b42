"""The uncertainty monitor: turns per-atom extrapolation grades into halt decisions.

A single MD check sees one noisy reading of the largest per-atom gamma. Thermal fluctuations
make that reading spike for one check and drop back at the next, so the monitor only asks for
DFT when the moving average of the maximum over ``smooth_steps`` checks exceeds
``threshold_call_dft``. A reading above ``hard_ceiling`` halts at once, because a potential
that far outside its training data may already be producing unphysical forces. Atoms above
``threshold_add_train`` are recorded as learning candidates at every check.

The monitor is pure: no LAMMPS, no files. The engine feeds it readings and acts on decisions.
It refuses a non-finite gamma rather than decide anything on it.
"""

from __future__ import annotations

from collections import deque
from enum import StrEnum

import numpy as np
from numpy.typing import ArrayLike

from pyacemaker_fw.config import ActiveLearningThresholds
from pyacemaker_fw.core.models import GammaCheck


class Decision(StrEnum):
    CONTINUE = "continue"
    CALL_DFT = "call_dft"
    HARD_CEILING = "hard_ceiling"


class UncertaintyMonitor:
    """Dual-threshold gamma monitor with a moving average of the maximum.

    ``smoothed`` is the mean of the last ``smooth_steps`` maxima. Until that many checks have
    been seen it is the mean over a full window whose missing entries count as zero, so the
    first reading of a run cannot trigger a DFT call on its own (only the hard ceiling can).
    """

    def __init__(self, thresholds: ActiveLearningThresholds) -> None:
        self.thresholds = thresholds
        self._window: deque[float] = deque(maxlen=thresholds.smooth_steps)
        self.trace: list[GammaCheck] = []

    @property
    def halted(self) -> bool:
        return bool(self.trace) and self.trace[-1].decision != Decision.CONTINUE

    @property
    def last(self) -> GammaCheck | None:
        return self.trace[-1] if self.trace else None

    def observe(self, step: int, gamma: ArrayLike) -> GammaCheck:
        """Record one check of per-atom gamma (indexed like the frame) and decide.

        A NaN or infinite gamma is refused with a ValueError: it compares false with every
        threshold, so it would read as "continue". The engine ends such a run as ``failed``
        (``non_finite``) before it gets here.
        """
        values = np.asarray(gamma, dtype=float)
        if not np.isfinite(values).all():
            bad = np.flatnonzero(~np.isfinite(values)).tolist()
            raise ValueError(f"gamma at step {step} is not finite for atoms {bad[:10]}")
        gamma_max = float(values.max()) if values.size else 0.0
        self._window.append(gamma_max)
        smoothed = sum(self._window) / self.thresholds.smooth_steps
        check = GammaCheck(
            step=step,
            gamma_max=gamma_max,
            gamma_smoothed=smoothed,
            candidates=self.candidates(values),
            decision=self._decide(gamma_max, smoothed),
        )
        self.trace.append(check)
        return check

    def candidates(self, gamma: ArrayLike) -> list[int]:
        """Frame indices of the atoms whose gamma exceeds ``threshold_add_train``."""
        values = np.asarray(gamma, dtype=float)
        return [int(i) for i in np.flatnonzero(values > self.thresholds.threshold_add_train)]

    def _decide(self, gamma_max: float, smoothed: float) -> Decision:
        if gamma_max > self.thresholds.hard_ceiling:
            return Decision.HARD_CEILING
        if smoothed > self.thresholds.threshold_call_dft:
            return Decision.CALL_DFT
        return Decision.CONTINUE
