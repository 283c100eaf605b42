"""LAMMPS input for the MD engine, as pure functions that return command strings.

Nothing here touches LAMMPS; the engine sends these lines one by one, and the unit tests read
them. Fix and variable IDs are module constants so that the engine, the ACE back-ends and the
tests agree on them.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from pyacemaker_fw.config import MDConfig

HALT_VARIABLE = "ace_stop"
"""Internal LAMMPS variable set to 1 from Python to end the run at the end of this step."""
HALT_FIX = "ace_halt"
ENSEMBLE_FIX = "md"
"""Production integrator; a stable ID lets ``read_restart`` restore a Nosé–Hoover state."""
SOFT_START_NVE_FIX = "soft_nve"
SOFT_START_LANGEVIN_FIX = "soft_langevin"
ALIGN_FIX = "ace_align"
EXTERNAL_FIX = "ace_ext"
GAMMA_FIX = "ace_gamma"
CHECK_FIX = "ace_check"
PAIR_DISTANCE_COMPUTE = "ace_pair_distances"
CLOSEST_PAIR_COMPUTE = "ace_closest_pair"
NO_PAIR_DISTANCE = 1.0e19
"""``compute reduce min`` over no pairs at all gives 1e20: read as "no pair within the cutoff"."""
RESTART_PREFIX = "md."
RESTART_SUFFIX = ".restart"
NEIGHBOUR_SKIN = 0.5
"""Neighbour skin (Å). Small, because every ghost atom is copied to the ACE environment and
every neighbour-list rebuild is copied too; LAMMPS still rebuilds whenever an atom has moved
half the skin, so a small skin costs rebuilds, never accuracy."""
THERMO_COLUMNS = ("step", "temp", "pe", "ke", "etotal", "press", "vol")


def quoted(path: Path | str) -> str:
    """A path as one LAMMPS word: quoted when it holds whitespace."""
    text = str(path)
    return f'"{text}"' if any(character.isspace() for character in text) else text


def restart_file(directory: Path, step: int) -> Path:
    return directory / f"{RESTART_PREFIX}{step}{RESTART_SUFFIX}"


def restart_step(path: Path) -> int | None:
    """The timestep in a restart file name written by :func:`periodic_restart`, else None."""
    name = path.name
    if not (name.startswith(RESTART_PREFIX) and name.endswith(RESTART_SUFFIX)):
        return None
    middle = name[len(RESTART_PREFIX) : -len(RESTART_SUFFIX)]
    return int(middle) if middle.isdigit() else None


def boundary(pbc: Sequence[bool]) -> str:
    """Periodic directions are ``p``; the others are fixed walls, so escaping atoms are lost."""
    return " ".join("p" if periodic else "f" for periodic in pbc)


def preamble(pbc: Sequence[bool]) -> list[str]:
    """Before the box exists: units, atom style, no sorting (exact resume), id map."""
    return [
        "units metal",
        "atom_style atomic",
        # Sorting reorders atoms between runs and breaks bitwise-exact resume.
        "atom_modify map array sort 0 0.0",
        f"boundary {boundary(pbc)}",
    ]


def read_data(data_file: Path) -> list[str]:
    return [f"read_data {quoted(data_file)}"]


def read_restart(restart: Path) -> list[str]:
    return [
        "atom_modify map array",
        f"read_restart {quoted(restart)}",
        "atom_modify sort 0 0.0",
    ]


def neighbours(skin: float = NEIGHBOUR_SKIN) -> list[str]:
    return [f"neighbor {skin:g} bin", "neigh_modify every 1 delay 0 check yes"]


def align_neighbour_builds(check_interval: int) -> list[str]:
    """Rebuild neighbour lists on every check step, as a resumed run does on its first step.

    A run resumed from a restart wraps atoms into the box and rebuilds its neighbour list at
    once; the uninterrupted run only does so when atoms have moved half the skin. Both differ
    in the last bit unless the uninterrupted run also rebuilds on every step where a halt can
    happen. ``fix balance`` is LAMMPS' way to force a rebuild on a fixed schedule; on one
    process it moves no atoms.
    """
    return [f"fix {ALIGN_FIX} all balance {check_interval} 1.1 shift x 10 1.1"]


def timestep(md: MDConfig) -> list[str]:
    return [f"timestep {md.timestep:g}"]


def create_velocities(temperature: float, seed: int, periodic: bool) -> list[str]:
    """Gaussian velocities at ``temperature`` with zero momentum (and zero spin for clusters)."""
    rotation = "no" if periodic else "yes"
    return [
        f"velocity all create {temperature:g} {seed} dist gaussian mom yes rot {rotation}",
    ]


def ensemble(md: MDConfig) -> list[str]:
    """The production integrator of ``md.ensemble``."""
    temperature = f"temp {md.temperature:g} {md.temperature:g} {md.thermostat_damping:g}"
    if md.ensemble == "nve":
        return [f"fix {ENSEMBLE_FIX} all nve"]
    if md.ensemble == "nvt":
        return [f"fix {ENSEMBLE_FIX} all nvt {temperature}"]
    pressure = f"iso {md.pressure:g} {md.pressure:g} {md.barostat_damping:g}"
    return [f"fix {ENSEMBLE_FIX} all npt {temperature} {pressure}"]


def end_ensemble() -> list[str]:
    return [f"unfix {ENSEMBLE_FIX}"]


def soft_start(temperature: float, damping: float, seed: int) -> list[str]:
    """Langevin at the target temperature over NVE: absorbs the jolt of a new potential."""
    return [
        f"fix {SOFT_START_NVE_FIX} all nve",
        f"fix {SOFT_START_LANGEVIN_FIX} all langevin {temperature:g} {temperature:g} "
        f"{damping:g} {seed} zero yes",
    ]


def end_soft_start() -> list[str]:
    return [f"unfix {SOFT_START_LANGEVIN_FIX}", f"unfix {SOFT_START_NVE_FIX}"]


def halt() -> list[str]:
    """A run ends cleanly at the end of any step on which Python set the halt variable."""
    return [
        f"variable {HALT_VARIABLE} internal 0",
        f"fix {HALT_FIX} all halt 1 v_{HALT_VARIABLE} > 0.5 error soft message no",
    ]


def rearm_after_halt() -> list[str]:
    """``error soft`` leaves the timer timed out; the next ``run`` would stop at once."""
    return [f"variable {HALT_VARIABLE} internal 0", "timer timeout off"]


def periodic_restart(interval: int, directory: Path) -> list[str]:
    pattern = directory / f"{RESTART_PREFIX}*{RESTART_SUFFIX}"
    return [f"restart {interval} {quoted(pattern)}"]


def write_restart(path: Path) -> list[str]:
    return [f"write_restart {quoted(path)}"]


def thermo(interval: int) -> list[str]:
    return [
        f"thermo_style custom {' '.join(THERMO_COLUMNS)}",
        f"thermo {interval}",
        "thermo_modify lost error flush yes",
    ]


def run(steps: int) -> list[str]:
    return [f"run {steps}"]


def external_ace(cutoff: float) -> list[str]:
    """ACE through ``fix external``: a zero pair style only to keep LAMMPS' neighbour list.

    The full list lets the callback hand LAMMPS' own neighbours to pyace instead of building
    them again in Python; ``cutoff`` must be at least the ACE cutoff.
    """
    return [
        f"pair_style zero {cutoff:g} full",
        "pair_coeff * *",
        f"fix {EXTERNAL_FIX} all external pf/callback 1 1",
        f"fix_modify {EXTERNAL_FIX} energy yes virial yes",
    ]


def native_pace(
    yaml: Path, active_set: Path, elements: Sequence[str], check_interval: int
) -> list[str]:
    """ML-PACE's own extrapolation style; gamma is evaluated only every ``check_interval``.

    ``fix pair`` must come before the check callback, so that the callback reads the gamma of
    the same step. The callback adds no force.
    """
    return [
        "pair_style pace/extrapolation",
        f"pair_coeff * * {quoted(yaml)} {quoted(active_set)} {' '.join(elements)}",
        f"fix {GAMMA_FIX} all pair {check_interval} pace/extrapolation gamma 1",
        f"fix {CHECK_FIX} all external pf/callback {check_interval} 1",
        *closest_pair_computes(),
    ]


def closest_pair_computes() -> list[str]:
    """The closest pair within the pair style's cutoff, computed by LAMMPS when it is read.

    ``compute pair/local`` builds its own occasional neighbour list only when invoked, so it
    costs nothing on the steps where nobody reads :data:`CLOSEST_PAIR_COMPUTE`.
    """
    return [
        f"compute {PAIR_DISTANCE_COMPUTE} all pair/local dist",
        f"compute {CLOSEST_PAIR_COMPUTE} all reduce min c_{PAIR_DISTANCE_COMPUTE} inputs local",
    ]


def native_probe(probe_fix: str) -> list[str]:
    """A one-off ``fix pair`` that evaluates gamma on the current step (with ``run 0``)."""
    return [f"fix {probe_fix} all pair 1 pace/extrapolation gamma 1", *run(0)]
