"""The campaign's MongoDB store: labelled structures, potentials and events.

It works on any pymongo-compatible ``Database`` (a real MongoDB or mongomock). Documents are
plain JSON-like data so users can browse them with any MongoDB client:

- ``structures``: one document per labelled structure (positions, cell, energy, forces,
  stress, info and per-atom arrays), tagged with a ``dataset`` name;
- ``potentials``: one document per potential version (:class:`PotentialRecord`);
- ``events``: a time-ordered log of what the campaign did.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
from ase import Atoms

from pyacemaker_fw.core import keys
from pyacemaker_fw.core.labels import attach_labels
from pyacemaker_fw.core.models import PotentialRecord

STRUCTURES = "structures"
POTENTIALS = "potentials"
EVENTS = "events"
_STANDARD_ARRAYS = frozenset({"numbers", "positions"})


def _plain(value: Any) -> Any:
    """Convert numpy scalars and arrays (also nested) into BSON-safe Python values."""
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
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
        "info": _plain(dict(atoms.info)),
        "arrays": {
            name: _plain(values)
            for name, values in atoms.arrays.items()
            if name not in _STANDARD_ARRAYS
        },
    }
    calc = atoms.calc
    if calc is not None:
        for name in ("energy", "forces", "stress"):
            if name in calc.results:
                document[name] = _plain(calc.results[name])
    return document


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
        source = info.pop(keys.LABEL_SOURCE, "unknown")
        atoms = attach_labels(
            atoms, document["energy"], document["forces"], source, document.get("stress"), **info
        )
    else:
        atoms.info.update(info)
    if "_id" in document:
        atoms.info[keys.STRUCTURE_ID] = document["_id"]
    return atoms


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class CampaignStore:
    """Collections of one campaign (``campaign`` field) in a MongoDB database."""

    def __init__(self, database: Any, campaign: str) -> None:
        self.db = database
        self.campaign = campaign

    # --- structures ---------------------------------------------------------------------
    def add_structures(self, structures: Iterable[Atoms], dataset: str) -> list[str]:
        """Insert structures under ``dataset``; return their ids (also set in ``info``)."""
        ids = []
        documents = []
        for atoms in structures:
            structure_id = uuid.uuid4().hex
            document = atoms_to_document(atoms)
            document["info"].pop(keys.STRUCTURE_ID, None)
            document.update(
                _id=structure_id, campaign=self.campaign, dataset=dataset, created=_now()
            )
            documents.append(document)
            atoms.info[keys.STRUCTURE_ID] = structure_id
            ids.append(structure_id)
        if documents:
            self.db[STRUCTURES].insert_many(documents)
        return ids

    def get_structures(
        self, dataset: str | None = None, ids: Sequence[str] | None = None
    ) -> list[Atoms]:
        """Structures of a dataset, or by id (in the order of ``ids``)."""
        query: dict[str, Any] = {"campaign": self.campaign}
        if dataset is not None:
            query["dataset"] = dataset
        if ids is not None:
            query["_id"] = {"$in": list(ids)}
        found = [document_to_atoms(doc) for doc in self.db[STRUCTURES].find(query)]
        if ids is None:
            return found
        by_id = {atoms.info[keys.STRUCTURE_ID]: atoms for atoms in found}
        return [by_id[i] for i in ids if i in by_id]

    def count_structures(self, dataset: str | None = None) -> int:
        query: dict[str, Any] = {"campaign": self.campaign}
        if dataset is not None:
            query["dataset"] = dataset
        return int(self.db[STRUCTURES].count_documents(query))

    # --- potentials ---------------------------------------------------------------------
    def add_potential(self, record: PotentialRecord) -> None:
        document = record.model_dump(mode="json")
        document.update(campaign=self.campaign, created=_now())
        self.db[POTENTIALS].insert_one(document)

    def latest_potential(self) -> PotentialRecord | None:
        documents = list(
            self.db[POTENTIALS].find({"campaign": self.campaign}).sort("version", -1).limit(1)
        )
        return self._to_record(documents[0]) if documents else None

    def get_potential(self, version: int) -> PotentialRecord | None:
        document = self.db[POTENTIALS].find_one({"campaign": self.campaign, "version": version})
        return self._to_record(document) if document else None

    @staticmethod
    def _to_record(document: dict[str, Any]) -> PotentialRecord:
        fields = {k: v for k, v in document.items() if k in PotentialRecord.model_fields}
        return PotentialRecord.model_validate(fields)

    # --- events -------------------------------------------------------------------------
    def log_event(self, kind: str, **data: Any) -> None:
        """Append one campaign event (halt, DFT call, retrain, validation…) to the log."""
        self.db[EVENTS].insert_one(
            {"campaign": self.campaign, "kind": kind, "time": _now(), "data": _plain(data)}
        )

    def events(self, kind: str | None = None) -> list[dict[str, Any]]:
        query: dict[str, Any] = {"campaign": self.campaign}
        if kind is not None:
            query["kind"] = kind
        return list(self.db[EVENTS].find(query, {"_id": 0}).sort("time", 1))
