"""A fixed-capacity replay buffer of old training structures, kept in MongoDB.

Every incremental update trains on the new data plus a sample of this buffer, so the potential
keeps what it learned earlier (the bulk of Phase 1) while it learns defects, at a cost that does
not grow with the campaign. The buffer lives in the campaign's database (collection
``replay_buffer``, one document per kept structure, and ``replay_state`` for its counters), so
it survives restarts and can be inspected with any MongoDB client.

What is kept when the buffer is full (``replay_strategy``):

- ``random``: reservoir sampling. Every structure ever offered has the same chance
  ``capacity / offered`` of being in the buffer, whatever the order of arrival.
- ``farthest_point``: the ``capacity`` structures that are most spread out in descriptor space
  (greedy farthest-point selection over old and new together), so rare environments survive.
  Replay samples are then drawn the same way.

The random draws are seeded from ``(seed, counter)`` with the counters stored in the database,
so a restarted process continues the same sequence.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
from ase import Atoms

from pyacemaker_fw.config import LoopStrategyConfig
from pyacemaker_fw.core.store import CampaignStore, atoms_to_document, document_to_atoms
from pyacemaker_fw.training.descriptors import (
    Descriptor,
    farthest_point_order,
    structural_descriptor,
)

BUFFER_COLLECTION = "replay_buffer"
STATE_COLLECTION = "replay_state"
Strategy = Literal["random", "farthest_point"]


def fingerprint(atoms: Atoms) -> str:
    """A content hash: the same structure offered twice is kept once."""
    digest = hashlib.sha1(usedforsecurity=False)
    digest.update(np.asarray(atoms.numbers, dtype=np.int64).tobytes())
    digest.update(np.round(atoms.positions, 6).tobytes())
    digest.update(np.round(atoms.cell.array, 6).tobytes())
    return digest.hexdigest()


def replay_count(new_count: int, new_fraction: float) -> int:
    """How many old structures go with ``new_count`` new ones to make them ``new_fraction``."""
    if not 0 < new_fraction <= 1:
        raise ValueError(f"new_fraction must be in (0, 1], got {new_fraction}")
    return round(new_count * (1 - new_fraction) / new_fraction)


class ReplayBuffer:
    """Old structures to replay, ``capacity`` at most, stored under one campaign and name."""

    def __init__(
        self,
        database: Any,
        campaign: str,
        capacity: int,
        strategy: Strategy = "random",
        seed: int = 0,
        descriptor: Descriptor = structural_descriptor,
        name: str = "ace",
    ) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be at least 1, got {capacity}")
        self.capacity = capacity
        self.strategy: Strategy = strategy
        self.seed = seed
        self.descriptor = descriptor
        self._documents = database[BUFFER_COLLECTION]
        self._state = database[STATE_COLLECTION]
        self._key = {"campaign": campaign, "buffer": name}

    @classmethod
    def for_store(
        cls, store: CampaignStore, loop: LoopStrategyConfig, seed: int = 0, name: str = "ace"
    ) -> ReplayBuffer:
        """The buffer of ``store``'s campaign, sized and configured by the loop section."""
        return cls(
            store.db,
            store.campaign,
            capacity=loop.replay_buffer_size,
            strategy=loop.replay_strategy,
            seed=seed,
            name=name,
        )

    # --- reading ------------------------------------------------------------------------
    def __len__(self) -> int:
        return int(self._documents.count_documents(self._key))

    def _stored(self) -> list[dict[str, Any]]:
        return list(self._documents.find(self._key).sort("slot", 1))

    def structures(self) -> list[Atoms]:
        """Everything in the buffer, in slot order."""
        return [document_to_atoms(document["atoms"]) for document in self._stored()]

    @property
    def offered(self) -> int:
        """How many distinct structures were ever offered to the buffer."""
        return int(self._counters().get("offered", 0))

    # --- writing ------------------------------------------------------------------------
    def add(self, structures: Sequence[Atoms]) -> int:
        """Offer structures; return how many of them the buffer now holds."""
        known = {document["_id"] for document in self._documents.find(self._key, {"_id": 1})}
        fresh: dict[str, Atoms] = {}
        for atoms in structures:
            key = self._document_id(atoms)
            if key not in known and key not in fresh:
                fresh[key] = atoms
        if not fresh:
            return 0
        if self.strategy == "random":
            return self._reservoir(fresh)
        return self._farthest(fresh)

    def _document_id(self, atoms: Atoms) -> str:
        return f"{self._key['campaign']}:{self._key['buffer']}:{fingerprint(atoms)}"

    def _document(self, key: str, atoms: Atoms, slot: int) -> dict[str, Any]:
        return {"_id": key, **self._key, "slot": slot, "atoms": atoms_to_document(atoms)}

    def _reservoir(self, fresh: dict[str, Atoms]) -> int:
        offered = self.offered
        size = len(self)
        kept = 0
        for key, atoms in fresh.items():
            offered += 1
            if size < self.capacity:
                self._documents.insert_one(self._document(key, atoms, size))
                size += 1
                kept += 1
                continue
            slot = int(np.random.default_rng([self.seed, offered]).integers(offered))
            if slot < self.capacity:
                self._documents.delete_one({**self._key, "slot": slot})
                self._documents.insert_one(self._document(key, atoms, slot))
                kept += 1
        self._set_counter("offered", offered)
        return kept

    def _farthest(self, fresh: dict[str, Atoms]) -> int:
        stored = self._stored()
        pool = [(d["_id"], document_to_atoms(d["atoms"])) for d in stored] + list(fresh.items())
        self._set_counter("offered", self.offered + len(fresh))
        points = np.array([self.descriptor(atoms) for _, atoms in pool])
        keep = sorted(farthest_point_order(points, self.capacity))
        self._documents.delete_many(self._key)
        for slot, index in enumerate(keep):
            key, atoms = pool[index]
            self._documents.insert_one(self._document(key, atoms, slot))
        return sum(1 for index in keep if pool[index][0] in fresh)

    # --- sampling -----------------------------------------------------------------------
    def sample(self, count: int) -> list[Atoms]:
        """``count`` distinct structures (all of them if the buffer holds fewer)."""
        stored = self.structures()
        count = min(count, len(stored))
        if count <= 0:
            return []
        draws = int(self._counters().get("draws", 0)) + 1
        self._set_counter("draws", draws)
        rng = np.random.default_rng([self.seed, draws, 1])
        if self.strategy == "random":
            chosen = rng.choice(len(stored), size=count, replace=False).tolist()
        else:
            points = np.array([self.descriptor(atoms) for atoms in stored])
            chosen = farthest_point_order(points, count, first=int(rng.integers(len(stored))))
        return [stored[index] for index in chosen]

    def training_set(self, new: Sequence[Atoms], new_fraction: float) -> list[Atoms]:
        """``new`` plus a replay sample sized so that new data make up ``new_fraction``."""
        return [*new, *self.sample(replay_count(len(new), new_fraction))]

    # --- counters -----------------------------------------------------------------------
    def _counters(self) -> dict[str, Any]:
        return self._state.find_one(self._key) or {}

    def _set_counter(self, name: str, value: int) -> None:
        self._state.update_one(self._key, {"$set": {name: value}}, upsert=True)
