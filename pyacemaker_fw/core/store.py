"""The campaign's MongoDB store: structures and their labels, potentials, records and events.

It works on any pymongo-compatible ``Database`` (a real MongoDB, a MongoDB-wire server or
mongomock). Documents are plain JSON-like data, so users can browse them with any MongoDB
client. Every document carries its ``campaign``; every write is an upsert on a deterministic
key, so a task that runs twice (a rerun after a lost worker, a retried Firework) writes the same
documents again instead of new ones.

- ``structures``: one document per structure, ``_id`` ``"<campaign>/<key>"``. A structure is
  put unlabelled (``status: pending``), then labelled (``status: labelled``, with ``energy``,
  ``forces``, ``stress`` and ``info.label_source``) or marked ``failed`` with a reason. A
  surrogate's label of the same structure is kept apart under ``surrogate``, so that DFT and
  surrogate energies can be aligned. ``trained_in`` names the fit that first used it.
- ``potentials``: one document per potential version. A unique index on (campaign, version)
  and on (campaign, fit_key) makes two "version 3" records impossible: a fit claims its
  version by its key (:meth:`CampaignStore.claim_version`) before it starts.
- ``records``: everything else a campaign keeps, by ``kind`` and key: MD segments,
  validation reports, MACE models, the replay buffer.
- ``events``: what the campaign did, in time order, for ``status`` and the report.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

import numpy as np
from ase import Atoms

from pyacemaker_fw.core import keys as atom_keys
from pyacemaker_fw.core.labels import attach_labels, has_labels
from pyacemaker_fw.core.models import PotentialRecord

STRUCTURES = "structures"
POTENTIALS = "potentials"
RECORDS = "records"
EVENTS = "events"
LOCKS = "locks"
LOCK_POLL_SECONDS = 2.0
PENDING, LABELLED, FAILED = "pending", "labelled", "failed"
_STANDARD_ARRAYS = frozenset({"numbers", "positions"})
_LABEL_FIELDS = ("energy", "forces", "stress")


def plain_data(value: Any) -> Any:
    """``value`` with numpy scalars and arrays (also nested) turned into BSON-safe Python."""
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, dict):
        return {str(k): plain_data(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain_data(v) for v in value]
    return value


def atoms_to_document(atoms: Atoms) -> dict[str, Any]:
    """A BSON-safe document that :func:`document_to_atoms` turns back into equal ``Atoms``."""
    document: dict[str, Any] = {
        "symbols": atoms.get_chemical_symbols(),
        "positions": atoms.positions.tolist(),
        "cell": atoms.cell.array.tolist(),
        "pbc": atoms.pbc.tolist(),
        "natoms": len(atoms),
        "formula": atoms.get_chemical_formula(),
        "info": plain_data(dict(atoms.info)),
        "arrays": {
            name: plain_data(values)
            for name, values in atoms.arrays.items()
            if name not in _STANDARD_ARRAYS
        },
    }
    document.update(label_fields(atoms))
    return document


def label_fields(atoms: Atoms) -> dict[str, Any]:
    """The labels attached to ``atoms`` (energy, forces, stress), BSON-safe; empty if none."""
    calc = atoms.calc
    if calc is None:
        return {}
    return {name: plain_data(calc.results[name]) for name in _LABEL_FIELDS if name in calc.results}


def document_to_atoms(document: dict[str, Any]) -> Atoms:
    atoms = Atoms(
        symbols=document["symbols"],
        positions=document["positions"],
        cell=document["cell"],
        pbc=document["pbc"],
    )
    for name, values in document.get("arrays", {}).items():
        atoms.set_array(name, np.asarray(values))
    info = dict(document.get("info", {}))
    if "energy" in document and "forces" in document:
        source = info.pop(atom_keys.LABEL_SOURCE, "unknown")
        atoms = attach_labels(
            atoms, document["energy"], document["forces"], source, document.get("stress"), **info
        )
    else:
        atoms.info.update(info)
    if "key" in document:
        atoms.info[atom_keys.STRUCTURE_ID] = document["key"]
    return atoms


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class CampaignStore:
    """The collections of one campaign in a MongoDB database.

    ``on_write`` is called after every write; the embedded LaunchPad uses it to keep its
    on-disk snapshot current.
    """

    def __init__(
        self, database: Any, campaign: str, on_write: Callable[[], None] | None = None
    ) -> None:
        self.db = database
        self.campaign = campaign
        self.on_write = on_write
        self._ensure_indexes()

    def _ensure_indexes(self) -> None:
        potentials = self.db[POTENTIALS]
        potentials.create_index([("campaign", 1), ("version", 1)], unique=True)
        potentials.create_index([("campaign", 1), ("fit_key", 1)], unique=True)
        self.db[STRUCTURES].create_index([("campaign", 1), ("dataset", 1)])
        self.db[RECORDS].create_index([("campaign", 1), ("kind", 1)])
        self.db[EVENTS].create_index([("campaign", 1), ("time", 1)])

    def _id(self, key: str) -> str:
        return f"{self.campaign}/{key}"

    def _written(self) -> None:
        if self.on_write is not None:
            self.on_write()

    # --- structures ---------------------------------------------------------------------
    def put_structures(
        self, structures: Sequence[Atoms], dataset: str, keys: Sequence[str], **fields: Any
    ) -> None:
        """Store structures under deterministic keys; a key already stored is left as it is.

        Labelled structures are stored labelled. ``fields`` (iteration, walker, …) are kept
        on every document for queries. Each structure's ``info['structure_id']`` becomes its key.
        """
        if len(structures) != len(keys):
            raise ValueError(f"{len(structures)} structures but {len(keys)} keys")
        for atoms, key in zip(structures, keys, strict=True):
            document = atoms_to_document(atoms)
            document["info"].pop(atom_keys.STRUCTURE_ID, None)
            labelled = has_labels(atoms)
            document.update(
                campaign=self.campaign,
                key=key,
                dataset=dataset,
                status=LABELLED if labelled else PENDING,
                created=_now(),
                **plain_data(fields),
            )
            self.db[STRUCTURES].update_one(
                {"_id": self._id(key)}, {"$setOnInsert": document}, upsert=True
            )
            atoms.info[atom_keys.STRUCTURE_ID] = key
        self._written()

    def set_label(self, key: str, labelled: Atoms) -> None:
        """Record the (DFT or reference) label of the structure ``key``."""
        if not has_labels(labelled):
            raise ValueError(f"structure {key!r}: the given Atoms carry no energy and forces")
        update = {
            **label_fields(labelled),
            "status": LABELLED,
            "info": plain_data(
                {k: v for k, v in labelled.info.items() if k != atom_keys.STRUCTURE_ID}
            ),
            "arrays": {
                name: plain_data(values)
                for name, values in labelled.arrays.items()
                if name not in _STANDARD_ARRAYS
            },
            "labelled": _now(),
        }
        self._update_structure(key, {"$set": update, "$unset": {"error": ""}})

    def set_surrogate_label(self, key: str, labelled: Atoms, **fields: Any) -> None:
        """Keep a surrogate's (MACE's) label of ``key`` apart from its training label;
        ``fields`` (such as whether the surrogate was unsure) go on the document."""
        surrogate = {
            **label_fields(labelled),
            "source": labelled.info.get(atom_keys.LABEL_SOURCE, "surrogate"),
            "uncertainty": plain_data(labelled.info.get(atom_keys.UNCERTAINTY)),
            "energy_uncertainty": plain_data(labelled.info.get(atom_keys.ENERGY_UNCERTAINTY)),
        }
        self._update_structure(key, {"$set": {"surrogate": surrogate, **plain_data(fields)}})

    def mark_failed(self, key: str, reason: str) -> None:
        self._update_structure(key, {"$set": {"status": FAILED, "error": reason}})

    def _update_structure(self, key: str, update: dict[str, Any]) -> None:
        result = self.db[STRUCTURES].update_one({"_id": self._id(key)}, update)
        if result.matched_count != 1:
            raise KeyError(f"no structure {key!r} in campaign {self.campaign!r}")
        self._written()

    def structure_documents(self, **query: Any) -> list[dict[str, Any]]:
        """Raw structure documents of this campaign matching ``query``, in key order."""
        found = self.db[STRUCTURES].find({"campaign": self.campaign, **query})
        return sorted(found, key=lambda document: str(document["key"]))

    def get_structures(self, keys: Sequence[str] | None = None, **query: Any) -> list[Atoms]:
        """Structures by key (in the order of ``keys``) or by query (in key order)."""
        if keys is None:
            return [document_to_atoms(doc) for doc in self.structure_documents(**query)]
        found = {
            document["key"]: document
            for document in self.structure_documents(key={"$in": list(keys)}, **query)
        }
        missing = [key for key in keys if key not in found]
        if missing:
            raise KeyError(f"campaign {self.campaign!r} has no structures {missing}")
        return [document_to_atoms(found[key]) for key in keys]

    def count_structures(self, **query: Any) -> int:
        return int(self.db[STRUCTURES].count_documents({"campaign": self.campaign, **query}))

    def claim_untrained(self, fit_key: str, datasets: Iterable[str]) -> list[Atoms]:
        """Labelled structures of ``datasets`` that no fit has used, now claimed by ``fit_key``.

        Each structure is claimed by exactly one fit, atomically, so fits that run at the same
        time share the data out instead of learning it twice; a rerun of the same fit gets back
        what it claimed before.
        """
        base = {"campaign": self.campaign, "dataset": {"$in": list(datasets)}, "status": LABELLED}
        self.db[STRUCTURES].update_many(
            {**base, "trained_in": {"$exists": False}}, {"$set": {"trained_in": fit_key}}
        )
        self._written()
        return self.get_structures(dataset=base["dataset"], status=LABELLED, trained_in=fit_key)

    # --- potentials ---------------------------------------------------------------------
    def claim_version(self, fit_key: str) -> int:
        """The version of the fit ``fit_key``: the one it already has, or the next free one."""
        collection = self.db[POTENTIALS]
        for _ in range(100):
            existing = collection.find_one({"campaign": self.campaign, "fit_key": fit_key})
            if existing is not None:
                return int(existing["version"])
            newest = list(collection.find({"campaign": self.campaign}).sort("version", -1).limit(1))
            version = int(newest[0]["version"]) + 1 if newest else 1
            try:
                collection.insert_one(
                    {
                        "campaign": self.campaign,
                        "fit_key": fit_key,
                        "version": version,
                        "status": "fitting",
                        "created": _now(),
                    }
                )
            except Exception as error:  # DuplicateKeyError: another fit took it; try again
                if "duplicate" not in str(error).lower():
                    raise
                continue
            self._written()
            return version
        raise RuntimeError(f"could not claim a potential version for {fit_key!r}")

    def save_potential(self, record: PotentialRecord, fit_key: str) -> None:
        """Record a finished fit under the version it claimed."""
        claimed = self.claim_version(fit_key)
        if claimed != record.version:
            raise ValueError(
                f"fit {fit_key!r} claimed version {claimed} but its record says {record.version}"
            )
        document = record.model_dump(mode="json")
        self.db[POTENTIALS].update_one(
            {"campaign": self.campaign, "fit_key": fit_key},
            {"$set": {**document, "status": "ready", "finished": _now()}},
        )
        self._written()

    def potential_document(self, fit_key: str) -> dict[str, Any] | None:
        found: dict[str, Any] | None = self.db[POTENTIALS].find_one(
            {"campaign": self.campaign, "fit_key": fit_key}
        )
        return found

    def finished_potential(self, fit_key: str) -> PotentialRecord | None:
        """The record of fit ``fit_key`` if it finished (a rerun then skips the work)."""
        document = self.potential_document(fit_key)
        if document is None or document.get("status") != "ready":
            return None
        return self._to_record(document)

    def latest_potential(self) -> PotentialRecord | None:
        """The newest finished potential."""
        documents = list(
            self.db[POTENTIALS]
            .find({"campaign": self.campaign, "status": "ready"})
            .sort("version", -1)
            .limit(1)
        )
        return self._to_record(documents[0]) if documents else None

    def get_potential(self, version: int) -> PotentialRecord | None:
        document = self.db[POTENTIALS].find_one(
            {"campaign": self.campaign, "version": version, "status": "ready"}
        )
        return self._to_record(document) if document else None

    def potentials(self) -> list[PotentialRecord]:
        documents = self.db[POTENTIALS].find({"campaign": self.campaign, "status": "ready"})
        return [self._to_record(doc) for doc in sorted(documents, key=lambda d: d["version"])]

    def set_potential_fields(self, version: int, **fields: Any) -> None:
        """Add facts learnt later (held-out errors, validation) to a potential's document."""
        self.db[POTENTIALS].update_one(
            {"campaign": self.campaign, "version": version}, {"$set": plain_data(fields)}
        )
        self._written()

    @staticmethod
    def _to_record(document: dict[str, Any]) -> PotentialRecord:
        fields = {k: v for k, v in document.items() if k in PotentialRecord.model_fields}
        return PotentialRecord.model_validate(fields)

    # --- locks --------------------------------------------------------------------------
    @contextlib.contextmanager
    def lock(
        self, name: str, owner: str, hold_seconds: float = 6 * 3600, wait_seconds: float = 6 * 3600
    ) -> Iterator[None]:
        """Hold the campaign-wide lock ``name`` (for example one ACE fit at a time).

        ``owner`` may take the lock again (a rerun of the same fit after its worker died); any
        lock older than ``hold_seconds`` is taken as abandoned. Raises ``TimeoutError`` after
        ``wait_seconds``.
        """
        collection, key = self.db[LOCKS], self._id(f"lock/{name}")
        deadline = time.monotonic() + wait_seconds
        while not self._try_lock(collection, key, owner, hold_seconds):
            if time.monotonic() > deadline:
                holder = collection.find_one({"_id": key}) or {}
                raise TimeoutError(f"lock {name!r} is held by {holder.get('owner')!r}")
            time.sleep(LOCK_POLL_SECONDS)
        try:
            yield
        finally:
            collection.delete_one({"_id": key, "owner": owner})
            self._written()

    def _try_lock(self, collection: Any, key: str, owner: str, hold_seconds: float) -> bool:
        now = _now()
        free = {"$or": [{"owner": owner}, {"expires": {"$lt": now}}]}
        try:
            collection.find_one_and_update(
                {"_id": key, **free},
                {"$set": {"owner": owner, "expires": now + dt.timedelta(seconds=hold_seconds)}},
                upsert=True,
            )
        except Exception as error:  # DuplicateKeyError: somebody else holds it
            if "duplicate" not in str(error).lower():
                raise
            return False
        self._written()
        return True

    # --- records ------------------------------------------------------------------------
    def put_record(self, kind: str, key: str, data: dict[str, Any]) -> None:
        """Create or replace the ``kind`` record ``key`` (an MD segment, a validation, …)."""
        document = {"campaign": self.campaign, "kind": kind, "key": key, **plain_data(data)}
        document["updated"] = _now()
        self.db[RECORDS].replace_one({"_id": self._id(f"{kind}/{key}")}, document, upsert=True)
        self._written()

    def get_record(self, kind: str, key: str) -> dict[str, Any] | None:
        found: dict[str, Any] | None = self.db[RECORDS].find_one({"_id": self._id(f"{kind}/{key}")})
        return found

    def records(self, kind: str, **query: Any) -> list[dict[str, Any]]:
        found = self.db[RECORDS].find({"campaign": self.campaign, "kind": kind, **query})
        return sorted(found, key=lambda document: str(document["key"]))

    # --- events -------------------------------------------------------------------------
    def log_event(self, kind: str, key: str | None = None, **data: Any) -> None:
        """Log what the campaign did. With ``key`` the event is logged once, however often the
        task that logs it runs."""
        document = {
            "campaign": self.campaign,
            "kind": kind,
            "time": _now(),
            "data": plain_data(data),
        }
        if key is None:
            self.db[EVENTS].insert_one(document)
        else:
            self.db[EVENTS].update_one(
                {"_id": self._id(f"{kind}/{key}")}, {"$setOnInsert": document}, upsert=True
            )
        self._written()

    def events(self, kind: str | None = None) -> list[dict[str, Any]]:
        query: dict[str, Any] = {"campaign": self.campaign}
        if kind is not None:
            query["kind"] = kind
        return list(self.db[EVENTS].find(query, {"_id": 0}).sort("time", 1))
