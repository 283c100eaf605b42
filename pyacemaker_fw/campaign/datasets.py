"""Names of the campaign's datasets and the deterministic keys of their structures.

A key says where a structure came from, so reruns write the same documents and a user can
find any structure in MongoDB by reading its key.
"""

from __future__ import annotations

PHASE1 = "phase1"
"""Structures selected in Phase 1: surrogate labels, DFT labels where the surrogate was unsure."""
CLUSTER = "cluster"
"""Clusters cut around uncertain atoms in Phase 3, labelled by DFT."""
SURROGATE = "surrogate"
"""Perturbed neighbours of the clusters, labelled by the fine-tuned surrogate in Phase 4."""


def phase1_key(round_: int, index: int) -> str:
    return f"phase1/round{round_}/{index:04d}"


def cluster_key(walker: int, iteration: int, index: int) -> str:
    return f"walker{walker}/it{iteration:03d}/cluster{index:02d}"


def surrogate_key(walker: int, iteration: int, index: int) -> str:
    return f"walker{walker}/it{iteration:03d}/surrogate{index:03d}"


def round_key(walker: int, iteration: int) -> str:
    """The key of one learning round (its cutout, fine-tune, surrogates and update)."""
    return f"walker{walker}/it{iteration:03d}"
