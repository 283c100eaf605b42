"""Phase 3 in one call: cut, cap and pre-relax the clusters of one halted MD frame."""

from __future__ import annotations

from ase import Atoms
from ase.calculators.calculator import Calculator

from pyacemaker_fw.config import CutoutConfig
from pyacemaker_fw.core import keys
from pyacemaker_fw.core.base import BaseOracle
from pyacemaker_fw.extraction.cutout import extract_clusters, fit_vacuum_box
from pyacemaker_fw.extraction.relaxation import relax_buffer


def prepare_clusters(
    frame: Atoms,
    centres: list[int],
    config: CutoutConfig,
    relaxer: Calculator | BaseOracle | None = None,
    parent_id: str | None = None,
    md_step: int | None = None,
) -> list[Atoms]:
    """Clusters ready for DFT: extracted, passivated and (when enabled) buffer-relaxed.

    ``relaxer`` is any ASE calculator or oracle; build the default MACE one with
    :func:`~pyacemaker_fw.extraction.relaxation.default_relaxer`.
    """
    clusters = extract_clusters(frame, centres, config, parent_id=parent_id, md_step=md_step)
    if not config.relaxation.enabled:
        return clusters
    if relaxer is None:
        raise ValueError(
            "cutout.relaxation.enabled is true but no relaxer was given; pass "
            "default_relaxer(config.oracle.mace) or set cutout.relaxation.enabled: false"
        )
    relaxed = [relax_buffer(cluster, relaxer, config.relaxation) for cluster in clusters]
    for cluster in relaxed:
        if cluster.info[keys.CUTOUT_MODE] == "cluster":
            fit_vacuum_box(cluster, config.vacuum)
    return relaxed
