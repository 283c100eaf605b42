"""One vocabulary for MD runs that go bad, whichever ACE back-end ran.

A bad state reaches the engine in one of three ways: a check in a Python callback (a pair
closer than ``min_distance``, NaN forces or gamma), an exception inside a callback (pyace
refusing a geometry), or a LAMMPS error (lost atoms, or ML-PACE's own "Encountered very small
distance", which it raises inside the force call before any Python check can run). All three
become a :class:`Fault` with a :class:`FailureKind` and a plain-words reason that starts the same
way for the same physical problem, so a workflow can act on ``MDResult.failure`` and a person
can read ``MDResult.reason`` without knowing which back-end ran.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from pyacemaker_fw.core.models import FailureKind

LOST_ATOMS_MESSAGE = "Lost atoms"
"""LAMMPS' error when an atom left a fixed box (``thermo_modify lost error``)."""
SMALL_DISTANCE_MESSAGE = "very small distance"
"""The ACE evaluator's refusal of a near-coincident pair (ML-PACE and pyace alike)."""
NON_NUMERIC_MESSAGE = "Non-numeric"
"""LAMMPS' errors on NaN coordinates, box or pressure ("... - simulation unstable")."""
MAX_ATOMS_NAMED = 10


@dataclass(frozen=True)
class Fault:
    """A bad state: the run must end, and nothing from ``step`` on can be vouched for."""

    step: int
    kind: FailureKind
    reason: str


@dataclass(frozen=True)
class Geometry:
    """What the state left behind by an error says about its cause."""

    finite: bool
    """Whether every position is finite."""
    closest: float
    """Closest pair distance (Å) if below the search radius, else ``inf``."""
    missing_atoms: int = 0
    """Atoms LAMMPS no longer holds (left a fixed box) that it has not reported yet."""


def too_close(distance: float, limit: float, step: int) -> Fault:
    return Fault(
        step,
        FailureKind.TOO_CLOSE,
        f"atoms closer than min_distance: {distance:.3f} Å < {limit:g} Å at step {step}",
    )


def non_finite(what: str, step: int, atoms: Sequence[int] = ()) -> Fault:
    """``what`` (for example "gamma" or "ACE forces") is NaN or infinite at ``step``."""
    shown = ", ".join(str(atom) for atom in atoms[:MAX_ATOMS_NAMED])
    more = ", …" if len(atoms) > MAX_ATOMS_NAMED else ""
    where = f" (atoms {shown}{more})" if len(atoms) else ""
    return Fault(step, FailureKind.NON_FINITE, f"non-finite {what} at step {step}{where}")


def first_line(message: str) -> str:
    """The first line of an engine message (LAMMPS appends the input line that failed)."""
    lines = str(message).strip().splitlines()
    return lines[0].strip() if lines else "(no message)"


def classify_error(
    message: str, step: int, geometry: Geometry | None, min_distance: float, source: str
) -> Fault:
    """The fault behind an engine error ``message`` raised at ``step`` by ``source``.

    ``source`` names who raised it ("LAMMPS error", "ValueError in ACE callback") and is kept in
    the reason. ``geometry`` is the state the error left, where it could be read: NaN positions,
    missing atoms or a pair closer than ``min_distance`` are the physical cause whatever the
    message says (an atom lost at a neighbour rebuild, for example, first shows up as an
    index error in a callback, before LAMMPS reports it at the next thermo output).
    """
    text = first_line(message)
    detail = f" ({source}: {text})"
    if geometry is not None and not geometry.finite:
        return Fault(
            step, FailureKind.NON_FINITE, f"non-finite atom positions at step {step}{detail}"
        )
    if geometry is not None and geometry.missing_atoms > 0:
        lost = f"{geometry.missing_atoms} atom(s) no longer in the box"
        return Fault(step, FailureKind.LOST_ATOMS, f"lost atoms at step {step}: {lost}{detail}")
    if LOST_ATOMS_MESSAGE in text:
        return Fault(step, FailureKind.LOST_ATOMS, f"lost atoms at step {step}{detail}")
    if geometry is not None and geometry.closest < min_distance:
        fault = too_close(geometry.closest, min_distance, step)
        return Fault(step, fault.kind, fault.reason + detail)
    if SMALL_DISTANCE_MESSAGE in text:
        return Fault(
            step,
            FailureKind.TOO_CLOSE,
            f"atoms too close for ACE to evaluate at step {step}{detail}",
        )
    if NON_NUMERIC_MESSAGE in text:
        return Fault(step, FailureKind.NON_FINITE, f"non-finite values at step {step}{detail}")
    return Fault(step, FailureKind.ENGINE_ERROR, f"{source} at step {step}: {text}")
