"""Capping the bonds a cutout breaks with passivating atoms (hydrogen by default).

The rule, applied in this order:

1. **Broken bonds.** A cluster atom X and a parent atom Y that the cut left out are bonded when
   ``|XY| < bond_cutoff_scale * (r_X + r_Y)``, with ``r`` the covalent radii of
   :data:`ase.data.covalent_radii`. Each broken bond gets one passivant on the segment X→Y,
   ``bond_lengths[X]`` from X (the covalent-radius sum of X and the passivant where the table
   has no entry for X).
2. **Merge.** Passivants closer than ``min_passivant_distance`` to each other (linked in chains)
   become one passivant at their mean position, kept on the first host. This happens where two
   cluster atoms bonded to the same outside atom at a sharp angle, and keeps two hydrogens from
   sitting almost on top of one another.
3. **Drop.** A passivant that lies closer to some other cluster atom than to its own host's
   X–passivant bond length would be bonded to the wrong atom; it is removed and its bond is left
   open.

Passivants get force weight 0, region :data:`~pyacemaker_fw.core.keys.REGION_PASSIVANT`,
parent index -1 and, in ``arrays['passivant_host']``, the index within the cluster of the atom
they cap (-1 on every other atom).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import numpy.typing as npt
from ase import Atoms
from ase.data import atomic_numbers, chemical_symbols, covalent_radii
from ase.neighborlist import primitive_neighbor_list
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from pyacemaker_fw.core import keys

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
NO_CELL = np.zeros((3, 3))
NO_PBC = (False, False, False)


def bond_cutoff(numbers_a: npt.ArrayLike, numbers_b: npt.ArrayLike, scale: float) -> FloatArray:
    """Largest distance (Å) at which two atoms of these elements count as bonded."""
    radii = np.asarray(covalent_radii, dtype=np.float64)
    first = np.asarray(numbers_a, dtype=np.int64)
    second = np.asarray(numbers_b, dtype=np.int64)
    return np.asarray(scale * (radii[first] + radii[second]), dtype=np.float64)


def max_bond_cutoff(numbers: npt.ArrayLike, scale: float) -> float:
    """The bond cutoff of the longest-bonded element pair among ``numbers`` (Å)."""
    largest = float(np.max(np.asarray(covalent_radii)[np.unique(numbers)]))
    return 2.0 * scale * largest


def broken_bonds(cluster: Atoms, outside: Atoms, scale: float) -> tuple[IntArray, IntArray]:
    """(cluster index, outside index) of every bond that crosses the cut."""
    if len(cluster) == 0 or len(outside) == 0:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty
    numbers = np.concatenate([cluster.numbers, outside.numbers])
    positions = np.vstack([cluster.positions, outside.positions])
    first, second, distance = primitive_neighbor_list(
        "ijd", NO_PBC, NO_CELL, positions, max_bond_cutoff(numbers, scale)
    )
    n_cluster = len(cluster)
    crossing = (first < n_cluster) & (second >= n_cluster)
    bonded = distance < bond_cutoff(numbers[first], numbers[second], scale)
    keep = crossing & bonded
    return first[keep].astype(np.int64), (second[keep] - n_cluster).astype(np.int64)


def passivant_bond_lengths(
    host_numbers: npt.ArrayLike, passivant: str, table: Mapping[str, float]
) -> FloatArray:
    """X–passivant bond length for each host (Å), from ``table`` or covalent radii."""
    passivant_radius = covalent_radii[atomic_numbers[passivant]]
    lengths = [
        table.get(chemical_symbols[number], covalent_radii[number] + passivant_radius)
        for number in np.asarray(host_numbers)
    ]
    return np.asarray(lengths, dtype=float)


def place_passivants(
    cluster: Atoms,
    outside: Atoms,
    hosts: IntArray,
    partners: IntArray,
    lengths: FloatArray,
) -> FloatArray:
    """One position per broken bond, ``lengths`` from the host towards the lost partner."""
    bonds = outside.positions[partners] - cluster.positions[hosts]
    directions = bonds / np.linalg.norm(bonds, axis=1, keepdims=True)
    return np.asarray(cluster.positions[hosts] + lengths[:, None] * directions, dtype=float)


def merge_close(
    positions: FloatArray, hosts: IntArray, min_distance: float
) -> tuple[FloatArray, IntArray]:
    """Replace each chain of passivants closer than ``min_distance`` by their mean position."""
    if len(positions) < 2:
        return positions, hosts
    first, second = primitive_neighbor_list("ij", NO_PBC, NO_CELL, positions, min_distance)
    labels = _connected_components(len(positions), first, second)
    merged_positions = []
    merged_hosts = []
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        merged_positions.append(positions[members].mean(axis=0))
        merged_hosts.append(hosts[members[0]])
    return np.asarray(merged_positions), np.asarray(merged_hosts, dtype=np.int64)


def drop_misplaced(
    positions: FloatArray, hosts: IntArray, lengths: FloatArray, cluster: Atoms
) -> tuple[FloatArray, IntArray]:
    """Remove passivants nearer to another cluster atom than their own bond length."""
    if len(positions) == 0:
        return positions, hosts
    gaps = np.linalg.norm(positions[:, None, :] - cluster.positions[None, :, :], axis=2)
    gaps[np.arange(len(hosts)), hosts] = np.inf
    keep = gaps.min(axis=1) >= lengths
    return positions[keep], hosts[keep]


def passivate(
    cluster: Atoms,
    outside: Atoms,
    element: str,
    table: Mapping[str, float],
    scale: float,
    min_distance: float,
) -> Atoms:
    """``cluster`` with one passivant per broken bond, after the merge and drop rules."""
    hosts, partners = broken_bonds(cluster, outside, scale)
    lengths = passivant_bond_lengths(cluster.numbers[hosts], element, table)
    positions = place_passivants(cluster, outside, hosts, partners, lengths)
    positions, hosts = merge_close(positions, hosts, min_distance)
    lengths = passivant_bond_lengths(cluster.numbers[hosts], element, table)
    positions, hosts = drop_misplaced(positions, hosts, lengths, cluster)
    return _append_passivants(cluster, element, positions, hosts)


def _append_passivants(
    cluster: Atoms, element: str, positions: FloatArray, hosts: IntArray
) -> Atoms:
    capped: Atoms = cluster.copy()
    if keys.PASSIVANT_HOST not in capped.arrays:
        capped.arrays[keys.PASSIVANT_HOST] = np.full(len(capped), -1, dtype=int)
    passivants = Atoms(symbols=[element] * len(positions), positions=positions)
    passivants.arrays[keys.FORCE_WEIGHT] = np.zeros(len(positions))
    passivants.arrays[keys.REGION] = np.full(len(positions), keys.REGION_PASSIVANT, dtype=int)
    passivants.arrays[keys.PARENT_INDEX] = np.full(len(positions), -1, dtype=int)
    passivants.arrays[keys.PASSIVANT_HOST] = np.asarray(hosts, dtype=int)
    capped.extend(passivants)
    return capped


def _connected_components(count: int, first: IntArray, second: IntArray) -> IntArray:
    graph = coo_matrix((np.ones(len(first)), (first, second)), shape=(count, count))
    _, labels = connected_components(graph, directed=False)
    return np.asarray(labels, dtype=np.int64)
