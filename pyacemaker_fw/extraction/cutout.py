"""Spherical core/buffer cutout of the uncertain regions of one MD frame.

Around each centre atom, atoms within ``core_radius`` form the core (force weight 1) and atoms
within ``buffer_radius`` the buffer (force weight 0, or a linear taper by config). Centres
closer than two buffer radii share one cluster, so one DFT job covers both. Periodic images
are unwrapped relative to the centres, so the cluster is whole however the frame was wrapped.

``mode='cluster'`` caps the broken bonds (:mod:`.passivation`) and centres the cluster in a
vacuum box; ``mode='periodic_box'`` cuts a periodic box around the centres instead, for metals.

No cut holds a parent atom twice (:mod:`.cell_fit`). A group of centres whose cut would not fit
in one cell, such as a ring of centres round the cell, is split into parts that fit
(``info['cutout_split']`` says why). Where even one centre's cut does not fit, the cell is
smaller than the cut and the whole frame is returned instead, periodic and uncut
(``info['cutout_mode'] == 'whole_frame'``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
from ase import Atoms

from pyacemaker_fw.config import CutoutConfig
from pyacemaker_fw.core import keys
from pyacemaker_fw.extraction.cell_fit import Fits, box_fits, spheres_fit, split_group
from pyacemaker_fw.extraction.neighbours import CentreGroup, atoms_near, group_centres
from pyacemaker_fw.extraction.passivation import max_bond_cutoff, passivate
from pyacemaker_fw.extraction.periodic_box import box_padding, cut_periodic_box
from pyacemaker_fw.extraction.regions import distance_to_centres, weighted_atoms

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]


def centres_from_gamma(frame: Atoms, threshold: float) -> list[int]:
    """Indices of atoms whose ``arrays['gamma']`` exceeds ``threshold``, highest first."""
    gamma = np.asarray(frame.arrays[keys.GAMMA], dtype=float)
    above = np.flatnonzero(gamma > threshold)
    return [int(index) for index in above[np.argsort(-gamma[above], kind="stable")]]


def extract_clusters(
    frame: Atoms,
    centres: list[int],
    config: CutoutConfig,
    parent_id: str | None = None,
    md_step: int | None = None,
) -> list[Atoms]:
    """One cluster per group of overlapping centre spheres, with weights and metadata.

    ``parent_id`` and ``md_step`` default to the frame's ``info['structure_id']`` and
    ``info['md_step']``. A group too large for the cell gives several clusters; a cell too
    small for one centre's cut gives the whole frame (see the module's notes).
    """
    if not centres:
        raise ValueError("extract_clusters needs at least one centre atom")
    if max(centres) >= len(frame) or min(centres) < -len(frame):
        raise IndexError(f"centre atoms {centres} lie outside a frame of {len(frame)} atoms")
    centres = [int(index) % len(frame) for index in dict.fromkeys(centres)]
    metadata = _frame_metadata(frame, parent_id, md_step)
    fits = _fit_rule(frame, config)
    if not fits(frame.positions[centres[:1]]):
        whole = _whole_frame(frame, centres)
        _annotate(whole, frame, centres, config, metadata, "none")
        return [whole]
    merge_distance = 2.0 * config.buffer_radius
    cut = cut_periodic_box if config.mode == "periodic_box" else _cut_cluster
    clusters = []
    for group in group_centres(frame, centres, merge_distance):
        split = "none" if fits(group.positions) else _split_reason(group)
        parts = [group] if split == "none" else split_group(frame, group, merge_distance, fits)
        for part in parts:
            cluster = cut(frame, part, config)
            _require_unique_parents(cluster, part.indices)
            _annotate(cluster, frame, part.indices, config, metadata, split)
            clusters.append(cluster)
    return clusters


def _whole_frame(frame: Atoms, centres: list[int]) -> Atoms:
    """The frame itself as the cut: periodic, every atom core with force weight 1.

    Nothing is cut, so every force is a clean label. Atoms are ordered by minimum-image
    distance to the nearest centre, as in a cluster.
    """
    distance = np.min(
        [frame.get_distances(centre, range(len(frame)), mic=True) for centre in centres], axis=0
    )
    order = np.argsort(distance, kind="stable")
    atoms = Atoms(
        numbers=frame.numbers[order],
        positions=frame.positions[order],
        cell=frame.cell,
        pbc=frame.pbc,
    )
    atoms.arrays[keys.PARENT_INDEX] = order.astype(int)
    atoms.arrays[keys.REGION] = np.full(len(atoms), keys.REGION_CORE, dtype=int)
    atoms.arrays[keys.FORCE_WEIGHT] = np.ones(len(atoms))
    atoms.info[keys.CUTOUT_MODE] = "whole_frame"
    return atoms


def _fit_rule(frame: Atoms, config: CutoutConfig) -> Fits:
    if config.mode == "periodic_box":
        return box_fits(frame, box_padding(frame.numbers, config))
    return spheres_fit(frame, config.buffer_radius)


def _split_reason(group: CentreGroup) -> str:
    return "ring" if group.closes_ring else "larger_than_cell"


def _require_unique_parents(cluster: Atoms, centres: list[int]) -> None:
    """Refuse a cut that holds some parent atom twice: its labels would count it twice."""
    parents = np.asarray(cluster.arrays[keys.PARENT_INDEX])
    values, counts = np.unique(parents[parents >= 0], return_counts=True)
    repeated = values[counts > 1]
    if len(repeated):
        raise RuntimeError(
            f"the cutout around centres {centres} holds parent atoms {repeated[:10].tolist()} "
            f"more than once ({len(repeated)} in all); a cut must lie within one cell. "
            "This is a bug in the cutout: please report the frame and the centres."
        )


def _cut_cluster(frame: Atoms, group: CentreGroup, config: CutoutConfig) -> Atoms:
    shell = max_bond_cutoff(frame.numbers, config.bond_cutoff_scale) if config.passivate else 0.0
    local = atoms_near(frame, group.positions, config.buffer_radius + shell)
    distance = distance_to_centres(local.positions, group.positions)
    inside = distance <= config.buffer_radius
    cluster, _ = weighted_atoms(frame, local, distance, inside, config)
    if config.passivate:
        outside = Atoms(
            numbers=frame.numbers[local.index[~inside]], positions=local.positions[~inside]
        )
        cluster = passivate(
            cluster,
            outside,
            config.passivation_element,
            config.bond_lengths,
            config.bond_cutoff_scale,
            config.min_passivant_distance,
        )
    fit_vacuum_box(cluster, config.vacuum)
    cluster.info[keys.CUTOUT_MODE] = "cluster"
    return cluster


def fit_vacuum_box(cluster: Atoms, vacuum: float) -> None:
    """Put ``cluster`` in the smallest orthorhombic box with ``vacuum`` Å on every side."""
    extent = cluster.positions.max(axis=0) - cluster.positions.min(axis=0)
    cluster.set_cell(extent + 2.0 * vacuum)
    cluster.center()
    cluster.pbc = False


def _frame_metadata(frame: Atoms, parent_id: str | None, md_step: int | None) -> dict[str, Any]:
    metadata: dict[str, Any] = {}
    parent = parent_id if parent_id is not None else frame.info.get(keys.STRUCTURE_ID)
    step = md_step if md_step is not None else frame.info.get(keys.MD_STEP)
    if parent is not None:
        metadata[keys.PARENT_ID] = str(parent)
    if step is not None:
        metadata[keys.MD_STEP] = int(step)
    return metadata


def _annotate(
    cluster: Atoms,
    frame: Atoms,
    centres: list[int],
    config: CutoutConfig,
    metadata: dict[str, Any],
    split: str,
) -> None:
    cluster.info.update(metadata)
    cluster.info[keys.CENTRE_ATOMS] = list(centres)
    cluster.info[keys.CUTOUT_SPLIT] = split
    if keys.GAMMA in frame.arrays:
        gamma = np.asarray(frame.arrays[keys.GAMMA], dtype=float)
        cluster.info[keys.GAMMA] = [float(gamma[index]) for index in centres]
    if keys.PASSIVANT_HOST not in cluster.arrays:
        cluster.arrays[keys.PASSIVANT_HOST] = np.full(len(cluster), -1, dtype=int)
    cluster.info[keys.PROVENANCE] = {
        "generator": "cutout",
        "mode": cluster.info[keys.CUTOUT_MODE],
        "split": split,
        "core_radius": config.core_radius,
        "buffer_radius": config.buffer_radius,
        **cluster.info.get(keys.PROVENANCE, {}),
        **metadata,
    }
