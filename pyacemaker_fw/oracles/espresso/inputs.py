"""pw.x input files: built from ``Atoms`` plus :class:`EspressoConfig`, edited in place by handlers.

The file on disk is the single source of truth for a run, as ``INCAR`` is for custodian's VASP
jobs: the oracle writes it once, every error handler reads it, changes a few namelist keys and
writes it back, and the next attempt runs whatever it says.

Choices made here, and why:

- Clusters (``Atoms`` periodic in no direction) run at the Gamma point with
  ``assume_isolated='mt'`` (Martyna–Tuckerman), so that the periodic images of a charged or
  polar cluster do not interact; they get no stress, which has no meaning in vacuum.
- Periodic cells get a Monkhorst–Pack grid with ``n_i = ceil(|b_i| / kspacing)``, where
  ``b_i`` are the reciprocal vectors without the 2π (ASE's convention, so ``kspacing`` is in
  units of 2π/Å). A grid of one point is run as Gamma-only, which halves memory and time.
- Fixed occupations (``smearing: null``) get :data:`EMPTY_BANDS` bands above the occupied
  ones. pw.x then prints the highest occupied and lowest unoccupied levels. When they
  overlap, the system is a metal at this sampling, and ``handlers.SmearingHandler`` switches
  smearing on. With fixed occupations, Al2 converges quietly to an energy 0.9 eV too high.
"""

from __future__ import annotations

import io
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from ase import Atoms
from ase.io.espresso import read_fortran_namelist, write_espresso_in

from pyacemaker_fw.config import EspressoConfig
from pyacemaker_fw.core.store import plain_data
from pyacemaker_fw.oracles.espresso.pseudopotentials import (
    pseudopotentials_for,
    valence_electrons,
)

INPUT_FILE = "pw.in"
OUTPUT_FILE = "pw.out"
STDERR_FILE = "pw.err"
CRASH_FILE = "CRASH"
OUTDIR = "out"
PREFIX = "pwscf"
ISOLATED_CORRECTION = "mt"
REQUIRED_NAMELISTS = ("control", "system", "electrons")
NAMELIST_ORDER = (*REQUIRED_NAMELISTS, "ions", "cell")
_KSPACING_TOLERANCE = 1e-6
EMPTY_BANDS = 4
"""Empty bands added to a fixed-occupation run, so that pw.x prints the lowest unoccupied
level and a metal (no gap) can be told from an insulator."""

Overrides = Mapping[str, Mapping[str, Any]]


@dataclass
class PwInput:
    """A pw.x input: Fortran namelists (lower-case names and keys) and the card lines after them."""

    namelists: dict[str, dict[str, Any]] = field(default_factory=dict)
    cards: list[str] = field(default_factory=list)

    @classmethod
    def from_string(cls, text: str) -> PwInput:
        data, cards = read_fortran_namelist(io.StringIO(text))
        namelists = {
            section.lower(): {key.lower(): value for key, value in values.items()}
            for section, values in data.items()
            if values or section.lower() in REQUIRED_NAMELISTS
        }
        return cls(namelists=namelists, cards=list(cards))

    @classmethod
    def read(cls, path: Path) -> PwInput:
        return cls.from_string(Path(path).read_text())

    def get(self, section: str, key: str, default: Any = None) -> Any:
        return self.namelists.get(section, {}).get(key, default)

    def set(self, section: str, key: str, value: Any) -> None:
        self.namelists.setdefault(section, {})[key] = value

    def remove(self, section: str, key: str) -> None:
        self.namelists.get(section, {}).pop(key, None)

    def to_string(self) -> str:
        lines: list[str] = []
        extra = [name for name in self.namelists if name not in NAMELIST_ORDER]
        for section in (*NAMELIST_ORDER, *extra):
            values = self.namelists.get(section, {})
            if not values and section not in REQUIRED_NAMELISTS:
                continue  # pw.x 6.7 warns about namelists it does not expect, such as &FCP
            lines.append(f"&{section.upper()}")
            lines.extend(f"   {key} = {fortran_value(value)}" for key, value in values.items())
            lines.append("/")
        lines.extend(self.cards)
        return "\n".join(lines) + "\n"

    def write(self, path: Path) -> None:
        Path(path).write_text(self.to_string())

    def k_points(self) -> str | list[int]:
        """``'gamma'``, or the Monkhorst–Pack grid and its offsets (six numbers) read back
        from the ``K_POINTS`` card."""
        for index, line in enumerate(self.cards):
            words = line.split()
            if words and words[0].upper() == "K_POINTS":
                mode = words[1].lower().strip("{}()") if len(words) > 1 else "tpiba"
                if mode == "automatic":
                    return [int(value) for value in self.cards[index + 1].split()[:6]]
                return mode
        return "gamma"


def fortran_value(value: Any) -> str:
    """A namelist value as pw.x reads it."""
    if isinstance(value, bool | np.bool_):
        return ".true." if value else ".false."
    if isinstance(value, int | np.integer):
        return str(int(value))
    if isinstance(value, float | np.floating):
        return repr(float(value))
    if isinstance(value, Path):
        value = str(value)
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    raise TypeError(f"cannot write {value!r} ({type(value).__name__}) into a pw.x namelist")


def is_cluster(atoms: Atoms) -> bool:
    """A structure periodic in no direction: a cluster in a box of vacuum."""
    return not bool(np.any(atoms.pbc))


def kpoint_grid(atoms: Atoms, kspacing: float) -> tuple[int, int, int] | None:
    """The Monkhorst–Pack grid for ``kspacing`` (2π/Å), or ``None`` for a Gamma-only run."""
    if is_cluster(atoms):
        return None
    lengths = np.linalg.norm(atoms.cell.reciprocal(), axis=1)
    grid = [
        max(1, math.ceil(length / kspacing - _KSPACING_TOLERANCE)) if periodic else 1
        for length, periodic in zip(lengths, atoms.pbc, strict=True)
    ]
    if grid == [1, 1, 1]:
        return None
    return grid[0], grid[1], grid[2]


def kpoint_sampling(
    atoms: Atoms, kspacing: float, shift: bool
) -> tuple[tuple[int, int, int] | None, tuple[int, int, int]]:
    """The grid and its offset for pw.x: Gamma-only (None), or Monkhorst–Pack, shifted by
    half a step along every axis with more than one point when ``shift``. A 1×1×1 grid stays
    Gamma, where pw.x runs twice as fast. Clusters are always Gamma."""
    grid = kpoint_grid(atoms, kspacing)
    if grid is None or not shift:
        return grid, (0, 0, 0)
    return grid, (int(grid[0] > 1), int(grid[1] > 1), int(grid[2] > 1))


def _namelists(atoms: Atoms, config: EspressoConfig) -> dict[str, dict[str, Any]]:
    periodic = not is_cluster(atoms)
    control: dict[str, Any] = {
        "calculation": "scf",
        "tprnfor": True,
        "tstress": periodic,
        "pseudo_dir": str(config.pseudo_dir),
        "outdir": f"./{OUTDIR}",
        "prefix": PREFIX,
    }
    if config.max_seconds is not None:
        control["max_seconds"] = float(config.max_seconds)
    system: dict[str, Any] = {
        "ecutwfc": float(config.ecutwfc),
        "ecutrho": float(config.ecutrho or 4 * config.ecutwfc),
    }
    if config.smearing is None:
        occupied = math.ceil(valence_electrons(atoms, config) / 2 - 1e-6)
        system.update(occupations="fixed", nbnd=occupied + EMPTY_BANDS)
    else:
        system.update(occupations="smearing", smearing=config.smearing, degauss=config.degauss)
    if not periodic:
        system["assume_isolated"] = ISOLATED_CORRECTION
    electrons = {
        "mixing_beta": float(config.mixing_beta),
        "electron_maxstep": int(config.electron_maxstep),
        "conv_thr": float(config.conv_thr),
    }
    return {"control": control, "system": system, "electrons": electrons}


def build_pw_input(
    atoms: Atoms, config: EspressoConfig, overrides: Overrides | None = None
) -> PwInput:
    """The pw.x input of one SCF with forces (and stress for periodic cells).

    ``overrides`` adds or replaces namelist keys, e.g. ``{"system": {"nbnd": 16}}``.
    """
    pseudopotentials = pseudopotentials_for(atoms, config)
    if is_cluster(atoms) and atoms.cell.volume < 1e-6:
        raise ValueError(
            "a cluster needs a box: give the Atoms a cell with vacuum (atoms.center(vacuum=...))"
        )
    namelists = _namelists(atoms, config)
    for section, values in (overrides or {}).items():
        namelists.setdefault(section.lower(), {}).update(values)
    buffer = io.StringIO()
    kpts, koffset = kpoint_sampling(atoms, config.kspacing, config.kpoint_shift)
    write_espresso_in(
        buffer,
        atoms,
        input_data=namelists,
        pseudopotentials=pseudopotentials,
        kpts=kpts,
        koffset=koffset,
    )
    return PwInput.from_string(buffer.getvalue())


def settings_summary(pw_input: PwInput) -> dict[str, Any]:
    """The settings a label was computed with: JSON-plain, for ``info['oracle_settings']``."""
    species = []
    for index, line in enumerate(pw_input.cards):
        if line.split()[:1] == ["ATOMIC_SPECIES"]:
            count = int(pw_input.get("system", "ntyp", 0))
            species = [entry.split() for entry in pw_input.cards[index + 1 : index + 1 + count]]
    return {
        "code": "pw.x",
        "namelists": {
            section: {key: plain_data(value) for key, value in values.items()}
            for section, values in pw_input.namelists.items()
            if values
        },
        "k_points": pw_input.k_points(),
        "pseudopotentials": {words[0]: words[2] for words in species if len(words) >= 3},
    }
