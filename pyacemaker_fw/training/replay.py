"""A fixed-capacity replay buffer of old training structures, held in memory.

Every incremental update trains on the new data plus a sample of this buffer, so the potential
keeps what it learned earlier (the bulk of Phase 1) while it learns defects, at a cost that does
not grow with the campaign.

The buffer writes nothing anywhere. :meth:`ReplayBuffer.state` returns a :class:`ReplayState`,
plain JSON (``model_dump(mode="json")``) with every kept structure and the counters, and
:meth:`ReplayBuffer.from_state` rebuilds the buffer from it. Whoever owns persistence (the
FireTasks) saves that state after an update and restores it before the next one.

What is kept when the buffer is full (``replay_strategy``):

- ``random``: reservoir sampling. Every structure ever offered has the same chance
  ``capacity / offered`` of being in the buffer, whatever the order of arrival.
- ``farthest_point``: the ``capacity`` structures that are most spread out in descriptor space
  (greedy farthest-point selection over old and new together), so rare environments survive.
  Replay samples are then drawn the same way.

The random draws are seeded from ``(seed, counter)``, and the counters are part of the state,
so a restored buffer continues exactly the sequence of an uninterrupted one.
"""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
from ase import Atoms
from pydantic import BaseModel, ConfigDict, Field, model_validator

from pyacemaker_fw.config import LoopStrategyConfig
from pyacemaker_fw.core.store import atoms_to_document, document_to_atoms
from pyacemaker_fw.training.dataset import energy_weight
from pyacemaker_fw.training.descriptors import (
    StructureDescriptor,
    farthest_point_order,
    structural_descriptor,
)

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


class ReplayEntry(BaseModel):
    """One kept structure: its fingerprint, its slot and the structure as a store document."""

    model_config = ConfigDict(extra="forbid")

    key: str = Field(..., description="Content fingerprint of the structure.")
    slot: int = Field(..., ge=0, description="Position in the buffer, 0 to capacity - 1.")
    atoms: dict[str, Any] = Field(..., description="core.store.atoms_to_document of it.")


class ReplayState(BaseModel):
    """Everything a replay buffer is: JSON- and BSON-safe with ``model_dump(mode="json")``."""

    model_config = ConfigDict(extra="forbid")

    capacity: int = Field(..., ge=1, description="Most structures the buffer holds.")
    strategy: Strategy = "random"
    seed: int = Field(0, ge=0, description="Seed of every random draw.")
    offered: int = Field(0, ge=0, description="Distinct structures ever offered.")
    draws: int = Field(0, ge=0, description="Samples drawn so far.")
    entries: list[ReplayEntry] = Field(default_factory=list)

    @model_validator(mode="after")
    def _consistent(self) -> ReplayState:
        slots = sorted(entry.slot for entry in self.entries)
        if slots != list(range(len(slots))):
            raise ValueError(f"entries: slots must be 0..{len(slots) - 1} once each, got {slots}")
        if len(self.entries) > min(self.capacity, self.offered):
            raise ValueError(
                f"entries: {len(self.entries)} structures exceed capacity {self.capacity} "
                f"or offered {self.offered}"
            )
        if len({entry.key for entry in self.entries}) != len(self.entries):
            raise ValueError("entries: the same structure (key) appears twice")
        return self


class ReplayBuffer:
    """Old structures to replay, ``capacity`` at most, in memory."""

    def __init__(
        self,
        capacity: int,
        strategy: Strategy = "random",
        seed: int = 0,
        descriptor: StructureDescriptor = structural_descriptor,
    ) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be at least 1, got {capacity}")
        if strategy not in ("random", "farthest_point"):
            raise ValueError(f"strategy must be 'random' or 'farthest_point', got {strategy!r}")
        if seed < 0:
            raise ValueError(f"seed must be >= 0, got {seed}")
        self.capacity = capacity
        self.strategy: Strategy = strategy
        self.seed = seed
        self.descriptor = descriptor
        # Kept as store documents, in slot order: what state() hands out is exactly what is
        # kept, and every read returns fresh Atoms that a caller cannot alter the buffer through.
        self._entries: list[tuple[str, dict[str, Any]]] = []
        self._offered = 0
        self._draws = 0

    @classmethod
    def for_loop(cls, loop: LoopStrategyConfig, seed: int = 0) -> ReplayBuffer:
        """An empty buffer sized and configured by the loop section."""
        return cls(capacity=loop.replay_buffer_size, strategy=loop.replay_strategy, seed=seed)

    # --- state --------------------------------------------------------------------------
    def state(self) -> ReplayState:
        """A snapshot that :meth:`from_state` turns back into an identical buffer."""
        return ReplayState(
            capacity=self.capacity,
            strategy=self.strategy,
            seed=self.seed,
            offered=self._offered,
            draws=self._draws,
            entries=[
                ReplayEntry(key=key, slot=slot, atoms=copy.deepcopy(document))
                for slot, (key, document) in enumerate(self._entries)
            ],
        )

    @classmethod
    def from_state(
        cls, state: ReplayState, descriptor: StructureDescriptor = structural_descriptor
    ) -> ReplayBuffer:
        """The buffer ``state`` was taken from; it continues the same random sequence.

        Each entry's key must be the fingerprint of its structure, so a state edited by hand
        cannot make the buffer keep a duplicate or miss one.
        """
        buffer = cls(state.capacity, state.strategy, state.seed, descriptor)
        for entry in sorted(state.entries, key=lambda entry: entry.slot):
            actual = fingerprint(document_to_atoms(entry.atoms))
            if actual != entry.key:
                raise ValueError(
                    f"entries[slot={entry.slot}]: key {entry.key} is not the fingerprint "
                    f"{actual} of its atoms"
                )
            buffer._entries.append((entry.key, copy.deepcopy(entry.atoms)))
        buffer._offered = state.offered
        buffer._draws = state.draws
        return buffer

    # --- reading ------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._entries)

    def structures(self) -> list[Atoms]:
        """Everything in the buffer, in slot order (new ``Atoms`` on every call)."""
        return [document_to_atoms(document) for _, document in self._entries]

    @property
    def offered(self) -> int:
        """How many distinct structures were ever offered to the buffer."""
        return self._offered

    # --- writing ------------------------------------------------------------------------
    def add(self, structures: Sequence[Atoms]) -> int:
        """Offer structures; return how many of them the buffer now holds."""
        known = {key for key, _ in self._entries}
        fresh: dict[str, Atoms] = {}
        for atoms in structures:
            key = fingerprint(atoms)
            if key not in known and key not in fresh:
                fresh[key] = atoms
        if not fresh:
            return 0
        if self.strategy == "random":
            return self._reservoir(fresh)
        return self._farthest(fresh)

    def _reservoir(self, fresh: dict[str, Atoms]) -> int:
        kept = 0
        for key, atoms in fresh.items():
            self._offered += 1
            if len(self._entries) < self.capacity:
                self._entries.append((key, atoms_to_document(atoms)))
                kept += 1
                continue
            slot = int(np.random.default_rng([self.seed, self._offered]).integers(self._offered))
            if slot < self.capacity:
                self._entries[slot] = (key, atoms_to_document(atoms))
                kept += 1
        return kept

    def _farthest(self, fresh: dict[str, Atoms]) -> int:
        pool = [(key, document_to_atoms(document)) for key, document in self._entries]
        pool += list(fresh.items())
        self._offered += len(fresh)
        points = np.array([self.descriptor(atoms) for _, atoms in pool])
        keep = sorted(farthest_point_order(points, self.capacity))
        old = dict(self._entries)
        self._entries = [
            (pool[index][0], old.get(pool[index][0]) or atoms_to_document(pool[index][1]))
            for index in keep
        ]
        return sum(1 for index in keep if pool[index][0] in fresh)

    # --- sampling -----------------------------------------------------------------------
    def sample(self, count: int) -> list[Atoms]:
        """``count`` distinct structures (all of them if the buffer holds fewer)."""
        stored = self.structures()
        count = min(count, len(stored))
        if count <= 0:
            return []
        self._draws += 1
        rng = np.random.default_rng([self.seed, self._draws, 1])
        if self.strategy == "random":
            chosen = rng.choice(len(stored), size=count, replace=False).tolist()
        else:
            points = np.array([self.descriptor(atoms) for atoms in stored])
            chosen = farthest_point_order(points, count, first=int(rng.integers(len(stored))))
        return [stored[index] for index in chosen]

    def training_set(self, new: Sequence[Atoms], new_fraction: float) -> list[Atoms]:
        """``new`` plus a replay sample sized so that new data make up ``new_fraction``.

        A fit needs some energy to learn (pacemaker normalises the energy weights): when
        neither ``new`` nor the sample has a structure whose energy teaches, as when both are
        clusters, the first such structure of the buffer joins them.
        """
        chosen = [*new, *self.sample(replay_count(len(new), new_fraction))]
        if any(energy_weight(atoms) > 0 for atoms in chosen):
            return chosen
        teaching = next((a for a in self.structures() if energy_weight(a) > 0), None)
        return chosen if teaching is None else [*chosen, teaching]
