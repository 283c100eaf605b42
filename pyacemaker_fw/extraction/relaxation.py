"""Pre-relaxation of a cutout's buffer and passivants, with the core held fixed.

The cut leaves the buffer's outer atoms and the new passivants in positions that no longer
balance; a cheap relaxation with a foundation model (MACE by default) settles them before the
expensive DFT call, while the core keeps exactly the geometry the MD produced.

A model that does not know the passivating element (a MACE fitted to pure silicon, say) sees
the buffer's capped bonds as dangling and pulls the buffer out of shape: in the QE benchmark
that changed core forces by up to 2.9 eV/Å. By default (``unknown_passivant: skip``) such a
cluster is returned unrelaxed, with the reason in ``info['relaxation']``; ``rigid`` relaxes
the buffer anyway, each passivant following its host atom at a fixed bond.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from ase import Atoms
from ase.calculators.calculator import Calculator
from ase.constraints import FixAtoms
from ase.optimize import BFGS, FIRE
from ase.optimize.optimize import Optimizer

from pyacemaker_fw.config import MACEConfig, RelaxationConfig
from pyacemaker_fw.core import keys
from pyacemaker_fw.core.base import BaseOracle
from pyacemaker_fw.oracles.ase_adapter import as_calculator

OPTIMIZERS: dict[str, type[Optimizer]] = {"FIRE": FIRE, "BFGS": BFGS}


def default_relaxer(mace: MACEConfig) -> Calculator:
    """MACE on the first model of the configured committee (one model is enough to relax)."""
    if not mace.model_paths:
        raise ValueError("buffer relaxation needs a MACE model: set oracle.mace.model_paths")
    from mace.calculators import MACECalculator, mace_mp

    from pyacemaker_fw.config import MACE_MP_NAMES
    from pyacemaker_fw.core.threads import pin_threads

    pin_threads(mace.threads)
    model = mace.model_paths[0]
    if model in MACE_MP_NAMES:
        return mace_mp(model=model, device=mace.device, default_dtype=mace.default_dtype)
    return MACECalculator(model_paths=[model], device=mace.device, default_dtype=mace.default_dtype)


def supported_numbers(calculator: Calculator) -> set[int] | None:
    """Atomic numbers a calculator's model knows, where it says so (MACE does); else None."""
    z_table = getattr(calculator, "z_table", None)
    if z_table is None:
        return None
    return {int(number) for number in z_table.zs}


def relax_buffer(
    cluster: Atoms, relaxer: Calculator | BaseOracle, config: RelaxationConfig
) -> Atoms:
    """A copy of ``cluster`` with buffer and passivants relaxed, core fixed.

    ``info['relaxation']`` records ``converged``, ``steps``, ``max_force`` (eV/Å, over the
    relaxed atoms), the ``optimizer`` and whether the passivants took part. A run that hits
    ``max_steps`` still returns its last geometry, with ``converged`` False.
    """
    calculator = as_calculator(relaxer)
    region = np.asarray(cluster.arrays[keys.REGION])
    passivants = region == keys.REGION_PASSIVANT
    known = supported_numbers(calculator)
    with_passivants = known is None or set(cluster.numbers[passivants].tolist()) <= known
    if not with_passivants and config.unknown_passivant == "skip":
        return _unrelaxed(cluster, "the relaxing model does not know the passivating element")
    moving = np.ones(len(cluster), dtype=bool) if with_passivants else ~passivants
    work = Atoms(
        numbers=cluster.numbers[moving],
        positions=cluster.positions[moving],
        cell=cluster.cell,
        pbc=cluster.pbc,
    )
    work.set_constraint(FixAtoms(mask=region[moving] == keys.REGION_CORE))
    work.calc = calculator
    optimizer = OPTIMIZERS[config.optimizer](work, logfile=None)
    converged = bool(optimizer.run(fmax=config.fmax, steps=config.max_steps))
    max_force = float(np.linalg.norm(work.get_forces(), axis=1).max())
    relaxed: Atoms = cluster.copy()
    relaxed.positions[moving] = work.positions
    if not with_passivants:
        _follow_hosts(relaxed, cluster, passivants)
    relaxed.info[keys.RELAXATION] = {
        "converged": converged,
        "steps": int(optimizer.nsteps),
        "max_force": max_force,
        "optimizer": config.optimizer,
        "passivants_relaxed": with_passivants,
    }
    return relaxed


def _unrelaxed(cluster: Atoms, reason: str) -> Atoms:
    kept: Atoms = cluster.copy()
    kept.info[keys.RELAXATION] = {"converged": False, "steps": 0, "skipped": reason}
    return kept


def _follow_hosts(relaxed: Atoms, original: Atoms, passivants: npt.NDArray[np.bool_]) -> None:
    """Move each passivant by the displacement of its host.

    The host is the one the cut recorded in ``arrays['passivant_host']``; a cluster made
    without that record falls back to the passivant's nearest non-passivant.
    """
    for index, host in zip(np.flatnonzero(passivants), _hosts(original, passivants), strict=True):
        relaxed.positions[index] += relaxed.positions[host] - original.positions[host]


def _hosts(cluster: Atoms, passivants: npt.NDArray[np.bool_]) -> npt.NDArray[np.int64]:
    """The host of each passivant, recorded or (for clusters without the record) nearest."""
    if keys.PASSIVANT_HOST in cluster.arrays:
        hosts = np.asarray(cluster.arrays[keys.PASSIVANT_HOST], dtype=np.int64)[passivants]
        bad = (hosts < 0) | (hosts >= len(cluster))
        bad[~bad] = passivants[hosts[~bad]]
        if bad.any():
            raise ValueError(
                f"arrays['{keys.PASSIVANT_HOST}'] names no non-passivant host for passivant atoms "
                f"{np.flatnonzero(passivants)[bad].tolist()}"
            )
        return hosts
    heavy = np.flatnonzero(~passivants)
    gaps = np.linalg.norm(
        cluster.positions[passivants][:, None, :] - cluster.positions[heavy][None, :, :], axis=2
    )
    return np.asarray(heavy[np.argmin(gaps, axis=1)], dtype=np.int64)
