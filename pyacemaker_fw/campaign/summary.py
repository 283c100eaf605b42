"""Counts over a campaign's store, for ``status`` and the report."""

from __future__ import annotations

from collections import Counter

from pyacemaker_fw.campaign.datasets import CLUSTER, PHASE1
from pyacemaker_fw.core.store import FAILED, LABELLED, CampaignStore


def dft_calls(store: CampaignStore) -> int:
    """Structures the DFT engine was asked to label (labelled or failed)."""
    return store.count_structures(
        dataset={"$in": [PHASE1, CLUSTER]}, status={"$in": [LABELLED, FAILED]}
    )


def md_steps(store: CampaignStore) -> dict[int, int]:
    """The furthest MD step of each walker."""
    furthest: dict[int, int] = {}
    for record in store.records("md_segment"):
        step = int(record["outcome"]["result"]["step"])
        walker = int(record.get("walker", 0))
        furthest[walker] = max(furthest.get(walker, 0), step)
    return furthest


def label_sources(store: CampaignStore) -> dict[str, int]:
    """Training labels by source: DFT where a structure has one, else the surrogate's."""
    counts: Counter[str] = Counter()
    for document in store.structure_documents():
        if document.get("status") == LABELLED:
            counts[str(document.get("info", {}).get("label_source", "?"))] += 1
        elif "surrogate" in document and not document.get("uncertain"):
            counts[str(document["surrogate"].get("source", "surrogate"))] += 1
    return dict(counts)
